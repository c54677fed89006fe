package admin

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/providertest"
	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage"
)

func TestClientMetadataValidation(t *testing.T) {
	h := secret.NewHasher(providertest.Ring(t))
	jwks := providertest.JWKS(t, "k1")
	many := func(n int, f func(i int) string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = f(i)
		}
		return out
	}
	web := func(mod func(*ClientSpec)) ClientSpec {
		s := ClientSpec{Name: "web", RedirectURIs: []string{"https://app.example/cb"}}
		mod(&s)
		return s
	}
	for _, tc := range []struct {
		name   string
		spec   ClientSpec
		code   string   // RFC 7591 error code; "" = valid
		fields []string // fields named by the problems
	}{
		{"consent page links", web(func(s *ClientSpec) {
			s.LogoURI, s.ClientURI, s.PolicyURI, s.TosURI = "https://app.example/logo.png", "https://app.example/", "https://app.example/privacy", "https://app.example/tos"
			s.Contacts = []string{"ops@app.example", "dev@app.example"}
		}), "", nil},
		{"http logo", web(func(s *ClientSpec) { s.LogoURI = "http://app.example/logo.png" }), ErrorInvalidClientMetadata, []string{"logo_uri"}},
		{"javascript tos", web(func(s *ClientSpec) { s.TosURI = "javascript:alert(1)" }), ErrorInvalidClientMetadata, []string{"tos_uri"}},
		{"long policy", web(func(s *ClientSpec) { s.PolicyURI = "https://app.example/" + strings.Repeat("p", MaxURILen) }), ErrorInvalidClientMetadata, []string{"policy_uri"}},
		{"bad contact", web(func(s *ClientSpec) { s.Contacts = []string{"not mail"} }), ErrorInvalidClientMetadata, []string{"contacts"}},
		{"too many contacts", web(func(s *ClientSpec) {
			s.Contacts = many(MaxContacts+1, func(i int) string { return strings.Repeat("a", i+1) + "@app.example" })
		}), ErrorInvalidClientMetadata, []string{"contacts"}},
		{"long name", web(func(s *ClientSpec) { s.Name = strings.Repeat("n", MaxClientNameLen+1) }), ErrorInvalidClientMetadata, []string{"client_name"}},
		{"control character in name", web(func(s *ClientSpec) { s.Name = "web\x00app" }), ErrorInvalidClientMetadata, []string{"client_name"}},
		{"too many redirect URIs", web(func(s *ClientSpec) {
			s.RedirectURIs = many(MaxRedirectURIs+1, func(i int) string { return "https://app.example/cb" + strings.Repeat("x", i) })
		}), ErrorInvalidRedirectURI, []string{"redirect_uris"}},
		{"too many scopes", web(func(s *ClientSpec) {
			s.Scopes = many(MaxClientScopes+1, func(i int) string { return "s" + strings.Repeat("x", i) })
		}), ErrorInvalidClientMetadata, []string{"scope"}},
		{"bad post-logout URI", web(func(s *ClientSpec) { s.PostLogoutRedirectURIs = []string{"https://app.example/#x"} }), ErrorInvalidRedirectURI, []string{"post_logout_redirect_uris"}},
		{"redirect and metadata problems", web(func(s *ClientSpec) {
			s.RedirectURIs = []string{"http://app.example/cb"}
			s.LogoURI = "ftp://x"
		}), ErrorInvalidRedirectURI, []string{"redirect_uris", "logo_uri"}},
		{"private_key_jwt with jwks", ClientSpec{Name: "m2m", TokenEndpointAuthMethod: provider.AuthMethodPrivateKeyJWT, JWKS: jwks, TokenEndpointAuthSigningAlg: "ES256"}, "", nil},
		{"private_key_jwt with jwks_uri", ClientSpec{Name: "m2m", TokenEndpointAuthMethod: provider.AuthMethodPrivateKeyJWT, JWKSURI: "https://m2m.example/jwks.json"}, "", nil},
		{"private_key_jwt without keys", ClientSpec{Name: "m2m", TokenEndpointAuthMethod: provider.AuthMethodPrivateKeyJWT}, ErrorInvalidClientMetadata, []string{"token_endpoint_auth_method"}},
		{"jwks and jwks_uri", ClientSpec{Name: "m2m", TokenEndpointAuthMethod: provider.AuthMethodPrivateKeyJWT, JWKS: jwks, JWKSURI: "https://m2m.example/jwks.json"}, ErrorInvalidClientMetadata, []string{"jwks"}},
		{"jwks with a private key", ClientSpec{Name: "m2m", TokenEndpointAuthMethod: provider.AuthMethodPrivateKeyJWT, JWKS: `{"keys":[{"kty":"EC","crv":"P-256","x":"a","y":"b","d":"c"}]}`}, ErrorInvalidClientMetadata, []string{"jwks"}},
		{"jwks that is not JSON", ClientSpec{Name: "m2m", TokenEndpointAuthMethod: provider.AuthMethodPrivateKeyJWT, JWKS: `keys`}, ErrorInvalidClientMetadata, []string{"jwks"}},
		{"alg no key fits", ClientSpec{Name: "m2m", TokenEndpointAuthMethod: provider.AuthMethodPrivateKeyJWT, JWKS: jwks, TokenEndpointAuthSigningAlg: "RS256"}, ErrorInvalidClientMetadata, []string{"jwks"}},
		{"unknown assertion alg", ClientSpec{Name: "m2m", TokenEndpointAuthMethod: provider.AuthMethodPrivateKeyJWT, JWKSURI: "https://m2m.example/k", TokenEndpointAuthSigningAlg: "none"}, ErrorInvalidClientMetadata, []string{"token_endpoint_auth_signing_alg"}},
		{"assertion alg without private_key_jwt is not kept", ClientSpec{Name: "m2m", TokenEndpointAuthSigningAlg: "RS256"}, "", nil},
		{"bad assertion alg without private_key_jwt", ClientSpec{Name: "m2m", TokenEndpointAuthSigningAlg: "HS256"}, ErrorInvalidClientMetadata, []string{"token_endpoint_auth_signing_alg"}},
		{"jwks_uri over http", ClientSpec{Name: "m2m", TokenEndpointAuthMethod: provider.AuthMethodPrivateKeyJWT, JWKSURI: "http://m2m.example/k"}, ErrorInvalidClientMetadata, []string{"jwks_uri"}},
		{"response_types token", web(func(s *ClientSpec) { s.ResponseTypes = []string{"token"} }), ErrorInvalidClientMetadata, []string{"response_types"}},
		{"code without authorization_code", ClientSpec{Name: "m2m", ResponseTypes: []string{"code"}, GrantTypes: []string{provider.GrantClientCredentials}}, ErrorInvalidClientMetadata, []string{"response_types"}},
		{"implicit grant", web(func(s *ClientSpec) { s.GrantTypes = []string{"implicit"} }), ErrorInvalidClientMetadata, []string{"grant_types"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _, err := BuildClient(tc.spec, h, time.Now())
			if tc.code == "" {
				if err != nil {
					t.Fatalf("valid spec refused: %v", err)
				}
				if c.TokenEndpointAuthMethod == provider.AuthMethodPrivateKeyJWT && (c.SecretHash != "" || c.TokenEndpointAuthSigningAlg == "") {
					t.Fatalf("private_key_jwt client: %+v", c)
				}
				if c.TokenEndpointAuthMethod != provider.AuthMethodPrivateKeyJWT && c.TokenEndpointAuthSigningAlg != "" {
					t.Fatalf("assertion alg kept for %s", c.TokenEndpointAuthMethod)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("want a *ValidationError, got %v", err)
			}
			if got := ve.RegistrationErrorCode(); got != tc.code {
				t.Errorf("code %q, want %q (%v)", got, tc.code, err)
			}
			for _, f := range tc.fields {
				if !slices.Contains(ve.Fields(), f) {
					t.Errorf("problems do not name %s: %v", f, err)
				}
			}
		})
	}
}

