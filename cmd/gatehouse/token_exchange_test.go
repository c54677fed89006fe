package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josev4 "github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/internal/clocktest"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/provider/audit"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// Resources of the token exchange tests: service A serves the first and
// may exchange for the second, which service B serves; B may exchange for
// the third.
const (
	exchangeResourceA = "https://a.example/api"
	exchangeResourceB = "https://b.example/api"
	exchangeResourceC = "https://c.example/api"
)

// exchange posts a token exchange request as clientID and returns the
// status and answer.
func (s *testServer) exchange(t *testing.T, clientID, secret string, form url.Values) (int, map[string]any) {
	t.Helper()
	f := url.Values{"grant_type": {provider.GrantTokenExchange}}
	for k, v := range form {
		f[k] = v
	}
	status, out, _ := postForm(t, s.issuer+provider.PathToken, f, clientID, secret)
	return status, out
}

// delegation is a token exchange form: subject as an access token, with
// the actor token when one is given.
func delegation(subject, actor string, extra ...string) url.Values {
	f := url.Values{"subject_token": {subject}, "subject_token_type": {provider.TokenTypeAccessToken}}
	if actor != "" {
		f.Set("actor_token", actor)
		f.Set("actor_token_type", provider.TokenTypeAccessToken)
	}
	for i := 0; i+1 < len(extra); i += 2 {
		f.Add(extra[i], extra[i+1])
	}
	return f
}

// wantExchangeError fails unless the answer is a 400 with code.
func wantExchangeError(t *testing.T, what string, status int, out map[string]any, code string) {
	t.Helper()
	if status != http.StatusBadRequest || out["error"] != code {
		t.Fatalf("%s: want 400 %s, got %d %v", what, code, status, out)
	}
}

// exchangeParties are the clients of a delegation: a web app a person
// signs in to (its tokens are for service A), services A and B, and C,
// the API B's tokens are for.
type exchangeParties struct {
	web, a, b, c                         *storage.Client
	webSecret, aSecret, bSecret, cSecret string
}

func newExchangeParties(s *testServer) exchangeParties {
	var p exchangeParties
	p.web, p.webSecret = s.client(admin.ClientSpec{
		Name: "Web app", RedirectURIs: []string{"http://127.0.0.1/cb"}, SkipConsent: true,
		Scopes: []string{"openid", "docs.read", "docs.write"}, Audience: []string{exchangeResourceA}, DefaultResource: exchangeResourceA,
	})
	p.a, p.aSecret = s.client(admin.ClientSpec{
		Name: "Service A", GrantTypes: []string{provider.GrantClientCredentials, provider.GrantTokenExchange},
		Scopes: []string{"docs.read", "docs.write"}, Resources: []string{exchangeResourceA}, Audience: []string{exchangeResourceB},
	})
	p.b, p.bSecret = s.client(admin.ClientSpec{
		Name: "Service B", GrantTypes: []string{provider.GrantClientCredentials, provider.GrantTokenExchange},
		Scopes: []string{"docs.read"}, Resources: []string{exchangeResourceB}, Audience: []string{exchangeResourceC},
		AccessTokenFormat: provider.FormatJWT,
	})
	p.c, p.cSecret = s.client(admin.ClientSpec{
		Name: "API C", GrantTypes: []string{provider.GrantClientCredentials}, Resources: []string{exchangeResourceC},
	})
	return p
}

