// What loadgen prints: the per-repetition result (also its -json form), the
// key=value format of the rep, steps and summary lines.

package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse/cmd/loadgen/internal/stats"
)

type repResult struct {
	Label        string  `json:"label"`
	Scenario     string  `json:"scenario"`
	Conns        int     `json:"conns"`
	Rep          int     `json:"rep"`
	DurS         float64 `json:"dur_s"`
	Reqs         int64   `json:"reqs"`
	WarmupReqs   int64   `json:"warmup_reqs"` // successful requests during the unmeasured warm-up
	RPS          float64 `json:"rps"`
	P50          float64 `json:"p50_ms"`
	P90          float64 `json:"p90_ms"`
	P99          float64 `json:"p99_ms"`
	Max          float64 `json:"max_ms"`
	ErrStatus    int64   `json:"err_status"`
	ErrTransport int64   `json:"err_transport"`
	ErrBody      int64   `json:"err_body"`
	ServerCPU    float64 `json:"server_cpu_pct"`  // % of one core, -1 if unknown
	ServerRSSMB  float64 `json:"server_rss_mb"`   // max VmRSS during run, -1 if unknown
	AuxCPU       float64 `json:"aux_cpu_pct"`     // % of one core summed over -aux-comm processes
	LoadgenCPU   float64 `json:"loadgen_cpu_pct"` // % of one core
	SysCPU       float64 `json:"sys_cpu_pct"`     // whole machine busy, % of all cores (100 = all busy)
	StealPct     float64 `json:"steal_pct"`       // whole machine steal, % of all cores
	OtherCPU     float64 `json:"other_cpu_pct"`   // machine busy minus server, aux and loadgen: noise from other processes, % of one core
	// DPoP: the requests carried DPoP proofs (cc_token -dpop);
	// DPoPNonceAnswers: use_dpop_nonce answers taken up (RFC 9449 §8),
	// neither successes nor errors.
	DPoP             bool  `json:"dpop,omitempty"`
	DPoPNonceAnswers int64 `json:"dpop_nonce_answers,omitempty"`
}

func (r repResult) errors() int64 { return r.ErrStatus + r.ErrTransport + r.ErrBody }

// stepsLine is the "steps" stderr line of a flow repetition: requests per
// flow of each step and their mean latency, over successful flows.
func stepsLine(r repResult, ct *counters) string {
	pairs := []any{"label", r.Label, "scenario", r.Scenario, "conns", r.Conns, "rep", r.Rep, "flows", r.Reqs}
	var total int64
	for i := range ct.steps {
		total += ct.steps[i].Load()
	}
	per := func(n int64) float64 {
		if r.Reqs == 0 {
			return math.NaN()
		}
		return float64(n) / float64(r.Reqs)
	}
	pairs = append(pairs, "reqs_per_flow", per(total))
	for i, name := range stepNames {
		n := ct.steps[i].Load()
		pairs = append(pairs, name, per(n))
		if n > 0 {
			pairs = append(pairs, name+"_ms", float64(ct.stepNS[i].Load())/float64(n)/1e6)
		} else {
			pairs = append(pairs, name+"_ms", "")
		}
	}
	return "steps " + kv(pairs...)
}

func kv(pairs ...any) string {
	var sb strings.Builder
	for i := 0; i+1 < len(pairs); i += 2 {
		if i > 0 {
			sb.WriteByte(' ')
		}
		k := pairs[i].(string)
		sb.WriteString(k)
		sb.WriteByte('=')
		switch v := pairs[i+1].(type) {
		case float64:
			if math.IsNaN(v) {
				sb.WriteString("nan")
			} else if v < 0 {
				sb.WriteString("na")
			} else if math.Abs(v) >= 100 {
				sb.WriteString(strconv.FormatFloat(v, 'f', 1, 64))
			} else {
				sb.WriteString(strconv.FormatFloat(v, 'f', 2, 64))
			}
		case string:
			if v == "" {
				v = "-"
			}
			sb.WriteString(strings.ReplaceAll(v, " ", "_"))
		default:
			fmt.Fprint(&sb, v)
		}
	}
	return sb.String()
}

func repLine(r repResult) string {
	line := "rep " + kv("label", r.Label, "scenario", r.Scenario, "conns", r.Conns, "rep", r.Rep,
		"rps", r.RPS, "p50_ms", r.P50, "p90_ms", r.P90, "p99_ms", r.P99, "max_ms", r.Max,
		"errors", r.errors(), "reqs", r.Reqs, "dur_s", r.DurS,
		"err_status", r.ErrStatus, "err_transport", r.ErrTransport, "err_body", r.ErrBody,
		"server_cpu_pct", r.ServerCPU, "server_rss_mb", r.ServerRSSMB, "aux_cpu_pct", r.AuxCPU,
		"loadgen_cpu_pct", r.LoadgenCPU, "sys_cpu_pct", r.SysCPU, "steal_pct", r.StealPct, "other_cpu_pct", r.OtherCPU)
	if r.DPoP {
		// Only then, so the lines of the other scenarios stay those of
		// the shared harness.
		line += " " + kv("dpop_nonce_answers", r.DPoPNonceAnswers)
	}
	return line
}

func summaryLine(rs []repResult) string {
	col := func(f func(repResult) float64) []float64 {
		var out []float64
		for _, r := range rs {
			out = append(out, f(r))
		}
		return out
	}
	rps := col(func(r repResult) float64 { return r.RPS })
	p50 := col(func(r repResult) float64 { return r.P50 })
	p99 := col(func(r repResult) float64 { return r.P99 })
	scpu := col(func(r repResult) float64 { return r.ServerCPU })
	srss := col(func(r repResult) float64 { return r.ServerRSSMB })
	acpu := col(func(r repResult) float64 { return r.AuxCPU })
	lcpu := col(func(r repResult) float64 { return r.LoadgenCPU })
	syscpu := col(func(r repResult) float64 { return r.SysCPU })
	steal := col(func(r repResult) float64 { return r.StealPct })
	other := col(func(r repResult) float64 { return r.OtherCPU })
	var errs int64
	for _, r := range rs {
		errs += r.errors()
	}
	rmin, rmax := stats.MinMax(rps)
	p50min, p50max := stats.MinMax(p50)
	p99min, p99max := stats.MinMax(p99)
	_, rssMax := stats.MinMax(srss)
	spread := 0.0
	if m := stats.Median(rps); m > 0 {
		spread = 100 * (rmax - rmin) / m
	}
	return kv("scenario", rs[0].Scenario, "conns", rs[0].Conns, "label", rs[0].Label, "reps", len(rs),
		"rps", stats.Median(rps), "rps_min", rmin, "rps_max", rmax, "rps_spread_pct", spread,
		"p50_ms", stats.Median(p50), "p50_ms_min", p50min, "p50_ms_max", p50max,
		"p99_ms", stats.Median(p99), "p99_ms_min", p99min, "p99_ms_max", p99max,
		"errors", errs,
		"server_cpu_pct", stats.Median(scpu), "server_rss_mb_max", rssMax, "aux_cpu_pct", stats.Median(acpu),
		"loadgen_cpu_pct", stats.Median(lcpu), "sys_cpu_pct", stats.Median(syscpu), "steal_pct", stats.Median(steal),
		"other_cpu_pct", stats.Median(other))
}
