// Package conformance is the behavioural contract of a gatehouse storage
// backend: one suite that every implementation of storage.Store must pass,
// including fosite's error contracts, transactions and the concurrency
// guarantees the token endpoint relies on.
//
// A backend's test hands RunTests a constructor:
//
//	func TestConformance(t *testing.T) {
//		conformance.RunTests(t, func(t *testing.T, now func() time.Time) storage.Store {
//			return open(t, Options{Now: now}) // fresh, empty, migrated
//		})
//	}
//
// The suite owns the clock: it passes now to the constructor and moves it
// forward to test expiry, so the backend must take every notion of "now"
// (expiry checks, created/updated/rotation times) from it.
package conformance

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"

	"github.com/gatehouse-dev/gatehouse/internal/clocktest"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// NewStore returns a fresh, empty, ready-to-use store that reads the time
// from now. It registers its own cleanup with t.
type NewStore func(t *testing.T, now func() time.Time) storage.Store

// RunTests runs the whole suite; every subtest gets a store of its own and
// runs in parallel with the others.
func RunTests(t *testing.T, newStore NewStore) {
	groups := []struct {
		name  string
		tests []test
	}{
		{"Clients", clientTests()},
		{"Users", userTests()},
		{"LoginSessions", loginSessionTests()},
		{"Logout", logoutTests()},
		{"MailOutbox", mailTests()},
		{"PasswordResets", passwordResetTests()},
		{"EmailVerifications", emailVerificationTests()},
		{"Signups", signupTests()},
		{"FederatedIdentities", federatedIdentityTests()},
		{"UpstreamStates", upstreamStateTests()},
		{"Passkeys", passkeyTests()},
		{"WebAuthnChallenges", webauthnChallengeTests()},
		{"Consent", consentTests()},
		{"AuthFlows", authFlowTests()},
		{"RegistrationTokens", registrationTokenTests()},
		{"PushedRequests", pushedRequestTests()},
		{"APIKeys", apiKeyTests()},
		{"LoginThrottles", loginThrottleTests()},
		{"SecondFactors", secondFactorTests()},
		{"Audit", auditTests()},
		{"SigningKeys", keyTests()},
		{"SystemKeys", systemKeyTests()},
		{"OAuth2", oauth2Tests()},
		{"Transactions", txTests()},
		{"Concurrency", concurrencyTests()},
		{"Maintenance", maintenanceTests()},
		{"RefreshSuccessors", refreshSuccessorTests()},
		{"Resources", resourceTests()},
		{"DeviceAuthorizations", deviceTests()},
		{"DPoPProofs", dpopProofTests()},
		{"UnstorableKeys", unstorableKeyTests()},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					clock := NewClock(time.Now())
					e := &env{
						t:     t,
						ctx:   context.Background(),
						clock: clock,
						s:     newStore(t, clock.Now),
					}
					tc.run(e)
				})
			}
		})
	}
}

type test struct {
	name string
	run  func(e *env)
}

// env is what one subtest works with.
type env struct {
	t     *testing.T
	ctx   context.Context
	clock *Clock
	s     storage.Store
}

// Clock is the tests' controllable clock, clocktest's; the name stays for
// the callers that spell it conformance.Clock.
type Clock = clocktest.Clock

// NewClock starts a clock at start, in UTC and truncated to the second so
// that stored and returned times compare exactly in every backend.
func NewClock(start time.Time) *Clock {
	return clocktest.New(start.UTC().Truncate(time.Second))
}

// ---- assertions ----------------------------------------------------------

func (e *env) must(err error, what string) {
	e.t.Helper()
	if err != nil {
		e.t.Fatalf("%s: unexpected error: %v", what, err)
	}
}

// wantIs fails unless errors.Is(err, target) for every target.
func (e *env) wantIs(err error, what string, targets ...error) {
	e.t.Helper()
	if err == nil {
		e.t.Fatalf("%s: got nil error, want one matching %v", what, targets)
	}
	for _, target := range targets {
		if !errors.Is(err, target) {
			e.t.Fatalf("%s: got error %q, want one matching %q", what, err, target)
		}
	}
}

func (e *env) wantNotFound(err error, what string) {
	e.t.Helper()
	e.wantIs(err, what, storage.ErrNotFound, fosite.ErrNotFound)
}

func (e *env) wantTime(got, want time.Time, what string) {
	e.t.Helper()
	if !got.Equal(want) {
		e.t.Errorf("%s = %v, want %v", what, got, want)
	}
	if !got.IsZero() && got.Location() != time.UTC {
		e.t.Errorf("%s location = %v, want UTC", what, got.Location())
	}
}

func (e *env) wantEqual(got, want any, what string) {
	e.t.Helper()
	if !reflect.DeepEqual(got, want) {
		e.t.Errorf("%s = %#v, want %#v", what, got, want)
	}
}

