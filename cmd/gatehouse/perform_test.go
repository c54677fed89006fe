package main

// The HTTP client commands (perform, introspect, revoke, and version)
// against the real server of the harness.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore/bunstoretest"
)

// lineWriter collects what a command writes and passes each complete line
// on as it is written, so a test can act on output while the command runs.
type lineWriter struct {
	mu      sync.Mutex
	all     bytes.Buffer
	partial []byte
	lines   chan string
}

func newLineWriter() *lineWriter { return &lineWriter{lines: make(chan string, 256)} }

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.all.Write(p)
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		select {
		case w.lines <- string(w.partial[:i]):
		default: // nobody is reading that far; the text stays in all
		}
		w.partial = w.partial[i+1:]
	}
	return len(p), nil
}

func (w *lineWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.all.String()
}

// liveCommand is a gatehouse command running in the background.
type liveCommand struct {
	t      *testing.T
	stdout bytes.Buffer // read only once done has answered
	stderr *lineWriter
	done   chan error
	ended  bool
	err    error
}

func startCommand(t *testing.T, args ...string) *liveCommand {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	lc := &liveCommand{t: t, stderr: newLineWriter(), done: make(chan error, 1)}
	root := newRootCommand(strings.NewReader(""), &lc.stdout, lc.stderr)
	root.SetArgs(args)
	go func() { lc.done <- root.ExecuteContext(ctx) }()
	// A failed test must not leave the callback server listening.
	t.Cleanup(func() {
		cancel()
		if !lc.ended {
			select {
			case <-lc.done:
			case <-time.After(10 * time.Second):
				t.Error("the command did not stop after its context ended")
			}
		}
	})
	return lc
}

// waitLine returns the first line of standard error that matches re.
func (lc *liveCommand) waitLine(re *regexp.Regexp) []string {
	lc.t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case l := <-lc.stderr.lines:
			if m := re.FindStringSubmatch(l); m != nil {
				return m
			}
		case err := <-lc.done:
			lc.ended, lc.err = true, err
			lc.t.Fatalf("the command ended (%v) before printing %s; stderr:\n%s", err, re, lc.stderr.String())
		case <-deadline:
			lc.t.Fatalf("no line matching %s within 20s; stderr:\n%s", re, lc.stderr.String())
		}
	}
}

// wait returns the command's standard output and error once it ends.
func (lc *liveCommand) wait() (string, error) {
	lc.t.Helper()
	if !lc.ended {
		select {
		case lc.err = <-lc.done:
			lc.ended = true
		case <-time.After(30 * time.Second):
			lc.t.Fatalf("the command did not end within 30s; stderr:\n%s", lc.stderr.String())
		}
	}
	return lc.stdout.String(), lc.err
}

var (
	// The URL line and the waiting line that perform authorization-code
	// prints on standard error.
	authURLLine  = regexp.MustCompile(`^\s+(http://\S+` + regexp.QuoteMeta(provider.PathAuthorize) + `\?\S+)$`)
	callbackLine = regexp.MustCompile(`(http://127\.0\.0\.1:(\d+)/callback)`)
)

