// Package providertest builds the OAuth engine (package provider) on a real
// store for the tests of the packages around it — administration,
// registration, sign-in, handlers — and gets tokens from it through its
// real endpoints, as a client would.
package providertest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/clocktest"

	josev3 "github.com/go-jose/go-jose/v3"

	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/apikey"
	"github.com/gatehouse-dev/gatehouse/provider/audit"
	"github.com/gatehouse-dev/gatehouse/provider/keys"
	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore/bunstoretest"
)

// Secret is the system secret of every Fixture.
const Secret = "providertest-secret-providertest-secret-0001"

// Issuer is the issuer of every Fixture.
const Issuer = "https://id.example.com"

// Fixture is an engine on a fresh store, with its clock.
type Fixture struct {
	P     *provider.Provider
	Store *bunstore.Store
	Ring  *secret.Keyring
	Keys  *keys.Manager
	// APIKeys is the engine's key verifier, to share with what revokes
	// keys (administration) as the server does.
	APIKeys *apikey.Verifier
	Clock   *clocktest.Clock
	// Logger discards.
	Logger *slog.Logger
}

// Ring is the keyring of Secret.
func Ring(t testing.TB) *secret.Keyring {
	t.Helper()
	r, err := secret.NewKeyring(Secret, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// New is an engine on a fresh SQLite store; mods adjust its options.
func New(t testing.TB, mods ...func(*provider.Options)) *Fixture {
	t.Helper()
	return NewOn(t, bunstoretest.Open(t, "sqlite", bunstore.Options{}), Ring(t), mods...)
}

// NewOn is an engine on store with ring.
func NewOn(t testing.TB, store *bunstore.Store, ring *secret.Keyring, mods ...func(*provider.Options)) *Fixture {
	t.Helper()
	quiet := slog.New(slog.DiscardHandler)
	km, err := keys.New(context.Background(), keys.Options{Store: store, Keyring: ring, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	f := &Fixture{Store: store, Ring: ring, Keys: km, Clock: clocktest.New(time.Now().UTC().Truncate(time.Second)), Logger: quiet}
	f.APIKeys = apikey.NewVerifier(apikey.Options{Store: store, Keyring: ring, Now: f.Clock.Now, Logger: quiet})
	opts := provider.Options{
		Issuer: Issuer, Store: store, Keys: km, Keyring: ring, Logger: quiet, APIKeys: f.APIKeys,
		Lifespans: provider.Lifespans{AccessToken: time.Minute, IDToken: time.Minute, AuthorizationCode: time.Minute,
			RefreshToken: time.Hour},
		RefreshRetryWindow: 10 * time.Second,
		Now:                f.Clock.Now,
	}
	for _, m := range mods {
		m(&opts)
	}
	if f.P, err = provider.New(opts); err != nil {
		t.Fatal(err)
	}
	return f
}

// Token sends a token request for the client id (its secret in HTTP
// Basic) through the token endpoint and returns the answer's members;
// it fails the test on an error answer.
func (f *Fixture) Token(t testing.TB, clientID, secret string, form url.Values) map[string]any {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, Issuer+provider.PathToken, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	if err := r.ParseForm(); err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	f.P.Token(r.Context(), w, r)
	var out map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil || w.Code != http.StatusOK {
		t.Fatalf("token request: %d %s", w.Code, w.Body)
	}
	return out
}

// ClientToken is a client_credentials access token for c with scope.
func (f *Fixture) ClientToken(t testing.TB, c *storage.Client, secret, scope string) string {
	t.Helper()
	out := f.Token(t, c.ID, secret, url.Values{"grant_type": {"client_credentials"}, "scope": {scope}})
	return out["access_token"].(string)
}

// UserTokens runs authorization code + PKCE for u on client c (signed in
// with a password just now, consent taken as given) and returns the access
// and refresh tokens ("" without offline_access).
func (f *Fixture) UserTokens(t testing.TB, c *storage.Client, secret string, u *storage.User, scope string) (string, string) {
	t.Helper()
	ctx := context.Background()
	verifier := strings.Repeat("v", 50)
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{
		"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {c.RedirectURIs[0]}, "scope": {scope},
		"state": {"state-123456"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	}
	r, _ := http.NewRequest(http.MethodGet, Issuer+provider.PathAuthorize+"?"+q.Encode(), nil)
	ar, err := f.P.NewAuthorizeRequest(ctx, r)
	if err != nil {
		t.Fatalf("authorize: %v", err)
	}
	login := &provider.Login{User: u, Session: &storage.LoginSession{UserID: u.ID, AuthTime: f.Clock.Now(), AMR: provider.MethodPassword.AMR}}
	w := httptest.NewRecorder()
	if err := f.P.Complete(ctx, w, ar, login, ""); err != nil {
		t.Fatalf("complete: %v", err)
	}
	back, err := url.Parse(w.Header().Get("Location"))
	if err != nil || w.Code != http.StatusSeeOther {
		t.Fatalf("complete: %d %q", w.Code, w.Header().Get("Location"))
	}
	out := f.Token(t, c.ID, secret, url.Values{
		"grant_type": {"authorization_code"}, "code": {back.Query().Get("code")},
		"redirect_uri": {c.RedirectURIs[0]}, "code_verifier": {verifier},
	})
	refresh, _ := out["refresh_token"].(string)
	return out["access_token"].(string), refresh
}

// JWKS returns a JWK Set with one new public P-256 key (ES256) named kid,
// as a client registers it.
func JWKS(t testing.TB, kid string) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(josev3.JSONWebKeySet{Keys: []josev3.JSONWebKey{{Key: &k.PublicKey, KeyID: kid, Algorithm: "ES256", Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// AuditLog is an audit recorder that keeps what it records in memory.
type AuditLog struct {
	Recorder *audit.Recorder
	mu       sync.Mutex
	events   []storage.AuditEvent
	stop     func()
}

// NewAuditLog starts a recorder on clock now; it stops with the test.
func NewAuditLog(t testing.TB, now func() time.Time) *AuditLog {
	t.Helper()
	l := &AuditLog{}
	l.Recorder = audit.NewRecorder(audit.Options{Store: l, Logger: slog.New(slog.DiscardHandler), Now: now, FlushInterval: 5 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.Recorder.Run(ctx)
	}()
	var once sync.Once
	l.stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(l.stop)
	return l
}

// AppendAuditEvents keeps events (the recorder's store).
func (l *AuditLog) AppendAuditEvents(_ context.Context, events []*storage.AuditEvent) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range events {
		l.events = append(l.events, *e)
	}
	return nil
}

// Events stops the recorder, which writes all it holds, and returns
// every event in order. Nothing is recorded after.
func (l *AuditLog) Events() []storage.AuditEvent {
	l.stop()
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]storage.AuditEvent(nil), l.events...)
}

// WantEvents fails the test unless events are, in order, want: each
// "type reason" (the reason detail), or just the type without one.
func WantEvents(t testing.TB, events []storage.AuditEvent, want ...string) {
	t.Helper()
	var got []string
	for _, e := range events {
		s := e.Type
		if r := e.Details["reason"]; r != "" {
			s += " " + r
		}
		got = append(got, s)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("audit events:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}
