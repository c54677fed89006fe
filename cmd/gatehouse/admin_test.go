package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2/clientcredentials"

	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
)

// ccToken gets a client_credentials access token, or the OAuth error code.
func (s *testServer) ccToken(t *testing.T, id, secret string, scopes ...string) (string, string) {
	t.Helper()
	cc := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: s.issuer + provider.PathToken, Scopes: scopes}
	tok, err := cc.Token(context.Background())
	if err != nil {
		return "", oauthErrorCode(err)
	}
	return tok.AccessToken, ""
}

// wantAdminProblem checks an RFC 9457 answer of the admin API.
func wantAdminProblem(t *testing.T, what string, status int, body map[string]interface{}, hdr http.Header, want int) {
	t.Helper()
	if status != want || hdr.Get("Content-Type") != "application/problem+json" || body["status"] != float64(want) || body["type"] != "about:blank" {
		t.Fatalf("%s: want a %d problem, got %d %q %v", what, want, status, hdr.Get("Content-Type"), body)
	}
	if _, ok := body["items"]; ok {
		t.Fatalf("%s: data in an error", what)
	}
}

// TestAdminAPIAuthorization: no token 401; a token without gatehouse:admin
// 403; a gatehouse:admin token of a user without the admin role 403; a
// client's own token with the scope and an admin user's token are served.
func TestAdminAPIAuthorization(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect)
		s.user("boss@example.com", alicePassword, "admin")
		s.user("staff@example.com", alicePassword, "editor")
		robot, robotSecret := s.client(admin.ClientSpec{Name: "robot", Scopes: []string{provider.ScopeAdmin, "api"}, FirstParty: true})
		console, consoleSecret := s.client(admin.ClientSpec{Name: "Admin console", RedirectURIs: []string{appRedirect},
			Scopes: []string{"openid", "offline_access", provider.ScopeAdmin}, SkipConsent: true, FirstParty: true})
		clients := s.admin + "/admin/clients"

		status, body, hdr := jsonRequest(t, http.MethodGet, clients, "", "")
		wantAdminProblem(t, "no token", status, body, hdr, http.StatusUnauthorized)
		if !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer") {
			t.Fatalf("WWW-Authenticate: %q", hdr.Get("WWW-Authenticate"))
		}
		status, body, hdr = jsonRequest(t, http.MethodGet, clients, "gth_at_invalid", "")
		wantAdminProblem(t, "invalid token", status, body, hdr, http.StatusUnauthorized)

		apiOnly, errCode := s.ccToken(t, robot.ID, robotSecret, "api")
		if errCode != "" {
			t.Fatal(errCode)
		}
		status, body, hdr = jsonRequest(t, http.MethodGet, clients, apiOnly, "")
		wantAdminProblem(t, "token without the scope", status, body, hdr, http.StatusForbidden)

		staffToken := s.signIn(t, s.oauthConfig(console, consoleSecret, "openid", provider.ScopeAdmin), "staff@example.com", alicePassword)
		status, body, hdr = jsonRequest(t, http.MethodGet, clients, staffToken.AccessToken, "")
		wantAdminProblem(t, "non-admin user", status, body, hdr, http.StatusForbidden)
		// A refresh token is not a bearer credential.
		bossToken := s.signIn(t, s.oauthConfig(console, consoleSecret, "openid", "offline_access", provider.ScopeAdmin), "boss@example.com", alicePassword)
		status, body, hdr = jsonRequest(t, http.MethodGet, clients, bossToken.RefreshToken, "")
		wantAdminProblem(t, "refresh token", status, body, hdr, http.StatusUnauthorized)

		robotAdmin, _ := s.ccToken(t, robot.ID, robotSecret, provider.ScopeAdmin)
		for name, tok := range map[string]string{"client token": robotAdmin, "admin user token": bossToken.AccessToken} {
			status, body, _ := jsonRequest(t, http.MethodGet, clients, tok, "")
			if items, _ := body["items"].([]interface{}); status != http.StatusOK || len(items) != 2 {
				t.Fatalf("%s: %d %v", name, status, body)
			}
		}
		// The admin API is not served on the public listener.
		if status, _, _ := jsonRequest(t, http.MethodGet, s.issuer+"/admin/clients", robotAdmin, ""); status != http.StatusNotFound {
			t.Fatalf("admin API on the public listener: %d", status)
		}
	})
}

