// Command loadgen is a small, provider-agnostic, closed-loop HTTP load
// generator for OAuth 2.0 / OIDC servers. It measures:
//
//	cc_token    POST token endpoint, grant_type=client_credentials
//	introspect  POST introspection endpoint (RFC 7662) on a token it obtained first
//	get         GET an arbitrary URL (e.g. /.well-known/jwks.json) as a trivial baseline
//
// Every run is bounded in time and stops by itself. Only loopback targets are
// accepted. Standard library only, so it builds offline:
//
//	go build -o loadgen ./cmd/loadgen
//
// It is gatehouse's copy of the shared harness (../shared/bench/loadgen),
// kept identical in behaviour and flags so that figures measured with either
// compare. cmd/loadgen/bench.sh (make bench) drives it against gatehouse and
// cmd/loadgen/benchtool turns its -json output into the README table.
//
// stdout: one machine-readable summary line per (scenario, conns), e.g.
//
//	scenario=cc_token conns=64 reps=3 rps=1234.5 rps_min=.. rps_max=.. p50_ms=.. p99_ms=.. errors=0 ...
//
// stderr: progress, one "rep" line per repetition (same key=value format).
package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type config struct {
	tokenURL       string
	clientID       string
	clientSecret   string
	authMethod     string // basic | post
	scope          string
	audience       string
	extraForm      string
	introspectURL  string
	introspectAuth string // none | client | basic:user:pass | bearer:TOKEN
	getURL         string
	scenarios      []string
	conns          []int
	duration       time.Duration
	warmup         time.Duration
	pause          time.Duration
	reps           int
	reqTimeout     time.Duration
	label          string
	serverPID      int
	auxComm        string
	jsonOut        string
	repsOnStdout   bool
}

type scenario struct {
	name  string
	build func() (*http.Request, error)
	check func(status int, body []byte) bool
}

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
}

func (r repResult) errors() int64 { return r.ErrStatus + r.ErrTransport + r.ErrBody }

