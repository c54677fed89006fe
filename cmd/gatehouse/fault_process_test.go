package main

// Fault test B: gatehouse as a real process under token load, killed
// (SIGKILL) and started again on the same database, or stopped gracefully
// (SIGTERM). Nothing a client was told it got may be lost, and graceful
// shutdown answers the requests it has started.

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore/bunstoretest"
)

// buildGatehouse returns this command compiled, built by the first test
// that asks (even from the build cache, linking takes seconds) into a
// directory TestMain removes when the tests are done.
func buildGatehouse(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs gatehouse processes")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		skipOrFail(t, "the go command is needed to build gatehouse: %v", err)
	}
	bin, out, err := gatehouseBinary.build(goTool)
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// gatehouseBinary is the command built once for the package's tests.
var gatehouseBinary builtBinary

// builtBinary builds the command once.
type builtBinary struct {
	once     sync.Once
	dir, bin string
	out      []byte
	err      error
}

func (b *builtBinary) build(goTool string) (string, []byte, error) {
	b.once.Do(func() {
		if b.dir, b.err = os.MkdirTemp("", "gatehouse-bin-"); b.err != nil {
			return
		}
		b.bin = filepath.Join(b.dir, "gatehouse")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		// The test runs in the package directory: "." is ./cmd/gatehouse.
		b.out, b.err = exec.CommandContext(ctx, goTool, "build", "-o", b.bin, ".").CombinedOutput()
	})
	return b.bin, b.out, b.err
}

// remove deletes the built command, if any.
func (b *builtBinary) remove() {
	if b.dir != "" {
		os.RemoveAll(b.dir)
	}
}

// procConfig is how the test runs gatehouse: one binary, database,
// secret and pair of listen addresses, whichever process is current.
type procConfig struct {
	bin, dsn, secret string
	public, admin    string // host:port
	logs             *logCapture
}

func newProcConfig(t *testing.T, bin, dsn string) *procConfig {
	pc := &procConfig{
		bin: bin, dsn: dsn, secret: randomString(t, 32),
		public: fmt.Sprintf("127.0.0.1:%d", freePort(t)), admin: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		logs: &logCapture{},
	}
	pc.logs.reportOnFailure(t, "gatehouse")
	return pc
}

func (pc *procConfig) issuer() string { return "http://" + pc.public }

// env is the process environment: the test's, without any GATEHOUSE_
// setting of its own, plus the configuration. Rate limits are off: the
// load comes from one IP and one client.
func (pc *procConfig) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GATEHOUSE_") {
			env = append(env, kv)
		}
	}
	return append(env,
		"GATEHOUSE_DSN="+pc.dsn,
		"GATEHOUSE_SECRET="+pc.secret,
		"GATEHOUSE_ISSUER="+pc.issuer(),
		"GATEHOUSE_LISTEN="+pc.public,
		"GATEHOUSE_ADMIN_LISTEN="+pc.admin,
		"GATEHOUSE_RATE_LIMITS_ENABLED=false",
		"GATEHOUSE_LOG_LEVEL=warn",
	)
}

// cli runs a gatehouse command to completion and returns its output.
func (pc *procConfig) cli(t *testing.T, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, pc.bin, args...)
	cmd.Env = pc.env()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("gatehouse %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// setup migrates the database and creates the load's client.
func (pc *procConfig) setup(t *testing.T) (clientID, secret string) {
	t.Helper()
	pc.cli(t, "migrate")
	out := pc.cli(t, "clients", "create", "--name", "load", "--grant-type", "client_credentials", "--scope", "api", "--json")
	var c struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if err := json.Unmarshal(out, &c); err != nil || c.ClientID == "" || c.ClientSecret == "" {
		t.Fatalf("clients create: %v: %s", err, out)
	}
	return c.ClientID, c.ClientSecret
}

// gatehouseProc is a running `gatehouse serve`.
type gatehouseProc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // Wait's result, once done is closed
}

