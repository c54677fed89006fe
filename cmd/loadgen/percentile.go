// Exact latency percentiles of one repetition. The statistics over
// repetitions (median, min, max) are in internal/stats, shared with
// benchtool.

package main

import "math"

// pct returns the p-th percentile (nearest rank) of sorted latencies in
// nanoseconds, in milliseconds; NaN for none.
func pct(sorted []int64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(sorted) {
		i = len(sorted) - 1
	}
	return float64(sorted[i]) / 1e6
}