// TestTokenExchangeDelegation: service A exchanges a person's access token,
// with its own token as the actor token, for a token for B naming A in
// act; B exchanges that one, with its actor token, for a JWT for C whose
// act is the chain B then A. Introspection shows act; no refresh token is
// issued; the trail names subject, actor and client.
func TestTokenExchangeDelegation(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		s, dsn := startServerDSN(t, dialect)
		p := newExchangeParties(s)
		password := "pw-" + randomString(t, 8)
		alice := s.user("alice@example.com", password)

		_, disc, _ := getJSON(t, s.issuer+"/.well-known/oauth-authorization-server")
		if !slices.Contains(toStrings(disc["grant_types_supported"]), provider.GrantTokenExchange) {
			t.Fatalf("discovery: grant_types_supported %v", disc["grant_types_supported"])
		}

		user := s.signIn(t, s.oauthConfig(p.web, p.webSecret, "openid", "docs.read"), alice.Email, password)
		actorA, code := s.ccToken(t, p.a.ID, p.aSecret)
		if code != "" {
			t.Fatalf("A's own token: %s", code)
		}

		status, out := s.exchange(t, p.a.ID, p.aSecret, delegation(user.AccessToken, actorA, "resource", exchangeResourceB))
		if status != http.StatusOK {
			t.Fatalf("A's exchange: %d %v", status, out)
		}
		// RFC 8693 §2.2.1: issued_token_type; no refresh token (the
		// exchanged token is as short-lived as its subject token).
		if out["issued_token_type"] != provider.TokenTypeAccessToken || out["refresh_token"] != nil ||
			out["scope"] != "docs.read" || strings.ToLower(out["token_type"].(string)) != "bearer" {
			t.Fatalf("A's exchange answer %v", out)
		}
		forB := out["access_token"].(string)
		info := s.introspect(t, p.b.ID, p.bSecret, forB)
		act, _ := info["act"].(map[string]any)
		if info["active"] != true || info["sub"] != alice.ID || info["client_id"] != p.a.ID ||
			!slices.Equal(toStrings(info["aud"]), []string{exchangeResourceB}) || act["sub"] != p.a.ID || act["act"] != nil {
			t.Fatalf("introspection of A's exchanged token by B: %v", info)
		}
		// The person's own token carries no act.
		if info := s.introspect(t, p.a.ID, p.aSecret, user.AccessToken); info["active"] != true || info["act"] != nil {
			t.Fatalf("introspection of the person's token: %v", info)
		}

		// B exchanges A's token: the chain is B acting for A acting for alice.
		actorB, code := s.ccToken(t, p.b.ID, p.bSecret)
		if code != "" {
			t.Fatalf("B's own token: %s", code)
		}
		status, out = s.exchange(t, p.b.ID, p.bSecret, delegation(forB, actorB, "audience", exchangeResourceC))
		if status != http.StatusOK {
			t.Fatalf("B's exchange: %d %v", status, out)
		}
		forC := out["access_token"].(string)
		_, claims := verifyAccessJWT(t, s, forC, josev4.RS256)
		outer, _ := claims["act"].(map[string]any)
		inner, _ := outer["act"].(map[string]any)
		if claims["sub"] != alice.ID || claims["client_id"] != p.b.ID || outer["sub"] != p.b.ID || inner["sub"] != p.a.ID || inner["act"] != nil {
			t.Fatalf("B's exchanged JWT: %v", claims)
		}
		info = s.introspect(t, p.c.ID, p.cSecret, forC)
		outer, _ = info["act"].(map[string]any)
		inner, _ = outer["act"].(map[string]any)
		if info["active"] != true || outer["sub"] != p.b.ID || inner["sub"] != p.a.ID {
			t.Fatalf("introspection of B's exchanged token by C: %v", info)
		}
		// An exchanged token is not more than its subject token: at most
		// as long-lived.
		if exp, subjExp := info["exp"].(float64), s.introspect(t, p.a.ID, p.aSecret, user.AccessToken)["exp"].(float64); exp > subjExp {
			t.Fatalf("the exchanged token expires at %v, after its subject token (%v)", exp, subjExp)
		}

		waitAuditEvents(t, dsn,
			auditRow{Type: audit.TokenExchanged, Actor: "client:" + p.a.ID, Subject: "user:" + alice.ID, ClientID: p.a.ID},
			auditRow{Type: audit.TokenExchanged, Actor: "client:" + p.b.ID, Subject: "user:" + alice.ID, ClientID: p.b.ID})
		var chain string
		for _, e := range allAuditEvents(t, s.store) {
			if e.Type == audit.TokenExchanged && e.ClientID == p.b.ID {
				if e.Details["actor"] != p.b.ID || e.Details["resource"] != exchangeResourceC {
					t.Fatalf("B's exchange event: %+v", e)
				}
				chain = e.Details["act"]
			}
		}
		if chain != p.b.ID+" "+p.a.ID {
			t.Fatalf("the trail's act chain %q", chain)
		}
	})
}

