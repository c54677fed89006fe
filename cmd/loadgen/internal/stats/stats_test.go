package stats

import (
	"math"
	"testing"
)

func TestMedianAndMinMax(t *testing.T) {
	tests := []struct {
		xs                 []float64
		median, mini, maxi float64
	}{
		{[]float64{3}, 3, 3, 3},
		{[]float64{5, 1, 3}, 3, 1, 5},
		{[]float64{4, 1, 3, 2}, 2.5, 1, 4},
	}
	for _, tt := range tests {
		in := append([]float64(nil), tt.xs...)
		if got := Median(tt.xs); got != tt.median {
			t.Errorf("Median(%v) = %v, want %v", tt.xs, got, tt.median)
		}
		if mn, mx := MinMax(tt.xs); mn != tt.mini || mx != tt.maxi {
			t.Errorf("MinMax(%v) = %v, %v, want %v, %v", tt.xs, mn, mx, tt.mini, tt.maxi)
		}
		for i := range in {
			if in[i] != tt.xs[i] {
				t.Errorf("Median reordered its input: %v", tt.xs)
			}
		}
	}
	if got := Median(nil); !math.IsNaN(got) {
		t.Errorf("Median of nothing = %v, want NaN", got)
	}
	if mn, mx := MinMax(nil); !math.IsInf(mn, 1) || !math.IsInf(mx, -1) {
		t.Errorf("MinMax of nothing = %v, %v, want +Inf, -Inf", mn, mx)
	}
}
