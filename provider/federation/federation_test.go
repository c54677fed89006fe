package federation

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/internal/obstest"
	"github.com/gatehouse-dev/gatehouse/provider/federation/fedtest"
)

const redirectBase = "https://gatehouse.test"

type fixture struct {
	up   *fedtest.Server
	m    *Manager
	cfg  UpstreamConfig
	logs *obstest.LogBuffer
}

type fixtureOpts struct {
	upstream func(*fedtest.Options)
	config   func(*UpstreamConfig)
	manager  func(*Options)
}

// newFixture runs a fake upstream "fake" and a Manager for it.
func newFixture(t *testing.T, fo fixtureOpts) *fixture {
	t.Helper()
	uo := fedtest.Options{RedirectURI: redirectBase + "/login/fake/callback"}
	if fo.upstream != nil {
		fo.upstream(&uo)
	}
	up := fedtest.New(t, uo)
	cfg := UpstreamConfig{ID: "fake", Name: "Fake", Issuer: up.URL, ClientID: up.ClientID(), ClientSecret: up.ClientSecret()}
	if fo.config != nil {
		fo.config(&cfg)
	}
	logs := &obstest.LogBuffer{}
	opts := Options{
		Upstreams:       []UpstreamConfig{cfg},
		RedirectBase:    redirectBase,
		Logger:          slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		ExchangeTimeout: 5 * time.Second,
	}
	if fo.manager != nil {
		fo.manager(&opts)
	}
	m, err := New(context.Background(), opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if strings.Contains(logs.String(), cfg.ClientSecret) {
			t.Errorf("the client secret appears in the log:\n%s", logs)
		}
	})
	return &fixture{up: up, m: m, cfg: cfg, logs: logs}
}

func random(t *testing.T) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// attempt is one sign-in round trip's secrets.
type attempt struct {
	state, nonce, verifier string
	code                   string
}

// authorize starts a sign-in and performs the browser leg; it returns
// the callback's query.
func (f *fixture) authorize(t *testing.T, opt AuthOptions) (*attempt, url.Values) {
	t.Helper()
	a := &attempt{state: random(t), nonce: random(t), verifier: oauth2.GenerateVerifier()}
	authURL, err := f.m.AuthCodeURL("fake", a.state, a.nonce, a.verifier, opt)
	if err != nil {
		t.Fatalf("AuthCodeURL: %v", err)
	}
	cb, err := url.Parse(f.up.Authorize(t, authURL))
	if err != nil {
		t.Fatal(err)
	}
	q := cb.Query()
	if got := q.Get("state"); got != a.state {
		t.Fatalf("callback state %q, want %q", got, a.state)
	}
	a.code = q.Get("code")
	return a, q
}

// signIn runs a whole round trip, as the sign-in handler would.
func (f *fixture) signIn(t *testing.T) (*Identity, *attempt, error) {
	t.Helper()
	a, q := f.authorize(t, AuthOptions{})
	if e := q.Get("error"); e != "" {
		return nil, a, RejectionFromCallbackError(e, q.Get("error_description"))
	}
	id, err := f.m.Exchange(context.Background(), "fake", a.code, a.verifier, a.nonce)
	return id, a, err
}

// wantRejection checks that err is a *Rejection with reason, and that its
// text holds none of the secrets of the attempt.
func wantRejection(t *testing.T, err error, reason string, f *fixture, a *attempt) *Rejection {
	t.Helper()
	var r *Rejection
	if !errors.As(err, &r) {
		t.Fatalf("error %v (%T), want a *Rejection %s", err, err, reason)
	}
	if r.Reason != reason {
		t.Errorf("reason %q, want %q (%v)", r.Reason, reason, err)
	}
	msg := err.Error()
	for _, s := range []string{f.cfg.ClientSecret, a.code, a.verifier} {
		if s != "" && strings.Contains(msg, s) {
			t.Errorf("the error text contains a secret %q: %s", s, msg)
		}
	}
	if strings.Contains(msg, "fedtest-at-") || strings.Contains(msg, "eyJ") {
		t.Errorf("the error text seems to contain a token: %s", msg)
	}
	return r
}

