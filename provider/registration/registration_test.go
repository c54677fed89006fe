package registration

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	josev3 "github.com/go-jose/go-jose/v3"

	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/provider/providertest"
	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore/bunstoretest"
)

// regFixture is registration with a policy on the engine's store, with
// the administration beside it (registration tokens, operators' clients).
type regFixture struct {
	*providertest.Fixture
	a *admin.Admin
	g *Registration
}

func newRegFixture(t *testing.T, policy string, mods ...func(*Options)) *regFixture {
	t.Helper()
	return newRegFixtureOn(t, bunstoretest.Open(t, "sqlite", bunstore.Options{}), policy, mods...)
}

func newRegFixtureOn(t *testing.T, store *bunstore.Store, policy string, mods ...func(*Options)) *regFixture {
	t.Helper()
	pf := providertest.NewOn(t, store, providertest.Ring(t))
	a, err := admin.New(admin.Options{Store: store, Keyring: pf.Ring, Now: pf.Clock.Now, Logger: pf.Logger})
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Store: store, Keyring: pf.Ring, Issuer: providertest.Issuer, Policy: policy, Now: pf.Clock.Now, Logger: pf.Logger}
	for _, m := range mods {
		m(&o)
	}
	g, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return &regFixture{Fixture: pf, a: a, g: g}
}

// token stores a registration token and returns it.
func (f *regFixture) token(t *testing.T, name string, expiresIn time.Duration) (*storage.RegistrationToken, string) {
	t.Helper()
	rt, plain, err := f.a.CreateRegistrationToken(context.Background(), nil, name, expiresIn)
	if err != nil {
		t.Fatal(err)
	}
	return rt, plain
}

func (f *regFixture) clientCount(t *testing.T) int {
	t.Helper()
	cs, err := f.Store.ListClients(context.Background(), storage.Page{})
	if err != nil {
		t.Fatal(err)
	}
	return len(cs)
}

func wantRegErr(t *testing.T, what string, err error, status int, code string) *Error {
	t.Helper()
	var re *Error
	if !errors.As(err, &re) || re.Status != status || re.Code != code {
		t.Fatalf("%s: want %d %s, got %v", what, status, code, err)
	}
	return re
}

const regBody = `{"client_name":"Photo Printer","redirect_uris":["https://printer.example/cb"],"scope":"openid email",
	"logo_uri":"https://printer.example/logo.png","contacts":["ops@printer.example"],"skip_consent":true,"audience":["x"],
	"software_statement":"ignored","extension_field":{"a":1}}`

func TestRegisterWithInitialAccessToken(t *testing.T) {
	bunstoretest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		registerWithInitialAccessToken(t, dialect)
	})
}

