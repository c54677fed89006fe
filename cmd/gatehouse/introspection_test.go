package main

// Introspection stays within its audience (RFC 7662 §4): a token is
// described only to its own client, to a resource server it was issued
// for, or to a client the operator allows any token; the e-mail address
// only as far as the person consented; every caller authenticates as at
// the token endpoint.

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	josev4 "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/provider/clientjwks"
)

// rawIntrospect sends an introspection request and returns the status,
// the body exactly as sent, and the headers.
func rawIntrospect(t *testing.T, s *testServer, form url.Values, basicUser, basicPass string) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.issuer+provider.PathIntrospect, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicUser != "" {
		req.SetBasicAuth(url.QueryEscape(basicUser), url.QueryEscape(basicPass))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func TestIntrospectionStaysWithinItsAudience(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		const orders, billing = "https://orders.example/api", "https://billing.example/api"
		s := startServer(t, dialect, func(c *config.Config) { c.Registration.Policy = config.RegistrationOpen })
		bob := s.user("bob@example.com", alicePassword)

		// A third-party app registers itself and bob allows it only openid
		// and offline_access.
		status, reg, _ := jsonRequest(t, http.MethodPost, s.issuer+provider.PathRegister, "",
			`{"client_name":"Third party","redirect_uris":["`+appRedirect+`"],"grant_types":["authorization_code","refresh_token"],"scope":"openid email offline_access"}`)
		if status != http.StatusCreated {
			t.Fatalf("register: %d %v", status, reg)
		}
		app, err := s.store.ClientByID(ctx, reg["client_id"].(string))
		if err != nil {
			t.Fatal(err)
		}
		appSecret := reg["client_secret"].(string)
		tok := s.signIn(t, s.oauthConfig(app, appSecret, "openid", "offline_access"), bob.Email, alicePassword)
		// Anyone may register a client_credentials client here.
		status, reg, _ = jsonRequest(t, http.MethodPost, s.issuer+provider.PathRegister, "",
			`{"client_name":"Snoop","grant_types":["client_credentials"],"scope":"x"}`)
		if status != http.StatusCreated {
			t.Fatalf("register: %d %v", status, reg)
		}
		snoopID, snoopSecret := reg["client_id"].(string), reg["client_secret"].(string)
		operatorsOwn, operatorsSecret := s.client(admin.ClientSpec{Name: "Another app", Scopes: []string{"x"}})

		// Strangers learn nothing: the very answer of an unknown token.
		form := func(token string) url.Values { return url.Values{"token": {token}} }
		_, unknown, _ := rawIntrospect(t, s, form("gth_at_unknown.token"), snoopID, snoopSecret)
		if unknown != `{"active":false}`+"\n" {
			t.Fatalf("unknown token: %q", unknown)
		}
		for name, caller := range map[string][2]string{
			"a self-registered client": {snoopID, snoopSecret}, "another operator client": {operatorsOwn.ID, operatorsSecret},
		} {
			for what, token := range map[string]string{"access token": tok.AccessToken, "refresh token": tok.RefreshToken} {
				status, body, _ := rawIntrospect(t, s, form(token), caller[0], caller[1])
				if status != http.StatusOK || body != unknown {
					t.Errorf("%s introspects bob's %s: %d %s", name, what, status, body)
				}
			}
		}

		// The app itself: active, no e-mail (bob did not allow email), and
		// each token with its own expiry.
		in := s.introspect(t, app.ID, appSecret, tok.AccessToken)
		if in["active"] != true || in["sub"] != bob.ID || in["client_id"] != app.ID || in["username"] != nil || in["token_type"] != "Bearer" {
			t.Fatalf("the app introspects its access token: %v", in)
		}
		accessExp := int64(in["exp"].(float64))
		rin := s.introspect(t, app.ID, appSecret, tok.RefreshToken)
		if rin["active"] != true || rin["username"] != nil || rin["token_type"] != nil {
			t.Fatalf("the app introspects its refresh token: %v", rin)
		}
		refreshExp := int64(rin["exp"].(float64))
		wantRefreshExp := int64(rin["iat"].(float64)) + int64(s.app.cfg.Lifespans.RefreshToken/time.Second)
		if refreshExp <= accessExp || refreshExp < wantRefreshExp-5 || refreshExp > wantRefreshExp+5 {
			t.Fatalf("refresh token exp %d: want its own expiry %d (access token: %d)", refreshExp, wantRefreshExp, accessExp)
		}

		// A token for an API: its resource server learns about it (with the
		// e-mail bob allowed this app), another API does not; a gateway the
		// operator allows any token learns about it without the e-mail.
		shop, shopSecret := s.client(admin.ClientSpec{Name: "Shop", RedirectURIs: []string{appRedirect}, SkipConsent: true,
			Scopes: []string{"openid", "email", "offline_access"}, Audience: []string{orders}, TokenEndpointAuthMethod: provider.AuthMethodPost})
		shopConf := s.oauthConfig(shop, shopSecret, "openid", "email", "offline_access")
		b := s.newBrowser()
		verifier, challenge := pkce()
		cb := b.authorizeAndLogin(shopConf.AuthCodeURL(randomString(t, 16), challenge, oauth2.SetAuthURLParam("resource", orders)), bob.Email, alicePassword)
		shopTok, err := shopConf.Exchange(ctx, cb.Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		s.keyClient(t, "orders-api", "ES256", publicJWKS(t, map[string]crypto.Signer{"k1": key}), "")
		ordersAPI, err := s.store.ClientByID(ctx, "orders-api")
		if err != nil {
			t.Fatal(err)
		}
		ordersAPI.Resources = []string{orders}
		if err := s.store.UpdateClient(ctx, ordersAPI); err != nil {
			t.Fatal(err)
		}
		billingAPI, billingSecret := s.client(admin.ClientSpec{Name: "Billing API", Scopes: []string{"x"}, Resources: []string{billing}})
		gateway, gatewaySecret := s.client(admin.ClientSpec{Name: "Gateway", Scopes: []string{"x"}, IntrospectAnyToken: true})

		// orders-api authenticates with private_key_jwt.
		assertion := func() url.Values {
			f := form(shopTok.AccessToken)
			f.Set("client_assertion_type", clientjwks.JWTBearerAssertionType)
			f.Set("client_assertion", clientAssertion{clientID: "orders-api", key: key, alg: josev4.ES256, kid: "k1"}.sign(t, s.issuer+provider.PathToken))
			return f
		}
		status, body, _ := postForm(t, s.issuer+provider.PathIntrospect, assertion(), "", "")
		if aud, _ := body["aud"].([]interface{}); status != http.StatusOK || body["active"] != true || body["username"] != bob.Email ||
			len(aud) != 1 || aud[0] != orders {
			t.Fatalf("the resource server of the token (private_key_jwt): %d %v", status, body)
		}
		f := assertion()
		f.Set("token", shopTok.RefreshToken)
		if status, body, _ := postForm(t, s.issuer+provider.PathIntrospect, f, "", ""); status != http.StatusOK || body["active"] != false {
			t.Fatalf("the resource server introspects the shop's refresh token: %d %v", status, body)
		}
		if status, body, _ := rawIntrospect(t, s, form(shopTok.AccessToken), billingAPI.ID, billingSecret); status != http.StatusOK || body != unknown {
			t.Fatalf("another API's resource server: %d %s", status, body)
		}
		in = s.introspect(t, gateway.ID, gatewaySecret, shopTok.AccessToken)
		if in["active"] != true || in["sub"] != bob.ID || in["username"] != nil {
			t.Fatalf("the gateway: %v", in)
		}
		if in := s.introspect(t, gateway.ID, gatewaySecret, shopTok.RefreshToken); in["active"] != false {
			t.Fatalf("the gateway introspects a refresh token: %v", in)
		}
		// The shop itself authenticates with client_secret_post, as at the
		// token endpoint, and sees the e-mail bob allowed it.
		if in := s.introspect(t, shop.ID, shopSecret, shopTok.AccessToken); in["active"] != true || in["username"] != bob.Email {
			t.Fatalf("the shop (client_secret_post): %v", in)
		}

		// Failed or missing client authentication: 401 invalid_client with
		// a challenge, never request_unauthorized, at introspection and
		// revocation alike.
		for _, endpoint := range []string{provider.PathIntrospect, provider.PathRevoke} {
			for name, tc := range map[string]struct {
				form       url.Values
				user, pass string
				bearer     string
			}{
				"no authentication":       {form: form(tok.AccessToken)},
				"wrong secret":            {form: form(tok.AccessToken), user: app.ID, pass: "gth_cs_wrong"},
				"unknown client":          {form: form(tok.AccessToken), user: "no-such-client", pass: "x"},
				"basic for a post client": {form: form(tok.AccessToken), user: shop.ID, pass: shopSecret},
				"a bearer token":          {form: form(tok.AccessToken), bearer: tok.AccessToken},
				"an expired assertion":    {form: expiredAssertion(t, s, key, tok.AccessToken)},
			} {
				req, _ := http.NewRequest(http.MethodPost, s.issuer+endpoint, strings.NewReader(tc.form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				if tc.user != "" {
					req.SetBasicAuth(url.QueryEscape(tc.user), url.QueryEscape(tc.pass))
				}
				if tc.bearer != "" {
					req.Header.Set("Authorization", "Bearer "+tc.bearer)
				}
				status, body, hdr := doJSON(t, req)
				if status != http.StatusUnauthorized || body["error"] != "invalid_client" || !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Basic") {
					t.Errorf("%s, %s: %d %v %q", endpoint, name, status, body, hdr.Get("WWW-Authenticate"))
				}
			}
		}
		if !s.active(t, app.ID, appSecret, tok.AccessToken) {
			t.Fatal("a refused revocation revoked the token")
		}

		// Discovery says which methods work there.
		_, disco, _ := jsonRequest(t, http.MethodGet, s.issuer+"/.well-known/openid-configuration", "", "")
		for _, member := range []string{"introspection_endpoint_auth_methods_supported", "revocation_endpoint_auth_methods_supported"} {
			methods, _ := disco[member].([]interface{})
			for _, m := range []string{"client_secret_basic", "client_secret_post", "private_key_jwt"} {
				if !slices.Contains(methods, interface{}(m)) {
					t.Errorf("discovery %s = %v, lacks %s", member, methods, m)
				}
			}
		}
	})
}

// expiredAssertion is a form with a private_key_jwt assertion of
// orders-api that expired a minute ago.
func expiredAssertion(t *testing.T, s *testServer, key crypto.Signer, token string) url.Values {
	t.Helper()
	return url.Values{
		"token":                 {token},
		"client_id":             {"orders-api"},
		"client_assertion_type": {clientjwks.JWTBearerAssertionType},
		"client_assertion":      {clientAssertion{clientID: "orders-api", key: key, alg: josev4.ES256, kid: "k1", exp: -time.Minute}.sign(t, s.issuer+provider.PathToken)},
	}
}