func TestClientMetadataStored(t *testing.T) {
	h := secret.NewHasher(providertest.Ring(t))
	jwks := providertest.JWKS(t, "k1")
	c, plain, err := BuildClient(ClientSpec{
		Name: "Key app", TokenEndpointAuthMethod: provider.AuthMethodPrivateKeyJWT, JWKS: " " + jwks + " ",
		Contacts: []string{"ops@key.example", "ops@key.example"}, RequirePushedAuthorizationRequests: true, RegisteredBy: "an administrator",
	}, h, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if plain != "" || c.SecretHash != "" || c.TokenEndpointAuthSigningAlg != "ES256" {
		t.Fatalf("private_key_jwt client: secret %q, alg %q", plain, c.TokenEndpointAuthSigningAlg)
	}
	if c.GetJSONWebKeys() == nil || len(c.GetJSONWebKeys().Keys) != 1 || strings.HasPrefix(c.JWKS, " ") {
		t.Fatalf("jwks not stored in canonical form: %q", c.JWKS)
	}
	if len(c.Contacts) != 1 || !c.RequirePushedAuthorizationRequests || c.RegisteredBy != "an administrator" {
		t.Fatalf("stored: %+v", c)
	}

	// Without refresh_token, the default scopes leave offline_access out.
	code, _, err := BuildClient(ClientSpec{Name: "web", GrantTypes: []string{provider.GrantAuthorizationCode}, RedirectURIs: []string{"https://a.example/cb"}}, h, time.Now())
	if err != nil || slices.Contains(code.Scopes, provider.ScopeOfflineAccess) || !slices.Contains(code.Scopes, provider.ScopeOpenID) {
		t.Fatalf("scopes without refresh_token: %v %v", code.Scopes, err)
	}
}

func TestUpdateClientFromSpec(t *testing.T) {
	h := secret.NewHasher(providertest.Ring(t))
	created := time.Now().Add(-time.Hour)
	c, plain, err := BuildClient(ClientSpec{Name: "web", RedirectURIs: []string{"https://a.example/cb"}, RegisteredBy: "an administrator"}, h, created)
	if err != nil {
		t.Fatal(err)
	}
	c.RegistrationAccessTokenHash = "hs256:rat"
	before := *c

	spec := SpecFromClient(c)
	spec.Name = "Web app"
	spec.RedirectURIs = []string{"https://a.example/cb", "https://b.example/cb"}
	spec.TokenEndpointAuthMethod = provider.AuthMethodPost
	spec.LogoURI = "https://a.example/logo.png"
	spec.RegisteredBy = ""
	now := time.Now()
	if err := UpdateClientFromSpec(c, spec, now); err != nil {
		t.Fatal(err)
	}
	if c.ID != before.ID || c.SecretHash != before.SecretHash || !c.CreatedAt.Equal(before.CreatedAt) ||
		c.RegistrationAccessTokenHash != "hs256:rat" || c.RegisteredBy != "an administrator" {
		t.Fatalf("kept fields changed: %+v", c)
	}
	if c.Name != "Web app" || len(c.RedirectURIs) != 2 || c.TokenEndpointAuthMethod != provider.AuthMethodPost || c.LogoURI == "" || !c.UpdatedAt.Equal(now.UTC()) {
		t.Fatalf("update not applied: %+v", c)
	}
	if h.Compare(context.Background(), []byte(c.SecretHash), []byte(plain)) != nil {
		t.Fatal("secret no longer verifies")
	}

	// Invalid updates leave the client as it was.
	after := *c
	bad := SpecFromClient(c)
	bad.RedirectURIs = []string{"http://evil.example/cb"}
	err = UpdateClientFromSpec(c, bad, now)
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.RegistrationErrorCode() != ErrorInvalidRedirectURI || c.RedirectURIs[0] != after.RedirectURIs[0] {
		t.Fatalf("invalid update: %v, client %v", err, c.RedirectURIs)
	}
	pub := SpecFromClient(c)
	pub.Public, pub.TokenEndpointAuthMethod = true, provider.AuthMethodNone
	if err := UpdateClientFromSpec(c, pub, now); err == nil || !strings.Contains(err.Error(), "public") {
		t.Fatalf("confidential to public: %v", err)
	}

	// A private_key_jwt client cannot move to a secret it does not have.
	kc, _, err := BuildClient(ClientSpec{Name: "m2m", TokenEndpointAuthMethod: provider.AuthMethodPrivateKeyJWT, JWKSURI: "https://m.example/k"}, h, now)
	if err != nil {
		t.Fatal(err)
	}
	ks := SpecFromClient(kc)
	ks.TokenEndpointAuthMethod, ks.JWKSURI = provider.AuthMethodBasic, ""
	if err := UpdateClientFromSpec(kc, ks, now); err == nil || !strings.Contains(err.Error(), "rotate") {
		t.Fatalf("private_key_jwt to basic without a secret: %v", err)
	}
	if _, err := RotateClientSecret(kc, h); err != nil {
		t.Fatal(err)
	}
	if err := UpdateClientFromSpec(kc, ks, now); err != nil {
		t.Fatalf("after rotation: %v", err)
	}
}

func TestRotateClientSecret(t *testing.T) {
	h := secret.NewHasher(providertest.Ring(t))
	c, old, _ := BuildClient(ClientSpec{Name: "job"}, h, time.Now())
	fresh, err := RotateClientSecret(c, h)
	if err != nil || fresh == old || !secret.CheckOpaque(secret.PrefixClientSecret, fresh) {
		t.Fatalf("rotate: %q %v", fresh, err)
	}
	ctx := context.Background()
	if h.Compare(ctx, []byte(c.SecretHash), []byte(fresh)) != nil || h.Compare(ctx, []byte(c.SecretHash), []byte(old)) == nil {
		t.Fatal("after rotation the new secret must verify and the old must not")
	}
	spa, _, _ := BuildClient(ClientSpec{Name: "spa", Public: true, RedirectURIs: []string{"https://a.example/cb"}}, h, time.Now())
	if _, err := RotateClientSecret(spa, h); err == nil {
		t.Fatal("public client got a secret")
	}
}

func TestSpecFromClientRoundTrip(t *testing.T) {
	h := secret.NewHasher(providertest.Ring(t))
	spec := ClientSpec{
		Name: "Full", GrantTypes: []string{provider.GrantAuthorizationCode, provider.GrantRefreshToken}, RedirectURIs: []string{"https://f.example/cb"},
		PostLogoutRedirectURIs: []string{"https://f.example/bye"}, Scopes: []string{"openid", "api"}, Audience: []string{"api"},
		TokenEndpointAuthMethod: provider.AuthMethodPost, IDTokenSignedResponseAlg: "ES256", SkipConsent: true,
		AllowedOrigins: []string{"https://f.example"}, LogoURI: "https://f.example/l.png", ClientURI: "https://f.example",
		PolicyURI: "https://f.example/p", TosURI: "https://f.example/t", Contacts: []string{"a@f.example"},
		RequirePushedAuthorizationRequests: true, RegisteredBy: "an administrator",
	}
	c, _, err := BuildClient(spec, h, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	again := *c
	if err := UpdateClientFromSpec(&again, SpecFromClient(c), c.UpdatedAt); err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(c)
	b, _ := json.Marshal(&again)
	if string(a) != string(b) {
		t.Fatalf("round trip changed the client:\n%s\n%s", a, b)
	}
}

func TestValidationErrorFormat(t *testing.T) {
	_, _, err := BuildClient(ClientSpec{RedirectURIs: []string{"http://e.example/\"cb\\"}}, secret.NewHasher(providertest.Ring(t)), time.Now())
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Problems) < 2 {
		t.Fatalf("%v", err)
	}
	if lines := strings.Split(err.Error(), "\n"); len(lines) != len(ve.Problems) || !strings.HasPrefix(lines[0], "client_name: ") {
		t.Fatalf("Error(): %q", err.Error())
	}
}

func TestBuildUserTyped(t *testing.T) {
	_, err := BuildUser(UserSpec{Email: "x", Password: "p"}, time.Now())
	var ve *ValidationError
	if !errors.As(err, &ve) || !slices.Contains(ve.Fields(), "email") || !slices.Contains(ve.Fields(), "password") {
		t.Fatalf("%v", err)
	}
	u, err := BuildUser(UserSpec{Email: "v@example.com", Password: "long enough", EmailVerified: true}, time.Now())
	if err != nil || !u.EmailVerified || u.Roles == nil {
		t.Fatalf("%+v %v", u, err)
	}
	var _ storage.User = *u
}

func TestBuildClientValidation(t *testing.T) {
	h := secret.NewHasher(providertest.Ring(t))
	for _, tc := range []struct {
		name string
		spec ClientSpec
		errs []string // substrings of the joined error; none = valid
	}{
		{"machine client", ClientSpec{Name: "job", Scopes: []string{"api:read"}}, nil},
		{"web app", ClientSpec{Name: "web", RedirectURIs: []string{"https://app.example/cb"}}, nil},
		{"loopback http", ClientSpec{Name: "cli", Public: true, RedirectURIs: []string{"http://127.0.0.1:1234/cb", "http://[::1]/cb", "http://localhost/cb"}}, nil},
		{"everything wrong at once", ClientSpec{
			Name: "", GrantTypes: []string{"password", "refresh_token"}, RedirectURIs: []string{"http://app.example/cb", "https://a.example/*", "https://a.example/#frag", "custom://host/cb"},
			Scopes: []string{"bad scope\""}, IDTokenSignedResponseAlg: "HS256", AllowedOrigins: []string{"https://a.example/path"},
			TokenEndpointAuthMethod: "private_key_jwt",
		}, []string{"name:", `"password" is not supported`, "refresh_token needs authorization_code", "non-loopback host", "wildcard", "fragment", "scheme must be https", "not a valid scope token", "HS256", "not an origin", "private_key_jwt"}},
		{"public with client_credentials", ClientSpec{Name: "x", Public: true, GrantTypes: []string{provider.GrantClientCredentials}}, []string{"public client cannot use client_credentials"}},
		{"code without redirect", ClientSpec{Name: "x", GrantTypes: []string{provider.GrantAuthorizationCode}}, []string{"needs at least one redirect URI"}},
		{"identity assertions", ClientSpec{Name: "agent", GrantTypes: []string{provider.GrantJWTBearer}, Scopes: []string{"chat.read"}}, nil},
		{"public with identity assertions", ClientSpec{
			Name: "x", Public: true, GrantTypes: []string{provider.GrantAuthorizationCode, provider.GrantJWTBearer}, RedirectURIs: []string{"https://a.example/cb"},
		}, []string{"public client cannot use " + provider.GrantJWTBearer}},
		{"public with a secret method", ClientSpec{Name: "x", Public: true, RedirectURIs: []string{"https://a.example/cb"}, TokenEndpointAuthMethod: provider.AuthMethodBasic}, []string{"public client uses none"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, plain, err := BuildClient(tc.spec, h, time.Now())
			if len(tc.errs) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if c.Public != (plain == "") || (!c.Public && !secret.CheckOpaque(secret.PrefixClientSecret, plain)) {
					t.Fatalf("secret %q for public=%v", plain, c.Public)
				}
				if !c.Public && h.Compare(context.Background(), []byte(c.SecretHash), []byte(plain)) != nil {
					t.Fatal("stored hash does not verify the secret")
				}
				if strings.Contains(c.SecretHash, plain) && plain != "" {
					t.Fatal("secret stored in clear")
				}
				return
			}
			if err == nil {
				t.Fatal("invalid spec accepted")
			}
			for _, want := range tc.errs {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q:\n%v", want, err)
				}
			}
		})
	}
}

