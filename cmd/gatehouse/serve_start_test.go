package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/obstest"
)

// runningServe is `gatehouse serve` run in-process until stop.
type runningServe struct {
	issuer        string
	public, admin net.Addr
	stderr        *obstest.LogBuffer
	stop          func() error // ends serve and returns what it returned (once done, again)
}

// startServe runs the serve command with args (flags before "serve", such
// as --dev) and returns once it is about to answer, or fails the test
// with serve's error if it stops before that.
func startServe(t *testing.T, args ...string) *runningServe {
	t.Helper()
	rs, err := tryServe(t, args...)
	if err != nil {
		t.Fatalf("serve did not start: %v\n%s", err, rs.stderr)
	}
	return rs
}

// tryServe is startServe that returns serve's error when it does not
// start.
func tryServe(t *testing.T, args ...string) (*runningServe, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	rs := &runningServe{stderr: &obstest.LogBuffer{}}
	started := make(chan struct{})
	g := &globals{stdin: strings.NewReader(""), stdout: rs.stderr, stderr: rs.stderr, now: time.Now,
		serving: func(issuer string, public, admin net.Addr) {
			rs.issuer, rs.public, rs.admin = issuer, public, admin
			close(started)
		}}
	cmd := newRootCommandOn(g)
	cmd.SetArgs(append(args, "serve"))
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	rs.stop = sync.OnceValue(func() error {
		cancel()
		return <-done
	})
	select {
	case <-started:
		t.Cleanup(func() { _ = rs.stop() })
		return rs, nil
	case err := <-done:
		cancel()
		return rs, err
	}
}

