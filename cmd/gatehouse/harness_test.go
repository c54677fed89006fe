package main

// The end-to-end harness: the real service (newApp, the same graph `serve`
// builds) on loopback ports, on SQLite and (with GATEHOUSE_TEST_POSTGRES_DSN)
// PostgreSQL, driven by real clients: golang.org/x/oauth2, go-oidc, and a
// cookie-jar browser that fills in the real login and consent forms.

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"golang.org/x/crypto/argon2"
	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/internal/clocktest"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore/bunstoretest"
)

// testServer is a running gatehouse.
type testServer struct {
	t      *testing.T
	issuer string
	// addr is the public listener's own URL; it differs from issuer when a
	// test puts a proxy in front (the issuer is then the proxy's).
	addr  string
	admin string
	app   *app
	store *bunstore.Store
	// stop shuts the server down (idempotent; also run at cleanup).
	stop func()
	// transport reaches the public listener: it trusts the test
	// certificate of a server that speaks TLS (startTLSServer); nil for
	// plain HTTP.
	transport http.RoundTripper
}

// forEachDialect runs fn as a parallel subtest per available database:
// each gets a database and ports of its own. A test that sets environment
// variables (t.Setenv) cannot run in parallel, and uses
// bunstoretest.ForEachDialect, which runs them in turn.
func forEachDialect(t *testing.T, fn func(t *testing.T, dialect string)) {
	t.Helper()
	bunstoretest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		fn(t, dialect)
	})
}

// waitFor polls cond until it holds, for at most within, and reports
// whether it did. It is only for what happens on real time, where no
// clock can be moved: the service's background loops (the audit trail
// written in batches, API-key uses written, another instance's checks),
// another process, or a database coming back. What runs on the service's
// clock moves with a clocktest.Clock instead.
func waitFor(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		<-tick.C
	}
	return true
}