// TestSelfRegisteredClientsGetNoIdentityAssertions: a client that
// registers itself cannot give itself the jwt-bearer grant: which clients
// an identity provider may name is the administrator's decision.
func TestSelfRegisteredClientsGetNoIdentityAssertions(t *testing.T) {
	h := secret.NewHasher(providertest.Ring(t))
	spec := ClientSpec{Name: "agent", GrantTypes: []string{provider.GrantJWTBearer}}
	if _, _, err := BuildClientWith(spec, h, time.Now(), CheckOptions{SelfRegistered: true}); err == nil ||
		!strings.Contains(err.Error(), "reserved for clients an administrator registers") {
		t.Fatalf("self-registered client with the jwt-bearer grant: %v", err)
	}
	if _, _, err := BuildClient(spec, h, time.Now()); err != nil {
		t.Fatalf("operator's client with the jwt-bearer grant: %v", err)
	}
	// Token exchange (RFC 8693) likewise: an administrator decides who
	// may act for the people whose tokens it holds.
	exchange := ClientSpec{Name: "service", GrantTypes: []string{provider.GrantTokenExchange}, TokenExchangeImpersonation: true}
	if _, _, err := BuildClientWith(exchange, h, time.Now(), CheckOptions{SelfRegistered: true}); err == nil ||
		!strings.Contains(err.Error(), "reserved for clients an administrator registers") {
		t.Fatalf("self-registered client with the token exchange grant: %v", err)
	}
	if c, _, err := BuildClient(exchange, h, time.Now()); err != nil || !c.TokenExchangeImpersonation {
		t.Fatalf("operator's client with the token exchange grant: %+v, %v", c, err)
	}
}