func main() {
	cfg := parseFlags()
	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func parseFlags() config {
	var c config
	var scen, conns string
	flag.StringVar(&c.tokenURL, "token-url", "", "token endpoint URL (required for cc_token and introspect)")
	flag.StringVar(&c.clientID, "client-id", "", "client id (client_credentials grant)")
	flag.StringVar(&c.clientSecret, "client-secret", "", "client secret")
	flag.StringVar(&c.authMethod, "auth", "basic", "client authentication at the token endpoint: basic (client_secret_basic) or post (client_secret_post)")
	flag.StringVar(&c.scope, "scope", "", "optional scope parameter")
	flag.StringVar(&c.audience, "audience", "", "optional audience parameter")
	flag.StringVar(&c.extraForm, "extra-form", "", "optional extra form parameters, URL-encoded (a=b&c=d)")
	flag.StringVar(&c.introspectURL, "introspect-url", "", "introspection endpoint URL (enables the introspect scenario)")
	flag.StringVar(&c.introspectAuth, "introspect-auth", "none", "auth for introspection: none | client (basic with the client id/secret) | basic:USER:PASS | bearer:TOKEN")
	flag.StringVar(&c.getURL, "get-url", "", "URL for the trivial GET baseline scenario, e.g. http://127.0.0.1:4444/.well-known/jwks.json")
	flag.StringVar(&scen, "scenarios", "", "comma-separated list among cc_token,introspect,get (default: every scenario whose URL is set)")
	flag.StringVar(&conns, "conns", "1,16,64", "comma-separated concurrency sweep (closed loop, one keep-alive connection per worker)")
	flag.DurationVar(&c.duration, "duration", 20*time.Second, "measured duration of one run (max 10m)")
	flag.DurationVar(&c.warmup, "warmup", 3*time.Second, "unmeasured warm-up before each run (same concurrency)")
	flag.DurationVar(&c.pause, "pause", 2*time.Second, "idle pause between runs")
	flag.IntVar(&c.reps, "reps", 3, "repetitions of each (scenario, conns); reps are interleaved across the conns sweep")
	flag.DurationVar(&c.reqTimeout, "timeout", 10*time.Second, "per-request timeout")
	flag.StringVar(&c.label, "label", "", "free-form label printed on every line (e.g. hydra-pg-opaque)")
	flag.IntVar(&c.serverPID, "server-pid", 0, "PID of the server process: report its CPU% and max RSS")
	flag.StringVar(&c.auxComm, "aux-comm", "", "process name (comm) whose CPU is summed over all its processes, e.g. postgres")
	flag.StringVar(&c.jsonOut, "json", "", "also write every rep result as JSON to this file")
	flag.BoolVar(&c.repsOnStdout, "reps-stdout", false, "also print rep lines on stdout")
	flag.Parse()

	for _, s := range strings.Split(conns, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 4096 {
			fatalf("bad -conns value %q", s)
		}
		c.conns = append(c.conns, n)
	}
	if scen == "" {
		if c.tokenURL != "" {
			c.scenarios = append(c.scenarios, "cc_token")
		}
		if c.introspectURL != "" {
			c.scenarios = append(c.scenarios, "introspect")
		}
		if c.getURL != "" {
			c.scenarios = append(c.scenarios, "get")
		}
	} else {
		for _, s := range strings.Split(scen, ",") {
			if s = strings.TrimSpace(s); s != "" {
				c.scenarios = append(c.scenarios, s)
			}
		}
	}
	if len(c.scenarios) == 0 {
		fatalf("nothing to do: set -token-url, -introspect-url or -get-url")
	}
	if c.duration <= 0 || c.duration > 10*time.Minute {
		fatalf("-duration must be in (0, 10m]")
	}
	if c.reps < 1 || c.reps > 20 {
		fatalf("-reps must be in [1, 20]")
	}
	if c.warmup < 0 || c.warmup > time.Minute {
		fatalf("-warmup must be in [0, 1m]")
	}
	return c
}

func fatalf(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "loadgen: "+f+"\n", a...)
	os.Exit(2)
}

// requireLoopback refuses any target that is not on the loopback range.
func requireLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%s: scheme must be http or https", raw)
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); ip != nil {
		if !ip.IsLoopback() {
			return fmt.Errorf("%s: only loopback targets are allowed", raw)
		}
		return nil
	}
	ips, err := net.LookupIP(host)
	if err != nil {
		return err
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return fmt.Errorf("%s: %s resolves to non-loopback %s; only loopback targets are allowed", raw, host, ip)
		}
	}
	return nil
}

func basic(user, pass string) string {
	// RFC 6749 2.3.1: form-urlencode id and secret before base64.
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(user)+":"+url.QueryEscape(pass)))
}

func tokenForm(c config) (body []byte, authz string) {
	v := url.Values{}
	v.Set("grant_type", "client_credentials")
	if c.scope != "" {
		v.Set("scope", c.scope)
	}
	if c.audience != "" {
		v.Set("audience", c.audience)
	}
	if c.extraForm != "" {
		extra, err := url.ParseQuery(c.extraForm)
		if err != nil {
			fatalf("bad -extra-form: %v", err)
		}
		for k, vs := range extra {
			for _, x := range vs {
				v.Add(k, x)
			}
		}
	}
	switch c.authMethod {
	case "basic":
		authz = basic(c.clientID, c.clientSecret)
	case "post":
		v.Set("client_id", c.clientID)
		v.Set("client_secret", c.clientSecret)
	default:
		fatalf("bad -auth %q (basic|post)", c.authMethod)
	}
	return []byte(v.Encode()), authz
}

