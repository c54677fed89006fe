package main

// Fault test A: a steady client_credentials load while PostgreSQL (a
// private cluster, never the machine's shared one) is stopped and started
// again, cleanly and crash-like. The helpers here (the load, the
// introspection sweep, the log capture) are shared with the process fault
// tests in fault_process_test.go.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/internal/testservices"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
)

// Bounds the fault tests assert.
const (
	// quick503 bounds how long a request may take to be refused while the
	// database is down: refusing must not wait for the request timeout.
	quick503 = 3 * time.Second
	// recoveryBound bounds the time from the database (or the process)
	// being back to the first token issued.
	recoveryBound = 10 * time.Second
)

// requireFaultEnv gates the slow fault tests: CI runs them (CI or
// GATEHOUSE_TEST_POSTGRES_DSN set); a plain local `go test` skips them.
func requireFaultEnv(t *testing.T) {
	t.Helper()
	if os.Getenv("CI") == "" {
		testservices.PostgresDSNFor(t, "the fault tests run when it or CI is set")
	}
}

// skipOrFail skips a test the machine cannot run, except in CI, which
// must run it.
func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("CI must run this test, but "+format, args...)
	}
	t.Skipf(format, args...)
}

func noRateLimits(c *config.Config) { c.RateLimits.Enabled = false }

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// pgCluster is a private PostgreSQL cluster run as the postgres user in a
// temporary directory, so a test can stop and start it at will.
type pgCluster struct {
	t      *testing.T
	binDir string
	dir    string // owned by postgres: data/, the socket, server.log
	port   int
}

func startPrivatePostgres(t *testing.T) *pgCluster {
	t.Helper()
	if runtime.GOOS != "linux" {
		skipOrFail(t, "a private PostgreSQL cluster needs Linux (runuser)")
	}
	if os.Geteuid() != 0 {
		skipOrFail(t, "a private PostgreSQL cluster needs root, to run it as the postgres user")
	}
	if _, err := exec.LookPath("runuser"); err != nil {
		skipOrFail(t, "a private PostgreSQL cluster needs runuser: %v", err)
	}
	pgUser, err := user.Lookup("postgres")
	if err != nil {
		skipOrFail(t, "a private PostgreSQL cluster needs the postgres user: %v", err)
	}
	ctls, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(ctls) == 0 {
		skipOrFail(t, "no PostgreSQL server binaries in /usr/lib/postgresql/*/bin")
	}
	sort.Strings(ctls)
	uid, _ := strconv.Atoi(pgUser.Uid)
	gid, _ := strconv.Atoi(pgUser.Gid)

	// Not t.TempDir(): its parent is private to root, and the postgres
	// user must reach the directory.
	dir, err := os.MkdirTemp("", "gatehouse-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
	c := &pgCluster{t: t, binDir: filepath.Dir(ctls[len(ctls)-1]), dir: dir, port: freePort(t)}
	if err := c.run("initdb", "-D", c.data(), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-locale", "--no-sync"); err != nil {
		t.Fatal(err)
	}
	// Registered after the directory's removal, so it runs before it.
	t.Cleanup(func() { _ = c.run("pg_ctl", "-D", c.data(), "-m", "immediate", "-w", "-t", "30", "stop") })
	c.start()
	return c
}

func (c *pgCluster) data() string { return filepath.Join(c.dir, "data") }

func (c *pgCluster) dsn() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

// run runs a PostgreSQL program as the postgres user.
func (c *pgCluster) run(program string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	argv := append([]string{"-u", "postgres", "--", filepath.Join(c.binDir, program)}, args...)
	cmd := exec.CommandContext(ctx, "runuser", argv...)
	cmd.Dir = c.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %w\n%s", program, strings.Join(args, " "), err, out)
	}
	return nil
}

// start starts the cluster and returns once it accepts connections. fsync
// and synchronous_commit are on (the defaults, stated): what the server
// acknowledged must survive a crash.
func (c *pgCluster) start() {
	c.t.Helper()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=50 -c shared_buffers=16MB -c fsync=on -c synchronous_commit=on", c.port, c.dir)
	// -l: the server's output goes to a file, not to pipes this process
	// would wait on.
	if err := c.run("pg_ctl", "-D", c.data(), "-l", filepath.Join(c.dir, "server.log"), "-o", opts, "-w", "-t", "30", "start"); err != nil {
		c.t.Fatalf("start PostgreSQL: %v\n%s", err, c.logTail())
	}
}

// stop stops the cluster: "fast" (clients are disconnected, a clean
// shutdown) or "immediate" (processes are killed; crash recovery at the
// next start).
func (c *pgCluster) stop(mode string) {
	c.t.Helper()
	if err := c.run("pg_ctl", "-D", c.data(), "-m", mode, "-w", "-t", "30", "stop"); err != nil {
		c.t.Fatalf("stop PostgreSQL (%s): %v\n%s", mode, err, c.logTail())
	}
}