// start runs `gatehouse serve` and returns once it is ready; it is killed
// at cleanup if still running.
func (pc *procConfig) start(t *testing.T) *gatehouseProc {
	t.Helper()
	cmd := exec.Command(pc.bin, "serve")
	cmd.Env = pc.env()
	cmd.Stdout, cmd.Stderr = pc.logs, pc.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &gatehouseProc{cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		p.wait(10 * time.Second)
	})
	client := &http.Client{Timeout: 2 * time.Second}
	defer client.CloseIdleConnections()
	ready := waitFor(30*time.Second, func() bool {
		select {
		case <-p.done:
			t.Fatalf("gatehouse serve exited before it was ready: %v\n%s", p.err, pc.logs.Tail())
		default:
		}
		resp, err := client.Get("http://" + pc.admin + "/health/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if !ready {
		t.Fatalf("gatehouse serve not ready within 30s\n%s", pc.logs.Tail())
	}
	return p
}

// wait waits at most timeout for the process to exit and returns its exit
// code (-1: killed by a signal, or still running when ok is false).
func (p *gatehouseProc) wait(timeout time.Duration) (code int, ok bool) {
	select {
	case <-p.done:
	case <-time.After(timeout):
		return -1, false
	}
	var ee *exec.ExitError
	switch {
	case p.err == nil:
		return 0, true
	case errors.As(p.err, &ee):
		return ee.ExitCode(), true
	}
	return -1, true
}

// checkLoad fails the test for every outcome that may not happen: a
// status other than 200 or 503 (a 500 above all), a malformed answer, and
// a transport failure outside the window the process was down
// ([from, to]: a request that overlaps it may fail).
func checkLoad(t *testing.T, results []loadResult, from, to time.Time) {
	t.Helper()
	var failures int
	for _, r := range results {
		var problem string
		switch {
		case r.err != nil && (r.end.Before(from) || r.start.After(to)):
			problem = fmt.Sprintf("a request failed in transport while the server was up: %v", r.err)
		case r.err != nil:
		case r.bad != "":
			problem = "malformed answer: " + r.bad
		case r.status != http.StatusOK && r.status != http.StatusServiceUnavailable:
			problem = fmt.Sprintf("status %d (%s), want 200 or 503", r.status, r.oauthError)
		}
		if problem != "" {
			if failures++; failures <= 10 {
				t.Error(problem)
			}
		}
	}
	if failures > 10 {
		t.Errorf("... %d problems in all", failures)
	}
}

// underLoad is gatehouse running as a process, with a client of its own
// under a token load.
type underLoad struct {
	*procConfig
	proc             *gatehouseProc
	load             *tokenLoad
	clientID, secret string
}

// startUnderLoad runs gatehouse on a fresh database of the dialect under a
// token load, and returns once the load gets tokens.
func startUnderLoad(t *testing.T, bin, dialect string) *underLoad {
	t.Helper()
	u := &underLoad{procConfig: newProcConfig(t, bin, bunstoretest.NewDSN(t, dialect))}
	u.clientID, u.secret = u.setup(t)
	u.proc = u.start(t)
	u.load = startTokenLoad(t, u.issuer()+provider.PathToken, u.clientID, u.secret, 4, 10*time.Millisecond)
	if _, ok := u.load.await(loadRunning, time.Now(), recoveryBound, issued); !ok {
		t.Fatalf("no token before the fault: %s", loadSummary(u.load.snapshot()))
	}
	return u
}

// TestProcessKillUnderLoad: gatehouse is SIGKILLed in the middle of a
// token load and started again on the same database while the load goes
// on. Requests fail in transport only while no process is up; none gets a
// 500; the new process serves within recoveryBound; and every access
// token handed out, before the kill or after, introspects active.
func TestProcessKillUnderLoad(t *testing.T) {
	bin := buildGatehouse(t)
	bunstoretest.ForEachDialect(t, func(t *testing.T, dialect string) {
		u := startUnderLoad(t, bin, dialect)

		killed := time.Now()
		if err := u.proc.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		if _, ok := u.proc.wait(10 * time.Second); !ok {
			t.Fatal("the killed process did not exit")
		}
		before := len(tokensOf(u.load.snapshot()))
		// The clients find the process gone before it comes back.
		if _, ok := u.load.await(1, killed, recoveryBound, failedInTransport); !ok {
			t.Fatalf("no request failed after the kill: %s", loadSummary(u.load.snapshot()))
		}
		restarted := time.Now()
		u.start(t)
		up := time.Now()
		first, ok := u.load.waitForOK(up, recoveryBound)
		if !ok {
			t.Fatalf("no token within %v of the new process being ready: %s", recoveryBound, loadSummary(u.load.snapshot()))
		}
		if _, ok := u.load.await(loadRunning, up, recoveryBound, issued); !ok {
			t.Fatalf("tokens stopped after the restart: %s", loadSummary(u.load.snapshot()))
		}
		u.load.stop()

		results := u.load.snapshot()
		t.Logf("load: %s; %d tokens before the kill; the new process was ready %v after its start, first token %v later",
			loadSummary(results), before, up.Sub(restarted).Round(time.Millisecond), first.Sub(up).Round(time.Millisecond))
		if before == 0 {
			t.Error("no token was handed out before the kill")
		}
		checkLoad(t, results, killed, up)
		if p := u.logs.Panics(); len(p) > 0 {
			t.Errorf("the log mentions a panic:\n%s", strings.Join(p, "\n"))
		}
		requireAllActive(t, u.issuer()+provider.PathIntrospect, u.clientID, u.secret, tokensOf(results))
	})
}

// slowTokenRequest is a token request sent over a raw connection in two
// parts, so it is certainly in flight at the server (headers read, body
// awaited) between the two.
type slowTokenRequest struct {
	conn net.Conn
	resp *bufio.Reader
	rest string
}

// startSlowTokenRequest sends the headers, with Expect: 100-continue, and
// returns once the server's 100 Continue says its handler is reading the
// body (RFC 9110 §10.1.1); it then sends half of the body.
func startSlowTokenRequest(t *testing.T, addr, clientID, secret string) *slowTokenRequest {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	body := "grant_type=client_credentials&scope=api"
	auth := base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(clientID) + ":" + url.QueryEscape(secret)))
	head := "POST " + provider.PathToken + " HTTP/1.1\r\nHost: " + addr + "\r\nAuthorization: Basic " + auth +
		"\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: " + strconv.Itoa(len(body)) +
		"\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n"
	if _, err := conn.Write([]byte(head)); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp := bufio.NewReader(conn)
	if cont, err := http.ReadResponse(resp, nil); err != nil || cont.StatusCode != http.StatusContinue {
		t.Fatalf("a token request with Expect: 100-continue: %v %v", cont, err)
	}
	half := len(body) / 2
	if _, err := conn.Write([]byte(body[:half])); err != nil {
		t.Fatal(err)
	}
	return &slowTokenRequest{conn: conn, resp: resp, rest: body[half:]}
}

