package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/internal/clocktest"
	"github.com/gatehouse-dev/gatehouse/internal/testservices"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/provider/audit"
	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore/bunstoretest"
)

// deviceInterval is the server's poll interval in these tests: the
// shortest allowed, because x/oauth2's DeviceAccessToken waits one
// interval of real time before its first poll.
const deviceInterval = time.Second

func deviceConfig(c *config.Config) { c.Device.Interval = deviceInterval }

// deviceClient registers a public device client (a TV app).
func (s *testServer) deviceClient(grants ...string) (*storage.Client, *oauth2.Config) {
	s.t.Helper()
	c, _ := s.client(admin.ClientSpec{
		Name: "Living-room TV", Public: true, GrantTypes: grants,
		Scopes: []string{"openid", "profile", "email", "offline_access"},
	})
	return c, &oauth2.Config{
		ClientID: c.ID, Scopes: []string{"openid", "profile", "offline_access"},
		Endpoint: oauth2.Endpoint{
			DeviceAuthURL: s.issuer + provider.PathDeviceAuthorization, TokenURL: s.issuer + provider.PathToken,
			AuthStyle: oauth2.AuthStyleInParams,
		},
	}
}

// pollDevice makes one token request with the device code, as a device
// polls, and returns the status and body.
func (s *testServer) pollDevice(clientID, deviceCode string) (int, map[string]any) {
	s.t.Helper()
	form := url.Values{"grant_type": {provider.GrantDeviceCode}, "client_id": {clientID}, "device_code": {deviceCode}}
	resp, err := http.PostForm(s.issuer+provider.PathToken, form)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

func (s *testServer) wantPoll(clientID, deviceCode, wantErr string) {
	s.t.Helper()
	status, body := s.pollDevice(clientID, deviceCode)
	if body["error"] != wantErr || status != http.StatusBadRequest {
		s.t.Fatalf("poll = %d %v; want 400 %s", status, body, wantErr)
	}
}

// enterUserCode submits code on the device page, signing in on the way
// when the browser is not signed in, and returns the page that follows.
func (b *browser) enterUserCode(code, email, password string) *page {
	b.t.Helper()
	p := b.get(b.s.issuer + provider.PathDeviceVerification + "?" + url.Values{"user_code": {code}}.Encode())
	form := p.formValues()
	form.Set("user_code", code)
	p = b.post(b.s.issuer+provider.PathDeviceVerification, form)
	if p.isLoginPage() {
		// Back to the device page with the code after signing in.
		p = b.login(p, email, password)
		if !strings.Contains(p.body, `action="/device"`) {
			b.t.Fatalf("after signing in: %d %s, want the device page with the code: %.500s", p.status, p.url, p.body)
		}
		form = p.formValues()
		form.Set("user_code", code)
		p = b.post(b.s.issuer+provider.PathDeviceVerification, form)
	}
	return p
}

// decideDevice submits the confirmation page p with decision.
func (b *browser) decideDevice(p *page, decision string) *page {
	b.t.Helper()
	form := p.formValues()
	form.Set("decision", decision)
	return b.post(b.s.issuer+provider.PathDeviceVerification+"/decide", form)
}

var userCodeFormat = regexp.MustCompile(`^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$`)

// TestDeviceFlow runs the device authorization grant end to end with
// x/oauth2's device support as the device and the real pages with a cookie
// jar as the person's phone: discovery, pending, slow_down (RFC 8628
// §3.5), the phishing warning (§5.4), approval once, the tokens (access,
// refresh, ID) once, denial, expiry, and a client without the grant.
func TestDeviceFlow(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		clock := clocktest.New(time.Now().UTC())
		s, _ := startServerAt(t, dialect, clock, deviceConfig)
		u := s.user("tv@example.com", "correct horse battery")
		c, cfg := s.deviceClient(provider.GrantDeviceCode, "refresh_token")

		var meta map[string]any
		resp, err := http.Get(s.issuer + "/.well-known/oauth-authorization-server")
		if err != nil {
			t.Fatal(err)
		}
		_ = json.NewDecoder(resp.Body).Decode(&meta)
		resp.Body.Close()
		if meta["device_authorization_endpoint"] != s.issuer+provider.PathDeviceAuthorization ||
			!strings.Contains(jsonString(meta["grant_types_supported"]), provider.GrantDeviceCode) {
			t.Fatalf("discovery: %v %v", meta["device_authorization_endpoint"], meta["grant_types_supported"])
		}

		da, err := cfg.DeviceAuth(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(da.DeviceCode, provider.PrefixDeviceCode) || !userCodeFormat.MatchString(da.UserCode) ||
			da.VerificationURI != s.issuer+"/device" || da.VerificationURIComplete != s.issuer+"/device?user_code="+da.UserCode ||
			da.Interval != 1 || time.Until(da.Expiry) < 9*time.Minute {
			t.Fatalf("device authorization = %+v", da)
		}

		// Not approved yet; polled again at once: slow down.
		s.wantPoll(c.ID, da.DeviceCode, "authorization_pending")
		s.wantPoll(c.ID, da.DeviceCode, "slow_down")
		clock.Advance(deviceInterval + 5*time.Second)
		s.wantPoll(c.ID, da.DeviceCode, "authorization_pending")
		// A device code this server did not issue.
		s.wantPoll(c.ID, provider.PrefixDeviceCode+"forged.code", "invalid_grant")

		// The person types the code in lower case with a space, signs in,
		// and sees who asks, for what, with the warning.
		b := s.newBrowser()
		typed := strings.ToLower(strings.Replace(da.UserCode, "-", " ", 1))
		p := b.enterUserCode(typed, "tv@example.com", "correct horse battery")
		if p.status != http.StatusOK || !strings.Contains(p.body, "A device is asking to sign in: approve only if you started this on a device you trust and the code matches.") ||
			!strings.Contains(p.body, "Living-room TV") || !strings.Contains(p.body, da.UserCode) || !strings.Contains(p.body, "offline_access") {
			t.Fatalf("confirmation page: %d %.1500s", p.status, p.body)
		}
		confirm := p
		p = b.decideDevice(confirm, "allow")
		if p.status != http.StatusOK || !strings.Contains(p.body, `id="device-done"`) {
			t.Fatalf("after allow: %d %.800s", p.status, p.body)
		}
		// The same code again: refused, once bound.
		if p = b.decideDevice(confirm, "allow"); p.status != http.StatusBadRequest {
			t.Fatalf("second approval: %d %.500s", p.status, p.body)
		}
		if p = b.decideDevice(confirm, "deny"); p.status != http.StatusBadRequest {
			t.Fatalf("denial after approval: %d %.500s", p.status, p.body)
		}

		clock.Advance(time.Minute)
		tok, err := cfg.DeviceAccessToken(ctx, da)
		if err != nil {
			t.Fatal(err)
		}
		idToken, _ := tok.Extra("id_token").(string)
		if tok.AccessToken == "" || tok.RefreshToken == "" || idToken == "" {
			t.Fatalf("token = %+v, id_token %q; want access, refresh and ID tokens", tok, idToken)
		}
		// Single use: the code's next poll gets nothing.
		clock.Advance(time.Minute)
		s.wantPoll(c.ID, da.DeviceCode, "invalid_grant")
		// The refresh token works.
		refreshed, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		if err != nil {
			t.Fatalf("refresh: %v", err)
		}
		// The device is listed among the person's apps; revoking it there
		// ends its refresh token.
		apps := b.get(s.issuer + provider.PathAccount)
		if !strings.Contains(apps.body, "Living-room TV") {
			t.Fatalf("account apps page does not list the device: %.800s", apps.body)
		}
		form := apps.formValues()
		form.Set("client_id", c.ID)
		if p = b.post(s.issuer+provider.PathAccount+"/revoke", form); p.status != http.StatusOK {
			t.Fatalf("revoke the device app: %d %.500s", p.status, p.body)
		}
		if _, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: refreshed.RefreshToken}).Token(); err == nil {
			t.Fatal("the device's refresh token still works after the app was revoked")
		}

		// Denied.
		da2, err := cfg.DeviceAuth(ctx)
		if err != nil {
			t.Fatal(err)
		}
		p = b.enterUserCode(da2.UserCode, "tv@example.com", "correct horse battery")
		if p = b.decideDevice(p, "deny"); p.status != http.StatusOK {
			t.Fatalf("deny: %d %.500s", p.status, p.body)
		}
		s.wantPoll(c.ID, da2.DeviceCode, "access_denied")
		// Both decisions are in the audit trail, as the consent page's are.
		who := audit.UserSubject(u.ID)
		awaitEvents(t, s.store,
			wantEvent{Type: audit.ConsentGiven, Actor: who, Subject: who, ClientID: c.ID,
				Details: map[string]string{"scopes": "openid profile offline_access"}},
			wantEvent{Type: audit.ConsentDenied, Actor: who, Subject: who, ClientID: c.ID,
				Details: map[string]string{"grant": "device_code"}})

		// Expired: the clock passes the code's lifetime.
		da3, err := cfg.DeviceAuth(ctx)
		if err != nil {
			t.Fatal(err)
		}
		clock.Advance(provider.DefaultDeviceCodeLifetime + time.Second)
		s.wantPoll(c.ID, da3.DeviceCode, "expired_token")
		if p = b.enterUserCode(da3.UserCode, "", ""); p.status != http.StatusBadRequest || !strings.Contains(p.body, `id="device-error"`) {
			t.Fatalf("an expired code on the page: %d %.500s", p.status, p.body)
		}

		// Another client's device code is not this client's.
		_, otherCfg := s.deviceClient(provider.GrantDeviceCode)
		da4, err := otherCfg.DeviceAuth(ctx)
		if err != nil {
			t.Fatal(err)
		}
		s.wantPoll(c.ID, da4.DeviceCode, "invalid_grant")

		// A client without the grant is refused at the device endpoint.
		web, _ := s.client(admin.ClientSpec{Name: "web", Public: true, RedirectURIs: []string{"http://127.0.0.1/cb"}, Scopes: []string{"openid"}})
		codeCfg := &oauth2.Config{ClientID: web.ID, Endpoint: cfg.Endpoint}
		if _, err := codeCfg.DeviceAuth(ctx); err == nil || !strings.Contains(err.Error(), "unauthorized_client") {
			t.Fatalf("DeviceAuth for a client without the grant: %v; want unauthorized_client", err)
		}
	})
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestDeviceUserCodeGuessesThrottled: wrong user codes on the device page
// are limited per session and per IP (RFC 8628 §5.1), with one generic
// message; the limit lifts after a minute.
func TestDeviceUserCodeGuessesThrottled(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		clock := clocktest.New(time.Now().UTC())
		s, _ := startServerAt(t, dialect, clock, deviceConfig)
		s.user("guess@example.com", "correct horse battery")
		_, cfg := s.deviceClient(provider.GrantDeviceCode)
		da, err := cfg.DeviceAuth(ctx)
		if err != nil {
			t.Fatal(err)
		}
		b := s.newBrowser()
		wrong := "BBBB-BBBB"
		if wrong == da.UserCode {
			wrong = "CCCC-CCCC"
		}
		p := b.enterUserCode(wrong, "guess@example.com", "correct horse battery")
		for i := 1; i < 5; i++ {
			if p.status != http.StatusBadRequest || !strings.Contains(p.body, "That code is not valid") {
				t.Fatalf("wrong code %d: %d %.300s", i, p.status, p.body)
			}
			p = b.enterUserCode(wrong, "", "")
		}
		// The sixth try, even with the right code, waits.
		p = b.enterUserCode(da.UserCode, "", "")
		if p.status != http.StatusTooManyRequests || strings.Contains(p.body, "Living-room TV") {
			t.Fatalf("after 5 wrong codes: %d %.300s", p.status, p.body)
		}
		clock.Advance(time.Minute + time.Second)
		if p = b.enterUserCode(da.UserCode, "", ""); p.status != http.StatusOK || !strings.Contains(p.body, "Living-room TV") {
			t.Fatalf("a minute later: %d %.300s", p.status, p.body)
		}
	})
}

