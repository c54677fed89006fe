// Command loadgen is a small, provider-agnostic, closed-loop HTTP load
// generator for OAuth 2.0 / OIDC servers. It measures:
//
//	cc_token    POST token endpoint, grant_type=client_credentials
//	introspect  POST introspection endpoint (RFC 7662) on a token it obtained first
//	get         GET an arbitrary URL (e.g. /.well-known/jwks.json) as a trivial baseline
//	authcode    a whole authorization code flow per measured unit: authorize ->
//	            login form -> (consent) -> code -> token, one user agent per worker
//
// Every run is bounded in time and stops by itself. Only loopback targets are
// accepted. Standard library only, so it builds offline:
//
//	go build -o loadgen ./cmd/loadgen
//
// It is gatehouse's copy of the shared harness (../shared/bench/loadgen),
// kept identical in behaviour and flags so that figures measured with either
// compare; the authcode scenario and its flags are gatehouse's addition and
// change nothing in the other scenarios. cmd/loadgen/bench.sh (make bench)
// drives it against gatehouse and cmd/loadgen/benchtool turns its -json
// output into the README table.
//
// stdout: one machine-readable summary line per (scenario, conns), e.g.
//
//	scenario=cc_token conns=64 reps=3 rps=1234.5 rps_min=.. rps_max=.. p50_ms=.. p99_ms=.. errors=0 ...
//
// stderr: progress, one "rep" line per repetition (same key=value format);
// for authcode also one "steps" line per repetition with the requests of each
// step per flow.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"html"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
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
	// authcode scenario
	authorizeURL  string
	redirectURI   string
	username      string
	password      string
	passwordFile  string
	authcodeFresh bool
}