// TestTokenExchangeRefused: every faulty exchange gets its RFC 8693
// §2.2.2 error, and no token.
func TestTokenExchangeRefused(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		s, dsn := startServerDSN(t, dialect)
		p := newExchangeParties(s)
		password := "pw-" + randomString(t, 8)
		alice := s.user("alice@example.com", password)
		user := s.signIn(t, s.oauthConfig(p.web, p.webSecret, "openid", "docs.read"), alice.Email, password)
		actorA, _ := s.ccToken(t, p.a.ID, p.aSecret)
		actorB, _ := s.ccToken(t, p.b.ID, p.bSecret)
		ctx := context.Background()

		// Admin rules: the grant is for confidential clients an operator
		// registers; impersonation needs the grant.
		if _, _, err := s.app.admin.CreateClient(ctx, nil, admin.ClientSpec{
			Name: "SPA", Public: true, GrantTypes: []string{provider.GrantAuthorizationCode, provider.GrantTokenExchange},
			RedirectURIs: []string{"http://127.0.0.1/cb"},
		}); err == nil || !strings.Contains(err.Error(), "public client") {
			t.Fatalf("a public client with the token exchange grant: %v", err)
		}
		if _, _, err := s.app.admin.CreateClient(ctx, nil, admin.ClientSpec{
			Name: "Machine", GrantTypes: []string{provider.GrantClientCredentials}, TokenExchangeImpersonation: true,
		}); err == nil || !strings.Contains(err.Error(), "token_exchange_impersonation") {
			t.Fatalf("impersonation without the grant: %v", err)
		}

		cases := []struct {
			name           string
			client, secret string
			form           url.Values
			code           string
		}{
			{"missing subject_token", p.a.ID, p.aSecret, url.Values{"subject_token_type": {provider.TokenTypeAccessToken}, "actor_token": {actorA}, "actor_token_type": {provider.TokenTypeAccessToken}}, "invalid_request"},
			{"missing subject_token_type", p.a.ID, p.aSecret, url.Values{"subject_token": {user.AccessToken}, "actor_token": {actorA}, "actor_token_type": {provider.TokenTypeAccessToken}}, "invalid_request"},
			{"unknown subject_token_type", p.a.ID, p.aSecret, delegation(user.AccessToken, actorA, "subject_token_type", "urn:example:mine"), "invalid_request"},
			{"actor_token_type alone", p.a.ID, p.aSecret, delegation(user.AccessToken, "", "actor_token_type", provider.TokenTypeAccessToken), "invalid_request"},
			{"actor_token without its type", p.a.ID, p.aSecret, delegation(user.AccessToken, "", "actor_token", actorA), "invalid_request"},
			{"requested_token_type id_token", p.a.ID, p.aSecret, delegation(user.AccessToken, actorA, "requested_token_type", provider.TokenTypeIDToken), "invalid_request"},
			{"unverifiable subject token", p.a.ID, p.aSecret, delegation("not-a-token-of-this-server", actorA), "invalid_grant"},
			{"unverifiable actor token", p.a.ID, p.aSecret, delegation(user.AccessToken, "not.a.token"), "invalid_grant"},
			{"subject token neither issued to nor for the client", p.b.ID, p.bSecret, delegation(user.AccessToken, actorB), "invalid_grant"},
			{"another client's actor token", p.a.ID, p.aSecret, delegation(user.AccessToken, actorB), "invalid_grant"},
			{"impersonation", p.a.ID, p.aSecret, delegation(user.AccessToken, ""), "unauthorized_client"},
			{"scope widening", p.a.ID, p.aSecret, delegation(user.AccessToken, actorA, "scope", "docs.read docs.write"), "invalid_scope"},
			{"resource not allowed", p.a.ID, p.aSecret, delegation(user.AccessToken, actorA, "resource", exchangeResourceC), "invalid_target"},
			{"audience not allowed", p.a.ID, p.aSecret, delegation(user.AccessToken, actorA, "audience", "https://elsewhere.example"), "invalid_target"},
			{"client without the grant", p.c.ID, p.cSecret, delegation(user.AccessToken, actorA), "unauthorized_client"},
		}
		for _, c := range cases {
			status, out := s.exchange(t, c.client, c.secret, c.form)
			wantExchangeError(t, c.name, status, out, c.code)
		}
		waitAuditEvents(t, dsn, auditRow{Type: audit.TokenExchangeRefused, Actor: "client:" + p.a.ID, ClientID: p.a.ID})

		// An operator may allow a client impersonation: the token then
		// carries no act.
		imp, impSecret := s.client(admin.ClientSpec{
			Name: "Impersonator", GrantTypes: []string{provider.GrantTokenExchange}, TokenExchangeImpersonation: true,
			Scopes: []string{"docs.read"}, Resources: []string{exchangeResourceA},
		})
		status, out := s.exchange(t, imp.ID, impSecret, delegation(user.AccessToken, ""))
		if status != http.StatusOK || out["scope"] != "docs.read" {
			t.Fatalf("allowed impersonation: %d %v", status, out)
		}
		if info := s.introspect(t, imp.ID, impSecret, out["access_token"].(string)); info["sub"] != alice.ID || info["act"] != nil {
			t.Fatalf("introspection of an impersonation token: %v", info)
		}

		// A revoked subject token is refused.
		status, _, _ = postForm(t, s.issuer+provider.PathRevoke, url.Values{"token": {user.AccessToken}}, p.web.ID, p.webSecret)
		if status != http.StatusOK {
			t.Fatalf("revoke: %d", status)
		}
		status, out = s.exchange(t, p.a.ID, p.aSecret, delegation(user.AccessToken, actorA))
		wantExchangeError(t, "revoked subject token", status, out, "invalid_grant")
	})
}