func (c *pgCluster) logTail() string {
	b, _ := os.ReadFile(filepath.Join(c.dir, "server.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// loadResult is one token request of a load.
type loadResult struct {
	start, end time.Time
	status     int    // 0 when the request failed in transport
	oauthError string // the "error" member of an error response
	token      string // the access token of a 200
	err        error  // transport failure
	bad        string // a response that is not the JSON it must be
}

// tokenLoad sends client_credentials token requests from several workers
// until stopped, and records every outcome.
type tokenLoad struct {
	tokenURL, clientID, secret string
	client                     *http.Client
	cancel                     context.CancelFunc
	wg                         sync.WaitGroup
	stopOnce                   sync.Once

	mu      sync.Mutex
	results []loadResult
}

// startTokenLoad starts workers that each send a request, pause, and
// repeat. Each request is bounded by the client's timeout, so stop
// returns within it.
func startTokenLoad(t *testing.T, tokenURL, clientID, secret string, workers int, pause time.Duration) *tokenLoad {
	ctx, cancel := context.WithCancel(context.Background())
	l := &tokenLoad{
		tokenURL: tokenURL, clientID: clientID, secret: secret, cancel: cancel,
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}},
	}
	for range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for ctx.Err() == nil {
				r := l.request()
				l.mu.Lock()
				l.results = append(l.results, r)
				l.mu.Unlock()
				select {
				case <-ctx.Done():
				case <-time.After(pause):
				}
			}
		}()
	}
	t.Cleanup(l.stop)
	return l
}

func (l *tokenLoad) request() loadResult {
	r := loadResult{start: time.Now()}
	req, _ := http.NewRequest(http.MethodPost, l.tokenURL, strings.NewReader("grant_type=client_credentials&scope=api"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(l.clientID), url.QueryEscape(l.secret))
	resp, err := l.client.Do(req)
	if err != nil {
		r.end, r.err = time.Now(), err
		return r
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	r.end, r.status = time.Now(), resp.StatusCode
	if err != nil {
		r.err = fmt.Errorf("reading the body of a %d: %w", r.status, err)
		return r
	}
	var out struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || json.Unmarshal(body, &out) != nil {
		r.bad = fmt.Sprintf("status %d, %s: %.200q", r.status, resp.Header.Get("Content-Type"), body)
		return r
	}
	r.token, r.oauthError = out.AccessToken, out.Error
	if r.status == http.StatusOK && r.token == "" {
		r.bad = fmt.Sprintf("a 200 without access_token: %.200q", body)
	}
	return r
}

// stop ends the load and waits for the requests in flight.
func (l *tokenLoad) stop() {
	l.stopOnce.Do(func() {
		l.cancel()
		l.wg.Wait()
		l.client.CloseIdleConnections()
	})
}

func (l *tokenLoad) snapshot() []loadResult {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]loadResult(nil), l.results...)
}

// await waits (at most timeout) until n requests sent at or after since
// had an outcome that is, and returns when the nth answer arrived.
func (l *tokenLoad) await(n int, since time.Time, timeout time.Duration, is func(loadResult) bool) (time.Time, bool) {
	var nth time.Time
	ok := waitFor(timeout, func() bool {
		seen := 0
		for _, r := range l.snapshot() {
			if !r.start.Before(since) && is(r) {
				if seen++; seen == n {
					nth = r.end
					return true
				}
			}
		}
		return false
	})
	return nth, ok
}

// waitForOK waits (at most timeout) for a 200 to a request sent at or
// after since, and returns when that response arrived.
func (l *tokenLoad) waitForOK(since time.Time, timeout time.Duration) (time.Time, bool) {
	return l.await(1, since, timeout, issued)
}

// Outcomes of a load's request, for await.
func issued(r loadResult) bool            { return r.status == http.StatusOK }
func refused(r loadResult) bool           { return r.status == http.StatusServiceUnavailable }
func failedInTransport(r loadResult) bool { return r.err != nil }

// loadRunning is how many tokens a load hands out to show it runs: a
// fault then finds requests in flight, and tokens to check afterwards.
const loadRunning = 20

// loadSummary counts the outcomes, for the log.
func loadSummary(rs []loadResult) string {
	counts := map[string]int{}
	for _, r := range rs {
		switch {
		case r.err != nil:
			counts["transport error"]++
		case r.bad != "":
			counts["malformed"]++
		default:
			counts[strconv.Itoa(r.status)]++
		}
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %d", k, counts[k])
	}
	return fmt.Sprintf("%d requests (%s)", len(rs), strings.Join(parts, ", "))
}