// wantList compares string lists, treating nil and empty as equal.
func (e *env) wantList(got, want []string, what string) {
	e.t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !slices.Equal(got, want) {
		e.t.Errorf("%s = %q, want %q", what, got, want)
	}
}

// ---- fixtures ------------------------------------------------------------

func randomID(prefix string) string {
	b := make([]byte, 12)
	// crypto/rand.Read never fails (Go 1.24+).
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func newClient(id string) *storage.Client {
	return &storage.Client{
		ID:                                 id,
		SecretHash:                         "hash-of-" + id,
		Name:                               "Client " + id,
		RedirectURIs:                       []string{"https://app.example/callback", "http://127.0.0.1:8000/cb"},
		PostLogoutRedirectURIs:             []string{"https://app.example/bye"},
		GrantTypes:                         []string{"authorization_code", "refresh_token"},
		ResponseTypes:                      []string{"code"},
		Scopes:                             []string{"openid", "offline_access", "profile", "email"},
		Audience:                           []string{"https://api.example"},
		Public:                             false,
		TokenEndpointAuthMethod:            "client_secret_basic",
		IDTokenSignedResponseAlg:           "ES256",
		SkipConsent:                        true,
		FirstParty:                         true,
		PKCEOptional:                       true,
		IntrospectAnyToken:                 true,
		TokenExchangeImpersonation:         true,
		DPoPBoundAccessTokens:              true,
		TokenExchangeSubjectTypes:          []string{"urn:ietf:params:oauth:token-type:id_token"},
		Resources:                          []string{"https://app-api.example", "https://app-api.example/v2"},
		AllowedOrigins:                     []string{"https://app.example"},
		LogoURI:                            "https://app.example/logo.png",
		ClientURI:                          "https://app.example/",
		PolicyURI:                          "https://app.example/privacy",
		TosURI:                             "https://app.example/terms",
		Contacts:                           []string{"ops@app.example", "security@app.example"},
		JWKS:                               `{"keys":[{"kty":"oct","kid":"` + id + `","k":"c2VjcmV0"}]}`,
		JWKSURI:                            "",
		TokenEndpointAuthSigningAlg:        "ES256",
		RequestObjectSigningAlg:            "PS384",
		RegistrationAccessTokenHash:        "rat-hash-of-" + id,
		RegisteredBy:                       `registration token "partners"`,
		RequirePushedAuthorizationRequests: true,
		OwnerID:                            "owner-of-" + id,
		AccessTokenFormat:                  "jwt",
		DefaultResource:                    "https://api.example",
		RefreshRetryWindow:                 new(2500 * time.Millisecond),
		BackchannelLogoutURI:               "https://app.example/logout/backchannel?tenant=1",
		BackchannelLogoutSessionRequired:   true,
		FrontchannelLogoutURI:              "https://app.example/logout/frontchannel",
		FrontchannelLogoutSessionRequired:  true,
	}
}

func (e *env) createClient(id string) *storage.Client {
	e.t.Helper()
	c := newClient(id)
	e.must(e.s.CreateClient(e.ctx, c), "CreateClient")
	return c
}

func (e *env) createUser(id string) *storage.User {
	e.t.Helper()
	u := &storage.User{ID: id, Email: id + "@example.com", Name: "User " + id}
	e.must(e.s.CreateUser(e.ctx, u), "CreateUser")
	return u
}

// newRequest builds a requester the way fosite hands it to storage, with
// an openid.DefaultSession whose every token type expires in the future.
func (e *env) newRequest(client *storage.Client, subject string) *fosite.Request {
	now := e.clock.Now()
	sess := &openid.DefaultSession{
		Subject:  subject,
		Username: "name-of-" + subject,
		Claims: &jwt.IDTokenClaims{
			Subject:     subject,
			Issuer:      "https://issuer.example",
			Audience:    []string{client.ID},
			Nonce:       "nonce-0123456789",
			AuthTime:    now.Add(-time.Minute),
			RequestedAt: now,
			Extra: map[string]any{
				"email": subject + "@example.com",
				"roles": []any{"admin", "dev"},
			},
		},
		Headers: &jwt.Headers{Extra: map[string]any{"kid": "key-1"}},
		ExpiresAt: map[fosite.TokenType]time.Time{
			fosite.AuthorizeCode: now.Add(5 * time.Minute),
			fosite.AccessToken:   now.Add(time.Hour),
			fosite.RefreshToken:  now.Add(30 * 24 * time.Hour),
			fosite.IDToken:       now.Add(time.Hour),
		},
	}
	return &fosite.Request{
		ID:                randomID("req-"),
		RequestedAt:       now.Add(-2 * time.Minute),
		Client:            client,
		RequestedScope:    fosite.Arguments{"openid", "offline_access", "profile"},
		GrantedScope:      fosite.Arguments{"openid", "offline_access"},
		RequestedAudience: fosite.Arguments{"https://api.example"},
		GrantedAudience:   fosite.Arguments{"https://api.example"},
		Form: url.Values{
			"redirect_uri": {"https://app.example/callback"},
			"state":        {"state-0123456789"},
			"scope":        {"openid offline_access profile"},
		},
		Session: sess,
	}
}

// expireAt sets every token expiry of req's session to t.
func expireAt(req *fosite.Request, t time.Time) {
	for _, tt := range []fosite.TokenType{fosite.AuthorizeCode, fosite.AccessToken, fosite.RefreshToken, fosite.IDToken} {
		req.Session.SetExpiresAt(tt, t)
	}
}

func newSession() *openid.DefaultSession { return &openid.DefaultSession{} }

// apiKeySession is the session of a token minted with an API key, as the
// provider's is: it tells storage the key (storage.APIKeySession).
type apiKeySession struct {
	openid.DefaultSession
	APIKeyID string `json:"api_key_id"`
}

var _ storage.APIKeySession = (*apiKeySession)(nil)

func (s *apiKeySession) GetAPIKeyID() string { return s.APIKeyID }

// wantRequest checks that got is a full copy of want, session included.
func (e *env) wantRequest(got fosite.Requester, want *fosite.Request, what string) {
	e.t.Helper()
	if got == nil {
		e.t.Fatalf("%s: got a nil requester", what)
	}
	e.wantEqual(got.GetID(), want.ID, what+" ID")
	if got.GetClient() == nil {
		e.t.Fatalf("%s: requester has no client", what)
	}
	e.wantEqual(got.GetClient().GetID(), want.Client.GetID(), what+" client ID")
	e.wantTime(got.GetRequestedAt(), want.RequestedAt, what+" RequestedAt")
	e.wantList(got.GetRequestedScopes(), want.RequestedScope, what+" requested scopes")
	e.wantList(got.GetGrantedScopes(), want.GrantedScope, what+" granted scopes")
	e.wantList(got.GetRequestedAudience(), want.RequestedAudience, what+" requested audience")
	e.wantList(got.GetGrantedAudience(), want.GrantedAudience, what+" granted audience")
	e.wantEqual(got.GetRequestForm(), want.Form, what+" form")

	gs, ok := got.GetSession().(*openid.DefaultSession)
	if !ok {
		e.t.Fatalf("%s: session is %T, want *openid.DefaultSession", what, got.GetSession())
	}
	ws := want.Session.(*openid.DefaultSession)
	e.wantEqual(gs.Subject, ws.Subject, what+" session subject")
	e.wantEqual(gs.Username, ws.Username, what+" session username")
	if gs.Claims == nil {
		e.t.Fatalf("%s: session has no claims", what)
	}
	e.wantEqual(gs.Claims.Subject, ws.Claims.Subject, what+" claims sub")
	e.wantEqual(gs.Claims.Issuer, ws.Claims.Issuer, what+" claims iss")
	e.wantEqual(gs.Claims.Audience, ws.Claims.Audience, what+" claims aud")
	e.wantEqual(gs.Claims.Nonce, ws.Claims.Nonce, what+" claims nonce")
	e.wantEqual(gs.Claims.Extra, ws.Claims.Extra, what+" claims extra")
	if !gs.Claims.AuthTime.Equal(ws.Claims.AuthTime) {
		e.t.Errorf("%s claims auth_time = %v, want %v", what, gs.Claims.AuthTime, ws.Claims.AuthTime)
	}
	if !gs.Claims.RequestedAt.Equal(ws.Claims.RequestedAt) {
		e.t.Errorf("%s claims rat = %v, want %v", what, gs.Claims.RequestedAt, ws.Claims.RequestedAt)
	}
	if gs.Headers == nil {
		e.t.Fatalf("%s: session has no headers", what)
	}
	e.wantEqual(gs.Headers.Extra, ws.Headers.Extra, what+" headers")
	for tt, exp := range ws.ExpiresAt {
		if got := gs.GetExpiresAt(tt); !got.Equal(exp) {
			e.t.Errorf("%s session expiry of %s = %v, want %v", what, tt, got, exp)
		}
	}
}

// parallel runs fn n times at once (released together) and returns the
// errors.
func parallel(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = fn(i)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

// wantOneWinner checks that exactly one error is nil and every other
// matches all of targets.
func (e *env) wantOneWinner(errs []error, what string, targets ...error) {
	e.t.Helper()
	winners := 0
	for _, err := range errs {
		if err == nil {
			winners++
			continue
		}
		for _, target := range targets {
			if !errors.Is(err, target) {
				e.t.Errorf("%s: loser got %q, want an error matching %q", what, err, target)
			}
		}
	}
	if winners != 1 {
		e.t.Errorf("%s: %d of %d callers succeeded, want exactly 1", what, winners, len(errs))
	}
}