// followToCallback hands the browser's redirect to the command's callback
// server, as a browser would, and returns the page it showed.
func followToCallback(t *testing.T, p *page) (int, string) {
	t.Helper()
	if p.status != http.StatusSeeOther && p.status != http.StatusFound || !strings.HasPrefix(p.location, "http://127.0.0.1:") {
		t.Fatalf("expected a redirect to the loopback callback, got %d %q: %.300s", p.status, p.location, p.body)
	}
	resp, err := http.Get(p.location)
	if err != nil {
		t.Fatalf("callback: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// fields parses "name: value" lines.
func fields(out string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

// TestPerformClientCredentialsIntrospectRevoke: perform client-credentials
// prints a token the server calls active; introspect says so, revoke ends
// it, introspect then says inactive (and still exits 0). Secrets come from
// the environment as well as flags, API keys work in place of the secret,
// and a wrong secret is a clear invalid_client that never echoes it.
func TestPerformClientCredentialsIntrospectRevoke(t *testing.T) {
	bunstoretest.ForEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect)
		robot, robotSecret := s.client(admin.ClientSpec{Name: "robot", Scopes: []string{"reports:read", "reports:write"}})
		t.Setenv(envClientSecret, "")
		t.Setenv(envAPIKey, "")
		var ue usageError

		// Plain: the token alone on stdout, the details on stderr.
		out, stderr, err := cli(t, "", "perform", "client-credentials", "--endpoint", s.issuer,
			"--client-id", robot.ID, "--client-secret", robotSecret, "--scope", "reports:read")
		if err != nil {
			t.Fatalf("perform client-credentials: %v\n%s", err, stderr)
		}
		token := strings.TrimSpace(out)
		if !strings.HasPrefix(token, "gth_at_") || out != token+"\n" {
			t.Fatalf("stdout must be the token alone: %q", out)
		}
		if d := fields(stderr); d["token_type"] != "bearer" || d["scope"] != "reports:read" || !strings.Contains(d["expires_in"], "s (20") {
			t.Fatalf("details on stderr: %q", stderr)
		}
		if strings.Contains(out+stderr, robotSecret) {
			t.Fatal("the secret was printed")
		}
		if in := s.introspect(t, robot.ID, robotSecret, token); in["active"] != true || in["scope"] != "reports:read" {
			t.Fatalf("the printed token is not active: %v", in)
		}

		// --json, with the secret from the environment and "a b" scopes.
		t.Setenv(envClientSecret, robotSecret)
		out, stderr, err = cli(t, "", "perform", "client-credentials", "--endpoint", s.issuer, "--client-id", robot.ID,
			"--scope", "reports:read reports:write", "--json")
		if err != nil {
			t.Fatalf("perform client-credentials --json: %v\n%s", err, stderr)
		}
		var resp map[string]any
		if err := json.Unmarshal([]byte(out), &resp); err != nil {
			t.Fatalf("--json: %q: %v", out, err)
		}
		if exp, _ := resp["expires_in"].(float64); resp["token_type"] != "bearer" || resp["scope"] != "reports:read reports:write" ||
			exp <= 0 || resp["expiry"] == nil || !s.active(t, robot.ID, robotSecret, resp["access_token"].(string)) {
			t.Fatalf("--json token response: %v", resp)
		}

		// introspect: the endpoint from GATEHOUSE_ISSUER, the token from stdin.
		t.Setenv("GATEHOUSE_ISSUER", s.issuer)
		out, stderr, err = cli(t, token+"\n", "introspect", "-", "--client-id", robot.ID)
		if err != nil {
			t.Fatalf("introspect: %v\n%s", err, stderr)
		}
		if f := fields(out); !strings.HasPrefix(out, "active:") || f["active"] != "true" || f["client_id"] != robot.ID ||
			f["scope"] != "reports:read" || !strings.Contains(f["exp"], "(20") {
			t.Fatalf("introspect output: %q", out)
		}
		out, _, err = cli(t, "", "introspect", token, "--client-id", robot.ID, "--json")
		if err := json.Unmarshal([]byte(out), &resp); err != nil || resp["active"] != true || resp["client_id"] != robot.ID {
			t.Fatalf("introspect --json: %q %v", out, err)
		}

		// revoke, then the token is inactive: introspect says so and exits 0.
		out, stderr, err = cli(t, token, "revoke", "-", "--client-id", robot.ID, "--client-secret", robotSecret)
		if err != nil || out != "revoked\n" {
			t.Fatalf("revoke: %q %v\n%s", out, err, stderr)
		}
		if s.active(t, robot.ID, robotSecret, token) {
			t.Fatal("the token is still active after revoke")
		}
		out, _, err = cli(t, "", "introspect", token, "--client-id", robot.ID)
		if err != nil || fields(out)["active"] != "false" {
			t.Fatalf("introspect of a revoked token: %q %v", out, err)
		}
		out, _, err = cli(t, "", "introspect", token, "--client-id", robot.ID, "--json")
		if err != nil || strings.TrimSpace(out) != `{"active":false}` {
			t.Fatalf("introspect --json of a revoked token: %q %v", out, err)
		}

		// An API key in place of the secret, from the environment.
		_, key, err := s.app.admin.CreateAPIKey(context.Background(), nil, admin.APIKeySpec{ClientID: robot.ID, Name: "ci", Scopes: []string{"reports:read"}})
		if err != nil {
			t.Fatal(err)
		}
		t.Setenv(envClientSecret, "")
		t.Setenv(envAPIKey, key)
		out, stderr, err = cli(t, "", "perform", "client-credentials", "--client-id", robot.ID, "--json")
		if err := json.Unmarshal([]byte(out), &resp); err != nil || resp["scope"] != "reports:read" {
			t.Fatalf("perform with an API key: %q %v %v\n%s", out, err, resp, stderr)
		}
		if !s.active(t, robot.ID, robotSecret, resp["access_token"].(string)) {
			t.Fatal("the API key's token is not active")
		}
		if _, _, err := cli(t, "", "perform", "client-credentials", "--client-id", robot.ID, "--api-key", key, "--client-secret", robotSecret); !errors.As(err, &ue) {
			t.Fatalf("--api-key with --client-secret: %v", err)
		}
		t.Setenv(envClientSecret, robotSecret)
		if _, _, err := cli(t, "", "perform", "client-credentials", "--client-id", robot.ID); !errors.As(err, &ue) || !strings.Contains(err.Error(), envAPIKey) {
			t.Fatalf("both secret variables set: %v", err)
		}
		t.Setenv(envAPIKey, "")
		t.Setenv(envClientSecret, "")

		// A wrong secret: invalid_client, exit 1 (not a usage error), the
		// secret never repeated, nothing on stdout.
		const wrong = "gth_cs_not-the-secret-at-all"
		out, _, err = cli(t, "", "perform", "client-credentials", "--client-id", robot.ID, "--client-secret", wrong)
		if err == nil || errors.As(err, &ue) || !strings.Contains(err.Error(), "invalid_client") || strings.Contains(err.Error(), wrong) || out != "" {
			t.Fatalf("wrong secret: %q %v", out, err)
		}
		if _, _, err := cli(t, "", "introspect", token, "--client-id", robot.ID, "--client-secret", wrong); err == nil || errors.As(err, &ue) ||
			!strings.Contains(err.Error(), "introspection endpoint refused") || strings.Contains(err.Error(), wrong) {
			t.Fatalf("introspect with a wrong secret: %v", err)
		}
		if _, _, err := cli(t, "", "perform", "client-credentials", "--client-id", robot.ID); !errors.As(err, &ue) {
			t.Fatalf("no secret at all: %v", err)
		}
		if _, _, err := cli(t, "", "introspect", token, "--client-id", robot.ID); !errors.As(err, &ue) {
			t.Fatalf("introspect without a secret: %v", err)
		}

		// The endpoint must be the issuer (discovery's issuer must match).
		other := strings.Replace(s.issuer, "127.0.0.1", "localhost", 1)
		if _, _, err := cli(t, "", "revoke", token, "--endpoint", other, "--client-id", robot.ID, "--client-secret", robotSecret); err == nil || !strings.Contains(err.Error(), "--endpoint "+s.issuer) {
			t.Fatalf("endpoint that is not the issuer: %v", err)
		}
	})
}

// TestPerformAuthorizationCode drives `perform authorization-code` through
// the real login and consent pages: the command prints the URL, the
// browser signs in and comes back to the command's loopback callback, and
// the command prints tokens that work. Refusals end it with clear errors.
func TestPerformAuthorizationCode(t *testing.T) {
	bunstoretest.ForEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect)
		alice := s.user("alice@example.com", alicePassword)
		// introspects the public client's token (which cannot introspect itself)
		robot, robotSecret := s.client(admin.ClientSpec{Name: "robot", IntrospectAnyToken: true})
		op, err := oidc.NewProvider(context.Background(), s.issuer)
		if err != nil {
			t.Fatal(err)
		}
		t.Setenv(envClientSecret, "")
		var ue usageError

		t.Run("confidential, pushed, any loopback port", func(t *testing.T) {
			// Registered without a port: RFC 8252 §7.3 loopback matching
			// lets --port 0 (a random port) through.
			c, sec := s.client(admin.ClientSpec{Name: "CLI", RedirectURIs: []string{"http://127.0.0.1/callback"}})
			t.Setenv(envClientSecret, sec)
			lc := startCommand(t, "perform", "authorization-code", "--endpoint", s.issuer, "--client-id", c.ID, "--json")
			authURL := lc.waitLine(authURLLine)[1]
			// Pushed: the URL carries only the reference, not the request.
			q := mustQuery(t, authURL)
			if !strings.HasPrefix(q.Get("request_uri"), provider.PARRequestURIPrefix) || q.Get("client_id") != c.ID || q.Has("code_challenge") || q.Has("state") {
				t.Fatalf("the URL is not a pushed request's: %s", authURL)
			}
			b := s.newBrowser()
			p := b.login(b.get(authURL), "alice@example.com", alicePassword)
			p = b.consent(p, "allow")
			if status, body := followToCallback(t, p); status != http.StatusOK || !strings.Contains(body, "close this tab") {
				t.Fatalf("callback page: %d %q", status, body)
			}
			out, err := lc.wait()
			if err != nil {
				t.Fatalf("perform authorization-code: %v\n%s", err, lc.stderr.String())
			}
			var tok struct {
				AccessToken   string         `json:"access_token"`
				RefreshToken  string         `json:"refresh_token"`
				IDToken       string         `json:"id_token"`
				ExpiresIn     int64          `json:"expires_in"`
				Scope         string         `json:"scope"`
				IDTokenClaims map[string]any `json:"id_token_claims"`
			}
			if err := json.Unmarshal([]byte(out), &tok); err != nil {
				t.Fatalf("--json: %q: %v", out, err)
			}
			if !s.active(t, c.ID, sec, tok.AccessToken) {
				t.Fatal("the printed access token is not active")
			}
			if !strings.HasPrefix(tok.RefreshToken, "gth_rt_") || tok.ExpiresIn <= 0 || tok.Scope != "openid offline_access" || tok.IDTokenClaims["sub"] != alice.ID {
				t.Fatalf("token response: %s", out)
			}
			idt, err := op.Verifier(&oidc.Config{ClientID: c.ID}).Verify(context.Background(), tok.IDToken)
			if err != nil || idt.Subject != alice.ID || idt.Nonce == "" || idt.Nonce != tok.IDTokenClaims["nonce"] {
				t.Fatalf("the printed ID token: %v %+v", err, idt)
			}
			if strings.Contains(out+lc.stderr.String(), sec) {
				t.Fatal("the secret was printed")
			}
		})

		t.Run("public, in the URL, exact port", func(t *testing.T) {
			port := freePort(t)
			redirect := fmt.Sprintf("http://127.0.0.1:%d/callback", port)
			pub, _ := s.client(admin.ClientSpec{Name: "CLI (public)", Public: true, RedirectURIs: []string{redirect}})
			lc := startCommand(t, "perform", "authorization-code", "--endpoint", s.issuer, "--client-id", pub.ID,
				"--no-par", "--port", strconv.Itoa(port), "--scope", "openid profile")
			authURL := lc.waitLine(authURLLine)[1]
			q := mustQuery(t, authURL)
			if q.Get("redirect_uri") != redirect || q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43 ||
				len(q.Get("state")) < 32 || len(q.Get("nonce")) < 32 || q.Get("scope") != "openid profile" {
				t.Fatalf("authorization URL parameters: %v", q)
			}
			b := s.newBrowser()
			p := b.login(b.get(authURL), "alice@example.com", alicePassword)
			p = b.consent(p, "allow")
			if status, _ := followToCallback(t, p); status != http.StatusOK {
				t.Fatalf("callback page: %d", status)
			}
			out, err := lc.wait()
			if err != nil {
				t.Fatalf("perform authorization-code: %v\n%s", err, lc.stderr.String())
			}
			f := fields(out)
			if f["subject"] != alice.ID || f["scope"] != "openid profile" || f["refresh_token"] != "" {
				t.Fatalf("plain output: %q", out)
			}
			if !s.active(t, robot.ID, robotSecret, f["access_token"]) {
				t.Fatal("the printed access token is not active")
			}
			if _, err := op.Verifier(&oidc.Config{ClientID: pub.ID}).Verify(context.Background(), f["id_token"]); err != nil {
				t.Fatalf("the printed ID token: %v", err)
			}
		})

		t.Run("consent denied, public client pushed", func(t *testing.T) {
			// A public client pushes its request too (no secret: client_id in the form).
			c, _ := s.client(admin.ClientSpec{Name: "CLI denied", Public: true, RedirectURIs: []string{"http://127.0.0.1/callback"}})
			lc := startCommand(t, "perform", "authorization-code", "--endpoint", s.issuer, "--client-id", c.ID)
			b := s.newBrowser()
			authURL := lc.waitLine(authURLLine)[1]
			if !mustQuery(t, authURL).Has("request_uri") {
				t.Fatalf("not pushed: %s", authURL)
			}
			p := b.login(b.get(authURL), "alice@example.com", alicePassword)
			p = b.consent(p, "deny")
			if status, body := followToCallback(t, p); status != http.StatusBadRequest || !strings.Contains(body, "access_denied") {
				t.Fatalf("callback page after deny: %d %q", status, body)
			}
			out, err := lc.wait()
			if err == nil || !strings.Contains(err.Error(), "access_denied") || !strings.Contains(err.Error(), "declined") || out != "" {
				t.Fatalf("denied consent: %q %v", out, err)
			}
		})

		t.Run("state mismatch", func(t *testing.T) {
			c, sec := s.client(admin.ClientSpec{Name: "CLI forged", RedirectURIs: []string{"http://127.0.0.1/callback"}})
			lc := startCommand(t, "perform", "authorization-code", "--endpoint", s.issuer, "--client-id", c.ID, "--client-secret", sec)
			cb := lc.waitLine(callbackLine)[1]
			resp, err := http.Get(cb + "?code=gth_ac_forged&state=not-ours&iss=" + url.QueryEscape(s.issuer))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("forged callback answered %d", resp.StatusCode)
			}
			if _, err := lc.wait(); err == nil || !strings.Contains(err.Error(), "state does not match") {
				t.Fatalf("state mismatch: %v", err)
			}
		})

		t.Run("redirect URI not registered", func(t *testing.T) {
			c, sec := s.client(admin.ClientSpec{Name: "Web only", RedirectURIs: []string{"https://app.example/cb"}})
			_, stderr, err := cli(t, "", "perform", "authorization-code", "--endpoint", s.issuer, "--client-id", c.ID, "--client-secret", sec)
			if err == nil || errors.As(err, &ue) || !strings.Contains(err.Error(), "redirect_uri") ||
				!strings.Contains(err.Error(), "register the redirect URI http://127.0.0.1/callback") || strings.Contains(stderr, "Open this URL") {
				t.Fatalf("unregistered redirect URI: %v\n%s", err, stderr)
			}
		})

		t.Run("wrong secret", func(t *testing.T) {
			c, _ := s.client(admin.ClientSpec{Name: "CLI wrong", RedirectURIs: []string{"http://127.0.0.1/callback"}})
			const wrong = "gth_cs_wrong-wrong-wrong"
			_, stderr, err := cli(t, "", "perform", "authorization-code", "--endpoint", s.issuer, "--client-id", c.ID, "--client-secret", wrong)
			if err == nil || errors.As(err, &ue) || !strings.Contains(err.Error(), "invalid_client") || strings.Contains(err.Error()+stderr, wrong) {
				t.Fatalf("wrong secret: %v\n%s", err, stderr)
			}
		})

		t.Run("nobody comes back", func(t *testing.T) {
			c, sec := s.client(admin.ClientSpec{Name: "CLI idle", RedirectURIs: []string{"http://127.0.0.1/callback"}})
			_, _, err := cli(t, "", "perform", "authorization-code", "--endpoint", s.issuer, "--client-id", c.ID, "--client-secret", sec, "--timeout", "200ms")
			if err == nil || !strings.Contains(err.Error(), "no callback within 200ms") {
				t.Fatalf("timeout: %v", err)
			}
		})
	})
}

