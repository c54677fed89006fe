package main

import (
	"math"
	"testing"
	"time"
)

func TestPct(t *testing.T) {
	// 1..100 ms: the p-th percentile is the smallest latency with at
	// least p of them at or below it (nearest rank), in milliseconds.
	var hundred []int64
	for i := 1; i <= 100; i++ {
		hundred = append(hundred, int64(time.Duration(i)*time.Millisecond))
	}
	tests := []struct {
		name   string
		sorted []int64
		p      float64
		want   float64
	}{
		{"p50 of 100", hundred, 0.50, 50},
		{"p90 of 100", hundred, 0.90, 90},
		{"p99 of 100", hundred, 0.99, 99},
		{"max of 100", hundred, 1.0, 100},
		{"p0 is the minimum", hundred, 0, 1},
		{"p99.5 rounds up", hundred, 0.995, 100},
		{"one sample", []int64{int64(1500 * time.Microsecond)}, 0.99, 1.5},
		{"p50 of two is the lower", []int64{int64(time.Millisecond), int64(3 * time.Millisecond)}, 0.50, 1},
	}
	for _, tt := range tests {
		if got := pct(tt.sorted, tt.p); got != tt.want {
			t.Errorf("%s: pct(%v) = %v, want %v", tt.name, tt.p, got, tt.want)
		}
	}
	if got := pct(nil, 0.5); !math.IsNaN(got) {
		t.Errorf("pct of no samples = %v, want NaN", got)
	}
}
