package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSummarize(t *testing.T) {
	c := summarize([]rep{
		{RPS: 300, P50: 1, P99: 9, ServerRSSMB: 40, OtherCPU: 3, ErrStatus: 1},
		{RPS: 100, P50: 3, P99: 7, ServerRSSMB: 50, OtherCPU: 1, ErrTransport: 2},
		{RPS: 200, P50: 2, P99: 8, ServerRSSMB: -1, OtherCPU: 2, ErrBody: 3},
	})
	want := cell{rps: 200, rpsMin: 100, rpsMax: 300, p50: 2, p99: 8, other: 2, rss: 50, errs: 6, n: 3}
	if c != want {
		t.Errorf("summarize = %+v, want %+v", c, want)
	}
	if c := summarize([]rep{{RPS: 1, ServerRSSMB: -1}}); c.rss != -1 {
		t.Errorf("unknown RSS summarized as %v, want -1", c.rss)
	}
}

func TestThousandsAndMs(t *testing.T) {
	for x, want := range map[float64]string{0: "0", 999: "999", 999.5: "1,000", 1234567.4: "1,234,567", math.NaN(): "nan"} {
		if got := thousands(x); got != want {
			t.Errorf("thousands(%v) = %q, want %q", x, got, want)
		}
	}
	for x, want := range map[float64]string{0.456: "0.46", 9.999: "10.00", 12.34: "12.3", 580.4: "580", math.NaN(): "nan"} {
		if got := ms(x); got != want {
			t.Errorf("ms(%v) = %q, want %q", x, got, want)
		}
	}
}

// The table from loadgen's -json: a known scenario with its cells, target
// and noise columns, and the p99 verdict.
func TestTable(t *testing.T) {
	f := filepath.Join(t.TempDir(), "cc_opaque.json")
	js := `[
 {"label":"cc_opaque","scenario":"cc_token","conns":64,"rps":3500,"p50_ms":10,"p99_ms":100,"server_rss_mb":60,"other_cpu_pct":4},
 {"label":"cc_opaque","scenario":"cc_token","conns":64,"rps":3700,"p50_ms":11,"p99_ms":110,"server_rss_mb":62,"other_cpu_pct":6}
]`
	if err := os.WriteFile(f, []byte(js), 0o600); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := table(&out, []string{"-db", "sqlite", f}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| scenario | conns 64: rps (p99 ms) | peak RSS MB | vs Hydra v2.3.0 (64) | target | errors | rps spread | other CPU % |\n",
		"| client_credentials, opaque, client secret | 3,600 (105) | 62 | 10.4x | >= 10x @64: met | 0 | 6% | 5 |\n",
		"Database: sqlite.",
		"client_credentials p99 at 64 conns: 105 ms vs Hydra's 580 ms (target <= 116 ms: met).",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}

// The DPoP rows are compared with the bearer rows of the same token format
// in the same run: cc_dpop with cc_opaque, cc_dpop_jwt with cc_jwt.
func TestTableDPoPRowsBesideTheirBearerRows(t *testing.T) {
	dir := t.TempDir()
	for label, rps := range map[string]int{"cc_opaque": 4000, "cc_jwt": 2000, "cc_dpop": 3000, "cc_dpop_jwt": 1500} {
		js := fmt.Sprintf(`[{"label":%q,"scenario":"cc_token","conns":16,"rps":%d,"p50_ms":1,"p99_ms":5,"server_rss_mb":60}]`, label, rps)
		if err := os.WriteFile(filepath.Join(dir, label+".json"), []byte(js), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	var out strings.Builder
	if err := table(&out, files); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| client_credentials, opaque, DPoP (ES256 proof) | 3,000 (5.00) | 60 | 0.75 of bearer | no target (beside cc_opaque) |",
		"| client_credentials, JWT ES256, DPoP (ES256 proof) | 1,500 (5.00) | 60 | 0.75 of JWT bearer | no target (beside cc_jwt) |",
		"DPoP rows: every request carries a new ES256 proof",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}
