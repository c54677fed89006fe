// The results table: loadgen's -json repetitions summarized per scenario and
// concurrency, printed as markdown with the comparison to the baseline.

package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse/cmd/loadgen/internal/stats"
)

// rep is the part of loadgen's per-repetition JSON the table uses.
type rep struct {
	Label        string  `json:"label"`
	Scenario     string  `json:"scenario"`
	Conns        int     `json:"conns"`
	RPS          float64 `json:"rps"`
	P50          float64 `json:"p50_ms"`
	P99          float64 `json:"p99_ms"`
	ErrStatus    int64   `json:"err_status"`
	ErrTransport int64   `json:"err_transport"`
	ErrBody      int64   `json:"err_body"`
	ServerRSSMB  float64 `json:"server_rss_mb"`
	OtherCPU     float64 `json:"other_cpu_pct"`
}

// cell is the summary of one (label, conns) over its repetitions.
type cell struct {
	rps, rpsMin, rpsMax, p50, p99, other float64
	rss                                  float64
	errs                                 int64
	n                                    int
}

func summarize(rs []rep) cell {
	var rps, p50, p99, other []float64
	c := cell{rss: -1}
	for _, r := range rs {
		rps = append(rps, r.RPS)
		p50 = append(p50, r.P50)
		p99 = append(p99, r.P99)
		other = append(other, r.OtherCPU)
		c.errs += r.ErrStatus + r.ErrTransport + r.ErrBody
		c.rss = math.Max(c.rss, r.ServerRSSMB)
	}
	c.n = len(rs)
	c.rps, c.p50, c.p99, c.other = stats.Median(rps), stats.Median(p50), stats.Median(p99), stats.Median(other)
	c.rpsMin, c.rpsMax = stats.MinMax(rps)
	return c
}