// TestTokenExchangeExpiredSubject: an expired subject token is
// invalid_grant, and so is a token exchanged for it (it expires no later).
func TestTokenExchangeExpiredSubject(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		clock := clocktest.New(time.Now())
		s, _ := startServerAt(t, dialect, clock)
		p := newExchangeParties(s)
		password := "pw-" + randomString(t, 8)
		alice := s.user("alice@example.com", password)
		user := s.signIn(t, s.oauthConfig(p.web, p.webSecret, "openid", "docs.read"), alice.Email, password)
		actorA, _ := s.ccToken(t, p.a.ID, p.aSecret)
		status, out := s.exchange(t, p.a.ID, p.aSecret, delegation(user.AccessToken, actorA, "resource", exchangeResourceB))
		if status != http.StatusOK {
			t.Fatalf("exchange: %d %v", status, out)
		}
		forB := out["access_token"].(string)

		clock.Advance(s.app.cfg.Lifespans.AccessToken + time.Minute)
		// A fresh actor token: only the subject token has expired.
		actorA, code := s.ccToken(t, p.a.ID, p.aSecret)
		if code != "" {
			t.Fatalf("A's token after the subject token's expiry: %s", code)
		}
		status, out = s.exchange(t, p.a.ID, p.aSecret, delegation(user.AccessToken, actorA))
		wantExchangeError(t, "expired subject token", status, out, "invalid_grant")
		// Nor can the token it was exchanged for be exchanged again.
		actorB, _ := s.ccToken(t, p.b.ID, p.bSecret)
		status, out = s.exchange(t, p.b.ID, p.bSecret, delegation(forB, actorB))
		wantExchangeError(t, "expired exchanged token", status, out, "invalid_grant")
	})
}