type logWriter struct {
	mu sync.Mutex
	t  *testing.T
	on bool
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.on {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// openMigrated opens the database of dsn (quiet unless opts has a logger)
// and migrates it; it is closed when the test ends.
func openMigrated(t *testing.T, dsn string, opts bunstore.Options) *bunstore.Store {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	ctx := context.Background()
	store, err := bunstore.Open(ctx, dsn, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return store
}

// startServer runs gatehouse on a fresh database of the dialect.
func startServer(t *testing.T, dialect string, mods ...func(*config.Config)) *testServer {
	t.Helper()
	store := bunstoretest.Open(t, dialect, bunstore.Options{})
	return startServerOn(t, store, mods...)
}

// startServerDSN is startServer that also returns the database's DSN, so
// a test can read what the storage contract has no query for (the audit
// trail).
func startServerDSN(t *testing.T, dialect string, mods ...func(*config.Config)) (*testServer, string) {
	t.Helper()
	dsn := bunstoretest.NewMigratedDSN(t, dialect)
	store := openMigrated(t, dsn, bunstore.Options{})
	return startServerOn(t, store, mods...), dsn
}

// startServerAt is startServerDSN with clock as the time of the server and
// of its database (sessions, windows, locks, API keys and rate limits move
// when the test moves it; what fosite stamps, such as token expiry, stays
// on real time).
func startServerAt(t *testing.T, dialect string, clock *clocktest.Clock, mods ...func(*config.Config)) (*testServer, string) {
	t.Helper()
	dsn := bunstoretest.NewMigratedDSN(t, dialect)
	store := openMigrated(t, dsn, bunstore.Options{Now: clock.Now})
	return startServerWith(t, store, appOptions{now: clock.Now}, mods...), dsn
}

func startServerOn(t *testing.T, store *bunstore.Store, mods ...func(*config.Config)) *testServer {
	t.Helper()
	return startServerWith(t, store, appOptions{}, mods...)
}

// startServerWith runs gatehouse on store with opts (a test's clock, the
// intervals of its background work), logging to the test.
func startServerWith(t *testing.T, store *bunstore.Store, opts appOptions, mods ...func(*config.Config)) *testServer {
	t.Helper()
	return startServerWithCert(t, store, opts, nil, mods...)
}

// startServerWithCert is startServerWith with the public listener speaking
// TLS with cert when it is set.
func startServerWithCert(t *testing.T, store *bunstore.Store, opts appOptions, cert *testCert, mods ...func(*config.Config)) *testServer {
	t.Helper()
	lw := &logWriter{t: t, on: true}
	s := startServerListening(t, store, lw, opts, cert, mods...)
	// After the stop, nothing may write to t (the test may have ended).
	stop := s.stop
	s.stop = func() {
		stop()
		lw.mu.Lock()
		lw.on = false
		lw.mu.Unlock()
	}
	t.Cleanup(s.stop)
	return s
}

// startServerLoggingTo runs gatehouse on store with its log written to w.
func startServerLoggingTo(t *testing.T, store *bunstore.Store, w io.Writer, mods ...func(*config.Config)) *testServer {
	t.Helper()
	return startServerLogging(t, store, w, appOptions{}, mods...)
}

// testAuditFlush is how long an audit event of a test server waits for its
// batch (1 s in production): tests that read the trail find it written at
// once.
const testAuditFlush = 10 * time.Millisecond

func startServerLogging(t *testing.T, store *bunstore.Store, w io.Writer, opts appOptions, mods ...func(*config.Config)) *testServer {
	t.Helper()
	return startServerListening(t, store, w, opts, nil, mods...)
}

// startServerListening is startServerLogging with the public listener
// speaking TLS with cert when it is set (the issuer is then https).
func startServerListening(t *testing.T, store *bunstore.Store, w io.Writer, opts appOptions, cert *testCert, mods ...func(*config.Config)) *testServer {
	t.Helper()
	if opts.background.auditFlush == 0 {
		opts.background.auditFlush = testAuditFlush
	}
	pub, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	adm, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	scheme := "http://"
	var transport http.RoundTripper
	if cert != nil {
		pub = tls.NewListener(pub, cert.server)
		scheme, transport = "https://", cert.transport()
	}
	cfg.Issuer = scheme + pub.Addr().String()
	cfg.Listen, cfg.AdminListen = pub.Addr().String(), adm.Addr().String()
	cfg.Secret = randomString(t, 32)
	cfg.Log.Level = "warn"
	for _, m := range mods {
		m(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("test config: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := newApp(ctx, cfg, newLogger(cfg, w), store, opts)
	if err != nil {
		cancel()
		t.Fatalf("newApp: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- a.serve(ctx, pub, adm) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(15 * time.Second):
				t.Error("server did not stop within 15s")
			}
		})
	}
	t.Cleanup(stop)
	s := &testServer{t: t, issuer: cfg.Issuer, addr: scheme + pub.Addr().String(), admin: "http://" + adm.Addr().String(),
		app: a, store: store, stop: stop, transport: transport}
	waitHealthyVia(t, &http.Client{Transport: transport}, s.addr+"/health/alive")
	return s
}

// waitHealthy waits for the server's listener to answer: it serves in a
// goroutine of its own.
func waitHealthy(t *testing.T, u string) {
	t.Helper()
	waitHealthyVia(t, http.DefaultClient, u)
}

func waitHealthyVia(t *testing.T, client *http.Client, u string) {
	t.Helper()
	healthy := waitFor(10*time.Second, func() bool {
		resp, err := client.Get(u)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if !healthy {
		t.Fatalf("%s did not become healthy", u)
	}
}

// testPasswordHash hashes password with argon2id at test strength (64 KiB,
// one pass) in the PHC form secret.HashPassword writes. A stored hash
// carries its parameters, so the server checks it as it checks its own
// (19 MiB, two passes), at a fraction of the cost: a sign-in costs a test
// well under a millisecond instead of ~25 ms of a core. What the server
// hashes itself (users create, the admin API, a password reset) keeps the
// product's strength.
func testPasswordHash(t testing.TB, password string) string {
	const memoryKiB, passes, lanes = 64, 1, 1
	salt := []byte(randomString(t, 12))
	sum := argon2.IDKey([]byte(password), salt, passes, memoryKiB, lanes, 32)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, memoryKiB, passes, lanes,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(sum))
}

func randomString(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// user creates a person with a password, hashed at test strength
// (testPasswordHash).
func (s *testServer) user(email, password string, roles ...string) *storage.User {
	s.t.Helper()
	now := time.Now().UTC()
	u := &storage.User{
		ID: uuid.NewString(), Email: strings.ToLower(email), EmailVerified: true, Name: "Test " + email,
		PasswordHash: testPasswordHash(s.t, password), Roles: append([]string{}, roles...), CreatedAt: now, UpdatedAt: now,
	}
	if err := s.store.CreateUser(context.Background(), u); err != nil {
		s.t.Fatal(err)
	}
	return u
}

// client creates a client as an operator does and returns it with its
// secret.
func (s *testServer) client(spec admin.ClientSpec) (*storage.Client, string) {
	s.t.Helper()
	c, secret, err := s.app.admin.CreateClient(context.Background(), nil, spec)
	if err != nil {
		s.t.Fatal(err)
	}
	return c, secret
}

// oauthConfig is an x/oauth2 configuration for a client of this server.
func (s *testServer) oauthConfig(c *storage.Client, secret string, scopes ...string) *oauth2.Config {
	style := oauth2.AuthStyleInHeader
	if c.Public || c.TokenEndpointAuthMethod == provider.AuthMethodPost {
		style = oauth2.AuthStyleInParams
	}
	return &oauth2.Config{
		ClientID: c.ID, ClientSecret: secret, Scopes: scopes,
		RedirectURL: c.RedirectURIs[0],
		Endpoint: oauth2.Endpoint{
			AuthURL: s.issuer + provider.PathAuthorize, TokenURL: s.issuer + provider.PathToken, AuthStyle: style,
		},
	}
}

// browser is a cookie-keeping HTTP client that stops at redirects leaving
// the server (to the client's redirect URI), like a browser handing the
// code to the app.
type browser struct {
	t      *testing.T
	s      *testServer
	client *http.Client
}

func (s *testServer) newBrowser() *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		s.t.Fatal(err)
	}
	issuer, _ := url.Parse(s.issuer)
	return &browser{t: s.t, s: s, client: &http.Client{
		Jar:       jar,
		Transport: s.transport,
		Timeout:   20 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Host != issuer.Host {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}}
}

// page is a response with its body read.
type page struct {
	status   int
	url      *url.URL // final URL after same-server redirects
	location string   // Location of a redirect that left the server
	body     string
	header   http.Header
}

func (b *browser) do(req *http.Request) *page {
	b.t.Helper()
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return &page{status: resp.StatusCode, url: resp.Request.URL, location: resp.Header.Get("Location"), body: string(body), header: resp.Header}
}

func (b *browser) get(u string) *page {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return b.do(req)
}

func (b *browser) post(u string, form url.Values) *page {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// formValues returns the hidden inputs of a page.
func (p *page) formValues() url.Values {
	v := url.Values{}
	for _, m := range hiddenInput.FindAllStringSubmatch(p.body, -1) {
		v.Set(m[1], htmlUnescape(m[2]))
	}
	return v
}

func htmlUnescape(s string) string {
	return strings.NewReplacer("&amp;", "&", "&#43;", "+", "&#34;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">").Replace(s)
}

// isLoginPage / isConsentPage recognise the pages by their forms.
func (p *page) isLoginPage() bool   { return strings.Contains(p.body, `action="/login"`) }
func (p *page) isConsentPage() bool { return strings.Contains(p.body, `action="/consent"`) }

// login submits the login form shown on p.
func (b *browser) login(p *page, email, password string) *page {
	b.t.Helper()
	if !p.isLoginPage() {
		b.t.Fatalf("expected the login page, got %d %s: %.300s", p.status, p.url, p.body)
	}
	form := p.formValues()
	form.Set("email", email)
	form.Set("password", password)
	return b.post(b.s.issuer+"/login", form)
}

// consent submits the consent form shown on p with decision allow or deny.
func (b *browser) consent(p *page, decision string) *page {
	b.t.Helper()
	if !p.isConsentPage() {
		b.t.Fatalf("expected the consent page, got %d %s: %.300s", p.status, p.url, p.body)
	}
	form := p.formValues()
	form.Set("decision", decision)
	return b.post(b.s.issuer+"/consent", form)
}

// callback parses the redirect to the client's redirect URI.
func (p *page) callback(t *testing.T) url.Values {
	t.Helper()
	if p.status != http.StatusSeeOther && p.status != http.StatusFound {
		t.Fatalf("expected a redirect to the client, got %d at %s: %.500s", p.status, p.url, p.body)
	}
	u, err := url.Parse(p.location)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

// authorizeAndLogin runs an authorization request through the login (and,
// when shown, consent) pages and returns the callback parameters.
func (b *browser) authorizeAndLogin(authURL, email, password string) url.Values {
	b.t.Helper()
	p := b.get(authURL)
	if p.isLoginPage() {
		p = b.login(p, email, password)
	}
	if p.isConsentPage() {
		p = b.consent(p, "allow")
	}
	return p.callback(b.t)
}

// postForm sends a form as a program would (no cookies).
func postForm(t *testing.T, u string, form url.Values, basicUser, basicPass string) (int, map[string]interface{}, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicUser != "" {
		req.SetBasicAuth(url.QueryEscape(basicUser), url.QueryEscape(basicPass))
	}
	return doJSON(t, req)
}

func doJSON(t *testing.T, req *http.Request) (int, map[string]interface{}, http.Header) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var out map[string]interface{}
	if len(body) > 0 && strings.Contains(resp.Header.Get("Content-Type"), "json") {
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatalf("%s %s: invalid JSON %q: %v", req.Method, req.URL, body, err)
		}
	}
	return resp.StatusCode, out, resp.Header
}

// introspect asks whether a token is active, authenticating as the
// client does at the token endpoint (its secret in HTTP Basic, or in the
// form for client_secret_post).
func (s *testServer) introspect(t *testing.T, clientID, secret, token string) map[string]interface{} {
	t.Helper()
	form, user, pass := url.Values{"token": {token}}, clientID, secret
	if c, err := s.store.ClientByID(context.Background(), clientID); err == nil && c.TokenEndpointAuthMethod == provider.AuthMethodPost {
		form.Set("client_id", clientID)
		form.Set("client_secret", secret)
		user, pass = "", ""
	}
	status, out, _ := postForm(t, s.issuer+provider.PathIntrospect, form, user, pass)
	if status != http.StatusOK {
		t.Fatalf("introspect: status %d %v", status, out)
	}
	return out
}

func (s *testServer) active(t *testing.T, clientID, secret, token string) bool {
	t.Helper()
	return s.introspect(t, clientID, secret, token)["active"] == true
}

// pkce returns a verifier and the authorization URL options that carry
// its S256 challenge.
func pkce() (string, oauth2.AuthCodeOption) {
	v := oauth2.GenerateVerifier()
	return v, oauth2.S256ChallengeOption(v)
}

// oauthErrorCode extracts the OAuth error code from an x/oauth2 error.
func oauthErrorCode(err error) string {
	if re, ok := err.(*oauth2.RetrieveError); ok {
		return re.ErrorCode
	}
	return fmt.Sprintf("not a RetrieveError: %v", err)
}

// signIn runs the browser flow for conf and exchanges the code.
func (s *testServer) signIn(t *testing.T, conf *oauth2.Config, email, password string) *oauth2.Token {
	t.Helper()
	b := s.newBrowser()
	verifier, challenge := pkce()
	cb := b.authorizeAndLogin(conf.AuthCodeURL(randomString(t, 16), challenge), email, password)
	tok, err := conf.Exchange(context.Background(), cb.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	return tok
}
