package main

import (
	"math"
	"strings"
	"testing"
)

// The key=value lines are read by scripts (and compared with figures taken
// by the shared harness): their format must not drift.
func TestKV(t *testing.T) {
	tests := []struct {
		name  string
		pairs []any
		want  string
	}{
		{"below 100: two decimals", []any{"a", 1.234, "b", 99.999}, "a=1.23 b=100.00"},
		{"from 100: one decimal", []any{"a", 100.0, "b", 1234.56}, "a=100.0 b=1234.6"},
		{"negative is not available", []any{"cpu", -1.0}, "cpu=na"},
		{"NaN", []any{"p99_ms", math.NaN()}, "p99_ms=nan"},
		{"empty string", []any{"label", ""}, "label=-"},
		{"spaces become underscores", []any{"label", "my run 2"}, "label=my_run_2"},
		{"integers as they are", []any{"conns", 64, "reqs", int64(12345)}, "conns=64 reqs=12345"},
		{"a key without value is dropped", []any{"a", 1, "b"}, "a=1"},
	}
	for _, tt := range tests {
		if got := kv(tt.pairs...); got != tt.want {
			t.Errorf("%s: kv = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestSummaryLine(t *testing.T) {
	rep := func(rps, p50, p99 float64, errs int64) repResult {
		return repResult{Label: "mine", Scenario: "cc_token", Conns: 16, RPS: rps, P50: p50, P99: p99,
			ErrStatus: errs, ServerCPU: 150, ServerRSSMB: 40, AuxCPU: -1, LoadgenCPU: 50, SysCPU: 90, StealPct: 0, OtherCPU: 5}
	}
	rs := []repResult{rep(1000, 2, 9, 0), rep(1200, 1.5, 8, 1), rep(1100, 1.8, 12, 2)}
	rs[1].ServerRSSMB = 44
	want := "scenario=cc_token conns=16 label=mine reps=3 rps=1100.0 rps_min=1000.0 rps_max=1200.0 rps_spread_pct=18.18" +
		" p50_ms=1.80 p50_ms_min=1.50 p50_ms_max=2.00 p99_ms=9.00 p99_ms_min=8.00 p99_ms_max=12.00 errors=3" +
		" server_cpu_pct=150.0 server_rss_mb_max=44.00 aux_cpu_pct=na loadgen_cpu_pct=50.00 sys_cpu_pct=90.00 steal_pct=0.00 other_cpu_pct=5.00"
	if got := summaryLine(rs); got != want {
		t.Errorf("summaryLine =\n%s\nwant\n%s", got, want)
	}
}

// A DPoP run's rep line ends with the nonce challenges taken up; the lines
// of the other scenarios stay those of the shared harness.
func TestRepLineDPoPNonceAnswers(t *testing.T) {
	r := repResult{Scenario: "cc_token", Conns: 1, RPS: 10}
	if line := repLine(r); strings.Contains(line, "dpop") || !strings.HasSuffix(line, " other_cpu_pct=0.00") {
		t.Errorf("bearer rep line %q: want it to end with other_cpu_pct, no dpop key", line)
	}
	r.DPoP, r.DPoPNonceAnswers = true, 16
	if line := repLine(r); !strings.HasSuffix(line, " other_cpu_pct=0.00 dpop_nonce_answers=16") {
		t.Errorf("DPoP rep line %q: want dpop_nonce_answers=16 at the end", line)
	}
}