// finish sends the rest of the body and returns the access token of the
// (required) 200.
func (r *slowTokenRequest) finish(t *testing.T) string {
	t.Helper()
	_ = r.conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := r.conn.Write([]byte(r.rest)); err != nil {
		t.Fatalf("an in-flight request could not send the rest of its body: %v", err)
	}
	resp, err := http.ReadResponse(r.resp, nil)
	if err != nil {
		t.Fatalf("an in-flight request got no complete response: %v", err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK || out.AccessToken == "" {
		t.Fatalf("an in-flight request: %d %v", resp.StatusCode, err)
	}
	return out.AccessToken
}

// TestProcessSIGTERMUnderLoad: SIGTERM in the middle of a token load.
// Requests in flight at the signal (three held open half-sent, so they
// certainly are) get complete 200 responses; the process exits 0 within
// shutdownBound; no request gets a 500, and requests fail in transport
// only after the signal; every token handed out introspects active once
// the service is started again.
func TestProcessSIGTERMUnderLoad(t *testing.T) {
	const shutdownBound = 12 * time.Second // the server's own limit is 10 s
	bin := buildGatehouse(t)
	bunstoretest.ForEachDialect(t, func(t *testing.T, dialect string) {
		u := startUnderLoad(t, bin, dialect)

		var inFlight []*slowTokenRequest
		for range 3 {
			inFlight = append(inFlight, startSlowTokenRequest(t, u.public, u.clientID, u.secret))
		}
		signalled := time.Now()
		if err := u.proc.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		// Shutting down: the listener is closed, the in-flight requests
		// are waited for.
		if !waitFor(shutdownBound, func() bool {
			c, err := net.DialTimeout("tcp", u.public, time.Second)
			if err == nil {
				c.Close()
			}
			return err != nil
		}) {
			t.Fatal("the public listener still accepts connections after SIGTERM")
		}
		var slowTokens []string
		for _, r := range inFlight {
			slowTokens = append(slowTokens, r.finish(t))
		}
		code, ok := u.proc.wait(shutdownBound)
		exited := time.Now()
		if !ok || code != 0 {
			t.Fatalf("after SIGTERM: exited %t with code %d within %v, want exit code 0\n%s", ok, code, shutdownBound, u.logs.Tail())
		}
		u.load.stop()
		results := u.load.snapshot()
		t.Logf("load: %s; exited %v after SIGTERM", loadSummary(results), exited.Sub(signalled).Round(time.Millisecond))
		checkLoad(t, results, signalled, time.Now())
		if p := u.logs.Panics(); len(p) > 0 {
			t.Errorf("the log mentions a panic:\n%s", strings.Join(p, "\n"))
		}

		u.start(t)
		requireAllActive(t, u.issuer()+provider.PathIntrospect, u.clientID, u.secret, append(tokensOf(results), slowTokens...))
	})
}