func postForm(u string, body []byte, authz string) func() (*http.Request, error) {
	return func() (*http.Request, error) {
		req, err := http.NewRequest(http.MethodPost, u, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		return req, nil
	}
}

var (
	needleAccessToken = []byte(`"access_token"`)
	needleActive      = []byte(`"active":true`)
	needleActive2     = []byte(`"active": true`)
)

func newClient(conns int, timeout time.Duration) *http.Client {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns * 2,
		MaxIdleConnsPerHost: conns * 2,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	return &http.Client{Transport: tr, Timeout: timeout}
}

func fetchToken(c config) (string, error) {
	body, authz := tokenForm(c)
	req, err := postForm(c.tokenURL, body, authz)()
	if err != nil {
		return "", err
	}
	cl := newClient(1, c.reqTimeout)
	resp, err := cl.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("token endpoint answered %d: %s", resp.StatusCode, truncate(b, 300))
	}
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(b, &tr); err != nil || tr.AccessToken == "" {
		return "", fmt.Errorf("no access_token in token response: %s", truncate(b, 300))
	}
	return tr.AccessToken, nil
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

func buildScenarios(c config) ([]scenario, error) {
	var out []scenario
	for _, name := range c.scenarios {
		switch name {
		case "cc_token":
			if c.tokenURL == "" || c.clientID == "" {
				return nil, errors.New("cc_token needs -token-url, -client-id, -client-secret")
			}
			if err := requireLoopback(c.tokenURL); err != nil {
				return nil, err
			}
			body, authz := tokenForm(c)
			out = append(out, scenario{name: name, build: postForm(c.tokenURL, body, authz),
				check: func(st int, b []byte) bool { return st == 200 && bytes.Contains(b, needleAccessToken) }})
		case "introspect":
			if c.introspectURL == "" || c.tokenURL == "" {
				return nil, errors.New("introspect needs -introspect-url and -token-url (a token is obtained first)")
			}
			if err := requireLoopback(c.introspectURL); err != nil {
				return nil, err
			}
			if err := requireLoopback(c.tokenURL); err != nil {
				return nil, err
			}
			tok, err := fetchToken(c)
			if err != nil {
				return nil, fmt.Errorf("introspect: obtaining a token: %w", err)
			}
			var authz string
			switch {
			case c.introspectAuth == "none" || c.introspectAuth == "":
			case c.introspectAuth == "client":
				authz = basic(c.clientID, c.clientSecret)
			case strings.HasPrefix(c.introspectAuth, "basic:"):
				up := strings.SplitN(strings.TrimPrefix(c.introspectAuth, "basic:"), ":", 2)
				if len(up) != 2 {
					return nil, errors.New("-introspect-auth basic:USER:PASS")
				}
				authz = basic(up[0], up[1])
			case strings.HasPrefix(c.introspectAuth, "bearer:"):
				authz = "Bearer " + strings.TrimPrefix(c.introspectAuth, "bearer:")
			default:
				return nil, fmt.Errorf("bad -introspect-auth %q", c.introspectAuth)
			}
			v := url.Values{}
			v.Set("token", tok)
			v.Set("token_type_hint", "access_token")
			body := []byte(v.Encode())
			out = append(out, scenario{name: name, build: postForm(c.introspectURL, body, authz),
				check: func(st int, b []byte) bool {
					return st == 200 && (bytes.Contains(b, needleActive) || bytes.Contains(b, needleActive2))
				}})
			fmt.Fprintf(os.Stderr, "# introspect: token len=%d jwt=%v\n", len(tok), strings.Count(tok, ".") == 2 && !strings.HasPrefix(tok, "ory_"))
		case "get":
			if c.getURL == "" {
				return nil, errors.New("get needs -get-url")
			}
			if err := requireLoopback(c.getURL); err != nil {
				return nil, err
			}
			u := c.getURL
			out = append(out, scenario{name: name,
				build: func() (*http.Request, error) {
					req, err := http.NewRequest(http.MethodGet, u, nil)
					if err == nil {
						req.Header.Set("Accept", "application/json")
					}
					return req, err
				},
				check: func(st int, b []byte) bool { return st == 200 && len(b) > 0 }})
		default:
			return nil, fmt.Errorf("unknown scenario %q", name)
		}
	}
	return out, nil
}

// ---- /proc sampling -------------------------------------------------------

const clkTck = 100.0 // USER_HZ on Linux

func procTicks(pid int, withChildren bool) (float64, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+2:])
	// f[0] is field 3 (state); utime=14, stime=15, cutime=16, cstime=17
	if len(f) < 15 {
		return 0, false
	}
	get := func(field int) float64 { v, _ := strconv.ParseFloat(f[field-3], 64); return v }
	t := get(14) + get(15)
	if withChildren {
		t += get(16) + get(17)
	}
	return t, true
}