// table prints one markdown table: a row per scenario, a column per
// concurrency with "median rps (p99 ms)", then peak server RSS, the ratio
// against Hydra (or another row of the run, such as the client-secret one) and whether the performance
// target is met, and the noise: errors, spread between repetitions and CPU
// taken by other processes.
func table(w io.Writer, args []string) error {
	fs := flag.NewFlagSet("table", flag.ContinueOnError)
	db := fs.String("db", "postgres", "database of the run (postgres or sqlite): Hydra's figures are PostgreSQL ones")
	if err := fs.Parse(args); err != nil {
		return err
	}
	files := fs.Args()
	if len(files) == 0 {
		return errors.New("table [-db postgres|sqlite] FILE.json...")
	}
	byLabel := map[string]map[int][]rep{}
	connSet := map[int]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var rs []rep
		if err := json.Unmarshal(b, &rs); err != nil {
			return fmt.Errorf("%s: not loadgen -json output: %w", f, err)
		}
		for _, r := range rs {
			l := r.Label
			if l == "" {
				l = r.Scenario
			}
			if byLabel[l] == nil {
				byLabel[l] = map[int][]rep{}
			}
			byLabel[l][r.Conns] = append(byLabel[l][r.Conns], r)
			connSet[r.Conns] = true
		}
	}
	var conns []int
	for n := range connSet {
		conns = append(conns, n)
	}
	sort.Ints(conns)

	// Known scenarios in the order of rows, then anything else by name.
	var order []row
	known := map[string]bool{}
	for _, r := range rows {
		known[r.label] = true
		if byLabel[r.label] != nil {
			order = append(order, r)
		}
	}
	var extra []string
	for l := range byLabel {
		if !known[l] {
			extra = append(extra, l)
		}
	}
	sort.Strings(extra)
	for _, l := range extra {
		order = append(order, row{label: l, title: l})
	}

	cells := map[string]map[int]cell{}
	for l, m := range byLabel {
		cells[l] = map[int]cell{}
		for n, rs := range m {
			cells[l][n] = summarize(rs)
		}
	}

	hdr := []string{"scenario"}
	for _, n := range conns {
		hdr = append(hdr, fmt.Sprintf("conns %d: rps (p99 ms)", n))
	}
	hdr = append(hdr, "peak RSS MB", "vs Hydra v2.3.0 ("+joinInts(conns, "/")+")", "target", "errors", "rps spread", "other CPU %")
	fmt.Fprintln(w, "| "+strings.Join(hdr, " | ")+" |")
	fmt.Fprintln(w, "|"+strings.Repeat("---|", len(hdr)))

	for _, r := range order {
		cs := cells[r.label]
		line := []string{r.title}
		rss := -1.0
		var errs int64
		spread, other := 0.0, 0.0
		for _, n := range conns {
			c, ok := cs[n]
			if !ok {
				line = append(line, "-")
				continue
			}
			s := fmt.Sprintf("%s (%s)", thousands(c.rps), ms(c.p99))
			if r.flow {
				s = fmt.Sprintf("%s flows/s (p50 %s, p99 %s)", thousands(c.rps), ms(c.p50), ms(c.p99))
			}
			if c.errs > 0 {
				s += " !"
			}
			line = append(line, s)
			rss = math.Max(rss, c.rss)
			errs += c.errs
			if c.rps > 0 && c.n > 1 {
				spread = math.Max(spread, 100*(c.rpsMax-c.rpsMin)/c.rps)
			}
			other = math.Max(other, c.other)
		}
		if rss > 0 {
			line = append(line, fmt.Sprintf("%.0f", rss))
		} else {
			line = append(line, "n/a")
		}
		ratio, met := compare(r, cs, cells[r.versus.label], conns)
		line = append(line, ratio, met)
		line = append(line, strconv.FormatInt(errs, 10))
		if spread > 0 {
			line = append(line, fmt.Sprintf("%.0f%%", spread))
		} else {
			line = append(line, "-")
		}
		line = append(line, fmt.Sprintf("%.0f", other))
		fmt.Fprintln(w, "| "+strings.Join(line, " | ")+" |")
	}

	fmt.Fprintln(w)
	fmt.Fprintln(w, "Cells: median over repetitions of requests/s, with the median p99 latency. \"!\" marks a cell with errors (not comparable).")
	for _, r := range order {
		if r.flow {
			fmt.Fprintln(w, "Authorization code rows: whole flows/s with the median p50 and p99 of a flow (ms); a flow is authorize, login page, login POST")
			fmt.Fprintln(w, "(argon2id), token — 4 requests, 2 with the session reused; the \"steps\" lines of each scenario's log give the exact count and time per step.")
			break
		}
	}
	for _, r := range order {
		if r.dpop {
			fmt.Fprintln(w, "DPoP rows: every request carries a new ES256 proof (RFC 9449), signed by the load generator outside the timed request;")
			fmt.Fprintln(w, "the server verifies it and records its jti. Ratio to the bearer row of the same token format in this run.")
			break
		}
	}
	fmt.Fprintln(w, "rps spread: largest (max-min)/median between repetitions of one cell; other CPU %: CPU (% of one core) used by processes")
	fmt.Fprintln(w, "other than gatehouse, the load generator and the database — noise; rerun when it is large.")
	if *db != "postgres" {
		fmt.Fprintf(w, "Database: %s. Hydra's figures were measured on PostgreSQL 15, so the ratios compare different storage: indicative only.\n", *db)
	}
	if c, ok := cells["cc_opaque"][64]; ok {
		verdict := "met"
		if !(c.p99 <= hydraP99At64/5) || c.errs > 0 {
			verdict = "NOT met"
		}
		fmt.Fprintf(w, "client_credentials p99 at 64 conns: %s ms vs Hydra's %.0f ms (target <= %.0f ms: %s).\n", ms(c.p99), hydraP99At64, hydraP99At64/5, verdict)
	}
	return nil
}

func joinInts(xs []int, sep string) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, sep)
}

// thousands formats a rate as an integer with thousands separators, as the
// baseline's table does.
func thousands(x float64) string {
	if math.IsNaN(x) {
		return "nan"
	}
	s := strconv.FormatInt(int64(math.Round(x)), 10)
	var b strings.Builder
	for i, ch := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(ch)
	}
	return b.String()
}

func ms(x float64) string {
	switch {
	case math.IsNaN(x):
		return "nan"
	case x >= 100:
		return strconv.FormatFloat(x, 'f', 0, 64)
	case x >= 10:
		return strconv.FormatFloat(x, 'f', 1, 64)
	default:
		return strconv.FormatFloat(x, 'f', 2, 64)
	}
}