func TestDiscoveryAndSignIn(t *testing.T) {
	f := newFixture(t, fixtureOpts{config: func(c *UpstreamConfig) { c.AllowSignup = true }})
	ups := f.m.Upstreams()
	if len(ups) != 1 || ups[0] != (Info{ID: "fake", Name: "Fake", Issuer: f.up.URL, AllowSignup: true, Available: true}) {
		t.Fatalf("Upstreams() = %+v", ups)
	}
	if info, ok := f.m.Get("fake"); !ok || !info.Available {
		t.Errorf("Get(fake) = %+v, %v", info, ok)
	}
	if !f.m.AllowSignup("fake") || f.m.AllowSignup("nope") {
		t.Error("AllowSignup")
	}
	if _, ok := f.m.Get("nope"); ok {
		t.Error("Get(nope) found something")
	}
	if iss, jwks, err := f.m.Keys("fake"); err != nil || iss != f.up.URL || jwks != f.up.URL+"/jwks" {
		t.Errorf("Keys(fake) = %q, %q, %v", iss, jwks, err)
	}
	if _, _, err := f.m.Keys("nope"); !errors.Is(err, ErrUnknownUpstream) {
		t.Errorf("Keys(nope): %v", err)
	}
	up, ok := f.m.byID["fake"]
	if !ok {
		t.Fatal("upstream fake is not registered")
	}
	if got, want := up.redirectURI, redirectBase+"/login/fake/callback"; got != want {
		t.Errorf("redirect URI = %q, want %q", got, want)
	}

	before := time.Now().Add(-time.Second)
	f.up.SetIdentity(fedtest.Identity{Subject: "sub-42", Email: "Bob@Example.com", EmailVerified: true, Name: "Bob", HD: "example.com"})
	id, _, err := f.signIn(t)
	if err != nil {
		t.Fatalf("sign-in: %v", err)
	}
	want := Identity{UpstreamID: "fake", Subject: "sub-42", Email: "Bob@Example.com", EmailVerified: true, Name: "Bob", HostedDomain: "example.com"}
	got := *id
	got.AuthTime = time.Time{}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("identity %+v, want %+v", got, want)
	}
	if id.AuthTime.Before(before) || id.AuthTime.After(time.Now().Add(time.Second)) {
		t.Errorf("AuthTime %v is not about now", id.AuthTime)
	}
	if m := f.up.LastTokenAuthMethod(); m != "client_secret_basic" {
		t.Errorf("token request authenticated with %q, want client_secret_basic", m)
	}

	// Unverified e-mail is reported as such (no domain policy here).
	f.up.SetIdentity(fedtest.Identity{Subject: "sub-43", Email: "carol@example.org"})
	id, _, err = f.signIn(t)
	if err != nil {
		t.Fatalf("sign-in: %v", err)
	}
	if id.EmailVerified || id.Email != "carol@example.org" || id.Name != "" {
		t.Errorf("identity %+v", id)
	}
}

func TestClientSecretPost(t *testing.T) {
	f := newFixture(t, fixtureOpts{upstream: func(o *fedtest.Options) { o.AuthMethods = []string{"client_secret_post"} }})
	if _, _, err := f.signIn(t); err != nil {
		t.Fatalf("sign-in: %v", err)
	}
	if m := f.up.LastTokenAuthMethod(); m != "client_secret_post" {
		t.Errorf("token request authenticated with %q, want client_secret_post", m)
	}
}

