package main

import "testing"

func TestCompare(t *testing.T) {
	hydra := row{label: "cc", hydra: map[int]float64{1: 100, 16: 200, 64: 200}, target: 10, targetAt: []int{16, 64}}
	apiKey := row{label: "key", versus: vsSecret, target: 0.9, targetAt: []int{1, 16}}
	all := []int{1, 16, 64}
	secret := map[int]cell{1: {rps: 1000}, 16: {rps: 2000}}
	tests := []struct {
		name           string
		r              row
		cs             map[int]cell
		conns          []int
		ratio, verdict string
	}{
		{"met", hydra, map[int]cell{1: {rps: 500}, 16: {rps: 2000}, 64: {rps: 2500}}, all,
			"5.0x / 10.0x / 12.5x", ">= 10x @16,64: met"},
		{"below the ratio at one conns", hydra, map[int]cell{16: {rps: 2000}, 64: {rps: 1999}}, all,
			"- / 10.0x / 10.0x", ">= 10x @16,64: NOT met"},
		{"errors fail the target", hydra, map[int]cell{16: {rps: 9000}, 64: {rps: 9000, errs: 1}}, all,
			"- / 45.0x / 45.0x", ">= 10x @16,64: NOT met"},
		{"only the conns measured are checked", hydra, map[int]cell{1: {rps: 50}, 16: {rps: 2000}}, []int{1, 16},
			"0.5x / 10.0x", ">= 10x @16: met"},
		{"not measured at the target's conns", hydra, map[int]cell{1: {rps: 5000}}, []int{1},
			"50.0x", ">= 10x (not measured)"},
		{"against the client secret", apiKey, map[int]cell{1: {rps: 950}, 16: {rps: 1700}}, []int{1, 16},
			"0.95 / 0.85 of secret", ">= 90% of secret @1,16: NOT met"},
		{"beside the JWT bearer row, no target", row{versus: vsJWTBearer, targetNote: "no target (beside cc_jwt)"},
			map[int]cell{1: {rps: 500}, 16: {rps: 1000}}, []int{1, 16}, "0.50 / 0.50 of JWT bearer", "no target (beside cc_jwt)"},
		{"no target, with a note", row{targetNote: "no Hydra figure (target 20x)"}, map[int]cell{1: {rps: 1}}, []int{1},
			"-", "no Hydra figure (target 20x)"},
		{"no target, no note", row{}, map[int]cell{1: {rps: 1}}, []int{1}, "-", "-"},
		{"a flow", row{flow: true, hydra: map[int]float64{1: 1}}, map[int]cell{1: {rps: 1}}, []int{1},
			"no Hydra figure", "no target (report only)"},
	}
	for _, tt := range tests {
		ratio, verdict := compare(tt.r, tt.cs, secret, tt.conns)
		if ratio != tt.ratio || verdict != tt.verdict {
			t.Errorf("%s: compare = %q, %q, want %q, %q", tt.name, ratio, verdict, tt.ratio, tt.verdict)
		}
	}
}