func tokensOf(rs []loadResult) []string {
	var out []string
	for _, r := range rs {
		if r.status == http.StatusOK && r.token != "" {
			out = append(out, r.token)
		}
	}
	return out
}

// requireAllActive introspects every token (a few workers in parallel)
// and fails the test for each one that is not active: an acknowledged
// write that was lost.
func requireAllActive(t *testing.T, introspectURL, clientID, secret string, tokens []string) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	jobs := make(chan string)
	var (
		mu       sync.Mutex
		inactive []string
		failures []string
		wg       sync.WaitGroup
	)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for tok := range jobs {
				active, err := introspectActive(client, introspectURL, clientID, secret, tok)
				mu.Lock()
				if err != nil {
					failures = append(failures, err.Error())
				} else if !active {
					inactive = append(inactive, tok)
				}
				mu.Unlock()
			}
		}()
	}
	for _, tok := range tokens {
		jobs <- tok
	}
	close(jobs)
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("introspection failed %d times, first: %s", len(failures), failures[0])
	}
	if len(inactive) > 0 {
		t.Fatalf("%d of %d acknowledged access tokens are not active (lost writes)", len(inactive), len(tokens))
	}
	t.Logf("all %d access tokens handed out introspect active", len(tokens))
}

func introspectActive(client *http.Client, introspectURL, clientID, secret, token string) (bool, error) {
	req, _ := http.NewRequest(http.MethodPost, introspectURL, strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	resp, err := client.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	var out struct {
		Active bool `json:"active"`
	}
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("introspection answered %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return false, err
	}
	return out.Active, nil
}

// logCapture keeps a process's log lines: the last ones for a failure
// report, and every line that mentions a panic.
type logCapture struct {
	mu      sync.Mutex
	partial []byte
	tail    []string
	panics  []string
}

func (l *logCapture) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		line := string(l.partial[:i])
		l.partial = l.partial[i+1:]
		if strings.Contains(strings.ToLower(line), "panic") && len(l.panics) < 20 {
			l.panics = append(l.panics, line)
		}
		l.tail = append(l.tail, line)
		if len(l.tail) > 200 {
			l.tail = l.tail[len(l.tail)-200:]
		}
	}
	return len(p), nil
}

func (l *logCapture) Panics() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.panics...)
}

func (l *logCapture) Tail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.tail, "\n")
}

// reportOnFailure prints the captured log when the test fails.
func (l *logCapture) reportOnFailure(t *testing.T, name string) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("last lines of the %s log:\n%s", name, l.Tail())
		}
	})
}

// startServerLogged is startServerOn with the server's log captured
// rather than written to the test log: an outage makes hundreds of error
// lines, and the test looks for panics among them.
func startServerLogged(t *testing.T, store *bunstore.Store, logs *logCapture, mods ...func(*config.Config)) *testServer {
	t.Helper()
	logs.reportOnFailure(t, "server")
	return startServerLoggingTo(t, store, logs, mods...)
}

// getStatus GETs u (showing a redirect rather than following it) and
// returns the status, the Content-Type and how long the answer took.
func getStatus(t *testing.T, u string) (int, string, time.Duration) {
	t.Helper()
	client := &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport:     &http.Transport{DisableKeepAlives: true},
	}
	start := time.Now()
	resp, err := client.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Content-Type"), time.Since(start)
}

// waitStatus polls u until it answers want, for at most timeout.
func waitStatus(t *testing.T, u string, want int, timeout time.Duration) bool {
	t.Helper()
	return waitFor(timeout, func() bool {
		st, _, _ := getStatus(t, u)
		return st == want
	})
}