func TestAuthCodeURL(t *testing.T) {
	f := newFixture(t, fixtureOpts{config: func(c *UpstreamConfig) {
		c.HostedDomain = "example.com"
		c.Scopes = []string{"openid", "email"}
	}})
	verifier := oauth2.GenerateVerifier()
	maxAge := 300
	raw, err := f.m.AuthCodeURL("fake", "the-state", "the-nonce", verifier,
		AuthOptions{Prompt: "login consent", MaxAge: &maxAge, LoginHint: "bob@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if got := u.Scheme + "://" + u.Host + u.Path; got != f.up.URL+"/authorize" {
		t.Errorf("endpoint %q", got)
	}
	q := u.Query()
	want := map[string]string{
		"response_type":         "code",
		"client_id":             f.cfg.ClientID,
		"redirect_uri":          redirectBase + "/login/fake/callback",
		"scope":                 "openid email",
		"state":                 "the-state",
		"nonce":                 "the-nonce",
		"code_challenge":        oauth2.S256ChallengeFromVerifier(verifier),
		"code_challenge_method": "S256",
		"hd":                    "example.com",
		"prompt":                "login consent",
		"max_age":               "300",
		"login_hint":            "bob@example.com",
	}
	for k, v := range want {
		if got := q.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if len(q) != len(want) {
		t.Errorf("unexpected parameters in %s", raw)
	}
	if strings.Contains(raw, verifier) || strings.Contains(raw, f.cfg.ClientSecret) {
		t.Errorf("the URL carries the verifier or the secret: %s", raw)
	}

	// Optional parameters are absent when unset; the default scopes apply.
	g := newFixture(t, fixtureOpts{})
	raw, err = g.m.AuthCodeURL("fake", "s", "n", verifier, AuthOptions{})
	if err != nil {
		t.Fatal(err)
	}
	u, _ = url.Parse(raw)
	q = u.Query()
	for _, k := range []string{"hd", "prompt", "max_age", "login_hint"} {
		if q.Has(k) {
			t.Errorf("%s present without being asked for: %s", k, raw)
		}
	}
	if got := q.Get("scope"); got != "openid email profile" {
		t.Errorf("default scope %q", got)
	}
	zero := 0
	raw, err = g.m.AuthCodeURL("fake", "s", "n", verifier, AuthOptions{Prompt: "none", MaxAge: &zero})
	if err != nil {
		t.Fatal(err)
	}
	if u, _ = url.Parse(raw); u.Query().Get("max_age") != "0" || u.Query().Get("prompt") != "none" {
		t.Errorf("prompt=none max_age=0 not sent: %s", raw)
	}

	// The fake upstream accepts the request as built.
	if _, q := f.authorize(t, AuthOptions{Prompt: "select_account"}); q.Get("code") == "" {
		t.Errorf("no code in callback %v", q)
	}
	if got := f.up.LastAuthorize().Get("prompt"); got != "select_account" {
		t.Errorf("upstream saw prompt %q", got)
	}

	neg := -1
	bad := []struct {
		name                   string
		id, state, nonce, verf string
		opt                    AuthOptions
		is                     error
	}{
		{"unknown upstream", "nope", "s", "n", verifier, AuthOptions{}, ErrUnknownUpstream},
		{"empty state", "fake", "", "n", verifier, AuthOptions{}, nil},
		{"empty nonce", "fake", "s", "", verifier, AuthOptions{}, nil},
		{"short verifier", "fake", "s", "n", "short", AuthOptions{}, nil},
		{"verifier with bad characters", "fake", "s", "n", strings.Repeat("a", 42) + "+", AuthOptions{}, nil},
		{"unknown prompt", "fake", "s", "n", verifier, AuthOptions{Prompt: "maybe"}, nil},
		{"prompt none with login", "fake", "s", "n", verifier, AuthOptions{Prompt: "none login"}, nil},
		{"negative max_age", "fake", "s", "n", verifier, AuthOptions{MaxAge: &neg}, nil},
	}
	for _, tc := range bad {
		_, err := f.m.AuthCodeURL(tc.id, tc.state, tc.nonce, tc.verf, tc.opt)
		if err == nil {
			t.Errorf("%s: no error", tc.name)
		} else if tc.is != nil && !errors.Is(err, tc.is) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.is)
		}
	}
}

func TestBreakages(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	tests := []struct {
		b      fedtest.Breakage
		reason string
		text   string // in the error message
	}{
		{fedtest.WrongIssuer, ReasonBadIDToken, "issued by a different provider"},
		{fedtest.WrongAudience, ReasonBadIDToken, "audience"},
		{fedtest.Expired, ReasonBadIDToken, "expired"},
		{fedtest.BadSignature, ReasonBadIDToken, "signature"},
		{fedtest.AlgNone, ReasonBadIDToken, "malformed jwt"},
		{fedtest.AlgHS256, ReasonBadIDToken, "malformed jwt"},
		{fedtest.IssuedInFuture, ReasonBadIDToken, "issued in the future"},
		{fedtest.NoIDToken, ReasonBadIDToken, "no id_token"},
		{fedtest.WrongNonce, ReasonNonceMismatch, "nonce"},
		{fedtest.AZPMismatch, ReasonAZPMismatch, `"another-client"`},
		{fedtest.LeakyError, ReasonExchangeFailed, "error=invalid_grant"},
	}
	for _, tc := range tests {
		t.Run(tc.b.String(), func(t *testing.T) {
			f.up.Break(tc.b)
			id, a, err := f.signIn(t)
			if err == nil {
				t.Fatalf("sign-in succeeded: %+v", id)
			}
			if id != nil {
				t.Errorf("an identity came with the error: %+v", id)
			}
			wantRejection(t, err, tc.reason, f, a)
			t.Logf("%s", err)
			if !strings.Contains(err.Error(), tc.text) {
				t.Errorf("error %q does not say %q", err, tc.text)
			}
			// The breakage is used up: the next sign-in works.
			if _, _, err := f.signIn(t); err != nil {
				t.Errorf("sign-in after the breakage: %v", err)
			}
		})
	}
	t.Run("LeakyError is scrubbed", func(t *testing.T) {
		f.up.Break(fedtest.LeakyError)
		_, a, err := f.signIn(t)
		wantRejection(t, err, ReasonExchangeFailed, f, a)
		if !strings.Contains(err.Error(), "client_secret="+redacted) || !strings.Contains(err.Error(), "code="+redacted) {
			t.Errorf("the echoed secrets were not replaced: %v", err)
		}
	})
}