func registerWithInitialAccessToken(t *testing.T, dialect string) {
	ctx := context.Background()
	f := newRegFixtureOn(t, bunstoretest.Open(t, dialect, bunstore.Options{}), provider.RegistrationPolicyInitialAccessToken)
	_, livePlain := f.token(t, "partners", time.Hour)
	_, expiredPlain := f.token(t, "old", time.Minute)
	revoked, revokedPlain := f.token(t, "revoked", 0)
	if err := f.a.RevokeRegistrationToken(ctx, nil, revoked.ID); err != nil {
		t.Fatal(err)
	}
	f.Clock.Advance(2 * time.Minute)

	for name, bearer := range map[string]string{"missing": "", "garbage": "nope", "expired": expiredPlain, "revoked": revokedPlain} {
		_, err := f.g.Register(ctx, bearer, []byte(regBody))
		wantRegErr(t, name, err, http.StatusUnauthorized, "invalid_token")
	}
	// The token is checked before the body: no metadata errors leak to a
	// caller without a token.
	_, err := f.g.Register(ctx, "", []byte(`not json`))
	wantRegErr(t, "bad body without a token", err, http.StatusUnauthorized, "invalid_token")
	if n := f.clientCount(t); n != 0 {
		t.Fatalf("%d clients stored by refused registrations", n)
	}

	m, err := f.g.Register(ctx, livePlain, []byte(regBody))
	if err != nil {
		t.Fatal(err)
	}
	if !secret.CheckOpaque(secret.PrefixClientSecret, m.ClientSecret) || !secret.CheckOpaque(PrefixAccessToken, m.RegistrationAccessToken) ||
		m.ClientSecretExpiresAt == nil || *m.ClientSecretExpiresAt != 0 || m.ClientIDIssuedAt != f.Clock.Now().Unix() ||
		m.RegistrationClientURI != "https://id.example.com/oauth2/register/"+m.ClientID {
		t.Fatalf("registration response: %+v", m)
	}
	if strings.Join(m.GrantTypes, ",") != "authorization_code" || strings.Join(m.ResponseTypes, ",") != "code" ||
		m.TokenEndpointAuthMethod != provider.AuthMethodBasic || m.Scope != "openid email" || m.SkipConsent || len(m.Audience) != 0 {
		t.Fatalf("defaults: %+v", m)
	}
	c, err := f.Store.ClientByID(ctx, m.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	if c.SkipConsent || c.RegisteredBy != `registration token "partners"` || c.LogoURI != "https://printer.example/logo.png" ||
		c.RegistrationAccessTokenHash == "" || strings.Contains(c.RegistrationAccessTokenHash, m.RegistrationAccessToken) {
		t.Fatalf("stored client: %+v", c)
	}
	if secret.NewHasher(f.Ring).Compare(ctx, []byte(c.SecretHash), []byte(m.ClientSecret)) != nil {
		t.Fatal("the secret returned does not verify")
	}
}

func TestRegisterMetadataRules(t *testing.T) {
	ctx := context.Background()
	f := newRegFixture(t, provider.RegistrationPolicyOpen)
	reg := func(body string) (*admin.ClientMetadata, error) { return f.g.Register(ctx, "", []byte(body)) }

	m, err := reg(`{"client_name":"Open","redirect_uris":["https://o.example/cb"]}`)
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := f.Store.ClientByID(ctx, m.ClientID); c.RegisteredBy != RegisteredByOpen {
		t.Fatalf("registered by %q", c.RegisteredBy)
	}
	// refresh_token only when asked for; a public client gets no secret.
	m, err = reg(`{"client_name":"SPA","redirect_uris":["http://127.0.0.1:3000/cb"],"token_endpoint_auth_method":"none",
		"grant_types":["authorization_code","refresh_token"],"allowed_cors_origins":["http://127.0.0.1:3000"]}`)
	if err != nil {
		t.Fatal(err)
	}
	if m.ClientSecret != "" || m.ClientSecretExpiresAt != nil || strings.Join(m.GrantTypes, " ") != "authorization_code refresh_token" ||
		len(m.AllowedCORSOrigins) != 1 || !strings.Contains(m.Scope, provider.ScopeOfflineAccess) {
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
	// request_object_signing_alg (OpenID Connect Registration §2) is kept
	// and shown.
	m, err = reg(`{"client_name":"JAR","redirect_uris":["https://jar.example/cb"],"request_object_signing_alg":"PS256"}`)
	if err != nil || m.RequestObjectSigningAlg != "PS256" {
		t.Fatalf("request_object_signing_alg: %+v %v", m, err)
	}
	if c, _ := f.Store.ClientByID(ctx, m.ClientID); c.RequestObjectSigningAlg != "PS256" {
		t.Fatalf("stored request_object_signing_alg %q", c.RequestObjectSigningAlg)
	}
	// jwks_uri is refused when nothing can fetch it (no JWKSFetcher).
	before := f.clientCount(t)

	for _, tc := range []struct {
		name, body, code, says string
	}{
		{"not JSON", `{`, admin.ErrorInvalidClientMetadata, "not valid JSON"},
		{"not an object", `[1]`, admin.ErrorInvalidClientMetadata, "JSON object"},
		{"wrong type", `{"client_name":"x","redirect_uris":"https://a.example/cb"}`, admin.ErrorInvalidClientMetadata, "redirect_uris"},
		{"jwks not an object", `{"client_name":"x","jwks":"keys"}`, admin.ErrorInvalidClientMetadata, "jwks"},
		{"http redirect", `{"client_name":"x","redirect_uris":["http://evil.example/cb"]}`, admin.ErrorInvalidRedirectURI, "redirect_uris"},
		{"wildcard redirect", `{"client_name":"x","redirect_uris":["https://*.example/cb"]}`, admin.ErrorInvalidRedirectURI, "wildcard"},
		{"no redirect", `{"client_name":"x"}`, admin.ErrorInvalidRedirectURI, "redirect_uris"},
		{"implicit", `{"client_name":"x","redirect_uris":["https://a.example/cb"],"grant_types":["implicit"],"response_types":["token"]}`, admin.ErrorInvalidClientMetadata, "implicit"},
		{"password", `{"client_name":"x","grant_types":["password"]}`, admin.ErrorInvalidClientMetadata, "password"},
		{"token response", `{"client_name":"x","redirect_uris":["https://a.example/cb"],"response_types":["code","token"]}`, admin.ErrorInvalidClientMetadata, "response_types"},
		{"code without its grant", `{"client_name":"x","grant_types":["client_credentials"],"response_types":["code"]}`, admin.ErrorInvalidClientMetadata, "response_types"},
		{"public client_credentials", `{"client_name":"x","grant_types":["client_credentials"],"token_endpoint_auth_method":"none"}`, admin.ErrorInvalidClientMetadata, "public"},
		{"unknown auth method", `{"client_name":"x","redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"client_secret_jwt"}`, admin.ErrorInvalidClientMetadata, "token_endpoint_auth_method"},
		{"reserved scope", `{"client_name":"x","grant_types":["client_credentials"],"scope":"api gatehouse:admin"}`, admin.ErrorInvalidClientMetadata, "gatehouse:admin"},
		{"http logo", `{"client_name":"x","redirect_uris":["https://a.example/cb"],"logo_uri":"http://a.example/l.png"}`, admin.ErrorInvalidClientMetadata, "logo_uri"},
		{"jwks and jwks_uri", `{"client_name":"x","grant_types":["client_credentials"],"token_endpoint_auth_method":"private_key_jwt","jwks":{"keys":[]},"jwks_uri":"https://a.example/k"}`, admin.ErrorInvalidClientMetadata, "jwks"},
		{"jwks_uri without fetcher", `{"client_name":"x","grant_types":["client_credentials"],"token_endpoint_auth_method":"private_key_jwt","jwks_uri":"https://a.example/k"}`, admin.ErrorInvalidClientMetadata, "jwks_uri"},
		{"request objects unsigned", `{"client_name":"x","redirect_uris":["https://a.example/cb"],"request_object_signing_alg":"none"}`, admin.ErrorInvalidClientMetadata, "request_object_signing_alg"},
		{"request objects with HMAC", `{"client_name":"x","redirect_uris":["https://a.example/cb"],"request_object_signing_alg":"HS256"}`, admin.ErrorInvalidClientMetadata, "request_object_signing_alg"},
		{"long name", `{"client_name":"` + strings.Repeat("n", 201) + `","grant_types":["client_credentials"]}`, admin.ErrorInvalidClientMetadata, "client_name"},
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
	jwks := providertest.JWKS(t, "k1")
	f := newRegFixture(t, provider.RegistrationPolicyOpen)
	m, err := f.g.Register(ctx, "", []byte(`{"client_name":"Keys","grant_types":["client_credentials"],"token_endpoint_auth_method":"private_key_jwt","jwks":`+jwks+`}`))
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
		f := newRegFixture(t, provider.RegistrationPolicyOpen, func(o *Options) { o.JWKSFetcher = privateFetcher(allow) })
		_, err := f.g.Register(ctx, "", []byte(`{"client_name":"Keys","grant_types":["client_credentials"],"token_endpoint_auth_method":"private_key_jwt","jwks_uri":"http://127.0.0.1:9/jwks"}`))
		if allow && err != nil {
			t.Fatalf("loopback jwks_uri with private networks allowed: %v", err)
		}
		if !allow {
			wantRegErr(t, "loopback jwks_uri", err, http.StatusBadRequest, admin.ErrorInvalidClientMetadata)
		}
	}
}

func TestRegistrationOff(t *testing.T) {
	for _, policy := range []string{"", provider.RegistrationPolicyOff, "bogus"} {
		f := newRegFixture(t, policy)
		_, err := f.g.Register(context.Background(), "", []byte(regBody))
		wantRegErr(t, "off", err, http.StatusNotFound, "not_found")
	}
}

func TestClientConfigurationEndpoint(t *testing.T) {
	bunstoretest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		clientConfigurationEndpoint(t, dialect)
	})
}