type scenario struct {
	name  string
	build func() (*http.Request, error)
	check func(status int, body []byte) bool
	// flow, when set, replaces build/check: the measured unit is then one
	// whole multi-request flow run by worker w (its own user agent), and
	// the flow counts its own errors in ct. It returns whether the flow
	// succeeded.
	flow func(w int, client *http.Client, ct *counters) bool
	// maxReqs bounds the HTTP requests of one unit (1 without flow), so
	// the time budget can allow for a unit in flight at the deadline.
	maxReqs int
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
	flag.StringVar(&c.authorizeURL, "authorize-url", "", "authorization endpoint URL (enables the authcode scenario; also needs -token-url, -client-id, -client-secret, -redirect-uri, -username and a password)")
	flag.StringVar(&c.redirectURI, "redirect-uri", "", "authcode: the client's registered redirect URI; never contacted, the code is read from the Location header")
	flag.StringVar(&c.username, "username", "", "authcode: the user's e-mail (login form input)")
	flag.StringVar(&c.password, "password", "", "authcode: the user's password (visible in ps; prefer -password-file)")
	flag.StringVar(&c.passwordFile, "password-file", "", "authcode: read the user's password from the first line of this file")
	flag.BoolVar(&c.authcodeFresh, "authcode-fresh-session", true, "authcode: start every flow with an empty cookie jar, so each flow signs in with the password (false: keep the browser session, later flows skip the login form)")
	flag.StringVar(&scen, "scenarios", "", "comma-separated list among cc_token,introspect,get,authcode (default: every scenario whose URL is set)")
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
		if c.authorizeURL != "" {
			c.scenarios = append(c.scenarios, "authcode")
		}
	} else {
		for _, s := range strings.Split(scen, ",") {
			if s = strings.TrimSpace(s); s != "" {
				c.scenarios = append(c.scenarios, s)
			}
		}
	}
	if len(c.scenarios) == 0 {
		fatalf("nothing to do: set -token-url, -introspect-url, -get-url or -authorize-url")
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
	if c.passwordFile != "" {
		if c.password != "" {
			fatalf("-password and -password-file are exclusive")
		}
		b, err := os.ReadFile(c.passwordFile)
		if err != nil {
			fatalf("-password-file: %v", err)
		}
		// First line, as `gatehouse users create --password-stdin` reads it.
		c.password = strings.TrimRight(strings.SplitN(string(b), "\n", 2)[0], "\r")
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
		case "authcode":
			sc, err := newAuthcode(c)
			if err != nil {
				return nil, err
			}
			out = append(out, sc)
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

// ---- authcode: the authorization code flow ---------------------------------
//
// Each worker is one user agent (its own cookie jar) that runs whole flows
// back to back; the measured unit is a flow, from the authorization request
// to the token response. Redirects are followed by hand, not by net/http, so
// that every request is counted under its step, none leaves the server's
// origin, and the redirect URI (not served) is never contacted.

// Steps: every HTTP request of a flow is one of these.
const (
	stepAuthorize     = iota // the authorization request
	stepLoginPage            // GET of a page with the login form
	stepLoginSubmit          // POST of the login form
	stepConsentPage          // GET of a page with the consent form
	stepConsentSubmit        // POST of decision=allow
	stepRedirect             // GET of a same-server URL that redirected again
	stepToken                // POST of the code exchange
	numSteps
)

var stepNames = [numSteps]string{"authorize", "login_page", "login_submit", "consent_page", "consent_submit", "redirect", "token"}

// maxFlowReqs bounds one flow: authorize, login page and POST, consent page
// and POST, token is 6; the margin allows for a few extra redirects.
const maxFlowReqs = 10

const (
	errKindTransport = iota
	errKindStatus
	errKindBody
)

// flowError is a failed flow, counted under kind like a failed request.
type flowError struct {
	kind int
	msg  string
}

func flowErrf(kind int, f string, a ...any) *flowError {
	return &flowError{kind: kind, msg: fmt.Sprintf(f, a...)}
}

type authcode struct {
	c          config
	authorize  *url.URL
	redirect   *url.URL
	tokenAuthz string // client_secret_basic header; empty with -auth post
	fresh      bool

	mu     sync.Mutex
	agents map[int]*agent // by worker index
}

// agent is one user agent. It is kept across the warm-up, the measured run
// and the repetitions, so that with -authcode-fresh-session=false only a
// worker's first flow (in the warm-up, if any) signs in.
type agent struct {
	jar    http.CookieJar
	dirty  bool // the last flow failed: start the next one from an empty jar
	buf    bytes.Buffer
	steps  [numSteps]int64
	stepNS [numSteps]int64
}

func newAuthcode(c config) (scenario, error) {
	if c.authorizeURL == "" || c.tokenURL == "" || c.clientID == "" || c.redirectURI == "" || c.username == "" || c.password == "" {
		return scenario{}, errors.New("authcode needs -authorize-url, -token-url, -client-id, -client-secret, -redirect-uri, -username and -password or -password-file")
	}
	for _, u := range []string{c.authorizeURL, c.tokenURL} {
		if err := requireLoopback(u); err != nil {
			return scenario{}, err
		}
	}
	az, err := url.Parse(c.authorizeURL)
	if err != nil {
		return scenario{}, err
	}
	// The redirect URI is only compared with Location headers, never
	// contacted, so it need not be loopback; it must be absolute.
	ru, err := url.Parse(c.redirectURI)
	if err != nil || ru.Scheme == "" || ru.Host == "" {
		return scenario{}, fmt.Errorf("-redirect-uri %q: must be an absolute URL", c.redirectURI)
	}
	a := &authcode{c: c, authorize: az, redirect: ru, fresh: c.authcodeFresh, agents: map[int]*agent{}}
	switch c.authMethod {
	case "basic":
		a.tokenAuthz = basic(c.clientID, c.clientSecret)
	case "post":
	default:
		return scenario{}, fmt.Errorf("bad -auth %q (basic|post)", c.authMethod)
	}
	// One flow first, so a wrong setting fails here with its reason
	// instead of making a run of errors. With a client that asks for
	// consent, this flow gives it; the workers then find it remembered.
	probe := &agent{}
	cl := newClient(1, c.reqTimeout)
	defer cl.CloseIdleConnections()
	if ferr := a.flow(probe, cl); ferr != nil {
		return scenario{}, fmt.Errorf("authcode: a first flow failed: %s", ferr.msg)
	}
	var seq []string
	for i, n := range probe.steps {
		for j := int64(0); j < n; j++ {
			seq = append(seq, stepNames[i])
		}
	}
	fmt.Fprintf(os.Stderr, "# authcode: first flow ok, %d requests (%s); fresh_session=%v\n", len(seq), strings.Join(seq, ","), a.fresh)
	return scenario{name: "authcode", flow: a.run, maxReqs: maxFlowReqs}, nil
}

func (a *authcode) agent(w int) *agent {
	a.mu.Lock()
	defer a.mu.Unlock()
	ag := a.agents[w]
	if ag == nil {
		ag = &agent{}
		a.agents[w] = ag
	}
	return ag
}

// run is the scenario's flow: one flow of worker w, its errors counted.
func (a *authcode) run(w int, client *http.Client, ct *counters) bool {
	ag := a.agent(w)
	ferr := a.flow(ag, client)
	if ferr == nil {
		for i := range ag.steps {
			ct.steps[i].Add(ag.steps[i])
			ct.stepNS[i].Add(ag.stepNS[i])
		}
		return true
	}
	ag.dirty = true
	switch ferr.kind {
	case errKindTransport:
		ct.errTransport.Add(1)
	case errKindStatus:
		ct.errStatus.Add(1)
	default:
		ct.errBody.Add(1)
	}
	ct.report("authcode: %s", ferr.msg)
	if ferr.kind == errKindTransport {
		time.Sleep(10 * time.Millisecond) // avoid spinning on refused connections
	}
	return false
}

func randToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (Go 1.24+: it aborts the program instead)
	return base64.RawURLEncoding.EncodeToString(b)
}

// noFollow makes net/http hand every redirect back to the flow.
func noFollow(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// flow runs one authorization code flow with ag's cookies.
func (a *authcode) flow(ag *agent, base *http.Client) *flowError {
	if a.fresh || ag.dirty || ag.jar == nil {
		ag.jar, _ = cookiejar.New(nil) // a new browser: no session, no CSRF cookie
		ag.dirty = false
	}
	ag.steps, ag.stepNS = [numSteps]int64{}, [numSteps]int64{}
	cl := &http.Client{Transport: base.Transport, Timeout: base.Timeout, Jar: ag.jar, CheckRedirect: noFollow}

	verifier, state, nonce := randToken(32), randToken(16), randToken(16)
	challenge := sha256.Sum256([]byte(verifier))
	q := url.Values{}
	q.Set("response_type", "code")
	q.Set("client_id", a.c.clientID)
	q.Set("redirect_uri", a.c.redirectURI)
	q.Set("scope", "openid")
	q.Set("state", state)
	q.Set("nonce", nonce)
	q.Set("code_challenge", base64.RawURLEncoding.EncodeToString(challenge[:]))
	q.Set("code_challenge_method", "S256")
	u := *a.authorize
	if u.RawQuery != "" {
		u.RawQuery += "&"
	}
	u.RawQuery += q.Encode()
	req, err := http.NewRequest(http.MethodGet, u.String(), nil)
	if err != nil {
		return flowErrf(errKindTransport, "build: %v", err)
	}

	step := stepAuthorize // the step of req when it is not a plain GET of a page
	var loggedIn, consented bool
	for n := 0; n < maxFlowReqs-1; n++ {
		req.Header.Set("Accept", "text/html")
		t0 := time.Now()
		resp, err := cl.Do(req)
		if err != nil {
			return flowErrf(errKindTransport, "%s: %v", req.URL.Path, err)
		}
		ag.buf.Reset()
		_, rerr := ag.buf.ReadFrom(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		lat := time.Since(t0).Nanoseconds()
		if rerr != nil {
			return flowErrf(errKindTransport, "%s: read body: %v", req.URL.Path, rerr)
		}
		record := func(s int) { ag.steps[s]++; ag.stepNS[s] += lat }
		isGet := req.Method == http.MethodGet && step != stepAuthorize

		if resp.StatusCode >= 300 && resp.StatusCode <= 399 {
			if isGet {
				step = stepRedirect
			}
			record(step)
			loc := resp.Header.Get("Location")
			if loc == "" {
				return flowErrf(errKindStatus, "%s: %d without Location", req.URL.Path, resp.StatusCode)
			}
			next, err := req.URL.Parse(loc)
			if err != nil {
				return flowErrf(errKindBody, "%s: bad Location %q", req.URL.Path, loc)
			}
			if a.isRedirectURI(next) {
				return a.exchange(cl, ag, next, state, verifier, nonce)
			}
			if !sameOrigin(next, a.authorize) {
				// Only the server under test is ever contacted.
				return flowErrf(errKindBody, "%s: redirected off the server to %s", req.URL.Path, next.Redacted())
			}
			if req, err = http.NewRequest(http.MethodGet, next.String(), nil); err != nil {
				return flowErrf(errKindTransport, "build: %v", err)
			}
			step = stepRedirect // a GET: named by what it answers
			continue
		}
		if resp.StatusCode != http.StatusOK {
			record(step)
			return flowErrf(errKindStatus, "%s %s: status %d: %s", req.Method, req.URL.Path, resp.StatusCode, pageText(ag.buf.Bytes()))
		}
		// A page: it must carry the login or the consent form.
		f, ok := pageForm(ag.buf.Bytes())
		switch {
		case !ok:
			record(step)
			return flowErrf(errKindBody, "%s %s: 200 without a login or consent form: %s", req.Method, req.URL.Path, pageText(ag.buf.Bytes()))
		case f.pass != "":
			if isGet {
				step = stepLoginPage
			}
			record(step)
			if loggedIn {
				return flowErrf(errKindBody, "%s: the login form came back after signing in (wrong password? locked account?)", req.URL.Path)
			}
			loggedIn = true
			f.values.Set(f.user, a.c.username)
			f.values.Set(f.pass, a.c.password)
			step = stepLoginSubmit
		default:
			if isGet {
				step = stepConsentPage
			}
			record(step)
			if consented {
				return flowErrf(errKindBody, "%s: the consent form came back after allowing", req.URL.Path)
			}
			consented = true
			f.values.Set(f.allowName, f.allowValue)
			step = stepConsentSubmit
		}
		action, err := req.URL.Parse(f.action)
		if err != nil || !sameOrigin(action, a.authorize) || !strings.EqualFold(f.method, "post") {
			return flowErrf(errKindBody, "%s: the form's action %q (method %q) is not a POST to the server", req.URL.Path, f.action, f.method)
		}
		if req, err = http.NewRequest(http.MethodPost, action.String(), strings.NewReader(f.values.Encode())); err != nil {
			return flowErrf(errKindTransport, "build: %v", err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return flowErrf(errKindBody, "no redirect to the redirect URI after %d requests", maxFlowReqs-1)
}

// exchange checks the redirect to the client and trades the code for tokens.
func (a *authcode) exchange(cl *http.Client, ag *agent, loc *url.URL, state, verifier, nonce string) *flowError {
	q := loc.Query()
	if e := q.Get("error"); e != "" {
		return flowErrf(errKindStatus, "authorization error %s: %s", e, q.Get("error_description"))
	}
	if q.Get("state") != state {
		return flowErrf(errKindBody, "the redirect's state does not match the request's")
	}
	code := q.Get("code")
	if code == "" {
		return flowErrf(errKindBody, "no code in the redirect")
	}
	v := url.Values{}
	v.Set("grant_type", "authorization_code")
	v.Set("code", code)
	v.Set("redirect_uri", a.c.redirectURI)
	v.Set("code_verifier", verifier)
	if a.tokenAuthz == "" {
		v.Set("client_id", a.c.clientID)
		v.Set("client_secret", a.c.clientSecret)
	}
	req, err := postForm(a.c.tokenURL, []byte(v.Encode()), a.tokenAuthz)()
	if err != nil {
		return flowErrf(errKindTransport, "build: %v", err)
	}
	t0 := time.Now()
	resp, err := cl.Do(req)
	if err != nil {
		return flowErrf(errKindTransport, "token: %v", err)
	}
	ag.buf.Reset()
	_, rerr := ag.buf.ReadFrom(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	ag.steps[stepToken]++
	ag.stepNS[stepToken] += time.Since(t0).Nanoseconds()
	if rerr != nil {
		return flowErrf(errKindTransport, "token: read body: %v", rerr)
	}
	if resp.StatusCode != http.StatusOK {
		return flowErrf(errKindStatus, "token: status %d: %s", resp.StatusCode, truncate(ag.buf.Bytes(), 200))
	}
	var tr struct {
		AccessToken string `json:"access_token"`
		IDToken     string `json:"id_token"`
	}
	if err := json.Unmarshal(ag.buf.Bytes(), &tr); err != nil || tr.AccessToken == "" || tr.IDToken == "" {
		return flowErrf(errKindBody, "token: no access_token and id_token: %s", truncate(ag.buf.Bytes(), 200))
	}
	// The ID token must be this flow's (its nonce); the signature is the
	// client's business and not checked here.
	parts := strings.Split(tr.IDToken, ".")
	var claims struct {
		Nonce string `json:"nonce"`
	}
	if len(parts) != 3 {
		return flowErrf(errKindBody, "token: id_token is not a JWS")
	}
	if payload, err := base64.RawURLEncoding.DecodeString(parts[1]); err != nil || json.Unmarshal(payload, &claims) != nil || claims.Nonce != nonce {
		return flowErrf(errKindBody, "token: the id_token's nonce is not the request's")
	}
	return nil
}

func (a *authcode) isRedirectURI(u *url.URL) bool {
	p1, p2 := u.Path, a.redirect.Path
	if p1 == "" {
		p1 = "/"
	}
	if p2 == "" {
		p2 = "/"
	}
	return strings.EqualFold(u.Scheme, a.redirect.Scheme) && strings.EqualFold(u.Host, a.redirect.Host) && p1 == p2
}

func sameOrigin(u, base *url.URL) bool {
	return strings.EqualFold(u.Scheme, base.Scheme) && strings.EqualFold(u.Host, base.Host)
}

// htmlForm is what a flow needs of a page's form: where it posts, its
// hidden fields, and either the login inputs or the consent "allow" control.
type htmlForm struct {
	action, method        string
	values                url.Values // hidden inputs
	user, pass            string     // names of the e-mail/username and password inputs
	allowName, allowValue string     // the submit control whose value is "allow"
}

// A few regular expressions are enough for the server's own forms and keep
// the program standard-library only (no HTML parser there).
var (
	reForm    = regexp.MustCompile(`(?is)<form\b([^>]*)>(.*?)</form\s*>`)
	reControl = regexp.MustCompile(`(?is)<(input|button)\b([^>]*)>`)
	reAttr    = regexp.MustCompile(`(?s)([A-Za-z_:][-A-Za-z0-9_:.]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>` + "`" + `]+)))?`)
)

var reMarkup = regexp.MustCompile(`(?is)<(head|script|style)\b.*?</(head|script|style)\s*>|<[^>]*>`)

// pageText is the start of a page's visible text, for error samples: the
// message of an error page, not its markup.
func pageText(b []byte) string {
	if !bytes.Contains(b[:min(len(b), 1024)], []byte("<")) {
		return truncate(b, 200)
	}
	t := strings.Join(strings.Fields(html.UnescapeString(string(reMarkup.ReplaceAll(b, []byte(" "))))), " ")
	return truncate([]byte(t), 200)
}

func attrs(b []byte) map[string]string {
	m := map[string]string{}
	for _, g := range reAttr.FindAllSubmatch(b, -1) {
		name := strings.ToLower(string(g[1]))
		if _, dup := m[name]; dup {
			continue // HTML keeps the first
		}
		v := g[2]
		if len(v) == 0 {
			v = g[3]
		}
		if len(v) == 0 {
			v = g[4]
		}
		m[name] = html.UnescapeString(string(v))
	}
	return m
}

// pageForm returns the page's login form (an e-mail or text input and a
// password input), else its consent form (a submit control of value
// "allow").
func pageForm(page []byte) (htmlForm, bool) {
	var consent *htmlForm
	for _, fm := range reForm.FindAllSubmatch(page, -1) {
		fa := attrs(fm[1])
		f := htmlForm{action: fa["action"], method: fa["method"], values: url.Values{}}
		for _, cm := range reControl.FindAllSubmatch(fm[2], -1) {
			ca := attrs(cm[2])
			name, typ := ca["name"], strings.ToLower(ca["type"])
			if strings.EqualFold(string(cm[1]), "button") {
				if typ == "" || typ == "submit" {
					if name != "" && strings.EqualFold(ca["value"], "allow") {
						f.allowName, f.allowValue = name, ca["value"]
					}
				}
				continue
			}
			switch typ {
			case "hidden":
				if name != "" {
					f.values.Add(name, ca["value"])
				}
			case "password":
				f.pass = name
			case "", "text", "email":
				if f.user == "" {
					f.user = name
				}
			case "submit":
				if name != "" && strings.EqualFold(ca["value"], "allow") {
					f.allowName, f.allowValue = name, ca["value"]
				}
			}
		}
		if f.pass != "" && f.user != "" {
			return f, true
		}
		if f.allowName != "" && consent == nil {
			f.pass = "" // no username input: not a login form, so post it as consent
			consent = &f
		}
	}
	if consent != nil {
		return *consent, true
	}
	return htmlForm{}, false
}

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
	// Flow scenarios: requests of each step and their summed latency
	// (ns), over successful flows only, so that their sum divided by the
	// flows is exactly the requests one measured unit costs.
	steps, stepNS [numSteps]atomic.Int64
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
				if sc.flow != nil {
					t0 := time.Now()
					if sc.flow(w, client, ct) {
						local = append(local, int64(time.Since(t0)))
					}
					continue
				}
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
	if sc.flow != nil {
		fmt.Fprintln(os.Stderr, stepsLine(r, &ct))
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
	// Hard stop in case something hangs: every run is bounded. A flow in
	// flight at the deadline may still send all its requests.
	var budget time.Duration
	for _, sc := range scs {
		tail := c.reqTimeout * time.Duration(max(sc.maxReqs, 1))
		budget += time.Duration(len(c.conns)*c.reps) * (c.duration + c.warmup + c.pause + tail + 5*time.Second)
	}
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
