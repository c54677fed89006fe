package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/provider/registration"
	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// registrationToken stores an initial access token (as `gatehouse
// registration-tokens create` does) made at madeAt and returns it.
func (s *testServer) registrationToken(t *testing.T, name string, expiresIn time.Duration, madeAt time.Time) (*storage.RegistrationToken, string) {
	t.Helper()
	ring, err := secret.NewKeyring(s.app.cfg.Secret, s.app.cfg.OldSecrets)
	if err != nil {
		t.Fatal(err)
	}
	if ring, err = withPepper(context.Background(), s.store, ring); err != nil {
		t.Fatal(err)
	}
	rt, plain, err := admin.NewRegistrationToken(name, expiresIn, ring, madeAt)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.store.CreateRegistrationToken(context.Background(), rt); err != nil {
		t.Fatal(err)
	}
	return rt, plain
}

// jsonRequest sends a JSON body (or none) with an optional bearer token.
func jsonRequest(t *testing.T, method, u, bearer, body string) (int, map[string]interface{}, http.Header) {
	t.Helper()
	var req *http.Request
	if body != "" {
		req, _ = http.NewRequest(method, u, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
	} else {
		req, _ = http.NewRequest(method, u, nil)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return doJSON(t, req)
}

func (s *testServer) clientCount(t *testing.T) int {
	t.Helper()
	cs, err := s.store.ListClients(context.Background(), storage.Page{})
	if err != nil {
		t.Fatal(err)
	}
	return len(cs)
}

// TestDynamicClientRegistration: a client registers over HTTP with an
// initial access token, reads, updates and deletes itself with its
// registration access token, and signs a user in with authorization code +
// PKCE through the real login and consent pages (consent shown once, then
// remembered).
func TestDynamicClientRegistration(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect) // default policy: initial_access_token
		s.user("reg@example.com", alicePassword)
		endpoint := s.issuer + provider.PathRegister

		_, disco, _ := jsonRequest(t, http.MethodGet, s.issuer+"/.well-known/openid-configuration", "", "")
		if disco["registration_endpoint"] != endpoint {
			t.Fatalf("discovery registration_endpoint: %v", disco["registration_endpoint"])
		}

		_, iat := s.registrationToken(t, "partners", time.Hour, time.Now())
		_, expired := s.registrationToken(t, "old", time.Minute, time.Now().Add(-time.Hour))
		revokedTok, revoked := s.registrationToken(t, "revoked", 0, time.Now())
		if err := s.store.RevokeRegistrationToken(context.Background(), revokedTok.ID, time.Now()); err != nil {
			t.Fatal(err)
		}

		meta := `{"client_name":"Photo Printer","redirect_uris":["` + appRedirect + `"],"grant_types":["authorization_code","refresh_token"],
			"scope":"openid email offline_access","logo_uri":"https://printer.example/logo.png","policy_uri":"https://printer.example/privacy",
			"contacts":["ops@printer.example"],"skip_consent":true}`
		for name, bearer := range map[string]string{"missing": "", "expired": expired, "revoked": revoked, "garbage": "gth_it_nope", "wrong kind": "gth_cs_x"} {
			status, body, hdr := jsonRequest(t, http.MethodPost, endpoint, bearer, meta)
			if status != http.StatusUnauthorized || body["error"] != "invalid_token" || !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("%s initial access token: %d %v", name, status, body)
			}
		}
		// Bad metadata: 400, the RFC 7591 code, the field named, nothing stored.
		for _, tc := range []struct{ body, code, field string }{
			{`{"client_name":"x","redirect_uris":["http://evil.example/cb"]}`, "invalid_redirect_uri", "redirect_uris"},
			{`{"client_name":"x","redirect_uris":["https://a.example/cb#frag"]}`, "invalid_redirect_uri", "fragment"},
			{`{"client_name":"x","redirect_uris":["` + appRedirect + `"],"logo_uri":"http://printer.example/l.png"}`, "invalid_client_metadata", "logo_uri"},
			{`{"client_name":"x","redirect_uris":["` + appRedirect + `"],"grant_types":["implicit"]}`, "invalid_client_metadata", "grant_types"},
			{`{"client_name":"x","grant_types":["client_credentials"],"scope":"gatehouse:admin"}`, "invalid_client_metadata", "scope"},
			{`{"client_name":"x","redirect_uris":["` + appRedirect + `"],"jwks":{"keys":[]},"jwks_uri":"https://a.example/k"}`, "invalid_client_metadata", "jwks"},
		} {
			status, body, _ := jsonRequest(t, http.MethodPost, endpoint, iat, tc.body)
			desc, _ := body["error_description"].(string)
			if status != http.StatusBadRequest || body["error"] != tc.code || !strings.Contains(desc, tc.field) {
				t.Errorf("%s: %d %v", tc.body, status, body)
			}
		}
		if n := s.clientCount(t); n != 0 {
			t.Fatalf("refused registrations stored %d clients", n)
		}

		// Register.
		status, reg, hdr := jsonRequest(t, http.MethodPost, endpoint, iat, meta)
		if status != http.StatusCreated || hdr.Get("Cache-Control") != "no-store" {
			t.Fatalf("register: %d %v", status, reg)
		}
		clientID, _ := reg["client_id"].(string)
		clientSecret, _ := reg["client_secret"].(string)
		rat, _ := reg["registration_access_token"].(string)
		configURI, _ := reg["registration_client_uri"].(string)
		if clientID == "" || !secret.CheckOpaque(secret.PrefixClientSecret, clientSecret) || !secret.CheckOpaque(registration.PrefixAccessToken, rat) ||
			configURI != endpoint+"/"+clientID || reg["client_secret_expires_at"] != float64(0) || reg["client_id_issued_at"] == nil ||
			reg["token_endpoint_auth_method"] != "client_secret_basic" || reg["skip_consent"] != false {
			t.Fatalf("registration response: %v", reg)
		}
		stored, err := s.store.ClientByID(context.Background(), clientID)
		if err != nil || stored.SkipConsent || stored.RegisteredBy != `registration token "partners"` {
			t.Fatalf("stored client: %+v %v", stored, err)
		}

		// Read and update with the registration access token.
		status, got, _ := jsonRequest(t, http.MethodGet, configURI, rat, "")
		if status != http.StatusOK || got["client_name"] != "Photo Printer" || got["client_secret"] != nil {
			t.Fatalf("read: %d %v", status, got)
		}
		for _, bearer := range []string{"", iat, clientSecret, "gth_rat_wrong"} {
			if status, body, _ := jsonRequest(t, http.MethodGet, configURI, bearer, ""); status != http.StatusUnauthorized || body["error"] != "invalid_token" {
				t.Fatalf("read with %q: %d %v", bearer, status, body)
			}
		}
		if status, _, _ := jsonRequest(t, http.MethodGet, endpoint+"/no-such-client", rat, ""); status != http.StatusUnauthorized {
			t.Fatalf("read of an unknown client: %d", status)
		}
		update := strings.Replace(meta, `"client_name":"Photo Printer"`, `"client_id":"`+clientID+`","client_secret":"`+clientSecret+`","client_name":"Photo Printer Pro"`, 1)
		status, got, _ = jsonRequest(t, http.MethodPut, configURI, rat, update)
		if status != http.StatusOK || got["client_name"] != "Photo Printer Pro" || got["client_secret"] != nil {
			t.Fatalf("update: %d %v", status, got)
		}
		if status, body, _ := jsonRequest(t, http.MethodPut, configURI, "gth_rat_wrong", update); status != http.StatusUnauthorized || body["error"] != "invalid_token" {
			t.Fatalf("update with a wrong token: %d %v", status, body)
		}

		// Sign a user in with the registered client: consent is shown (a
		// registered client is third-party), then remembered.
		c, _ := s.store.ClientByID(context.Background(), clientID)
		conf := s.oauthConfig(c, clientSecret, "openid", "email", "offline_access")
		b := s.newBrowser()
		verifier, challenge := pkce()
		p := b.login(b.get(conf.AuthCodeURL(randomString(t, 16), challenge)), "reg@example.com", alicePassword)
		if !p.isConsentPage() {
			t.Fatalf("no consent page for a registered client: %d %.300s", p.status, p.body)
		}
		for _, want := range []string{"Photo Printer Pro", "https://printer.example/logo.png", `registration token &#34;partners&#34;`} {
			if !strings.Contains(p.body, want) {
				t.Errorf("consent page lacks %q", want)
			}
		}
		cb := b.consent(p, "allow").callback(t)
		tok, err := conf.Exchange(context.Background(), cb.Get("code"), oauth2.VerifierOption(verifier))
		if err != nil || tok.RefreshToken == "" {
			t.Fatalf("exchange: %v", err)
		}
		verifier2, challenge2 := pkce()
		cb = b.get(conf.AuthCodeURL(randomString(t, 16), challenge2)).callback(t)
		if cb.Get("code") == "" {
			t.Fatalf("remembered consent: %v", cb)
		}
		if _, err := conf.Exchange(context.Background(), cb.Get("code"), oauth2.VerifierOption(verifier2)); err != nil {
			t.Fatalf("second exchange: %v", err)
		}

		// Delete: the client and its tokens go.
		if status, _, _ := jsonRequest(t, http.MethodDelete, configURI, "gth_rat_wrong", ""); status != http.StatusUnauthorized {
			t.Fatalf("delete with a wrong token: %d", status)
		}
		if status, _, _ := jsonRequest(t, http.MethodDelete, configURI, rat, ""); status != http.StatusNoContent {
			t.Fatalf("delete: %d", status)
		}
		if status, _, _ := jsonRequest(t, http.MethodGet, configURI, rat, ""); status != http.StatusUnauthorized {
			t.Fatalf("read after delete: %d", status)
		}
		if _, err := conf.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err == nil {
			t.Fatal("the deleted client's refresh token still works")
		}
	})
}