func TestCallbackErrors(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	f.up.DenyNext()
	_, a, err := f.signIn(t)
	r := wantRejection(t, err, ReasonAccessDenied, f, a)
	var ue *UpstreamError
	if !errors.As(r, &ue) || ue.Code != "access_denied" || ue.Description != "The user denied the request" {
		t.Errorf("UpstreamError %+v", ue)
	}
	if _, _, err := f.signIn(t); err != nil {
		t.Errorf("DenyNext is not one-shot: %v", err)
	}

	tests := []struct{ code, desc, reason, wantCode, wantDesc string }{
		{"access_denied", "", ReasonAccessDenied, "access_denied", ""},
		{"login_required", "x", ReasonLoginRequired, "login_required", "x"},
		{"interaction_required", "", ReasonLoginRequired, "interaction_required", ""},
		{"consent_required", "", ReasonLoginRequired, "consent_required", ""},
		{"account_selection_required", "", ReasonLoginRequired, "account_selection_required", ""},
		{"server_error", "boom", ReasonUpstreamError, "server_error", "boom"},
		{"", "", ReasonUpstreamError, "(empty)", ""},
		{"<script>\"", "", ReasonUpstreamError, "(invalid)", ""},
		{strings.Repeat("a", 100), "", ReasonUpstreamError, "(invalid)", ""},
		{"temporarily_unavailable", "line1\nline2\x00" + strings.Repeat("é", 200), ReasonUpstreamError, "temporarily_unavailable", ""},
	}
	for _, tc := range tests {
		r := RejectionFromCallbackError(tc.code, tc.desc)
		ue := r.Err.(*UpstreamError)
		if r.Reason != tc.reason || ue.Code != tc.wantCode {
			t.Errorf("(%q): reason %q code %q, want %q %q", tc.code, r.Reason, ue.Code, tc.reason, tc.wantCode)
		}
		if tc.wantDesc != "" && ue.Description != tc.wantDesc {
			t.Errorf("(%q): description %q, want %q", tc.code, ue.Description, tc.wantDesc)
		}
		if strings.ContainsAny(ue.Description, "\n\x00") || len(ue.Description) > maxDescription+len("…") {
			t.Errorf("(%q): description not sanitised: %q", tc.code, ue.Description)
		}
	}
}

func TestExchangeRefusals(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	ctx := context.Background()

	// A code is redeemed once only.
	a, _ := f.authorize(t, AuthOptions{})
	if _, err := f.m.Exchange(ctx, "fake", a.code, a.verifier, a.nonce); err != nil {
		t.Fatalf("first exchange: %v", err)
	}
	_, err := f.m.Exchange(ctx, "fake", a.code, a.verifier, a.nonce)
	wantRejection(t, err, ReasonExchangeFailed, f, a)
	if !strings.Contains(err.Error(), "already used") {
		t.Errorf("replay error %v", err)
	}

	// The PKCE verifier must be the one the request was made with.
	a, _ = f.authorize(t, AuthOptions{})
	other := oauth2.GenerateVerifier()
	_, err = f.m.Exchange(ctx, "fake", a.code, other, a.nonce)
	wantRejection(t, err, ReasonExchangeFailed, f, a)

	// The nonce must be the one of this sign-in.
	a, _ = f.authorize(t, AuthOptions{})
	_, err = f.m.Exchange(ctx, "fake", a.code, a.verifier, "another-nonce")
	wantRejection(t, err, ReasonNonceMismatch, f, a)

	// Malformed calls.
	a, _ = f.authorize(t, AuthOptions{})
	for _, tc := range []struct{ id, code, verifier, nonce, reason string }{
		{"nope", a.code, a.verifier, a.nonce, ReasonUnknownUpstream},
		{"fake", "", a.verifier, a.nonce, ReasonInvalidRequest},
		{"fake", a.code, "short", a.nonce, ReasonInvalidRequest},
		{"fake", a.code, a.verifier, "", ReasonInvalidRequest},
	} {
		_, err := f.m.Exchange(ctx, tc.id, tc.code, tc.verifier, tc.nonce)
		wantRejection(t, err, tc.reason, f, a)
	}
	if _, err := f.m.Exchange(ctx, "nope", "c", a.verifier, "n"); !errors.Is(err, ErrUnknownUpstream) {
		t.Errorf("unknown upstream: %v", err)
	}
}

func TestWrongClientSecret(t *testing.T) {
	f := newFixture(t, fixtureOpts{config: func(c *UpstreamConfig) { c.ClientSecret = "not-the-right-secret-7731" }})
	_, a, err := f.signIn(t)
	wantRejection(t, err, ReasonExchangeFailed, f, a)
	if !strings.Contains(err.Error(), "invalid_client") {
		t.Errorf("error %v does not say invalid_client", err)
	}
}