func procComm(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// auxTicks sums utime+stime(+reaped children) over every process named comm.
func auxTicks(comm string) float64 {
	if comm == "" {
		return 0
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	var sum float64
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if procComm(pid) != comm {
			continue
		}
		if t, ok := procTicks(pid, true); ok {
			sum += t
		}
	}
	return sum
}

func rssMB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				kb, _ := strconv.ParseFloat(f[1], 64)
				return kb / 1024
			}
		}
	}
	return -1
}

type sysStat struct{ busy, total, steal float64 }

func readSysStat() sysStat {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return sysStat{}
	}
	line := strings.SplitN(string(b), "\n", 2)[0]
	f := strings.Fields(line)
	var v []float64
	for _, x := range f[1:] {
		n, _ := strconv.ParseFloat(x, 64)
		v = append(v, n)
	}
	// user nice system idle iowait irq softirq steal guest guest_nice
	var total float64
	for i, n := range v {
		if i >= 8 { // guest time is already included in user/nice
			break
		}
		total += n
	}
	idle := v[3]
	if len(v) > 4 {
		idle += v[4]
	}
	var steal float64
	if len(v) > 7 {
		steal = v[7]
	}
	return sysStat{busy: total - idle - steal, total: total, steal: steal}
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// ---- load loop -------------------------------------------------------------

type counters struct {
	errStatus, errTransport, errBody atomic.Int64
	reported                         atomic.Int64
}

func (ct *counters) report(format string, a ...any) {
	if ct.reported.Add(1) <= 3 {
		fmt.Fprintf(os.Stderr, "# error sample: "+format+"\n", a...)
	}
}

// drive runs `conns` closed-loop workers until `dur` has elapsed and returns
// the per-request latencies (successful responses only) in nanoseconds.
func drive(sc scenario, client *http.Client, conns int, dur time.Duration, ct *counters) ([]int64, time.Duration) {
	start := time.Now()
	deadline := start.Add(dur)
	lats := make([][]int64, conns)
	var wg sync.WaitGroup
	for w := 0; w < conns; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			buf := bytes.NewBuffer(make([]byte, 0, 16<<10))
			local := make([]int64, 0, 4096)
			for time.Now().Before(deadline) {
				req, err := sc.build()
				if err != nil {
					ct.errTransport.Add(1)
					ct.report("build: %v", err)
					time.Sleep(10 * time.Millisecond)
					continue
				}
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					ct.errTransport.Add(1)
					ct.report("transport: %v", err)
					time.Sleep(10 * time.Millisecond) // avoid spinning on refused connections
					continue
				}
				buf.Reset()
				_, rerr := buf.ReadFrom(resp.Body)
				resp.Body.Close()
				lat := time.Since(t0)
				if rerr != nil {
					ct.errTransport.Add(1)
					ct.report("read body: %v", rerr)
					continue
				}
				if resp.StatusCode < 200 || resp.StatusCode > 299 {
					ct.errStatus.Add(1)
					ct.report("status %d: %s", resp.StatusCode, truncate(buf.Bytes(), 200))
					continue
				}
				if !sc.check(resp.StatusCode, buf.Bytes()) {
					ct.errBody.Add(1)
					ct.report("unexpected body: %s", truncate(buf.Bytes(), 200))
					continue
				}
				local = append(local, int64(lat))
			}
			lats[w] = local
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	n := 0
	for _, l := range lats {
		n += len(l)
	}
	all := make([]int64, 0, n)
	for _, l := range lats {
		all = append(all, l...)
	}
	return all, elapsed
}

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