// TestTokenExchangeIDTokens: a client the operator allowed ID tokens
// exchanges a person's ID token — gatehouse's own, issued to it, or one a
// federation upstream issued, for a linked account — once; every faulty
// one (an HMAC or foreign key signature, another aud, expired, without
// exp, replayed, an unlinked subject, a may_act naming another) is
// invalid_grant, and a client not allowed ID tokens is unauthorized_client.
func TestTokenExchangeIDTokens(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		idp := newTestIdP(t)
		s := startServer(t, dialect, func(c *config.Config) {
			c.HTTPClient.AllowPrivateNetworks = true // the IdP is on loopback
			c.Upstreams = []config.Upstream{{ID: "corp", Name: "Corp SSO", Issuer: idp.url, ClientID: "gatehouse-at-corp", ClientSecret: "upstream-secret"}}
		})
		ctx := context.Background()
		password := "pw-" + randomString(t, 8)
		alice := s.user("alice@example.com", password)
		now := time.Now().UTC()
		if err := s.store.CreateFederatedIdentity(ctx, &storage.FederatedIdentity{
			UpstreamID: "corp", Subject: "idp-alice", UserID: alice.ID, CreatedAt: now, LastLoginAt: now,
		}); err != nil {
			t.Fatal(err)
		}
		idTypes := []string{provider.TokenTypeIDToken, provider.TokenTypeJWT}
		svc, svcSecret := s.client(admin.ClientSpec{
			Name: "Service", GrantTypes: []string{provider.GrantClientCredentials, provider.GrantTokenExchange},
			Scopes: []string{"docs.read"}, Audience: []string{exchangeResourceB}, TokenExchangeSubjectTypes: idTypes,
		})
		plain, plainSecret := s.client(admin.ClientSpec{
			Name: "Access tokens only", GrantTypes: []string{provider.GrantClientCredentials, provider.GrantTokenExchange}, Scopes: []string{"docs.read"},
		})
		if _, _, err := s.app.admin.CreateClient(ctx, nil, admin.ClientSpec{
			Name: "Bad type", GrantTypes: []string{provider.GrantTokenExchange}, TokenExchangeSubjectTypes: []string{provider.TokenTypeSAML2},
		}); err == nil || !strings.Contains(err.Error(), "token_exchange_subject_types") {
			t.Fatalf("a client allowed SAML subject tokens: %v", err)
		}
		actor, _ := s.ccToken(t, svc.ID, svcSecret)
		plainActor, _ := s.ccToken(t, plain.ID, plainSecret)

		claims := func(mod func(map[string]any)) map[string]any {
			now := time.Now()
			c := map[string]any{
				"iss": idp.url, "sub": "idp-alice", "aud": "gatehouse-at-corp", "jti": uuid.NewString(),
				"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
			}
			if mod != nil {
				mod(c)
			}
			return c
		}
		sign := func(c map[string]any) string {
			return signAssertion(t, jose.SigningKey{Algorithm: jose.ES256, Key: idp.key}, idp.kid, "JWT", c)
		}
		form := func(idToken, typ, actorToken string) url.Values {
			return url.Values{
				"subject_token": {idToken}, "subject_token_type": {typ}, "scope": {"docs.read"}, "resource": {exchangeResourceB},
				"actor_token": {actorToken}, "actor_token_type": {provider.TokenTypeAccessToken},
			}
		}

		good := sign(claims(nil))
		status, out := s.exchange(t, plain.ID, plainSecret, form(good, provider.TokenTypeIDToken, plainActor))
		wantExchangeError(t, "a client not allowed ID tokens", status, out, "unauthorized_client")
		status, out = s.exchange(t, svc.ID, svcSecret, form(good, provider.TokenTypeIDToken, actor))
		if status != http.StatusOK || out["scope"] != "docs.read" || out["refresh_token"] != nil {
			t.Fatalf("upstream ID token: %d %v", status, out)
		}
		info := s.introspect(t, svc.ID, svcSecret, out["access_token"].(string))
		if act, _ := info["act"].(map[string]any); info["sub"] != alice.ID || act["sub"] != svc.ID {
			t.Fatalf("introspection of the token for an upstream ID token: %v", info)
		}
		status, out = s.exchange(t, svc.ID, svcSecret, form(good, provider.TokenTypeIDToken, actor))
		wantExchangeError(t, "replayed ID token", status, out, "invalid_grant")

		// may_act naming the actor is honoured; naming another is not.
		status, out = s.exchange(t, svc.ID, svcSecret, form(sign(claims(func(c map[string]any) { c["may_act"] = map[string]any{"sub": svc.ID} })), provider.TokenTypeJWT, actor))
		if status != http.StatusOK {
			t.Fatalf("may_act naming the actor: %d %v", status, out)
		}

		hmacKey := []byte(strings.Repeat("k", 32))
		stranger := newTestIdP(t)
		bad := map[string]string{
			"HS256":       signAssertion(t, jose.SigningKey{Algorithm: jose.HS256, Key: hmacKey}, idp.kid, "JWT", claims(nil)),
			"another key": signAssertion(t, jose.SigningKey{Algorithm: jose.ES256, Key: stranger.key}, idp.kid, "JWT", claims(nil)),
			"another aud": sign(claims(func(c map[string]any) { c["aud"] = "someone-else" })),
			"expired": sign(claims(func(c map[string]any) {
				c["iat"], c["exp"] = now.Add(-10*time.Minute).Unix(), now.Add(-time.Minute).Unix()
			})),
			"no exp":            sign(claims(func(c map[string]any) { delete(c, "exp") })),
			"no jti":            sign(claims(func(c map[string]any) { delete(c, "jti") })),
			"unlinked subject":  sign(claims(func(c map[string]any) { c["sub"] = "idp-mallory" })),
			"untrusted issuer":  signAssertion(t, jose.SigningKey{Algorithm: jose.ES256, Key: stranger.key}, stranger.kid, "JWT", claims(func(c map[string]any) { c["iss"] = stranger.url })),
			"may_act elsewhere": sign(claims(func(c map[string]any) { c["may_act"] = map[string]any{"sub": "someone-else"} })),
			"not a JWT":         "not-a-jwt",
			"alg none":          unsignedJWT(t, claims(nil)),
		}
		for name, tok := range bad {
			status, out := s.exchange(t, svc.ID, svcSecret, form(tok, provider.TokenTypeIDToken, actor))
			wantExchangeError(t, name, status, out, "invalid_grant")
		}

		// gatehouse's own ID token, issued to the client that exchanges it.
		web, webSecret := s.client(admin.ClientSpec{
			Name: "Web service", RedirectURIs: []string{"http://127.0.0.1/cb"}, SkipConsent: true,
			GrantTypes: []string{provider.GrantAuthorizationCode, provider.GrantClientCredentials, provider.GrantTokenExchange},
			Scopes:     []string{"openid", "docs.read"}, Audience: []string{exchangeResourceB},
			TokenExchangeSubjectTypes: []string{provider.TokenTypeIDToken},
		})
		own := s.signIn(t, s.oauthConfig(web, webSecret, "openid", "docs.read"), alice.Email, password)
		idToken, _ := own.Extra("id_token").(string)
		webActor, _ := s.ccToken(t, web.ID, webSecret)
		status, out = s.exchange(t, svc.ID, svcSecret, form(idToken, provider.TokenTypeIDToken, actor))
		wantExchangeError(t, "gatehouse ID token issued to another client", status, out, "invalid_grant")
		status, out = s.exchange(t, web.ID, webSecret, form(idToken, provider.TokenTypeIDToken, webActor))
		if status != http.StatusOK {
			t.Fatalf("gatehouse's own ID token: %d %v", status, out)
		}
		if info := s.introspect(t, web.ID, webSecret, out["access_token"].(string)); info["sub"] != alice.ID {
			t.Fatalf("introspection of the token for gatehouse's ID token: %v", info)
		}
		status, out = s.exchange(t, web.ID, webSecret, form(idToken, provider.TokenTypeIDToken, webActor))
		wantExchangeError(t, "gatehouse ID token replayed", status, out, "invalid_grant")
	})
}

