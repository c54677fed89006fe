package registration

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/provider/providertest"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore/bunstoretest"
)

// FuzzRegistrationMetadata feeds arbitrary bodies to RFC 7591 registration
// (Register, open policy: the whole parse-and-check path of a request,
// store included). It must never panic, and it either refuses with an
// RFC 7591 400 error whose description is safe to send, or registers a
// client that keeps the rules of dynamic registration and passes the same
// checks again when read back. withFetcher picks the registration that can
// fetch a jwks_uri (public networks only) over the one that cannot.
func FuzzRegistrationMetadata(f *testing.F) {
	store := bunstoretest.Open(f, "sqlite", bunstore.Options{})
	ring := providertest.Ring(f)
	newRegistration := func(fetcher fosite.JWKSFetcherStrategy) *Registration {
		g, err := New(Options{
			Store: store, Keyring: ring, Issuer: providertest.Issuer, Policy: provider.RegistrationPolicyOpen,
			JWKSFetcher: fetcher, Logger: slog.New(slog.DiscardHandler),
		})
		if err != nil {
			f.Fatal(err)
		}
		return g
	}
	withoutFetcher, withFetcher := newRegistration(nil), newRegistration(privateFetcher(false))

	for _, seed := range []string{
		`{"redirect_uris":["https://app.example/cb"],"client_name":"App"}`,
		`{"redirect_uris":["http://127.0.0.1:8000/cb"],"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"]}`,
		`{"grant_types":["client_credentials"],"scope":"api gatehouse:admin","client_name":"job"}`,
		`{"redirect_uris":["https://app.example/cb"],"token_endpoint_auth_method":"private_key_jwt","jwks_uri":"https://app.example/jwks"}`,
		`{"redirect_uris":["https://app.example/cb"],"token_endpoint_auth_method":"private_key_jwt","jwks":{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}}`,
		`{"redirect_uris":["javascript:alert(1)"]}`, `{"redirect_uris":"https://app.example/cb"}`, `{"jwks":"x"}`,
		`{"redirect_uris":["https://app.example/cb#frag"],"response_types":["token"]}`,
		`{"client_name":"\u0000\u0085<script>","redirect_uris":["https://app.example/cb"]}`,
		`{"redirect_uris":["https://app.example/cb"],"contacts":["a@example.com"],"logo_uri":"http://insecure.example/logo.png"}`,
		`{"redirect_uris":["https://app.example/cb"],"allowed_cors_origins":["https://app.example","*"]}`,
		`{"redirect_uris":["https://app.example/cb"],"access_token_format":"jwt","id_token_signed_response_alg":"none"}`,
		`{"client_id":"chosen","client_secret":"chosen","redirect_uris":["https://app.example/cb"]}`,
		`[]`, `null`, `"x"`, `{`, ``, `{"redirect_uris":[null]}`, `{"scope":5}`,
		`{"redirect_uris":["https://app.example/cb"],"client_name":"` + strings.Repeat("n", 300) + `"}`,
	} {
		f.Add([]byte(seed), false)
	}
	f.Fuzz(func(t *testing.T, body []byte, fetcher bool) {
		g := withoutFetcher
		if fetcher {
			g = withFetcher
		}
		ctx := context.Background()
		m, err := g.Register(ctx, "", body)
		if err != nil {
			var re *Error
			if !errors.As(err, &re) {
				t.Fatalf("body %q: not an RFC 7591 error (would be a 5xx): %v", body, err)
			}
			if re.Status != http.StatusBadRequest || (re.Code != admin.ErrorInvalidClientMetadata && re.Code != admin.ErrorInvalidRedirectURI) {
				t.Fatalf("body %q: %d %s", body, re.Status, re.Code)
			}
			// RFC 6749 §5.2 error_description: printable ASCII without
			// '"' and '\', and bounded.
			if len(re.Description) > 1100 || strings.ContainsFunc(re.Description, func(r rune) bool { return r < 0x20 || r > 0x7e || r == '"' || r == '\\' }) {
				t.Fatalf("body %q: unsafe error_description %q", body, re.Description)
			}
			return
		}
		if m.ClientID == "" || !strings.HasPrefix(m.RegistrationAccessToken, PrefixAccessToken) {
			t.Fatalf("body %q: registered without id or registration access token: %+v", body, m)
		}
		if m.SkipConsent || len(m.Audience) > 0 || m.RegisteredBy != RegisteredByOpen {
			t.Fatalf("body %q: a dynamically registered client got operator settings: %+v", body, m)
		}
		for _, s := range strings.Fields(m.Scope) {
			if strings.HasPrefix(s, provider.ReservedScopePrefix) {
				t.Fatalf("body %q: registered with reserved scope %q", body, s)
			}
		}
		secretMethod := m.TokenEndpointAuthMethod == provider.AuthMethodBasic || m.TokenEndpointAuthMethod == provider.AuthMethodPost
		if secretMethod != (m.ClientSecret != "") {
			t.Fatalf("body %q: auth method %s with secret %t", body, m.TokenEndpointAuthMethod, m.ClientSecret != "")
		}
		if _, err := json.Marshal(m); err != nil {
			t.Fatalf("body %q: the response cannot be encoded: %v", body, err)
		}
		// What was stored passes the same checks when read back.
		c, err := store.ClientByID(ctx, m.ClientID)
		if err != nil {
			t.Fatalf("body %q: read back: %v", body, err)
		}
		if _, _, err := admin.BuildClientWith(admin.SpecFromClient(c), g.hasher, time.Now(), g.checks); err != nil {
			t.Fatalf("body %q: the stored client fails its own checks: %v", body, err)
		}
	})
}