func runRep(c config, sc scenario, conns, rep int) repResult {
	client := newClient(conns, c.reqTimeout)
	defer client.CloseIdleConnections()
	var warm int64
	if c.warmup > 0 {
		var ct counters
		wl, _ := drive(sc, client, conns, c.warmup, &ct)
		warm = int64(len(wl))
	}

	var ct counters
	var serverT0, auxT0 float64
	serverOK := false
	if c.serverPID > 0 {
		serverT0, serverOK = procTicks(c.serverPID, false)
	}
	auxT0 = auxTicks(c.auxComm)
	sys0 := readSysStat()
	self0 := selfCPU()

	// RSS sampler
	stop := make(chan struct{})
	var rssMax atomic.Uint64
	var samplerWG sync.WaitGroup
	if c.serverPID > 0 {
		samplerWG.Add(1)
		go func() {
			defer samplerWG.Done()
			t := time.NewTicker(250 * time.Millisecond)
			defer t.Stop()
			for {
				if r := rssMB(c.serverPID); r > 0 && uint64(r*1024) > rssMax.Load() {
					rssMax.Store(uint64(r * 1024))
				}
				select {
				case <-stop:
					return
				case <-t.C:
				}
			}
		}()
	}

	lats, elapsed := drive(sc, client, conns, c.duration, &ct)

	close(stop)
	samplerWG.Wait()
	self1 := selfCPU()
	sys1 := readSysStat()
	auxT1 := auxTicks(c.auxComm)
	wall := elapsed.Seconds()

	sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
	r := repResult{
		Label: c.label, Scenario: sc.name, Conns: conns, Rep: rep,
		DurS: wall, Reqs: int64(len(lats)), WarmupReqs: warm, RPS: float64(len(lats)) / wall,
		P50: pct(lats, 0.50), P90: pct(lats, 0.90), P99: pct(lats, 0.99), Max: pct(lats, 1.0),
		ErrStatus: ct.errStatus.Load(), ErrTransport: ct.errTransport.Load(), ErrBody: ct.errBody.Load(),
		ServerCPU: -1, ServerRSSMB: -1, AuxCPU: -1,
		LoadgenCPU: 100 * (self1 - self0).Seconds() / wall,
	}
	if serverOK {
		if t1, ok := procTicks(c.serverPID, false); ok {
			r.ServerCPU = 100 * (t1 - serverT0) / clkTck / wall
		}
		r.ServerRSSMB = float64(rssMax.Load()) / 1024
	}
	if c.auxComm != "" {
		r.AuxCPU = 100 * (auxT1 - auxT0) / clkTck / wall
	}
	if dt := sys1.total - sys0.total; dt > 0 {
		r.SysCPU = 100 * (sys1.busy - sys0.busy) / dt
		r.StealPct = 100 * (sys1.steal - sys0.steal) / dt
		other := r.SysCPU*float64(runtime.NumCPU()) - r.LoadgenCPU
		if r.ServerCPU > 0 {
			other -= r.ServerCPU
		}
		if r.AuxCPU > 0 {
			other -= r.AuxCPU
		}
		r.OtherCPU = math.Max(0, other)
	}
	return r
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
	return "rep " + kv("label", r.Label, "scenario", r.Scenario, "conns", r.Conns, "rep", r.Rep,
		"rps", r.RPS, "p50_ms", r.P50, "p90_ms", r.P90, "p99_ms", r.P99, "max_ms", r.Max,
		"errors", r.errors(), "reqs", r.Reqs, "dur_s", r.DurS,
		"err_status", r.ErrStatus, "err_transport", r.ErrTransport, "err_body", r.ErrBody,
		"server_cpu_pct", r.ServerCPU, "server_rss_mb", r.ServerRSSMB, "aux_cpu_pct", r.AuxCPU,
		"loadgen_cpu_pct", r.LoadgenCPU, "sys_cpu_pct", r.SysCPU, "steal_pct", r.StealPct, "other_cpu_pct", r.OtherCPU)
}