// TestSelfRegisteredClientsGetNoDeviceGrant: a client that registers
// itself cannot give itself the device grant, whose user codes are what a
// remote phisher sends (RFC 8628 §5.4); an operator's public client can,
// with refresh_token and no redirect URI.
func TestSelfRegisteredClientsGetNoDeviceGrant(t *testing.T) {
	h := secret.NewHasher(providertest.Ring(t))
	spec := ClientSpec{Name: "tv", Public: true, GrantTypes: []string{provider.GrantDeviceCode, provider.GrantRefreshToken}}
	if _, _, err := BuildClientWith(spec, h, time.Now(), CheckOptions{SelfRegistered: true}); err == nil ||
		!strings.Contains(err.Error(), "reserved for clients an administrator registers") {
		t.Fatalf("self-registered client with the device grant: %v", err)
	}
	c, _, err := BuildClient(spec, h, time.Now())
	if err != nil || !slices.Equal(c.GrantTypes, spec.GrantTypes) {
		t.Fatalf("operator's client with the device grant: %+v, %v", c, err)
	}
	if _, _, err := BuildClient(ClientSpec{Name: "x", Public: true, GrantTypes: []string{provider.GrantRefreshToken}}, h, time.Now()); err == nil {
		t.Fatal("refresh_token alone was accepted")
	}
}