func TestKeyRotation(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	if _, _, err := f.signIn(t); err != nil {
		t.Fatalf("first sign-in: %v", err)
	}
	if _, _, err := f.signIn(t); err != nil {
		t.Fatalf("second sign-in: %v", err)
	}
	if n := f.up.Hits("/jwks"); n != 1 {
		t.Errorf("JWKS fetched %d times for one key, want 1 (cached)", n)
	}
	old := f.up.KID()
	f.up.RotateKey()
	if f.up.KID() == old {
		t.Fatal("RotateKey kept the kid")
	}
	if _, _, err := f.signIn(t); err != nil {
		t.Fatalf("sign-in after key rotation: %v", err)
	}
	if n := f.up.Hits("/jwks"); n != 2 {
		t.Errorf("JWKS fetched %d times after a rotation, want 2", n)
	}
}

func TestDomainPolicy(t *testing.T) {
	f := newFixture(t, fixtureOpts{config: func(c *UpstreamConfig) { c.AllowedDomains = []string{"Example.com", "example.org"} }})
	tests := []struct {
		identity fedtest.Identity
		reason   string // "" = admitted
	}{
		{fedtest.Identity{Subject: "1", Email: "bob@example.com", EmailVerified: true}, ""},
		{fedtest.Identity{Subject: "2", Email: "Bob@EXAMPLE.COM", EmailVerified: true}, ""},
		{fedtest.Identity{Subject: "3", Email: "eve@example.org", EmailVerified: true}, ""},
		{fedtest.Identity{Subject: "4", Email: "bob@example.com", EmailVerified: false}, ReasonEmailNotVerified},
		{fedtest.Identity{Subject: "5", Email: "eve@evil.com", EmailVerified: true}, ReasonDomainNotAllowed},
		{fedtest.Identity{Subject: "6", Email: "eve@sub.example.com", EmailVerified: true}, ReasonDomainNotAllowed},
		{fedtest.Identity{Subject: "7", Email: "eve@example.com.evil.com", EmailVerified: true}, ReasonDomainNotAllowed},
		{fedtest.Identity{Subject: "8"}, ReasonDomainNotAllowed},
		{fedtest.Identity{Subject: "9", Email: "not-an-address", EmailVerified: true}, ReasonDomainNotAllowed},
	}
	for _, tc := range tests {
		f.up.SetIdentity(tc.identity)
		id, a, err := f.signIn(t)
		if tc.reason == "" {
			if err != nil || id.Subject != tc.identity.Subject {
				t.Errorf("%+v: %v", tc.identity, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%+v admitted, want %s", tc.identity, tc.reason)
			continue
		}
		wantRejection(t, err, tc.reason, f, a)
	}
}

func TestHostedDomain(t *testing.T) {
	f := newFixture(t, fixtureOpts{config: func(c *UpstreamConfig) { c.HostedDomain = "example.com" }})
	tests := []struct {
		hd     string
		reason string
	}{
		{"example.com", ""},
		{"", ReasonHDMismatch},
		{"other.com", ReasonHDMismatch},
	}
	for _, tc := range tests {
		f.up.SetIdentity(fedtest.Identity{Subject: "s", Email: "bob@gmail.com", EmailVerified: true, HD: tc.hd})
		id, a, err := f.signIn(t)
		if got := f.up.LastAuthorize().Get("hd"); got != "example.com" {
			t.Errorf("hd sent %q", got)
		}
		if tc.reason == "" {
			if err != nil || id.HostedDomain != tc.hd {
				t.Errorf("hd %q: %+v, %v", tc.hd, id, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("hd %q admitted", tc.hd)
			continue
		}
		wantRejection(t, err, tc.reason, f, a)
	}
}

// goroutineDump returns the stacks of all goroutines.
func goroutineDump() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}

func TestSlowTokenEndpoint(t *testing.T) {
	const timeout = 300 * time.Millisecond
	f := newFixture(t, fixtureOpts{manager: func(o *Options) { o.ExchangeTimeout = timeout }})
	a, _ := f.authorize(t, AuthOptions{})
	f.up.Break(fedtest.SlowToken(time.Minute))
	baseline := runtime.NumGoroutine()

	start := time.Now()
	id, err := f.m.Exchange(context.Background(), "fake", a.code, a.verifier, a.nonce)
	elapsed := time.Since(start)
	if err == nil {
		t.Fatalf("exchange succeeded: %+v", id)
	}
	wantRejection(t, err, ReasonUpstreamTimeout, f, a)
	if elapsed < timeout || elapsed > timeout+2*time.Second {
		t.Errorf("Exchange took %s with a timeout of %s", elapsed, timeout)
	}

	// Nothing is left behind: no goroutine of ours or of x/oauth2, none
	// still serving the abandoned token request, no more goroutines than
	// before.
	deadline := time.Now().Add(3 * time.Second)
	for {
		dump := goroutineDump()
		leak := strings.Contains(dump, "federation.(*Manager)") || strings.Contains(dump, "golang.org/x/oauth2") ||
			strings.Contains(dump, "fedtest.(*Server).token")
		if !leak && runtime.NumGoroutine() <= baseline {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines left behind (%d now, %d before):\n%s", runtime.NumGoroutine(), baseline, dump)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// The code was redeemed by the slow answer's request: a new sign-in
	// works.
	if _, _, err := f.signIn(t); err != nil {
		t.Errorf("sign-in after the timeout: %v", err)
	}
}

func TestSlowTokenCallerCancels(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	a, _ := f.authorize(t, AuthOptions{})
	f.up.Break(fedtest.SlowToken(time.Minute))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := f.m.Exchange(ctx, "fake", a.code, a.verifier, a.nonce)
	wantRejection(t, err, ReasonUpstreamTimeout, f, a)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Exchange ignored the caller's deadline: %s", d)
	}
}

// freeLoopbackAddr returns a loopback address nobody listens on (yet).
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestUnreachableAtStartThenRun(t *testing.T) {
	addr := freeLoopbackAddr(t)
	issuer := "http://" + addr
	logs := &obstest.LogBuffer{}
	cfg := UpstreamConfig{ID: "fake", Name: "Fake", Issuer: issuer, ClientID: fedtest.DefaultClientID, ClientSecret: fedtest.DefaultClientSecret}
	m, err := New(context.Background(), Options{
		Upstreams:    []UpstreamConfig{cfg},
		RedirectBase: redirectBase,
		Logger:       slog.New(slog.NewTextHandler(logs, nil)),
		RetryMin:     50 * time.Millisecond,
		RetryMax:     200 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("New failed on an unreachable upstream: %v", err)
	}
	info, _ := m.Get("fake")
	if info.Available || !strings.Contains(info.LastError, "discovery of "+issuer+"/.well-known/openid-configuration failed") {
		t.Errorf("info %+v", info)
	}
	wantLog := "upstream fake: discovery of " + issuer + "/.well-known/openid-configuration failed: "
	if s := logs.String(); !strings.Contains(s, wantLog) ||
		!strings.Contains(s, "sign-in through it is unavailable until it succeeds; retrying") ||
		!strings.Contains(s, "level=ERROR") {
		t.Errorf("log does not explain the failure:\n%s", s)
	}
	if iss, jwks, err := m.Keys("fake"); !errors.Is(err, ErrUnavailable) || iss != issuer || jwks != "" {
		t.Errorf("Keys before discovery = %q, %q, %v", iss, jwks, err)
	}
	verifier := oauth2.GenerateVerifier()
	if _, err := m.AuthCodeURL("fake", "s", "n", verifier, AuthOptions{}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("AuthCodeURL: %v, want ErrUnavailable", err)
	}
	_, err = m.Exchange(context.Background(), "fake", "code", verifier, "n")
	var r *Rejection
	if !errors.As(err, &r) || r.Reason != ReasonUpstreamUnavailable || !errors.Is(err, ErrUnavailable) {
		t.Errorf("Exchange: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.Run(ctx)
	}()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	}()

	// Let a few retries fail, then bring the upstream up.
	time.Sleep(300 * time.Millisecond)
	if m.Upstreams()[0].Available {
		t.Fatal("available before the upstream is up")
	}
	up := fedtest.New(t, fedtest.Options{Addr: addr, RedirectURI: redirectBase + "/login/fake/callback"})
	if up.URL != issuer {
		t.Fatalf("fake upstream at %s, want %s", up.URL, issuer)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !m.Upstreams()[0].Available {
		if time.Now().After(deadline) {
			t.Fatalf("still unavailable 5s after the upstream came up; log:\n%s", logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if info, _ := m.Get("fake"); info.LastError != "" {
		t.Errorf("LastError %q after recovery", info.LastError)
	}
	if s := logs.String(); !strings.Contains(s, "level=WARN") || !strings.Contains(s, "upstream fake: discovery of "+issuer+"/.well-known/openid-configuration succeeded") {
		t.Errorf("log does not show the retries and the recovery:\n%s", s)
	}
	f := &fixture{up: up, m: m, cfg: cfg, logs: logs}
	if _, _, err := f.signIn(t); err != nil {
		t.Errorf("sign-in once available: %v", err)
	}
}

func TestRunReturnsWhenNothingToDo(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.m.Run(ctx); close(done) }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not return")
	}
	var nilManager *Manager
	nilManager.Run(ctx) // returns at once
	if nilManager.Upstreams() != nil {
		t.Error("nil manager has upstreams")
	}
}

func TestDiscoveryProblems(t *testing.T) {
	// The issuer must match exactly (trailing slash included).
	f := newFixture(t, fixtureOpts{config: func(c *UpstreamConfig) { c.Issuer += "/" }})
	if info, _ := f.m.Get("fake"); info.Available || !strings.Contains(info.LastError, "did not match the issuer URL") {
		t.Errorf("issuer mismatch: %+v", info)
	}
	// Only asymmetric ID token algorithms are accepted.
	f = newFixture(t, fixtureOpts{upstream: func(o *fedtest.Options) { o.SigningAlgs = []string{"none", "HS256"} }})
	if info, _ := f.m.Get("fake"); info.Available || !strings.Contains(info.LastError, "none of which is accepted") {
		t.Errorf("algs none/HS256: %+v", info)
	}
	// A 404 is reported with its status.
	up := fedtest.New(t, fedtest.Options{RedirectURI: redirectBase + "/login/fake/callback"})
	f = newFixture(t, fixtureOpts{config: func(c *UpstreamConfig) { c.Issuer = up.URL + "/tenant" }})
	if info, _ := f.m.Get("fake"); info.Available || !strings.Contains(info.LastError, "404") {
		t.Errorf("404: %+v", info)
	}
	// A hung discovery is bounded by DiscoveryTimeout.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close() // accepts connections (backlog) but never answers
	start := time.Now()
	f = newFixture(t, fixtureOpts{
		config:  func(c *UpstreamConfig) { c.Issuer = "http://" + l.Addr().String() },
		manager: func(o *Options) { o.DiscoveryTimeout = 200 * time.Millisecond },
	})
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("New took %s with a discovery timeout of 200ms", d)
	}
	if info, _ := f.m.Get("fake"); info.Available || !strings.Contains(info.LastError, "no answer within 200ms") {
		t.Errorf("hung discovery: %+v", info)
	}
}

func TestCheckEndpointAndAuthStyle(t *testing.T) {
	for raw, ok := range map[string]bool{
		"https://a.example/token":   true,
		"http://127.0.0.1:9/token":  true,
		"http://localhost/token":    true,
		"http://a.example/token":    false,
		"":                          false,
		"/token":                    false,
		"ftp://a.example/token":     false,
		"http://[::1]:8080/token":   true,
		"http://10.0.0.1:8080/jwks": false,
	} {
		if got := checkEndpoint(raw) == ""; got != ok {
			t.Errorf("checkEndpoint(%q) ok=%v, want %v", raw, got, ok)
		}
	}
	for _, tc := range []struct {
		methods []string
		want    oauth2.AuthStyle
	}{
		{nil, oauth2.AuthStyleInHeader},
		{[]string{"client_secret_post", "client_secret_basic"}, oauth2.AuthStyleInHeader},
		{[]string{"client_secret_post"}, oauth2.AuthStyleInParams},
		{[]string{"private_key_jwt"}, oauth2.AuthStyleAutoDetect},
	} {
		if got := authStyle(tc.methods); got != tc.want {
			t.Errorf("authStyle(%q) = %v, want %v", tc.methods, got, tc.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	m := &Manager{retryMin: 2 * time.Second, retryMax: 5 * time.Minute}
	prev := time.Duration(0)
	for n := 1; n <= 100; n++ {
		d := m.backoff(n)
		if d > m.retryMax || d < m.retryMin*9/10 {
			t.Fatalf("backoff(%d) = %s out of [%s, %s]", n, d, m.retryMin, m.retryMax)
		}
		if n <= 7 && d < prev {
			t.Errorf("backoff(%d) = %s < backoff(%d) = %s", n, d, n-1, prev)
		}
		prev = d
	}
	if d := m.backoff(1); d > 2*time.Second {
		t.Errorf("first retry after %s", d)
	}
	if d := m.backoff(20); d < 4*time.Minute {
		t.Errorf("backoff(20) = %s, want about the cap", d)
	}
}

func TestValidate(t *testing.T) {
	good := Google("id.apps.googleusercontent.com", "secret", "")
	if err := good.Validate(); err != nil {
		t.Fatalf("Google preset: %v", err)
	}
	if good.ID != "google" || good.Name != "Google" || good.Issuer != GoogleIssuer ||
		strings.Join(good.Scopes, " ") != "openid email profile" {
		t.Errorf("Google preset %v", good)
	}
	if g := Google("a", "b", "http://127.0.0.1:5556"); g.Issuer != "http://127.0.0.1:5556" || g.Validate() != nil {
		t.Errorf("Google with a test issuer: %v", g)
	}

	bad := UpstreamConfig{
		ID:             "Bad_ID",
		Issuer:         "http://accounts.example.com",
		Scopes:         []string{"email", "a b"},
		AllowedDomains: []string{"@example.com"},
		HostedDomain:   "https://example.com",
	}
	err := bad.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`upstream "Bad_ID": id must be 1 to 32 lowercase letters, digits or dashes`,
		"name is required",
		"issuer must use https (plain http is allowed only for loopback hosts",
		"client_id is required",
		"client_secret is required",
		"scopes must include openid",
		`scope "a b" is not a valid scope token`,
		`allowed_domains: "@example.com" is not a domain name`,
		`hosted_domain: "https://example.com" is not a domain name`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
	if n := strings.Count(err.Error(), "\n") + 1; n != 9 {
		t.Errorf("%d problems listed, want 9:\n%v", n, err)
	}

	cases := map[string]struct {
		mutate func(*UpstreamConfig)
		want   string // "" = valid
	}{
		"id of 32":           {func(c *UpstreamConfig) { c.ID = strings.Repeat("a", 32) }, ""},
		"id of 33":           {func(c *UpstreamConfig) { c.ID = strings.Repeat("a", 33) }, "id must be"},
		"empty id":           {func(c *UpstreamConfig) { c.ID = "" }, "id must be"},
		"id with dash":       {func(c *UpstreamConfig) { c.ID = "azure-ad-2" }, ""},
		"leading dash":       {func(c *UpstreamConfig) { c.ID = "-x" }, "id must be"},
		"id with slash":      {func(c *UpstreamConfig) { c.ID = "a/b" }, "id must be"},
		"http loopback":      {func(c *UpstreamConfig) { c.Issuer = "http://localhost:5556/dex" }, ""},
		"http 127.0.0.2":     {func(c *UpstreamConfig) { c.Issuer = "http://127.0.0.2" }, ""},
		"http ::1":           {func(c *UpstreamConfig) { c.Issuer = "http://[::1]:80" }, ""},
		"https with path":    {func(c *UpstreamConfig) { c.Issuer = "https://login.example.com/tenant/v2.0" }, ""},
		"relative issuer":    {func(c *UpstreamConfig) { c.Issuer = "accounts.google.com" }, "absolute https URL"},
		"empty issuer":       {func(c *UpstreamConfig) { c.Issuer = "" }, "issuer is required"},
		"issuer with query":  {func(c *UpstreamConfig) { c.Issuer = "https://a.example/?x=1" }, "query"},
		"issuer with user":   {func(c *UpstreamConfig) { c.Issuer = "https://u:p@a.example" }, "user info"},
		"ftp issuer":         {func(c *UpstreamConfig) { c.Issuer = "ftp://a.example" }, "absolute https URL"},
		"blank name":         {func(c *UpstreamConfig) { c.Name = "  " }, "name is required"},
		"domains":            {func(c *UpstreamConfig) { c.AllowedDomains = []string{"example.com", "Sub.Example.ORG"} }, ""},
		"hd":                 {func(c *UpstreamConfig) { c.HostedDomain = "example.com" }, ""},
		"scopes with openid": {func(c *UpstreamConfig) { c.Scopes = []string{"openid", "groups"} }, ""},
	}
	for name, tc := range cases {
		c := good
		tc.mutate(&c)
		err := c.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
}

func TestNewRejectsBadConfiguration(t *testing.T) {
	g := Google("id", "secret", "")
	_, err := New(context.Background(), Options{
		Upstreams:    []UpstreamConfig{g, g, {ID: "x"}},
		RedirectBase: "gatehouse.example",
	})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`redirect base (gatehouse's issuer) must be an absolute http(s) URL`,
		`upstream "google": id is used by more than one upstream`,
		`upstream "x": name is required`,
		`upstream "x": client_secret is required`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "secret\"") {
		t.Errorf("error shows a secret: %v", err)
	}

	// No upstreams is fine, and a trailing slash on the base is dropped.
	m, err := New(context.Background(), Options{RedirectBase: "https://id.example.com/"})
	if err != nil || len(m.Upstreams()) != 0 {
		t.Fatalf("New without upstreams: %v", err)
	}
}

func TestSecretNotPrinted(t *testing.T) {
	c := Google("the-client-id", "very-secret-value", "")
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "upstream", c)
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%v", c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), c.String(), buf.String()} {
		if strings.Contains(s, "very-secret-value") {
			t.Errorf("secret printed: %s", s)
		}
		if !strings.Contains(s, "the-client-id") {
			t.Errorf("client id missing: %s", s)
		}
	}
	if c.ClientSecret != "very-secret-value" {
		t.Error("formatting changed the config")
	}
}

func TestScrub(t *testing.T) {
	e := scrub(errors.New("x longer-secret y s3cr3t%2F%2B%3D z abc"), "abc", "s3cr3t/+=", "longer-secret")
	if got := e.Error(); got != "x "+redacted+" y "+redacted+" z abc" {
		t.Errorf("scrubbed %q", got)
	}
	if !errors.Is(scrub(fmt.Errorf("w: %w", context.DeadlineExceeded), "zzzz"), context.DeadlineExceeded) {
		t.Error("scrub broke errors.Is")
	}
	long := scrub(errors.New(strings.Repeat("x", 5000)))
	if len(long.Error()) > maxErrorText+len("…") {
		t.Errorf("not truncated: %d bytes", len(long.Error()))
	}
	if scrub(nil) != nil {
		t.Error("scrub(nil) != nil")
	}
}
