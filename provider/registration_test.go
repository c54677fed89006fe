package provider

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	josev3 "github.com/go-jose/go-jose/v3"

	"github.com/gatehouse-dev/gatehouse/provider/keys"
	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore/bunstoretest"
)

// regFixture is a provider with a registration policy on a fresh store.
type regFixture struct {
	p     *Provider
	store *bunstore.Store
	ring  *secret.Keyring
	now   time.Time
}

func newRegFixture(t *testing.T, policy string, mods ...func(*Options)) *regFixture {
	t.Helper()
	store := bunstoretest.Open(t, "sqlite", bunstore.Options{})
	return newRegFixtureOn(t, store, policy, mustRing(t), mods...)
}

func newRegFixtureOn(t *testing.T, store *bunstore.Store, policy string, ring *secret.Keyring, mods ...func(*Options)) *regFixture {
	t.Helper()
	quiet := slog.New(slog.DiscardHandler)
	km, err := keys.New(context.Background(), keys.Options{Store: store, Keyring: ring, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	f := &regFixture{store: store, ring: ring, now: time.Now().UTC()}
	opts := Options{
		Issuer: "https://id.example.com", Store: store, Keys: km, Keyring: ring, Logger: quiet,
		Lifespans: Lifespans{AccessToken: time.Minute, IDToken: time.Minute, AuthorizationCode: time.Minute,
			RefreshToken: time.Hour, LoginSession: time.Hour, AuthFlow: time.Minute},
		RegistrationPolicy: policy,
		Now:                func() time.Time { return f.now },
	}
	for _, m := range mods {
		m(&opts)
	}
	if f.p, err = New(opts); err != nil {
		t.Fatal(err)
	}
	return f
}

// token stores a registration token and returns it.
func (f *regFixture) token(t *testing.T, name string, expiresIn time.Duration) (*storage.RegistrationToken, string) {
	t.Helper()
	rt, plain, err := NewRegistrationToken(name, expiresIn, f.ring, f.now)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.store.CreateRegistrationToken(context.Background(), rt); err != nil {
		t.Fatal(err)
	}
	return rt, plain
}

func (f *regFixture) clientCount(t *testing.T) int {
	t.Helper()
	cs, err := f.store.ListClients(context.Background(), storage.Page{})
	if err != nil {
		t.Fatal(err)
	}
	return len(cs)
}

func wantRegErr(t *testing.T, what string, err error, status int, code string) *RegistrationError {
	t.Helper()
	var re *RegistrationError
	if !errors.As(err, &re) || re.Status != status || re.Code != code {
		t.Fatalf("%s: want %d %s, got %v", what, status, code, err)
	}
	return re
}

func TestRegistrationTokens(t *testing.T) {
	ctx := context.Background()
	f := newRegFixture(t, RegistrationPolicyInitialAccessToken)
	if _, _, err := NewRegistrationToken(" ", 0, f.ring, f.now); err == nil {
		t.Fatal("empty name accepted")
	}
	if _, _, err := NewRegistrationToken("x", -time.Second, f.ring, f.now); err == nil {
		t.Fatal("negative lifetime accepted")
	}
	rt, plain := f.token(t, "partners", time.Hour)
	if !secret.CheckOpaque(PrefixRegistrationToken, plain) || strings.Contains(rt.Hash, plain) || !strings.HasPrefix(rt.Hash, "hs256:") {
		t.Fatalf("token %q stored as %q", plain, rt.Hash)
	}
	// The hash is secret.Hasher's construction with the client-secret keys.
	if secret.NewHasher(f.ring).HashString(plain) != rt.Hash {
		t.Fatal("hash differs from secret.Hasher's")
	}
	got, err := FindRegistrationToken(ctx, f.store, f.ring, plain)
	if err != nil || got.ID != rt.ID || got.Name != "partners" {
		t.Fatalf("find: %+v %v", got, err)
	}
	last := "x" // the tampered token must differ from plain
	if strings.HasSuffix(plain, "x") {
		last = "y"
	}
	for _, bad := range []string{"", "gth_it_x", strings.Replace(plain, "gth_it_", "gth_cs_", 1), plain[:len(plain)-1] + last} {
		if _, err := FindRegistrationToken(ctx, f.store, f.ring, bad); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	// After the system secret is rotated the token is found under the old key.
	rotated, _ := secret.NewKeyring("a-brand-new-system-secret-for-the-rotation-test", []string{testSecret})
	if got, err := FindRegistrationToken(ctx, f.store, rotated, plain); err != nil || got.ID != rt.ID {
		t.Fatalf("after rotation: %v", err)
	}
	unrelated, _ := secret.NewKeyring("a-brand-new-system-secret-for-the-rotation-test", nil)
	if _, err := FindRegistrationToken(ctx, f.store, unrelated, plain); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("found without the old secret: %v", err)
	}

	if s := RegistrationTokenState(rt, f.now); s != RegistrationTokenActive {
		t.Fatal(s)
	}
	if s := RegistrationTokenState(rt, f.now.Add(time.Hour)); s != RegistrationTokenExpired {
		t.Fatal(s)
	}
	forever, _ := f.token(t, "forever", 0)
	if !forever.ExpiresAt.IsZero() || RegistrationTokenState(forever, f.now.Add(24*365*time.Hour)) != RegistrationTokenActive {
		t.Fatalf("a token without expiry: %+v", forever)
	}
	forever.RevokedAt = f.now
	if RegistrationTokenState(forever, f.now) != RegistrationTokenRevoked {
		t.Fatal("revoked token not revoked")
	}
}

const regBody = `{"client_name":"Photo Printer","redirect_uris":["https://printer.example/cb"],"scope":"openid email",
	"logo_uri":"https://printer.example/logo.png","contacts":["ops@printer.example"],"skip_consent":true,"audience":["x"],
	"software_statement":"ignored","extension_field":{"a":1}}`

func TestRegisterWithInitialAccessToken(t *testing.T) {
	for _, d := range bunstoretest.Dialects() {
		t.Run(d, func(t *testing.T) { registerWithInitialAccessToken(t, d) })
	}
}

func registerWithInitialAccessToken(t *testing.T, dialect string) {
	ctx := context.Background()
	f := newRegFixtureOn(t, bunstoretest.Open(t, dialect, bunstore.Options{}), RegistrationPolicyInitialAccessToken, mustRing(t))
	live, livePlain := f.token(t, "partners", time.Hour)
	_, expiredPlain := f.token(t, "old", time.Minute)
	revoked, revokedPlain := f.token(t, "revoked", 0)
	if err := f.store.RevokeRegistrationToken(ctx, revoked.ID, f.now); err != nil {
		t.Fatal(err)
	}
	f.now = f.now.Add(2 * time.Minute)

	for name, bearer := range map[string]string{"missing": "", "garbage": "nope", "expired": expiredPlain, "revoked": revokedPlain} {
		_, err := f.p.Register(ctx, bearer, []byte(regBody))
		wantRegErr(t, name, err, http.StatusUnauthorized, "invalid_token")
	}
	// The token is checked before the body: no metadata errors leak to a
	// caller without a token.
	_, err := f.p.Register(ctx, "", []byte(`not json`))
	wantRegErr(t, "bad body without a token", err, http.StatusUnauthorized, "invalid_token")
	if n := f.clientCount(t); n != 0 {
		t.Fatalf("%d clients stored by refused registrations", n)
	}

	m, err := f.p.Register(ctx, livePlain, []byte(regBody))
	if err != nil {
		t.Fatal(err)
	}
	if !secret.CheckOpaque(secret.PrefixClientSecret, m.ClientSecret) || !secret.CheckOpaque(PrefixRegistrationAccessToken, m.RegistrationAccessToken) ||
		m.ClientSecretExpiresAt == nil || *m.ClientSecretExpiresAt != 0 || m.ClientIDIssuedAt != f.now.Unix() ||
		m.RegistrationClientURI != "https://id.example.com/oauth2/register/"+m.ClientID {
		t.Fatalf("registration response: %+v", m)
	}
	if strings.Join(m.GrantTypes, ",") != "authorization_code" || strings.Join(m.ResponseTypes, ",") != "code" ||
		m.TokenEndpointAuthMethod != AuthMethodBasic || m.Scope != "openid email" || m.SkipConsent || len(m.Audience) != 0 {
		t.Fatalf("defaults: %+v", m)
	}
	c, err := f.store.ClientByID(ctx, m.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	if c.SkipConsent || c.RegisteredBy != `registration token "partners"` || c.LogoURI != "https://printer.example/logo.png" ||
		c.RegistrationAccessTokenHash == "" || strings.Contains(c.RegistrationAccessTokenHash, m.RegistrationAccessToken) {
		t.Fatalf("stored client: %+v", c)
	}
	if f.p.Hasher().Compare(ctx, []byte(c.SecretHash), []byte(m.ClientSecret)) != nil {
		t.Fatal("the secret returned does not verify")
	}
	_ = live
}

func TestRegisterMetadataRules(t *testing.T) {
	ctx := context.Background()
	f := newRegFixture(t, RegistrationPolicyOpen)
	reg := func(body string) (*ClientMetadata, error) { return f.p.Register(ctx, "", []byte(body)) }

	m, err := reg(`{"client_name":"Open","redirect_uris":["https://o.example/cb"]}`)
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := f.store.ClientByID(ctx, m.ClientID); c.RegisteredBy != RegisteredByOpen {
		t.Fatalf("registered by %q", c.RegisteredBy)
	}
	// refresh_token only when asked for; a public client gets no secret.
	m, err = reg(`{"client_name":"SPA","redirect_uris":["http://127.0.0.1:3000/cb"],"token_endpoint_auth_method":"none",
		"grant_types":["authorization_code","refresh_token"],"allowed_cors_origins":["http://127.0.0.1:3000"]}`)
	if err != nil {
		t.Fatal(err)
	}
	if m.ClientSecret != "" || m.ClientSecretExpiresAt != nil || strings.Join(m.GrantTypes, " ") != "authorization_code refresh_token" ||
		len(m.AllowedCORSOrigins) != 1 || !strings.Contains(m.Scope, ScopeOfflineAccess) {
		t.Fatalf("public client: %+v", m)
	}
	// A confidential machine client; response_types follow grant_types.
	m, err = reg(`{"client_name":"Worker","grant_types":["client_credentials"],"scope":"api:read"}`)
	if err != nil || len(m.ResponseTypes) != 0 || m.ClientSecret == "" {
		t.Fatalf("machine client: %+v %v", m, err)
	}
	// No client_name: the client's host stands in.
	m, err = reg(`{"redirect_uris":["https://nameless.example/cb"]}`)
	if err != nil || m.ClientName != "nameless.example" {
		t.Fatalf("nameless: %+v %v", m, err)
	}
	// jwks_uri is refused when nothing can fetch it (no JWKSFetcher).
	before := f.clientCount(t)

	for _, tc := range []struct {
		name, body, code, says string
	}{
		{"not JSON", `{`, ErrorInvalidClientMetadata, "not valid JSON"},
		{"not an object", `[1]`, ErrorInvalidClientMetadata, "JSON object"},
		{"wrong type", `{"client_name":"x","redirect_uris":"https://a.example/cb"}`, ErrorInvalidClientMetadata, "redirect_uris"},
		{"jwks not an object", `{"client_name":"x","jwks":"keys"}`, ErrorInvalidClientMetadata, "jwks"},
		{"http redirect", `{"client_name":"x","redirect_uris":["http://evil.example/cb"]}`, ErrorInvalidRedirectURI, "redirect_uris"},
		{"wildcard redirect", `{"client_name":"x","redirect_uris":["https://*.example/cb"]}`, ErrorInvalidRedirectURI, "wildcard"},
		{"no redirect", `{"client_name":"x"}`, ErrorInvalidRedirectURI, "redirect_uris"},
		{"implicit", `{"client_name":"x","redirect_uris":["https://a.example/cb"],"grant_types":["implicit"],"response_types":["token"]}`, ErrorInvalidClientMetadata, "implicit"},
		{"password", `{"client_name":"x","grant_types":["password"]}`, ErrorInvalidClientMetadata, "password"},
		{"token response", `{"client_name":"x","redirect_uris":["https://a.example/cb"],"response_types":["code","token"]}`, ErrorInvalidClientMetadata, "response_types"},
		{"code without its grant", `{"client_name":"x","grant_types":["client_credentials"],"response_types":["code"]}`, ErrorInvalidClientMetadata, "response_types"},
		{"public client_credentials", `{"client_name":"x","grant_types":["client_credentials"],"token_endpoint_auth_method":"none"}`, ErrorInvalidClientMetadata, "public"},
		{"unknown auth method", `{"client_name":"x","redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"client_secret_jwt"}`, ErrorInvalidClientMetadata, "token_endpoint_auth_method"},
		{"reserved scope", `{"client_name":"x","grant_types":["client_credentials"],"scope":"api gatehouse:admin"}`, ErrorInvalidClientMetadata, "gatehouse:admin"},
		{"http logo", `{"client_name":"x","redirect_uris":["https://a.example/cb"],"logo_uri":"http://a.example/l.png"}`, ErrorInvalidClientMetadata, "logo_uri"},
		{"jwks and jwks_uri", `{"client_name":"x","grant_types":["client_credentials"],"token_endpoint_auth_method":"private_key_jwt","jwks":{"keys":[]},"jwks_uri":"https://a.example/k"}`, ErrorInvalidClientMetadata, "jwks"},
		{"jwks_uri without fetcher", `{"client_name":"x","grant_types":["client_credentials"],"token_endpoint_auth_method":"private_key_jwt","jwks_uri":"https://a.example/k"}`, ErrorInvalidClientMetadata, "jwks_uri"},
		{"long name", `{"client_name":"` + strings.Repeat("n", 201) + `","grant_types":["client_credentials"]}`, ErrorInvalidClientMetadata, "client_name"},
	} {
		_, err := reg(tc.body)
		re := wantRegErr(t, tc.name, err, http.StatusBadRequest, tc.code)
		if !strings.Contains(re.Description, tc.says) {
			t.Errorf("%s: description %q lacks %q", tc.name, re.Description, tc.says)
		}
	}
	if n := f.clientCount(t); n != before {
		t.Fatalf("refused registrations stored %d clients", n-before)
	}
}

func TestRegisterWithKeys(t *testing.T) {
	ctx := context.Background()
	jwks := ecJWKS(t, "k1")
	f := newRegFixture(t, RegistrationPolicyOpen)
	m, err := f.p.Register(ctx, "", []byte(`{"client_name":"Keys","grant_types":["client_credentials"],"token_endpoint_auth_method":"private_key_jwt","jwks":`+jwks+`}`))
	if err != nil {
		t.Fatal(err)
	}
	if m.ClientSecret != "" || m.TokenEndpointAuthSigningAlg != "ES256" || len(m.JWKS) == 0 {
		t.Fatalf("private_key_jwt registration: %+v", m)
	}
	var set struct{ Keys []map[string]any }
	if err := json.Unmarshal(m.JWKS, &set); err != nil || len(set.Keys) != 1 || set.Keys[0]["kid"] != "k1" {
		t.Fatalf("jwks in the response: %s", m.JWKS)
	}

	// With a fetcher that allows private networks, a loopback jwks_uri is
	// accepted; with one that does not, it is refused at registration.
	for _, allow := range []bool{true, false} {
		f := newRegFixture(t, RegistrationPolicyOpen, func(o *Options) { o.JWKSFetcher = privateFetcher(allow) })
		_, err := f.p.Register(ctx, "", []byte(`{"client_name":"Keys","grant_types":["client_credentials"],"token_endpoint_auth_method":"private_key_jwt","jwks_uri":"http://127.0.0.1:9/jwks"}`))
		if allow && err != nil {
			t.Fatalf("loopback jwks_uri with private networks allowed: %v", err)
		}
		if !allow {
			wantRegErr(t, "loopback jwks_uri", err, http.StatusBadRequest, ErrorInvalidClientMetadata)
		}
	}
}

func TestRegistrationOff(t *testing.T) {
	for _, policy := range []string{"", RegistrationPolicyOff, "bogus"} {
		f := newRegFixture(t, policy)
		if f.p.RegistrationPolicy() != RegistrationPolicyOff {
			t.Fatalf("policy %q read as %q", policy, f.p.RegistrationPolicy())
		}
		_, err := f.p.Register(context.Background(), "", []byte(regBody))
		wantRegErr(t, "off", err, http.StatusNotFound, "not_found")
	}
}

func TestClientConfigurationEndpoint(t *testing.T) {
	for _, d := range bunstoretest.Dialects() {
		t.Run(d, func(t *testing.T) { clientConfigurationEndpoint(t, d) })
	}
}

func clientConfigurationEndpoint(t *testing.T, dialect string) {
	ctx := context.Background()
	f := newRegFixtureOn(t, bunstoretest.Open(t, dialect, bunstore.Options{}), RegistrationPolicyOpen, mustRing(t))
	m, err := f.p.Register(ctx, "", []byte(regBody))
	if err != nil {
		t.Fatal(err)
	}
	other, err := f.p.Register(ctx, "", []byte(regBody))
	if err != nil {
		t.Fatal(err)
	}
	operator, _, _ := BuildClient(ClientSpec{Name: "ops", RedirectURIs: []string{"https://ops.example/cb"}}, f.p.Hasher(), f.now)
	if err := f.store.CreateClient(ctx, operator); err != nil {
		t.Fatal(err)
	}
	fakeRAT, _ := secret.NewOpaque(PrefixRegistrationAccessToken)

	// Read.
	got, err := f.p.RegisteredClient(ctx, m.ClientID, m.RegistrationAccessToken)
	if err != nil || got.ClientSecret != "" || got.ClientName != "Photo Printer" || got.RegistrationClientURI != m.RegistrationClientURI {
		t.Fatalf("read: %+v %v", got, err)
	}
	for name, tc := range map[string][2]string{
		"no token":                  {m.ClientID, ""},
		"wrong token":               {m.ClientID, fakeRAT},
		"another client's token":    {m.ClientID, other.RegistrationAccessToken},
		"unknown client":            {"no-such-client", m.RegistrationAccessToken},
		"operator-created client":   {operator.ID, m.RegistrationAccessToken},
		"client secret as token":    {m.ClientID, m.ClientSecret},
		"overlong client id":        {strings.Repeat("x", 300), m.RegistrationAccessToken},
		"malformed token":           {m.ClientID, "gth_rat_nope"},
		"registration token prefix": {m.ClientID, strings.Replace(m.RegistrationAccessToken, PrefixRegistrationAccessToken, PrefixRegistrationToken, 1)},
	} {
		_, err := f.p.RegisteredClient(ctx, tc[0], tc[1])
		wantRegErr(t, name, err, http.StatusUnauthorized, "invalid_token")
		_, err = f.p.UpdateRegisteredClient(ctx, tc[0], tc[1], []byte(`{}`))
		wantRegErr(t, name+" (update)", err, http.StatusUnauthorized, "invalid_token")
		wantRegErr(t, name+" (delete)", f.p.DeleteRegisteredClient(ctx, tc[0], tc[1]), http.StatusUnauthorized, "invalid_token")
	}

	// Update: client_id must match; a client_secret sent must be the
	// current one.
	update := func(extra string) (*ClientMetadata, error) {
		return f.p.UpdateRegisteredClient(ctx, m.ClientID, m.RegistrationAccessToken, []byte(`{"client_name":"Photo Printer 2",
			"redirect_uris":["https://printer.example/cb2"],"grant_types":["authorization_code","refresh_token"]`+extra+`}`))
	}
	_, err = update(``)
	wantRegErr(t, "no client_id", err, http.StatusBadRequest, ErrorInvalidClientMetadata)
	_, err = update(`,"client_id":"` + other.ClientID + `"`)
	wantRegErr(t, "other client_id", err, http.StatusBadRequest, ErrorInvalidClientMetadata)
	_, err = update(`,"client_id":"` + m.ClientID + `","client_secret":"gth_cs_chosen"`)
	wantRegErr(t, "chosen secret", err, http.StatusBadRequest, ErrorInvalidClientMetadata)
	_, err = update(`,"client_id":"` + m.ClientID + `","redirect_uris":["http://evil.example/cb"]`)
	wantRegErr(t, "bad redirect", err, http.StatusBadRequest, ErrorInvalidRedirectURI)
	_, err = update(`,"client_id":"` + m.ClientID + `","token_endpoint_auth_method":"none"`)
	wantRegErr(t, "to public", err, http.StatusBadRequest, ErrorInvalidClientMetadata)
	_, err = update(`,"client_id":"` + m.ClientID + `","scope":"gatehouse:admin"`)
	wantRegErr(t, "reserved scope", err, http.StatusBadRequest, ErrorInvalidClientMetadata)

	f.now = f.now.Add(time.Minute)
	up, err := update(`,"client_id":"` + m.ClientID + `","client_secret":"` + m.ClientSecret + `","registration_access_token":"ignored","client_id_issued_at":1`)
	if err != nil {
		t.Fatal(err)
	}
	if up.ClientName != "Photo Printer 2" || up.RedirectURIs[0] != "https://printer.example/cb2" || up.LogoURI != "" ||
		strings.Join(up.GrantTypes, ",") != "authorization_code,refresh_token" || up.ClientSecret != "" || up.ClientIDIssuedAt != m.ClientIDIssuedAt {
		t.Fatalf("updated: %+v", up)
	}
	c, _ := f.store.ClientByID(ctx, m.ClientID)
	if f.p.Hasher().Compare(ctx, []byte(c.SecretHash), []byte(m.ClientSecret)) != nil || c.SkipConsent || c.RegisteredBy != RegisteredByOpen {
		t.Fatalf("after update: %+v", c)
	}
	if _, err := f.p.RegisteredClient(ctx, m.ClientID, m.RegistrationAccessToken); err != nil {
		t.Fatalf("the registration access token stopped working: %v", err)
	}

	// Delete.
	if err := f.p.DeleteRegisteredClient(ctx, m.ClientID, m.RegistrationAccessToken); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.ClientByID(ctx, m.ClientID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("deleted client still there: %v", err)
	}
	_, err = f.p.RegisteredClient(ctx, m.ClientID, m.RegistrationAccessToken)
	wantRegErr(t, "after delete", err, http.StatusUnauthorized, "invalid_token")
	if _, err := f.p.RegisteredClient(ctx, other.ClientID, other.RegistrationAccessToken); err != nil {
		t.Fatalf("the other client was affected: %v", err)
	}
}

// privateFetcher is a JWKS fetcher that says whether it may reach private
// networks (as clientjwks.Fetcher can) and fetches nothing.
type privateFetcher bool

func (privateFetcher) Resolve(context.Context, string, bool) (*josev3.JSONWebKeySet, error) {
	return nil, errors.New("privateFetcher fetches nothing")
}

func (f privateFetcher) AllowPrivateNetworks() bool { return bool(f) }