// TestDevicePollAndApproveOnTwoInstances: the device polls instance A while
// the person approves on instance B, both on one PostgreSQL database; the
// poll state and the approval are in the database.
func TestDevicePollAndApproveOnTwoInstances(t *testing.T) {
	t.Parallel()
	testservices.PostgresDSNFor(t, "several instances share a database only on PostgreSQL")
	ctx := context.Background()
	sharedSecret := randomString(t, 32)
	shared := func(c *config.Config) { c.Secret = sharedSecret; c.Device.Interval = deviceInterval }
	dsn := bunstoretest.NewDSN(t, "postgres")
	clock := clocktest.New(time.Now().UTC())
	opts := appOptions{now: clock.Now}
	a := startServerWith(t, openMigrated(t, dsn, bunstore.Options{Now: clock.Now}), opts, shared)
	b := startServerWith(t, openMigrated(t, dsn, bunstore.Options{Now: clock.Now}), opts, shared)
	a.user("two@example.com", "correct horse battery")
	c, cfg := a.deviceClient(provider.GrantDeviceCode, "refresh_token")
	da, err := cfg.DeviceAuth(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a.wantPoll(c.ID, da.DeviceCode, "authorization_pending")
	// B saw A's poll: polling B at once is too fast.
	b.wantPoll(c.ID, da.DeviceCode, "slow_down")

	br := b.newBrowser()
	p := br.enterUserCode(da.UserCode, "two@example.com", "correct horse battery")
	if p = br.decideDevice(p, "allow"); p.status != http.StatusOK {
		t.Fatalf("approve on B: %d %.500s", p.status, p.body)
	}
	clock.Advance(time.Minute)
	// Concurrent polls on both instances: exactly one gets the tokens; the
	// others are too fast (the poll's compare-and-set) or find the code
	// spent.
	const polls = 8
	results := make(chan string, polls)
	var wg sync.WaitGroup
	for i := range polls {
		srv := a
		if i%2 == 1 {
			srv = b
		}
		wg.Go(func() {
			status, body := srv.pollDevice(c.ID, da.DeviceCode)
			if status == http.StatusOK {
				results <- "ok"
				return
			}
			results <- fmt.Sprint(body["error"])
		})
	}
	wg.Wait()
	close(results)
	won := 0
	for r := range results {
		switch r {
		case "ok":
			won++
		case "slow_down", "invalid_grant":
		default:
			t.Errorf("a concurrent poll got %q", r)
		}
	}
	if won != 1 {
		t.Fatalf("%d concurrent polls got tokens; want exactly 1", won)
	}
	clock.Advance(time.Minute)
	b.wantPoll(c.ID, da.DeviceCode, "invalid_grant")
}

// userCodeLine is the line perform device-code prints the user code on.
var userCodeLine = regexp.MustCompile(`^\s+([BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4})$`)

// TestPerformDeviceCode: the CLI prints the verification URI and the user
// code, polls while the person approves in a browser, and prints the
// access token.
func TestPerformDeviceCode(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect, deviceConfig)
		s.user("cli@example.com", "correct horse battery")
		c, _ := s.deviceClient(provider.GrantDeviceCode)
		lc := startCommand(t, "perform", "device-code", "--endpoint", s.issuer, "--client-id", c.ID, "--scope", "openid profile")
		code := lc.waitLine(userCodeLine)[1]
		b := s.newBrowser()
		p := b.enterUserCode(code, "cli@example.com", "correct horse battery")
		if p = b.decideDevice(p, "allow"); p.status != http.StatusOK {
			t.Fatalf("approve: %d %.500s", p.status, p.body)
		}
		out, err := lc.wait()
		if err != nil || !strings.HasPrefix(strings.TrimSpace(out), provider.PrefixAccessToken) {
			t.Fatalf("perform device-code = %q, %v; stderr:\n%s", out, err, lc.stderr.String())
		}
		if !strings.Contains(lc.stderr.String(), s.issuer+"/device") {
			t.Errorf("stderr does not name the verification URI:\n%s", lc.stderr.String())
		}
	})
}