func TestBuildClientDefaults(t *testing.T) {
	h := secret.NewHasher(providertest.Ring(t))
	web, _, _ := BuildClient(ClientSpec{Name: "web", RedirectURIs: []string{"https://a.example/cb"}}, h, time.Now())
	if strings.Join(web.GrantTypes, ",") != "authorization_code,refresh_token" || strings.Join(web.Scopes, " ") != "openid profile email offline_access" ||
		web.GetTokenEndpointAuthMethod() != provider.AuthMethodBasic || strings.Join(web.ResponseTypes, ",") != "code" {
		t.Fatalf("web defaults: %+v", web)
	}
	m2m, _, _ := BuildClient(ClientSpec{Name: "job"}, h, time.Now())
	if strings.Join(m2m.GrantTypes, ",") != "client_credentials" || len(m2m.Scopes) != 0 || len(m2m.ResponseTypes) != 0 {
		t.Fatalf("machine defaults: %+v", m2m)
	}
	spa, plain, _ := BuildClient(ClientSpec{Name: "spa", Public: true, RedirectURIs: []string{"https://a.example/cb"}}, h, time.Now())
	if plain != "" || spa.SecretHash != "" || spa.GetTokenEndpointAuthMethod() != provider.AuthMethodNone {
		t.Fatalf("public defaults: %+v", spa)
	}
}