// TestPostgresRestartUnderLoad: PostgreSQL goes away under a steady token
// load, once with a clean fast shutdown and once killed (immediate, crash
// recovery at the next start). While it is away every request is refused
// quickly with a 503 (JSON on the API, an error page on the pages,
// readiness 503); no request fails in transport or with a 500, nothing
// panics; tokens flow again within recoveryBound of PostgreSQL being back,
// and every access token handed out before, during or after introspects
// active at the end.
func TestPostgresRestartUnderLoad(t *testing.T) {
	requireFaultEnv(t)
	pg := startPrivatePostgres(t)
	store := openMigrated(t, pg.dsn(), bunstore.Options{})
	logs := &logCapture{}
	s := startServerLogged(t, store, logs, noRateLimits)
	c, secret := s.client(admin.ClientSpec{Name: "worker", Scopes: []string{"api"}})

	load := startTokenLoad(t, s.issuer+provider.PathToken, c.ID, secret, 4, 10*time.Millisecond)
	if _, ok := load.await(loadRunning, time.Now(), recoveryBound, issued); !ok {
		t.Fatalf("no token before any fault: %s", loadSummary(load.snapshot()))
	}

	// down: pg_ctl stop returned; restart: pg_ctl start was run; up: it
	// returned (PostgreSQL accepts connections, perhaps a little earlier);
	// tokens: the first token after that.
	type outage struct {
		mode                      string
		down, restart, up, tokens time.Time
	}
	var outages []outage
	for _, mode := range []string{"fast", "immediate"} {
		pg.stop(mode)
		o := outage{mode: mode, down: time.Now()}
		if _, ok := load.await(1, o.down, recoveryBound, refused); !ok {
			t.Fatalf("%s: no request refused after PostgreSQL stopped: %s", mode, loadSummary(load.snapshot()))
		}

		// Readiness and the pages say so too, quickly.
		for _, probe := range []struct {
			name, url, contentType string
		}{
			{"readiness", s.admin + "/health/ready", "application/json"},
			{"login page of a flow", s.issuer + "/login?flow=" + randomString(t, 32), "text/html"},
			{"authorize", s.issuer + provider.PathAuthorize + "?" + url.Values{
				"response_type": {"code"}, "client_id": {"no-such-client-" + randomString(t, 8)},
				"redirect_uri": {"https://app.example/cb"}, "state": {"s"},
			}.Encode(), "text/html"},
		} {
			st, ct, took := getStatus(t, probe.url)
			if st != http.StatusServiceUnavailable || !strings.HasPrefix(ct, probe.contentType) || took > quick503 {
				t.Errorf("%s during the %s outage: %d %q after %v, want a quick 503 %s", probe.name, mode, st, ct, took, probe.contentType)
			}
		}
		// The load keeps meeting the outage for a while.
		if _, ok := load.await(loadRunning, o.down, recoveryBound, refused); !ok {
			t.Fatalf("%s: the load was not refused while PostgreSQL was down: %s", mode, loadSummary(load.snapshot()))
		}

		o.restart = time.Now()
		pg.start()
		o.up = time.Now()
		var ok bool
		if o.tokens, ok = load.waitForOK(o.up, recoveryBound); !ok {
			t.Fatalf("%s: no token within %v of PostgreSQL accepting connections again: %s\n%s", mode, recoveryBound, loadSummary(load.snapshot()), pg.logTail())
		}
		if !waitStatus(t, s.admin+"/health/ready", http.StatusOK, recoveryBound) {
			t.Fatalf("%s: not ready within %v of PostgreSQL being back", mode, recoveryBound)
		}
		outages = append(outages, o)
		if _, ok := load.await(loadRunning, o.up, recoveryBound, issued); !ok {
			t.Fatalf("%s: tokens stopped after PostgreSQL was back: %s", mode, loadSummary(load.snapshot()))
		}
	}
	load.stop()

	results := load.snapshot()
	t.Logf("load: %s", loadSummary(results))
	var slowest time.Duration
	for _, r := range results {
		switch {
		case r.err != nil:
			t.Errorf("a request failed in transport (the server never went away): %v", r.err)
		case r.bad != "":
			t.Errorf("malformed answer: %s", r.bad)
		case r.status == http.StatusServiceUnavailable:
			if r.oauthError != "temporarily_unavailable" {
				t.Errorf("a 503 with error %q, want temporarily_unavailable", r.oauthError)
			}
			slowest = max(slowest, r.end.Sub(r.start))
		case r.status != http.StatusOK:
			t.Errorf("status %d (%s), want 200 or 503", r.status, r.oauthError)
		}
	}
	if slowest > quick503 {
		t.Errorf("the slowest 503 took %v, want under %v", slowest, quick503)
	}
	for _, o := range outages {
		var refused, issued int
		for _, r := range results {
			if r.start.After(o.down) && r.end.Before(o.restart) {
				if r.status == http.StatusOK {
					issued++
					t.Errorf("%s outage: a token issued while PostgreSQL was down: sent %v after it stopped, answered %v before it was started",
						o.mode, r.start.Sub(o.down), o.restart.Sub(r.end))
				} else {
					refused++
				}
			}
		}
		if refused == 0 {
			t.Errorf("%s outage: no request was refused while PostgreSQL was down", o.mode)
		}
		t.Logf("%s outage: %d requests refused with 503 while down; PostgreSQL took %v to start; first token %v after it accepted connections",
			o.mode, refused, o.up.Sub(o.restart).Round(time.Millisecond), o.tokens.Sub(o.up).Round(time.Millisecond))
	}
	t.Logf("slowest 503: %v", slowest.Round(time.Millisecond))
	if p := logs.Panics(); len(p) > 0 {
		t.Errorf("the log mentions a panic:\n%s", strings.Join(p, "\n"))
	}
	requireAllActive(t, s.issuer+provider.PathIntrospect, c.ID, secret, tokensOf(results))
}