// TestAdminAPIRoundTrips: clients and users through the admin API,
// including paging, secret rotation (checked at the token endpoint) and
// disabling a user (signed out, cannot sign in).
func TestAdminAPIRoundTrips(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect)
		robot, robotSecret := s.client(admin.ClientSpec{Name: "robot", Scopes: []string{provider.ScopeAdmin}, FirstParty: true})
		tok, errCode := s.ccToken(t, robot.ID, robotSecret, provider.ScopeAdmin)
		if errCode != "" {
			t.Fatal(errCode)
		}
		api := s.admin + "/admin"

		// Clients.
		status, created, hdr := jsonRequest(t, http.MethodPost, api+"/clients", tok,
			`{"client_name":"Reporting job","grant_types":["client_credentials"],"scope":"reports:read"}`)
		if status != http.StatusCreated || created["client_secret"] == nil || hdr.Get("Cache-Control") != "no-store" {
			t.Fatalf("create client: %d %v", status, created)
		}
		id, oldSecret := created["client_id"].(string), created["client_secret"].(string)
		if _, code := s.ccToken(t, id, oldSecret, "reports:read"); code != "" {
			t.Fatalf("new client: %s", code)
		}
		status, body, hdr := jsonRequest(t, http.MethodPost, api+"/clients", tok, `{"client_name":"x","redirect_uris":["http://evil.example/cb"]}`)
		wantAdminProblem(t, "invalid client", status, body, hdr, http.StatusBadRequest)
		if d, _ := body["detail"].(string); !strings.Contains(d, "redirect_uris") {
			t.Fatalf("detail: %q", d)
		}
		status, got, _ := jsonRequest(t, http.MethodGet, api+"/clients/"+id, tok, "")
		if status != http.StatusOK || got["client_name"] != "Reporting job" || got["client_secret"] != nil {
			t.Fatalf("get client: %d %v", status, got)
		}
		status, got, _ = jsonRequest(t, http.MethodPut, api+"/clients/"+id, tok, `{"client_name":"Reporting","grant_types":["client_credentials"],"scope":"reports:read reports:write"}`)
		if status != http.StatusOK || got["client_name"] != "Reporting" || got["scope"] != "reports:read reports:write" {
			t.Fatalf("update client: %d %v", status, got)
		}
		if _, code := s.ccToken(t, id, oldSecret, "reports:write"); code != "" {
			t.Fatalf("updated scope: %s", code)
		}
		status, rotated, _ := jsonRequest(t, http.MethodPost, api+"/clients/"+id+"/rotate-secret", tok, "")
		newSecret, _ := rotated["client_secret"].(string)
		if status != http.StatusOK || newSecret == "" || newSecret == oldSecret {
			t.Fatalf("rotate: %d %v", status, rotated)
		}
		if _, code := s.ccToken(t, id, oldSecret, "reports:read"); code != "invalid_client" {
			t.Fatalf("old secret after rotation: %q", code)
		}
		if _, code := s.ccToken(t, id, newSecret, "reports:read"); code != "" {
			t.Fatalf("new secret: %s", code)
		}
		for i := 0; i < 3; i++ {
			if status, _, _ := jsonRequest(t, http.MethodPost, api+"/clients", tok, fmt.Sprintf(`{"client_name":"c%d"}`, i)); status != http.StatusCreated {
				t.Fatalf("create c%d: %d", i, status)
			}
		}
		if got := adminPageAll(t, api+"/clients", tok, 2, "client_id"); len(got) != 5 {
			t.Fatalf("paged clients: %d", len(got))
		}
		status, body, hdr = jsonRequest(t, http.MethodGet, api+"/clients?limit=1000", tok, "")
		wantAdminProblem(t, "limit too large", status, body, hdr, http.StatusBadRequest)
		if status, _, _ := jsonRequest(t, http.MethodDelete, api+"/clients/"+id, tok, ""); status != http.StatusNoContent {
			t.Fatalf("delete client: %d", status)
		}
		status, body, hdr = jsonRequest(t, http.MethodGet, api+"/clients/"+id, tok, "")
		wantAdminProblem(t, "deleted client", status, body, hdr, http.StatusNotFound)
		if _, code := s.ccToken(t, id, newSecret, "reports:read"); code != "invalid_client" {
			t.Fatalf("deleted client got a token: %q", code)
		}

		// Users.
		status, u, _ := jsonRequest(t, http.MethodPost, api+"/users", tok, `{"email":"dora@example.com","password":"`+alicePassword+`","name":"Dora"}`)
		if status != http.StatusCreated || u["email"] != "dora@example.com" {
			t.Fatalf("create user: %d %v", status, u)
		}
		uid := u["id"].(string)
		status, body, hdr = jsonRequest(t, http.MethodPost, api+"/users", tok, `{"email":"DORA@example.com","password":"another password"}`)
		wantAdminProblem(t, "e-mail taken", status, body, hdr, http.StatusConflict)
		for i := 0; i < 2; i++ {
			if status, _, _ := jsonRequest(t, http.MethodPost, api+"/users", tok, fmt.Sprintf(`{"email":"u%d@example.com","password":"password %d!"}`, i, i)); status != http.StatusCreated {
				t.Fatalf("create u%d: %d", i, status)
			}
		}
		if got := adminPageAll(t, api+"/users", tok, 2, "id"); len(got) != 3 {
			t.Fatalf("paged users: %d", len(got))
		}
		status, got, _ = jsonRequest(t, http.MethodPut, api+"/users/"+uid, tok, `{"email":"dora@example.com","name":"Dora D.","email_verified":true,"roles":["editor"]}`)
		if status != http.StatusOK || got["name"] != "Dora D." || got["email_verified"] != true {
			t.Fatalf("update user: %d %v", status, got)
		}

		// Disable: Dora's browser session ends and she cannot sign in.
		app, appSecret := s.client(admin.ClientSpec{Name: "App", RedirectURIs: []string{appRedirect}, SkipConsent: true})
		conf := s.oauthConfig(app, appSecret, "openid")
		b := s.newBrowser()
		_, ch := pkce()
		if cb := b.authorizeAndLogin(conf.AuthCodeURL(randomString(t, 16), ch), "dora@example.com", alicePassword); cb.Get("code") == "" {
			t.Fatalf("sign-in: %v", cb)
		}
		if cb := b.get(conf.AuthCodeURL(randomString(t, 16), ch)).callback(t); cb.Get("code") == "" {
			t.Fatal("not signed in")
		}
		status, got, _ = jsonRequest(t, http.MethodPost, api+"/users/"+uid+"/disable", tok, "")
		if status != http.StatusOK || got["disabled"] != true {
			t.Fatalf("disable: %d %v", status, got)
		}
		p := b.get(conf.AuthCodeURL(randomString(t, 16), ch))
		if !p.isLoginPage() {
			t.Fatalf("still signed in after disable: %d", p.status)
		}
		if p = b.login(p, "dora@example.com", alicePassword); p.status != http.StatusUnauthorized || !p.isLoginPage() {
			t.Fatalf("a disabled user signed in: %d", p.status)
		}
		if status, _, _ := jsonRequest(t, http.MethodPost, api+"/users/"+uid+"/enable", tok, ""); status != http.StatusOK {
			t.Fatalf("enable: %d", status)
		}
		// Set password: the new one works, the old one does not.
		if status, _, _ := jsonRequest(t, http.MethodPut, api+"/users/"+uid+"/password", tok, `{"password":"a brand new password"}`); status != http.StatusNoContent {
			t.Fatalf("set password: %d", status)
		}
		fresh := s.newBrowser()
		if p := fresh.login(fresh.get(conf.AuthCodeURL(randomString(t, 16), ch)), "dora@example.com", alicePassword); p.status != http.StatusUnauthorized {
			t.Fatalf("old password: %d", p.status)
		}
		if cb := fresh.authorizeAndLogin(conf.AuthCodeURL(randomString(t, 16), ch), "dora@example.com", "a brand new password"); cb.Get("code") == "" {
			t.Fatalf("new password: %v", cb)
		}
		if status, _, _ := jsonRequest(t, http.MethodDelete, api+"/users/"+uid, tok, ""); status != http.StatusNoContent {
			t.Fatalf("delete user: %d", status)
		}
		status, body, hdr = jsonRequest(t, http.MethodGet, api+"/users/"+uid, tok, "")
		wantAdminProblem(t, "deleted user", status, body, hdr, http.StatusNotFound)
	})
}

// adminPageAll follows an admin listing page by page and returns the ids.
func adminPageAll(t *testing.T, u, tok string, limit int, idField string) []string {
	t.Helper()
	var ids []string
	after := ""
	for pages := 0; pages < 100; pages++ {
		status, body, _ := jsonRequest(t, http.MethodGet, fmt.Sprintf("%s?limit=%d&after=%s", u, limit, url.QueryEscape(after)), tok, "")
		items, _ := body["items"].([]interface{})
		if status != http.StatusOK || len(items) > limit {
			t.Fatalf("page %d of %s: %d %v", pages, u, status, body)
		}
		for _, it := range items {
			ids = append(ids, it.(map[string]interface{})[idField].(string))
		}
		next, _ := body["next"].(string)
		if next == "" {
			return ids
		}
		after = next
	}
	t.Fatalf("%s: paging does not end", u)
	return nil
}