func TestBuildUser(t *testing.T) {
	u, err := BuildUser(UserSpec{Email: "Alice@Example.COM", Password: "long enough password", Roles: []string{"admin", "admin"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if u.Email != "alice@example.com" || len(u.Roles) != 1 || !strings.HasPrefix(u.PasswordHash, "$argon2id$") {
		t.Fatalf("user: %+v", u)
	}
	_, err = BuildUser(UserSpec{Email: "not an address", Password: "short", Roles: []string{"a b"}}, time.Now())
	for _, want := range []string{"email:", "password:", "roles:"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}

// TestRegisteredRedirectURIs: a redirect URI that could never be matched
// as written, or that carries what a redirect URI must not, is refused at
// registration with invalid_redirect_uri.
func TestRegisteredRedirectURIs(t *testing.T) {
	h := secret.NewHasher(providertest.Ring(t))
	for _, tc := range []struct {
		uri string
		ok  bool
	}{
		{"https://app.example/cb", true},
		{"https://app.example:8443/cb", true},
		{"http://127.0.0.1/callback", true},
		{"http://127.0.0.1:3000/callback", true},
		{"http://[::1]:3000/callback", true},
		{"http://localhost:3000/cb", true},
		{"https://app.example/c%20b?x=1", true},
		{"http://evil@127.0.0.1:3000/cb", false},
		{"https://user:pw@app.example/cb", false},
		{"https://app.example/cb#frag", false},
		{"https://app.example/cb#", false},
		{"HTTPS://app.example/cb", false},
		{"HTTP://127.0.0.1/cb", false},
		{"http://127.0.0.1:0/cb", false},
		{"http://127.0.0.1:028999/cb", false},
		{"http://127.0.0.1:99999/cb", false},
		{"http://127.0.0.1:/cb", false},
		{"https://app.example:0/cb", false},
		{"http://app.example/cb", false},
		{"https://*.app.example/cb", false},
		{"app.example/cb", false},
	} {
		_, _, err := BuildClient(ClientSpec{Name: "app", RedirectURIs: []string{tc.uri}}, h, time.Now())
		if tc.ok {
			if err != nil {
				t.Errorf("%q refused: %v", tc.uri, err)
			}
			continue
		}
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.RegistrationErrorCode() != ErrorInvalidRedirectURI {
			t.Errorf("%q: got %v, want invalid_redirect_uri", tc.uri, err)
		}
	}
}