// TestPerformCallbackChecks: the loopback callback gives up a code only
// with this sign-in's state and, as the server promises (RFC 9207), its
// issuer; an error response is reported as such.
func TestPerformCallbackChecks(t *testing.T) {
	t.Parallel()
	const iss, evil = "https://id.example", "https://evil.example"
	for _, tc := range []struct {
		name string
		q    url.Values
		want string // "" for the code
	}{
		{"code", url.Values{"state": {"s"}, "code": {"c"}, "iss": {iss}}, ""},
		{"wrong state", url.Values{"state": {"x"}, "code": {"c"}, "iss": {iss}}, "state does not match"},
		{"no state", url.Values{"code": {"c"}, "iss": {iss}}, "state does not match"},
		{"other issuer", url.Values{"state": {"s"}, "code": {"c"}, "iss": {evil}}, "is not"},
		{"code without iss", url.Values{"state": {"s"}, "code": {"c"}}, "lacks the iss"},
		{"error without iss", url.Values{"state": {"s"}, "error": {"access_denied"}, "error_description": {"no\x1b[31m"}}, "access_denied: no"},
		{"error from another issuer", url.Values{"state": {"s"}, "error": {"access_denied"}, "iss": {evil}}, "is not"},
		{"neither", url.Values{"state": {"s"}, "iss": {iss}}, "neither a code nor an error"},
	} {
		res := readCallback(tc.q, "s", iss, true)
		switch {
		case tc.want == "" && (res.err != nil || res.code != "c"):
			t.Errorf("%s: %q %v", tc.name, res.code, res.err)
		case tc.want != "" && (res.err == nil || res.code != "" || !strings.Contains(res.err.Error(), tc.want)):
			t.Errorf("%s: want an error with %q, got %q %v", tc.name, tc.want, res.code, res.err)
		case res.err != nil && strings.ContainsRune(res.err.Error(), 0x1b):
			t.Errorf("%s: a control character reached the terminal: %q", tc.name, res.err)
		}
	}
	// A server that does not promise iss may leave it out.
	if res := readCallback(url.Values{"state": {"s"}, "code": {"c"}}, "s", iss, false); res.err != nil || res.code != "c" {
		t.Errorf("no iss, none promised: %v", res.err)
	}
}

func mustQuery(t *testing.T, raw string) url.Values {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("%q: %v", raw, err)
	}
	return u.Query()
}

// TestVersionCommand: version reports the Go version, and the version
// release builds set with -ldflags -X main.version wins.
func TestVersionCommand(t *testing.T) {
	t.Parallel()
	out, _, err := cli(t, "", "version", "--json")
	var v map[string]any
	if err != nil || json.Unmarshal([]byte(out), &v) != nil {
		t.Fatalf("version --json: %q %v", out, err)
	}
	if v["go"] != runtime.Version() || v["version"] == "" || v["platform"] != runtime.GOOS+"/"+runtime.GOARCH {
		t.Fatalf("version --json: %v", v)
	}
	old := version
	version = "v9.8.7"
	t.Cleanup(func() { version = old })
	out, _, err = cli(t, "", "version")
	if err != nil || !strings.HasPrefix(out, "gatehouse v9.8.7\n") || !strings.Contains(out, runtime.Version()) {
		t.Fatalf("version: %q %v", out, err)
	}
}
