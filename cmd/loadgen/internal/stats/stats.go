// Package stats holds the statistics over repetitions that loadgen's summary
// lines and benchtool's results table both take, so that the two agree.
package stats

import (
	"math"
	"sort"
)

// Median returns the median of xs (the mean of the two middle values for an
// even count), NaN for none. xs is not reordered.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// MinMax returns the smallest and the largest of xs (+Inf and -Inf for
// none).
func MinMax(xs []float64) (float64, float64) {
	mn, mx := math.Inf(1), math.Inf(-1)
	for _, x := range xs {
		mn = math.Min(mn, x)
		mx = math.Max(mx, x)
	}
	return mn, mx
}