// TestTokenExchangeAdminAPI: the admin API takes and shows the token
// exchange policy of a client, and refuses it without the grant.
func TestTokenExchangeAdminAPI(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect)
		robot, robotSecret := s.client(admin.ClientSpec{Name: "robot", Scopes: []string{provider.ScopeAdmin}, FirstParty: true})
		tok, code := s.ccToken(t, robot.ID, robotSecret, provider.ScopeAdmin)
		if code != "" {
			t.Fatal(code)
		}
		api := s.admin + "/admin"
		status, created, _ := jsonRequest(t, http.MethodPost, api+"/clients", tok,
			`{"client_name":"Service","grant_types":["client_credentials","`+provider.GrantTokenExchange+`"],"scope":"docs.read",`+
				`"token_exchange_impersonation":true,"token_exchange_subject_types":["`+provider.TokenTypeAccessToken+`","`+provider.TokenTypeIDToken+`"]}`)
		if status != http.StatusCreated || created["token_exchange_impersonation"] != true ||
			!slices.Equal(toStrings(created["token_exchange_subject_types"]), []string{provider.TokenTypeAccessToken, provider.TokenTypeIDToken}) {
			t.Fatalf("create: %d %v", status, created)
		}
		c, err := s.store.ClientByID(context.Background(), created["client_id"].(string))
		if err != nil || !c.TokenExchangeImpersonation || len(c.TokenExchangeSubjectTypes) != 2 {
			t.Fatalf("stored: %+v, %v", c, err)
		}
		status, body, hdr := jsonRequest(t, http.MethodPost, api+"/clients", tok,
			`{"client_name":"Job","grant_types":["client_credentials"],"token_exchange_subject_types":["`+provider.TokenTypeIDToken+`"]}`)
		wantAdminProblem(t, "subject types without the grant", status, body, hdr, http.StatusBadRequest)
		if d, _ := body["detail"].(string); !strings.Contains(d, "token_exchange_subject_types") {
			t.Fatalf("detail: %q", d)
		}
	})
}

// unsignedJWT is claims as an unsecured JWT (alg none, RFC 7519 §6).
func unsignedJWT(t *testing.T, claims map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + base64.RawURLEncoding.EncodeToString(payload) + "."
}