func median(xs []float64) float64 {
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

func minmax(xs []float64) (float64, float64) {
	mn, mx := math.Inf(1), math.Inf(-1)
	for _, x := range xs {
		mn = math.Min(mn, x)
		mx = math.Max(mx, x)
	}
	return mn, mx
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
	rmin, rmax := minmax(rps)
	p50min, p50max := minmax(p50)
	p99min, p99max := minmax(p99)
	_, rssMax := minmax(srss)
	spread := 0.0
	if m := median(rps); m > 0 {
		spread = 100 * (rmax - rmin) / m
	}
	return kv("scenario", rs[0].Scenario, "conns", rs[0].Conns, "label", rs[0].Label, "reps", len(rs),
		"rps", median(rps), "rps_min", rmin, "rps_max", rmax, "rps_spread_pct", spread,
		"p50_ms", median(p50), "p50_ms_min", p50min, "p50_ms_max", p50max,
		"p99_ms", median(p99), "p99_ms_min", p99min, "p99_ms_max", p99max,
		"errors", errs,
		"server_cpu_pct", median(scpu), "server_rss_mb_max", rssMax, "aux_cpu_pct", median(acpu),
		"loadgen_cpu_pct", median(lcpu), "sys_cpu_pct", median(syscpu), "steal_pct", median(steal),
		"other_cpu_pct", median(other))
}

func run(c config) error {
	scs, err := buildScenarios(c)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "# loadgen %s GOMAXPROCS=%d ncpu=%d label=%s scenarios=%v conns=%v duration=%s warmup=%s reps=%d server_pid=%d aux_comm=%s start=%s\n",
		runtime.Version(), runtime.GOMAXPROCS(0), runtime.NumCPU(), c.label, c.scenarios, c.conns, c.duration, c.warmup, c.reps, c.serverPID, c.auxComm, time.Now().UTC().Format(time.RFC3339))
	if c.serverPID > 0 {
		if _, ok := procTicks(c.serverPID, false); !ok {
			return fmt.Errorf("-server-pid %d: no such process", c.serverPID)
		}
		fmt.Fprintf(os.Stderr, "# server pid=%d comm=%s rss_mb_idle=%.1f\n", c.serverPID, procComm(c.serverPID), rssMB(c.serverPID))
	}
	// Hard stop in case something hangs: every run is bounded.
	budget := time.Duration(len(scs)*len(c.conns)*c.reps) * (c.duration + c.warmup + c.pause + c.reqTimeout + 5*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	go func() {
		<-ctx.Done()
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			fmt.Fprintln(os.Stderr, "loadgen: overall time budget exceeded, exiting")
			os.Exit(3)
		}
	}()

	var all []repResult
	for _, sc := range scs {
		results := map[int][]repResult{}
		for rep := 1; rep <= c.reps; rep++ {
			for _, n := range c.conns {
				r := runRep(c, sc, n, rep)
				all = append(all, r)
				results[n] = append(results[n], r)
				line := repLine(r)
				fmt.Fprintln(os.Stderr, line)
				if c.repsOnStdout {
					fmt.Println(line)
				}
				if c.pause > 0 {
					time.Sleep(c.pause)
				}
			}
		}
		for _, n := range c.conns {
			fmt.Println(summaryLine(results[n]))
		}
	}
	if c.jsonOut != "" {
		b, _ := json.MarshalIndent(all, "", "  ")
		if err := os.WriteFile(c.jsonOut, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