func clientConfigurationEndpoint(t *testing.T, dialect string) {
	ctx := context.Background()
	f := newRegFixtureOn(t, bunstoretest.Open(t, dialect, bunstore.Options{}), provider.RegistrationPolicyOpen)
	m, err := f.g.Register(ctx, "", []byte(regBody))
	if err != nil {
		t.Fatal(err)
	}
	other, err := f.g.Register(ctx, "", []byte(regBody))
	if err != nil {
		t.Fatal(err)
	}
	operator, _, err := f.a.CreateClient(ctx, nil, admin.ClientSpec{Name: "ops", RedirectURIs: []string{"https://ops.example/cb"}})
	if err != nil {
		t.Fatal(err)
	}
	fakeRAT, _ := secret.NewOpaque(PrefixAccessToken)

	// Read.
	got, err := f.g.Client(ctx, m.ClientID, m.RegistrationAccessToken)
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
		"registration token prefix": {m.ClientID, strings.Replace(m.RegistrationAccessToken, PrefixAccessToken, admin.PrefixRegistrationToken, 1)},
	} {
		_, err := f.g.Client(ctx, tc[0], tc[1])
		wantRegErr(t, name, err, http.StatusUnauthorized, "invalid_token")
		_, err = f.g.Update(ctx, tc[0], tc[1], []byte(`{}`))
		wantRegErr(t, name+" (update)", err, http.StatusUnauthorized, "invalid_token")
		wantRegErr(t, name+" (delete)", f.g.Delete(ctx, tc[0], tc[1]), http.StatusUnauthorized, "invalid_token")
	}

	// Update: client_id must match; a client_secret sent must be the
	// current one.
	update := func(extra string) (*admin.ClientMetadata, error) {
		return f.g.Update(ctx, m.ClientID, m.RegistrationAccessToken, []byte(`{"client_name":"Photo Printer 2",
			"redirect_uris":["https://printer.example/cb2"],"grant_types":["authorization_code","refresh_token"]`+extra+`}`))
	}
	_, err = update(``)
	wantRegErr(t, "no client_id", err, http.StatusBadRequest, admin.ErrorInvalidClientMetadata)
	_, err = update(`,"client_id":"` + other.ClientID + `"`)
	wantRegErr(t, "other client_id", err, http.StatusBadRequest, admin.ErrorInvalidClientMetadata)
	_, err = update(`,"client_id":"` + m.ClientID + `","client_secret":"gth_cs_chosen"`)
	wantRegErr(t, "chosen secret", err, http.StatusBadRequest, admin.ErrorInvalidClientMetadata)
	_, err = update(`,"client_id":"` + m.ClientID + `","redirect_uris":["http://evil.example/cb"]`)
	wantRegErr(t, "bad redirect", err, http.StatusBadRequest, admin.ErrorInvalidRedirectURI)
	_, err = update(`,"client_id":"` + m.ClientID + `","token_endpoint_auth_method":"none"`)
	wantRegErr(t, "to public", err, http.StatusBadRequest, admin.ErrorInvalidClientMetadata)
	_, err = update(`,"client_id":"` + m.ClientID + `","scope":"gatehouse:admin"`)
	wantRegErr(t, "reserved scope", err, http.StatusBadRequest, admin.ErrorInvalidClientMetadata)

	f.Clock.Advance(time.Minute)
	up, err := update(`,"client_id":"` + m.ClientID + `","client_secret":"` + m.ClientSecret + `","registration_access_token":"ignored","client_id_issued_at":1`)
	if err != nil {
		t.Fatal(err)
	}
	if up.ClientName != "Photo Printer 2" || up.RedirectURIs[0] != "https://printer.example/cb2" || up.LogoURI != "" ||
		strings.Join(up.GrantTypes, ",") != "authorization_code,refresh_token" || up.ClientSecret != "" || up.ClientIDIssuedAt != m.ClientIDIssuedAt {
		t.Fatalf("updated: %+v", up)
	}
	c, _ := f.Store.ClientByID(ctx, m.ClientID)
	if secret.NewHasher(f.Ring).Compare(ctx, []byte(c.SecretHash), []byte(m.ClientSecret)) != nil || c.SkipConsent || c.RegisteredBy != RegisteredByOpen {
		t.Fatalf("after update: %+v", c)
	}
	if _, err := f.g.Client(ctx, m.ClientID, m.RegistrationAccessToken); err != nil {
		t.Fatalf("the registration access token stopped working: %v", err)
	}

	// Delete.
	if err := f.g.Delete(ctx, m.ClientID, m.RegistrationAccessToken); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Store.ClientByID(ctx, m.ClientID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("deleted client still there: %v", err)
	}
	_, err = f.g.Client(ctx, m.ClientID, m.RegistrationAccessToken)
	wantRegErr(t, "after delete", err, http.StatusUnauthorized, "invalid_token")
	if _, err := f.g.Client(ctx, other.ClientID, other.RegistrationAccessToken); err != nil {
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

func TestRegistrationKeepsTheOperatorsOwner(t *testing.T) {
	ctx := context.Background()
	f := newRegFixture(t, provider.RegistrationPolicyOpen)
	owner, err := f.a.CreateUser(ctx, nil, admin.UserSpec{Email: "owner@example.com", Password: "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}
	// Dynamic registration never sets an owner, and an RFC 7592 update
	// keeps the one an operator gave.
	m, err := f.g.Register(ctx, "", []byte(regBody))
	if err != nil {
		t.Fatal(err)
	}
	if reg, err := f.a.Client(ctx, m.ClientID); err != nil || reg.OwnerID != "" {
		t.Fatalf("registered client has an owner: %+v %v", reg, err)
	}
	if _, err := f.a.ChangeClient(ctx, nil, m.ClientID, func(s *admin.ClientSpec) { s.OwnerID = owner.ID }); err != nil {
		t.Fatal(err)
	}
	body := strings.Replace(regBody, "{", `{"client_id":"`+m.ClientID+`",`, 1)
	if _, err := f.g.Update(ctx, m.ClientID, m.RegistrationAccessToken, []byte(body)); err != nil {
		t.Fatal(err)
	}
	if got, err := f.a.Client(ctx, m.ClientID); err != nil || got.OwnerID != owner.ID {
		t.Fatalf("RFC 7592 update changed the owner: %+v %v", got, err)
	}
}

func TestDescribe(t *testing.T) {
	_, _, err := admin.BuildClient(admin.ClientSpec{RedirectURIs: []string{"http://e.example/\"cb\\"}}, secret.NewHasher(providertest.Ring(t)), time.Now())
	var ve *admin.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("%v", err)
	}
	// RFC 6749 §5.2: error_description is printable ASCII without '"'
	// and '\'.
	d := Describe(ve)
	if strings.ContainsAny(d, "\"\\\n") {
		t.Fatalf("description has characters RFC 6749 forbids: %q", d)
	}
	long := &admin.ValidationError{}
	for i := 0; i < 100; i++ {
		long.Add("redirect_uris", "%s", strings.Repeat("x", 100))
	}
	if len(Describe(long)) > 1100 {
		t.Fatalf("description unbounded: %d", len(Describe(long)))
	}
}
