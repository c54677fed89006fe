package main

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/provider/registration"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// TestRegistrationPolicyPublic: under registration.policy public anyone
// may register — as MCP clients that only know anonymous registration
// do — but only a public (or private_key_jwt) client of the code flow,
// within the operator's scopes and resources, with native apps on
// loopback; an update cannot leave those rules; an initial access token
// still registers any client. The registered client signs a person in
// (loopback redirect, any port) and gets a token for the resource; a
// registration that never completes an authorization is deleted by the
// janitor after registration.unused_client_lifetime.
func TestRegistrationPolicyPublic(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect, func(c *config.Config) {
			c.Registration.Policy = config.RegistrationPublic
			c.Registration.PublicScopes = []string{"openid", "offline_access", "mcp:tools"}
			c.Registration.PublicResources = []string{"https://mcp.example/mcp"}
		})
		s.user("alice@example.com", alicePassword)
		register := func(body string) (int, map[string]any) {
			status, reg, _ := jsonRequest(t, http.MethodPost, s.issuer+provider.PathRegister, "", body)
			return status, reg
		}

		status, reg := register(`{"client_name":"Editor","redirect_uris":["http://127.0.0.1/callback"],"application_type":"native",
			"grant_types":["authorization_code","refresh_token"],"scope":"openid mcp:tools gatehouse:admin admin"}`)
		if status != http.StatusCreated || reg["token_endpoint_auth_method"] != "none" || reg["client_secret"] != nil ||
			reg["scope"] != "openid mcp:tools" || reg["registration_access_token"] == nil {
			t.Fatalf("public registration: %d %v", status, reg)
		}
		id, rat := reg["client_id"].(string), reg["registration_access_token"].(string)

		for _, tc := range []struct{ name, body, code string }{
			{"a secret", `{"redirect_uris":["https://app.example/cb"],"token_endpoint_auth_method":"client_secret_basic"}`, "invalid_client_metadata"},
			{"client credentials", `{"grant_types":["client_credentials"],"token_endpoint_auth_method":"none"}`, "invalid_client_metadata"},
			{"native on https", `{"redirect_uris":["https://app.example/cb"],"application_type":"native"}`, "invalid_redirect_uri"},
			{"unknown application type", `{"redirect_uris":["https://app.example/cb"],"application_type":"desktop"}`, "invalid_client_metadata"},
			{"http elsewhere", `{"redirect_uris":["http://app.example/cb"]}`, "invalid_redirect_uri"},
		} {
			if status, reg := register(tc.body); status != http.StatusBadRequest || reg["error"] != tc.code {
				t.Errorf("%s: %d %v, want 400 %s", tc.name, status, reg, tc.code)
			}
		}
		// RFC 7592: an update is held to the same rules.
		status, upd, _ := jsonRequest(t, http.MethodPut, s.issuer+provider.PathRegister+"/"+id, rat,
			`{"client_id":"`+id+`","redirect_uris":["http://127.0.0.1/callback"],"token_endpoint_auth_method":"client_secret_basic"}`)
		if status != http.StatusBadRequest || upd["error"] != "invalid_client_metadata" {
			t.Fatalf("update to a secret: %d %v", status, upd)
		}
		status, upd, _ = jsonRequest(t, http.MethodPut, s.issuer+provider.PathRegister+"/"+id, rat,
			`{"client_id":"`+id+`","redirect_uris":["https://app.example/cb"],"application_type":"native","token_endpoint_auth_method":"none"}`)
		if status != http.StatusBadRequest || upd["error"] != "invalid_redirect_uri" {
			t.Fatalf("update of a native app to https: %d %v", status, upd)
		}
		status, upd, _ = jsonRequest(t, http.MethodPut, s.issuer+provider.PathRegister+"/"+id, rat,
			`{"client_id":"`+id+`","redirect_uris":["http://127.0.0.1/callback"],"token_endpoint_auth_method":"none",
			"grant_types":["authorization_code","refresh_token"],"scope":"openid mcp:tools reports:write"}`)
		if status != http.StatusOK || upd["scope"] != "openid mcp:tools" {
			t.Fatalf("an update asking for more than the policy: %d %v, want the scopes narrowed", status, upd)
		}
		// An initial access token still registers any client.
		_, token := s.registrationToken(t, "partners", time.Hour, time.Now())
		status, full, _ := jsonRequest(t, http.MethodPost, s.issuer+provider.PathRegister, token,
			`{"client_name":"Partner","grant_types":["client_credentials"],"scope":"reports"}`)
		if status != http.StatusCreated || full["client_secret"] == nil {
			t.Fatalf("registration with a token under the public policy: %d %v", status, full)
		}

		// The client signs a person in from any loopback port, for the
		// resource.
		conf := &oauth2.Config{
			ClientID: id, RedirectURL: "http://127.0.0.1:49152/callback", Scopes: []string{"openid", "mcp:tools"},
			Endpoint: oauth2.Endpoint{AuthURL: s.issuer + provider.PathAuthorize, TokenURL: s.issuer + provider.PathToken, AuthStyle: oauth2.AuthStyleInParams},
		}
		resource := oauth2.SetAuthURLParam("resource", "https://mcp.example/mcp")
		verifier, challenge := pkce()
		b := s.newBrowser()
		p := b.consent(b.login(b.get(conf.AuthCodeURL("st", challenge, resource)), "alice@example.com", alicePassword), "allow")
		tok, err := conf.Exchange(context.Background(), p.callback(t).Get("code"), oauth2.VerifierOption(verifier), resource)
		if err != nil {
			t.Fatal(err)
		}
		gateway, gatewaySecret := s.client(admin.ClientSpec{Name: "Gateway", Scopes: []string{"x"}, IntrospectAnyToken: true})
		if claims := s.introspect(t, gateway.ID, gatewaySecret, tok.AccessToken); !audienceHas(claims["aud"], "https://mcp.example/mcp") {
			t.Fatalf("the token's audience: %v", claims)
		}

		// A registration nobody used goes after the lifetime; the used one
		// and the one registered with a token stay.
		_, unused := register(`{"client_name":"Abandoned","redirect_uris":["http://127.0.0.1/cb"]}`)
		cfg := config.Default()
		rep, err := runJanitor(context.Background(), s.store, cfg, time.Now().Add(cfg.Registration.UnusedClientLifetime+time.Minute))
		if err != nil || rep.UnusedClients != 1 {
			t.Fatalf("janitor: %+v %v, want 1 unused client deleted", rep, err)
		}
		if _, err := s.store.ClientByID(context.Background(), unused["client_id"].(string)); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("the unused registration is still there: %v", err)
		}
		for _, kept := range []string{id, full["client_id"].(string)} {
			if c, err := s.store.ClientByID(context.Background(), kept); err != nil || !strings.Contains(c.RegisteredBy, "registration") {
				t.Fatalf("%s: %+v %v", kept, c, err)
			}
		}
		if c, _ := s.store.ClientByID(context.Background(), id); c.RegisteredBy != registration.RegisteredByPublic {
			t.Fatalf("registered by %q", c.RegisteredBy)
		}
	})
}