// discoveredIssuer fetches the discovery document from the listener.
func discoveredIssuer(t *testing.T, public net.Addr) (issuer, tokenEndpoint string) {
	t.Helper()
	resp, err := http.Get("http://" + public.String() + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Issuer        string `json:"issuer"`
		TokenEndpoint string `json:"token_endpoint"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	return doc.Issuer, doc.TokenEndpoint
}

// TestServeDevIssuerFollowsListenPort: `serve --dev` with no issuer set
// publishes the port it listens on (here one the system picked), not the
// default's 8080.
func TestServeDevIssuerFollowsListenPort(t *testing.T) {
	dir := cliEnv(t)
	t.Setenv("GATEHOUSE_SECRET", "")
	t.Setenv("GATEHOUSE_LISTEN", "127.0.0.1:0")
	t.Setenv("GATEHOUSE_ADMIN_LISTEN", "127.0.0.1:0")
	t.Setenv("GATEHOUSE_LOG_LEVEL", "warn")
	rs := startServe(t, "--dev")
	port := rs.public.(*net.TCPAddr).Port
	want := "http://localhost:" + itoa(port)
	if rs.issuer != want {
		t.Fatalf("issuer %q, want %q", rs.issuer, want)
	}
	issuer, token := discoveredIssuer(t, rs.public)
	if issuer != want || token != want+"/oauth2/token" {
		t.Fatalf("discovery: issuer %q, token endpoint %q; want %q", issuer, token, want)
	}
	if strings.Contains(rs.stderr.String(), "is on port") {
		t.Errorf("warned about a port that matches:\n%s", rs.stderr)
	}
	if err := rs.stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "secret")); err != nil {
		t.Fatalf("--dev kept no secret: %v", err)
	}
}

// TestServeDevWildcardListen: a wildcard listen address (":0", all
// interfaces) still publishes localhost.
func TestServeDevWildcardListen(t *testing.T) {
	cliEnv(t)
	t.Setenv("GATEHOUSE_LISTEN", ":0")
	t.Setenv("GATEHOUSE_ADMIN_LISTEN", "127.0.0.1:0")
	rs := startServe(t, "--dev")
	if want := "http://localhost:" + itoa(rs.public.(*net.TCPAddr).Port); rs.issuer != want {
		t.Fatalf("issuer %q, want %q", rs.issuer, want)
	}
}

// TestServeWarnsWhenLoopbackIssuerPortDiffers: a configured issuer on
// this machine but another port than the listener's gets a warning that
// names both (outside --dev, where the issuer is never changed).
func TestServeWarnsWhenLoopbackIssuerPortDiffers(t *testing.T) {
	cliEnv(t)
	if _, _, err := cli(t, "", "migrate"); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GATEHOUSE_LOG_LEVEL", "warn")
	t.Setenv("GATEHOUSE_LOG_FORMAT", "text")
	t.Setenv("GATEHOUSE_ISSUER", "http://localhost:8080")
	t.Setenv("GATEHOUSE_LISTEN", "127.0.0.1:0")
	t.Setenv("GATEHOUSE_ADMIN_LISTEN", "127.0.0.1:0")
	rs := startServe(t)
	if rs.issuer != "http://localhost:8080" {
		t.Fatalf("the configured issuer changed: %q", rs.issuer)
	}
	logs := rs.stderr.String()
	for _, want := range []string{"http://localhost:8080 is on port 8080", "listens on " + rs.public.String()} {
		if !strings.Contains(logs, want) {
			t.Errorf("warning lacks %q:\n%s", want, logs)
		}
	}
	// A public issuer is behind a proxy: its port is no hint.
	if msg := issuerPortMismatch("https://id.example.com", rs.public); msg != "" {
		t.Errorf("warned for a public issuer: %s", msg)
	}
	if msg := issuerPortMismatch("http://127.0.0.1:"+itoa(rs.public.(*net.TCPAddr).Port), rs.public); msg != "" {
		t.Errorf("warned although the ports agree: %s", msg)
	}
}

// TestServePortTakenLeavesNothingDone: when an address is taken, serve
// stops before it opens the database (a --dev start creates and migrates
// none, so no signing key is made either) and says which address and
// setting to change.
func TestServePortTakenLeavesNothingDone(t *testing.T) {
	for _, which := range []struct{ env, key string }{{"GATEHOUSE_LISTEN", "listen"}, {"GATEHOUSE_ADMIN_LISTEN", "admin_listen"}} {
		t.Run(which.key, func(t *testing.T) {
			dir := cliEnv(t)
			taken, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer taken.Close()
			t.Setenv("GATEHOUSE_LISTEN", "127.0.0.1:0")
			t.Setenv("GATEHOUSE_ADMIN_LISTEN", "127.0.0.1:0")
			t.Setenv(which.env, taken.Addr().String())
			_, err = tryServe(t, "--dev")
			if err == nil {
				t.Fatal("serve started on a taken address")
			}
			for _, want := range []string{"cannot listen on " + taken.Addr().String(), which.env, "setting " + which.key, "address already in use"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q: %v", want, err)
				}
			}
			if _, err := os.Stat(filepath.Join(dir, "g.db")); !os.IsNotExist(err) {
				t.Errorf("the database was created before the ports were checked: %v", err)
			}
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestServeMissingSecretSaysWhatToSet: the error names the variable to
// set and the development alternative.
func TestServeMissingSecretSaysWhatToSet(t *testing.T) {
	cliEnv(t)
	t.Setenv("GATEHOUSE_SECRET", "")
	_, _, err := cli(t, "", "serve")
	if err == nil {
		t.Fatal("serve started without a secret")
	}
	for _, want := range []string{"GATEHOUSE_SECRET", "--dev"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}

// TestDevOnAnotherPortFirstToken: the first hour on a moved port. With
// GATEHOUSE_LISTEN set and nothing else, `serve --dev` and
// `--dev perform client-credentials` find each other on the port given,
// and a token comes back.
func TestDevOnAnotherPortFirstToken(t *testing.T) {
	cliEnv(t)
	t.Setenv("GATEHOUSE_SECRET", "")
	listen := "127.0.0.1:" + itoa(freePort(t))
	t.Setenv("GATEHOUSE_LISTEN", listen)
	t.Setenv("GATEHOUSE_ADMIN_LISTEN", "127.0.0.1:0")
	rs := startServe(t, "--dev")
	if want := "http://localhost:" + itoa(rs.public.(*net.TCPAddr).Port); rs.issuer != want {
		t.Fatalf("issuer %q, want %q", rs.issuer, want)
	}
	var c map[string]any
	cliJSON(t, &c, "", "--dev", "clients", "create", "--name", "first", "--grant-type", "client_credentials", "--json")
	t.Setenv("GATEHOUSE_CLIENT_SECRET", c["client_secret"].(string))
	token, stderr, err := cli(t, "", "--dev", "perform", "client-credentials", "--client-id", c["client_id"].(string))
	if err != nil {
		t.Fatalf("perform client-credentials: %v\n%s", err, stderr)
	}
	if !strings.HasPrefix(strings.TrimSpace(token), "gth_at_") {
		t.Fatalf("no access token: %q\n%s", token, stderr)
	}
}