// TestRegistrationPolicyOpenAndOff: open needs no token; off serves no
// endpoint and advertises none.
func TestRegistrationPolicyOpenAndOff(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		open := startServer(t, dialect, func(c *config.Config) { c.Registration.Policy = config.RegistrationOpen })
		status, reg, _ := jsonRequest(t, http.MethodPost, open.issuer+provider.PathRegister, "",
			`{"client_name":"Anyone","grant_types":["client_credentials"],"scope":"api:read"}`)
		if status != http.StatusCreated || reg["client_secret"] == nil {
			t.Fatalf("open registration: %d %v", status, reg)
		}
		c, err := open.store.ClientByID(context.Background(), reg["client_id"].(string))
		if err != nil || c.RegisteredBy != registration.RegisteredByOpen {
			t.Fatalf("open registration stored %+v %v", c, err)
		}

		off := startServer(t, dialect, func(c *config.Config) { c.Registration.Policy = config.RegistrationOff })
		if status, _, _ := jsonRequest(t, http.MethodPost, off.issuer+provider.PathRegister, "", `{"client_name":"x","grant_types":["client_credentials"]}`); status != http.StatusNotFound {
			t.Fatalf("registration off: %d", status)
		}
		if status, _, _ := jsonRequest(t, http.MethodGet, off.issuer+provider.PathRegister+"/x", "gth_rat_x", ""); status != http.StatusNotFound {
			t.Fatalf("client configuration with registration off: %d", status)
		}
		_, disco, _ := jsonRequest(t, http.MethodGet, off.issuer+"/.well-known/openid-configuration", "", "")
		if _, ok := disco["registration_endpoint"]; ok {
			t.Fatalf("discovery advertises registration while it is off: %v", disco["registration_endpoint"])
		}
		if n := off.clientCount(t); n != 0 {
			t.Fatalf("%d clients", n)
		}
	})
}