// deviceRequest posts form to the device authorization endpoint.
func (s *testServer) deviceRequest(form url.Values, user, pass string) (int, map[string]any) {
	s.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.issuer+provider.PathDeviceAuthorization, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

// TestDeviceFlowTokensAndChecks: a confidential client asking for a
// registered resource gets a JWT access token for exactly that resource
// and an ID token for the person who approved; bad requests get OAuth
// errors; a client that requires a second factor cannot be approved from
// a session without one.
func TestDeviceFlowTokensAndChecks(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		clock := clocktest.New(time.Now().UTC())
		s, _ := startServerAt(t, dialect, clock, deviceConfig)
		u := s.user("api@example.com", "correct horse battery")
		const api = "https://api.example.com/"
		if _, err := s.app.admin.CreateResource(ctx, nil, admin.ResourceSpec{ID: api, Scopes: []string{"reports:read"}, AccessTokenFormat: "jwt"}); err != nil {
			t.Fatal(err)
		}
		// client_secret_post: x/oauth2's DeviceAuth sends no credentials of
		// its own, only what SetAuthURLParam adds to the form.
		c, secret := s.client(admin.ClientSpec{
			Name: "Build agent", GrantTypes: []string{provider.GrantDeviceCode},
			Scopes:                  []string{"openid", "email", "reports:read", "reports:write"},
			TokenEndpointAuthMethod: provider.AuthMethodPost,
		})

		// Bad requests.
		for _, tc := range []struct {
			form       url.Values
			user, pass string
			status     int
			err        string
		}{
			{url.Values{"scope": {"openid"}, "client_id": {c.ID}, "client_secret": {"wrong"}}, "", "", http.StatusUnauthorized, "invalid_client"},
			{url.Values{"scope": {"openid"}}, c.ID, secret, http.StatusUnauthorized, "invalid_client"}, // not its registered method
			{url.Values{"scope": {"openid"}}, "", "", http.StatusUnauthorized, "invalid_client"},
			{url.Values{"scope": {"openid admin"}, "client_id": {c.ID}, "client_secret": {secret}}, "", "", http.StatusBadRequest, "invalid_scope"},
			{url.Values{"scope": {"reports:write"}, "resource": {api}, "client_id": {c.ID}, "client_secret": {secret}}, "", "", http.StatusBadRequest, "invalid_scope"},
			{url.Values{"scope": {"openid"}, "resource": {"https://unknown.example/"}, "client_id": {c.ID}, "client_secret": {secret}}, "", "", http.StatusBadRequest, "invalid_target"},
			{url.Values{"scope": {strings.Repeat("a ", 2000)}, "client_id": {c.ID}, "client_secret": {secret}}, "", "", http.StatusBadRequest, "invalid_scope"},
		} {
			if status, body := s.deviceRequest(tc.form, tc.user, tc.pass); status != tc.status || body["error"] != tc.err {
				t.Errorf("device request %v: %d %v; want %d %s", tc.form, status, body, tc.status, tc.err)
			}
		}
		if status, body := s.pollDevice(c.ID, "x"); status != http.StatusUnauthorized || body["error"] != "invalid_client" {
			t.Errorf("poll without the secret: %d %v; want 401 invalid_client", status, body)
		}

		cfg := &oauth2.Config{
			ClientID: c.ID, ClientSecret: secret, Scopes: []string{"openid", "email", "reports:read"},
			Endpoint: oauth2.Endpoint{
				DeviceAuthURL: s.issuer + provider.PathDeviceAuthorization, TokenURL: s.issuer + provider.PathToken,
				AuthStyle: oauth2.AuthStyleInParams,
			},
		}
		da, err := cfg.DeviceAuth(ctx, oauth2.SetAuthURLParam("resource", api), oauth2.SetAuthURLParam("client_secret", secret))
		if err != nil {
			t.Fatal(err)
		}
		b := s.newBrowser()
		p := b.enterUserCode(da.UserCode, "api@example.com", "correct horse battery")
		if !strings.Contains(p.body, "Build agent") || !strings.Contains(p.body, "reports:read") {
			t.Fatalf("confirmation page: %.800s", p.body)
		}
		if p = b.decideDevice(p, "allow"); p.status != http.StatusOK {
			t.Fatalf("approve: %d %.500s", p.status, p.body)
		}
		clock.Advance(time.Minute)
		tok, err := cfg.DeviceAccessToken(ctx, da)
		if err != nil {
			t.Fatal(err)
		}
		_, claims := verifyAccessJWT(t, s, tok.AccessToken, "RS256")
		if claims["aud"] != api && jsonString(claims["aud"]) != `["`+api+`"]` || claims["sub"] != u.ID || claims["client_id"] != c.ID {
			t.Errorf("access token claims = %v; want aud %s, sub %s", claims, api, u.ID)
		}
		id := idTokenClaims(t, tok)
		if id["sub"] != u.ID || jsonString(id["aud"]) != `["`+c.ID+`"]` && id["aud"] != c.ID || id["email"] != "api@example.com" || id["iss"] != s.issuer {
			t.Errorf("ID token claims = %v", id)
		}
		if tok.RefreshToken != "" {
			t.Errorf("a refresh token without offline_access: %q", tok.RefreshToken)
		}

		// A client that requires a second factor: a password-only session
		// cannot approve.
		mfa, mfaSecret := s.client(admin.ClientSpec{
			Name: "Sensitive", GrantTypes: []string{provider.GrantDeviceCode}, Scopes: []string{"openid"}, RequireMFA: true,
		})
		status, body := s.deviceRequest(url.Values{"scope": {"openid"}}, mfa.ID, mfaSecret) // client_secret_basic
		if status != http.StatusOK {
			t.Fatalf("device request: %d %v", status, body)
		}
		userCode, _ := body["user_code"].(string)
		confirm := b.enterUserCode(userCode, "", "")
		if p = b.decideDevice(confirm, "allow"); p.status != http.StatusForbidden {
			t.Fatalf("approval without a second factor: %d %.500s", p.status, p.body)
		}
		// Still pending: it can be denied.
		if p = b.decideDevice(confirm, "deny"); p.status != http.StatusOK {
			t.Fatalf("denial: %d %.500s", p.status, p.body)
		}
	})
}

// TestPerformDeviceCodeConfidential: perform device-code authenticates a
// confidential client at the device endpoint too (x/oauth2 alone would send
// its client_id only).
func TestPerformDeviceCodeConfidential(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect, deviceConfig)
		s.user("cli2@example.com", "correct horse battery")
		c, secret := s.client(admin.ClientSpec{Name: "CI", GrantTypes: []string{provider.GrantDeviceCode}, Scopes: []string{"openid"}})
		lc := startCommand(t, "perform", "device-code", "--endpoint", s.issuer, "--client-id", c.ID, "--client-secret", secret, "--scope", "openid", "--json")
		code := lc.waitLine(userCodeLine)[1]
		b := s.newBrowser()
		p := b.enterUserCode(code, "cli2@example.com", "correct horse battery")
		if p = b.decideDevice(p, "deny"); p.status != http.StatusOK {
			t.Fatalf("deny: %d %.500s", p.status, p.body)
		}
		if _, err := lc.wait(); err == nil || !strings.Contains(err.Error(), "access_denied") {
			t.Fatalf("perform device-code after a denial: %v; want access_denied; stderr:\n%s", err, lc.stderr.String())
		}
	})
}
