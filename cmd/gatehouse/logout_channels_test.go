package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/internal/clocktest"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/provider/audit"
	"github.com/gatehouse-dev/gatehouse/provider/backchannel"
	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/templates"
)

// logoutRP is a relying party on loopback: its back-channel logout
// endpoint records the logout tokens POSTed to it and answers with status
// (503 while it is "down"); it also has a redirect URI and a front-channel
// logout page.
type logoutRP struct {
	srv      *httptest.Server
	status   atomic.Int32
	attempts atomic.Int32
	tokens   chan string
}

func newLogoutRP(t *testing.T) *logoutRP {
	t.Helper()
	rp := &logoutRP{tokens: make(chan string, 16)}
	rp.status.Store(http.StatusOK)
	rp.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/backchannel" {
			w.WriteHeader(http.StatusOK)
			return
		}
		rp.attempts.Add(1)
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		status := int(rp.status.Load())
		if status == http.StatusOK {
			rp.tokens <- r.PostForm.Get("logout_token")
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(rp.srv.Close)
	return rp
}

func (rp *logoutRP) url(path string) string { return rp.srv.URL + path }

// await returns the next logout token the RP accepted, waiting for the
// server's deliverer (it runs in the background) at most 10 s.
func (rp *logoutRP) await(t *testing.T) string {
	t.Helper()
	select {
	case tok := <-rp.tokens:
		return tok
	case <-time.After(10 * time.Second):
		t.Fatalf("no logout token reached %s (%d attempts)", rp.srv.URL, rp.attempts.Load())
		return ""
	}
}

// none checks that the RP has accepted no (further) logout token.
func (rp *logoutRP) none(t *testing.T, what string) {
	t.Helper()
	select {
	case tok := <-rp.tokens:
		t.Fatalf("%s: %s got a logout token: %s", what, rp.srv.URL, tok)
	default:
	}
}

// logoutClient registers a client of rp with both logout endpoints.
func (s *testServer) logoutClient(rp *logoutRP, name, idTokenAlg string, frontchannelSession bool) *storage.Client {
	c, _ := s.client(admin.ClientSpec{
		Name: name, Public: true, RedirectURIs: []string{rp.url("/cb")}, PostLogoutRedirectURIs: []string{rp.url("/bye")},
		Scopes: []string{"openid", "profile"}, SkipConsent: true, IDTokenSignedResponseAlg: idTokenAlg,
		BackchannelLogoutURI: rp.url("/backchannel"), BackchannelLogoutSessionRequired: true,
		FrontchannelLogoutURI: rp.url("/frontchannel"), FrontchannelLogoutSessionRequired: frontchannelSession,
	})
	return c
}

// signInWith runs the code flow for c in browser b (signing in if the
// browser is not yet) and returns the verified ID token and its sid.
func signInWith(t *testing.T, s *testServer, b *browser, c *storage.Client, email, password string) (string, string) {
	t.Helper()
	ctx := context.Background()
	conf := s.oauthConfig(c, "", "openid", "profile")
	verifier, challenge := pkce()
	nonce := randomString(t, 16)
	cb := b.authorizeAndLogin(conf.AuthCodeURL(randomString(t, 16), challenge, oidc.Nonce(nonce)), email, password)
	tok, err := conf.Exchange(ctx, cb.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange for %s: %v", c.Name, err)
	}
	raw, _ := tok.Extra("id_token").(string)
	op, err := oidc.NewProvider(ctx, s.issuer)
	if err != nil {
		t.Fatal(err)
	}
	idt, err := op.Verifier(&oidc.Config{ClientID: c.ID, SupportedSigningAlgs: []string{"RS256", "ES256"}}).Verify(ctx, raw)
	if err != nil {
		t.Fatalf("ID token of %s: %v", c.Name, err)
	}
	var claims struct {
		SID   string `json:"sid"`
		Nonce string `json:"nonce"`
	}
	if err := idt.Claims(&claims); err != nil || claims.Nonce != nonce {
		t.Fatalf("ID token claims of %s: %+v %v", c.Name, claims, err)
	}
	return raw, claims.SID
}

// wantLogoutToken verifies a logout token as a relying party must
// (Back-Channel Logout §2.6): signature by the issuer's JWKS, typ
// logout+jwt, iss, aud, iat, exp, jti, the events member, sub and sid, and
// no nonce.
func wantLogoutToken(t *testing.T, s *testServer, token string, c *storage.Client, sub, sid string) {
	t.Helper()
	ctx := context.Background()
	payload, err := oidc.NewRemoteKeySet(ctx, s.issuer+provider.PathJWKS).VerifySignature(ctx, token)
	if err != nil {
		t.Fatalf("logout token signature: %v", err)
	}
	hb, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var header struct{ Typ, Alg, Kid string }
	if err := json.Unmarshal(hb, &header); err != nil || header.Typ != backchannel.TokenType || header.Kid == "" {
		t.Fatalf("logout token header = %s, %v; want typ logout+jwt and a kid", hb, err)
	}
	if want := c.IDTokenAlg(); header.Alg != want {
		t.Errorf("logout token alg = %s, want %s (the client's ID token alg)", header.Alg, want)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	aud, _ := claims["aud"].([]any)
	events, _ := claims["events"].(map[string]any)
	event, isObject := events[backchannel.EventBackchannelLogout].(map[string]any)
	iat, _ := claims["iat"].(float64)
	exp, _ := claims["exp"].(float64)
	jti, _ := claims["jti"].(string)
	switch {
	case claims["iss"] != s.issuer:
		t.Errorf("iss = %v", claims["iss"])
	case len(aud) != 1 || aud[0] != c.ID:
		t.Errorf("aud = %v, want [%s]", claims["aud"], c.ID)
	case claims["sub"] != sub || claims["sid"] != sid:
		t.Errorf("sub, sid = %v, %v; want %s, %s", claims["sub"], claims["sid"], sub, sid)
	case !isObject || len(event) != 0 || len(events) != 1:
		t.Errorf("events = %v", claims["events"])
	case iat == 0 || exp <= iat || exp-iat > 300 || jti == "":
		t.Errorf("iat, exp, jti = %v, %v, %q", iat, exp, jti)
	case claims["nonce"] != nil:
		t.Errorf("a logout token must not carry a nonce: %v", claims)
	}
}

var logoutFrame = regexp.MustCompile(`<iframe class="logout-frame" src="([^"]+)"`)

// frameSrc returns the origins the page's CSP frame-src allows.
func frameSrc(t *testing.T, csp string) []string {
	t.Helper()
	for _, d := range strings.Split(csp, ";") {
		if f := strings.Fields(d); len(f) > 0 && f[0] == "frame-src" {
			out := slices.Clone(f[1:])
			slices.Sort(out)
			return out
		}
	}
	return nil
}

// TestLogoutChannelsRPInitiated: a person signs in through two apps in one
// browser; RP-initiated logout ends the session, the signed-out page loads
// both apps' front-channel logout pages (iss and sid for the one that asked)
// under a policy that frames exactly their origins, and each app's
// back-channel endpoint gets a valid logout token whose sid is the ID
// tokens'. Discovery advertises both.
func TestLogoutChannelsRPInitiated(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect, func(c *config.Config) { c.HTTPClient.AllowPrivateNetworks = true })
		alice := s.user("alice@example.com", alicePassword)
		rpA, rpB := newLogoutRP(t), newLogoutRP(t)
		appA := s.logoutClient(rpA, "App A", "", true)
		appB := s.logoutClient(rpB, "App B", "ES256", false)

		status, disco, _ := jsonRequest(t, http.MethodGet, s.issuer+"/.well-known/openid-configuration", "", "")
		for _, f := range []string{"backchannel_logout_supported", "backchannel_logout_session_supported",
			"frontchannel_logout_supported", "frontchannel_logout_session_supported"} {
			if status != http.StatusOK || disco[f] != true {
				t.Errorf("discovery %s = %v", f, disco[f])
			}
		}

		b := s.newBrowser()
		idA, sidA := signInWith(t, s, b, appA, alice.Email, alicePassword)
		_, sidB := signInWith(t, s, b, appB, alice.Email, alicePassword)
		if sidA == "" || sidA != sidB {
			t.Fatalf("sid of the two ID tokens = %q, %q; want one sid for the one session", sidA, sidB)
		}
		// The sid leads nowhere near the cookie.
		issuerURL, _ := url.Parse(s.issuer)
		for _, ck := range b.client.Jar.Cookies(issuerURL) {
			sum := sha256.Sum256([]byte(ck.Value))
			if strings.Contains(sidA, ck.Value) || sidA == hex.EncodeToString(sum[:]) {
				t.Fatalf("the sid is derived from the cookie %s", ck.Name)
			}
		}

		q := url.Values{"id_token_hint": {idA}, "post_logout_redirect_uri": {rpA.url("/bye")}, "state": {"st-1"}}
		p := b.get(s.issuer + provider.PathLogout + "?" + q.Encode())
		if p.status != http.StatusOK || !strings.Contains(p.body, "You are signed out.") {
			t.Fatalf("logout: %d %.500s", p.status, p.body)
		}
		var frames []string
		for _, m := range logoutFrame.FindAllStringSubmatch(p.body, -1) {
			frames = append(frames, html.UnescapeString(m[1]))
		}
		slices.Sort(frames)
		wantA := rpA.url("/frontchannel") + "?" + url.Values{"iss": {s.issuer}, "sid": {sidA}}.Encode()
		want := []string{wantA, rpB.url("/frontchannel")}
		slices.Sort(want)
		if !slices.Equal(frames, want) {
			t.Errorf("front-channel frames = %q, want %q", frames, want)
		}
		origins := []string{rpA.srv.URL, rpB.srv.URL}
		slices.Sort(origins)
		csp := p.header.Get("Content-Security-Policy")
		if got := frameSrc(t, csp); !slices.Equal(got, origins) || !strings.Contains(csp, "default-src 'none'") ||
			!strings.Contains(csp, "; script-src "+templates.ContinueAfterLogoutFramesHash) {
			t.Errorf("CSP %q frames %q, want exactly %q and the page's one script", csp, got, origins)
		}
		// The page continues to the app by its script once the frames have
		// loaded (Front-Channel Logout 1.0 §4), with a link for a browser
		// that runs none.
		if !strings.Contains(p.body, `href="`+html.EscapeString(rpA.url("/bye")+"?state=st-1")+`"`) || strings.Count(p.body, "<script") != 1 {
			t.Errorf("the signed-out page does not continue to the app: %.2000s", p.body)
		}

		wantLogoutToken(t, s, rpA.await(t), appA, alice.ID, sidA)
		wantLogoutToken(t, s, rpB.await(t), appB, alice.ID, sidA)
		awaitEvents(t, s.store,
			wantEvent{Type: audit.SessionEnded, Actor: audit.UserSubject(alice.ID), Subject: audit.UserSubject(alice.ID),
				Details: map[string]string{"sid": sidA, "reason": audit.SessionEndedByLogout, "backchannel": "2"}},
			wantEvent{Type: audit.LogoutBackchannelDelivered, Actor: audit.ActorSystem, Subject: audit.UserSubject(alice.ID),
				ClientID: appA.ID, Details: map[string]string{"attempts": "1", "status": "200", "sid": sidA}},
			wantEvent{Type: audit.LogoutBackchannelDelivered, Actor: audit.ActorSystem, Subject: audit.UserSubject(alice.ID),
				ClientID: appB.ID, Details: map[string]string{"attempts": "1", "status": "200", "sid": sidA}})

		// Signed out: the account pages ask to sign in again, and a second
		// logout tells nobody anything.
		if p := b.get(s.issuer + "/account/sessions"); !p.isLoginPage() {
			t.Fatalf("after logout the account page is %d %.300s", p.status, p.body)
		}
		if p := b.get(s.issuer + provider.PathLogout + "?" + q.Encode()); p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, rpA.url("/bye")) {
			t.Fatalf("logout again: %d %q", p.status, p.location)
		}
		rpA.none(t, "a second logout")
	})
}

// TestLogoutChannelsAccountAndRetry: a person ends, from the account page
// in another browser, a session whose app is down (503). The notification
// waits in the queue; once the app is back and its retry is due (the test
// moves the server's clock and runs the deliverer), the app gets it. The
// failure and the delivery are audited. Ending the account page's own
// session signs that browser out through the front channel.
func TestLogoutChannelsAccountAndRetry(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		clock := clocktest.New(time.Now())
		s, _ := startServerAt(t, dialect, clock, func(c *config.Config) { c.HTTPClient.AllowPrivateNetworks = true })
		alice := s.user("alice@example.com", alicePassword)
		rp := newLogoutRP(t)
		app := s.logoutClient(rp, "Wiki", "", true)

		laptop, phone := s.newBrowser(), s.newBrowser()
		_, laptopSID := signInWith(t, s, laptop, app, alice.Email, alicePassword)
		_, phoneSID := signInWith(t, s, phone, app, alice.Email, alicePassword)

		page := phone.get(s.issuer + "/account/sessions")
		if page.status != http.StatusOK || strings.Count(page.body, `name="sid"`) != 2 ||
			!strings.Contains(page.body, "Wiki") || !strings.Contains(page.body, "(this browser)") ||
			!strings.Contains(page.body, "Go-http-client") || !strings.Contains(page.body, "127.0.0.1") {
			t.Fatalf("account sessions page: %d %.3000s", page.status, page.body)
		}

		// No CSRF token: refused, nothing ends.
		if p := phone.post(s.issuer+"/account/sessions/end", url.Values{"sid": {laptopSID}}); p.status != http.StatusForbidden {
			t.Fatalf("ending a session without the CSRF token: %d", p.status)
		}
		// A sid that is not the person's: 404.
		form := page.formValues()
		form.Set("sid", "not-a-session")
		if p := phone.post(s.issuer+"/account/sessions/end", form); p.status != http.StatusNotFound {
			t.Fatalf("ending an unknown session: %d", p.status)
		}

		rp.status.Store(http.StatusServiceUnavailable)
		form.Set("sid", laptopSID)
		p := phone.post(s.issuer+"/account/sessions/end", form)
		if p.status != http.StatusOK || !strings.Contains(p.body, "The session was ended") || strings.Count(p.body, `name="sid"`) != 1 {
			t.Fatalf("ending the laptop's session: %d %.2000s", p.status, p.body)
		}
		if p := laptop.get(s.issuer + "/account/sessions"); !p.isLoginPage() {
			t.Fatalf("the laptop is still signed in: %d", p.status)
		}
		awaitEvents(t, s.store,
			wantEvent{Type: audit.SessionEnded, Actor: audit.UserSubject(alice.ID), Subject: audit.UserSubject(alice.ID),
				Details: map[string]string{"sid": laptopSID, "reason": audit.SessionEndedByUser, "clients": app.ID, "backchannel": "1"}},
			wantEvent{Type: audit.LogoutBackchannelFailed, Actor: audit.ActorSystem, Subject: audit.UserSubject(alice.ID),
				ClientID: app.ID, Details: map[string]string{"attempts": "1", "status": "503", "sid": laptopSID}})

		// Back up, but the retry is not due yet: nothing is sent.
		rp.status.Store(http.StatusOK)
		if _, err := s.app.logout.RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		rp.none(t, "before the retry is due")
		clock.Advance(31 * time.Second)
		if _, err := s.app.logout.RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		wantLogoutToken(t, s, rp.await(t), app, alice.ID, laptopSID)
		awaitEvents(t, s.store, wantEvent{Type: audit.LogoutBackchannelDelivered, Actor: audit.ActorSystem,
			Subject: audit.UserSubject(alice.ID), ClientID: app.ID, Details: map[string]string{"attempts": "2", "sid": laptopSID}})
		if n := rp.attempts.Load(); n != 2 {
			t.Errorf("the app was called %d times, want 2 (one failure, one delivery)", n)
		}

		// Ending the phone's own session from its account page signs it
		// out, front channel included.
		page = phone.get(s.issuer + "/account/sessions")
		form = page.formValues()
		form.Set("sid", phoneSID)
		p = phone.post(s.issuer+"/account/sessions/end", form)
		if p.status != http.StatusOK || !strings.Contains(p.body, "You are signed out.") || len(logoutFrame.FindAllString(p.body, -1)) != 1 ||
			!slices.Equal(frameSrc(t, p.header.Get("Content-Security-Policy")), []string{rp.srv.URL}) {
			t.Fatalf("ending this browser's session: %d %q %.2000s", p.status, p.header.Get("Content-Security-Policy"), p.body)
		}
		wantLogoutToken(t, s, rp.await(t), app, alice.ID, phoneSID)
		if p := phone.get(s.issuer + "/account/sessions"); !p.isLoginPage() {
			t.Fatalf("the phone is still signed in: %d", p.status)
		}
	})
}

// TestLogoutChannelsAdmin: an administrator lists a user's sessions with
// their apps and ends one through the admin API; the app is told. A
// refusing app (400) is given up at once, and audited so.
func TestLogoutChannelsAdmin(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect, func(c *config.Config) { c.HTTPClient.AllowPrivateNetworks = true })
		alice := s.user("alice@example.com", alicePassword)
		robot, robotSecret := s.client(admin.ClientSpec{Name: "Ops robot", Scopes: []string{provider.ScopeAdmin}, FirstParty: true})
		rp := newLogoutRP(t)
		app := s.logoutClient(rp, "Wiki", "", false)
		b := s.newBrowser()
		_, sid := signInWith(t, s, b, app, alice.Email, alicePassword)

		tok, code := s.ccToken(t, robot.ID, robotSecret, provider.ScopeAdmin)
		if code != "" {
			t.Fatal(code)
		}
		sessions := s.admin + "/admin/users/" + alice.ID + "/sessions"
		status, list, _ := jsonRequest(t, http.MethodGet, sessions, tok, "")
		its := items(t, list)
		if status != http.StatusOK || len(its) != 1 || its[0]["sid"] != sid || its[0]["user_agent"] == "" ||
			!strings.Contains(toJSON(t, its[0]["clients"]), app.ID) {
			t.Fatalf("admin lists alice's sessions: %d %v", status, list)
		}
		if strings.Contains(toJSON(t, list), "\"id\"") {
			t.Fatalf("the listing shows the session's key: %v", list)
		}

		rp.status.Store(http.StatusBadRequest)
		status, out, _ := jsonRequest(t, http.MethodDelete, sessions+"/"+url.PathEscape(sid), tok, "")
		if status != http.StatusOK || out["sid"] != sid || out["backchannel_notifications"] != float64(1) {
			t.Fatalf("admin ends the session: %d %v", status, out)
		}
		awaitEvents(t, s.store,
			wantEvent{Type: audit.SessionEnded, Actor: "client:" + robot.ID, Subject: audit.UserSubject(alice.ID),
				Details: map[string]string{"sid": sid, "reason": audit.SessionEndedByAdmin}},
			wantEvent{Type: audit.LogoutBackchannelAbandoned, Actor: audit.ActorSystem, Subject: audit.UserSubject(alice.ID),
				ClientID: app.ID, Details: map[string]string{"attempts": "1", "status": "400", "reason": "refused"}})
		if p := b.get(s.issuer + "/account/sessions"); !p.isLoginPage() {
			t.Fatalf("alice is still signed in: %d", p.status)
		}
		status, body, hdr := jsonRequest(t, http.MethodDelete, sessions+"/"+url.PathEscape(sid), tok, "")
		wantAdminProblem(t, "ending a session twice", status, body, hdr, http.StatusNotFound)
		status, body, hdr = jsonRequest(t, http.MethodGet, s.admin+"/admin/users/nobody/sessions", tok, "")
		wantAdminProblem(t, "sessions of an unknown user", status, body, hdr, http.StatusNotFound)

		// Every session at once.
		rp.status.Store(http.StatusOK)
		_, sid1 := signInWith(t, s, s.newBrowser(), app, alice.Email, alicePassword)
		_, sid2 := signInWith(t, s, s.newBrowser(), app, alice.Email, alicePassword)
		status, out, _ = jsonRequest(t, http.MethodDelete, sessions, tok, "")
		if status != http.StatusOK || len(items(t, out)) != 2 {
			t.Fatalf("admin ends every session: %d %v", status, out)
		}
		got := []string{}
		for range 2 {
			var claims struct{ SID string }
			parts := strings.Split(rp.await(t), ".")
			pb, _ := base64.RawURLEncoding.DecodeString(parts[1])
			_ = json.Unmarshal(pb, &claims)
			got = append(got, claims.SID)
		}
		slices.Sort(got)
		want := []string{sid1, sid2}
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("sids told = %q, want %q", got, want)
		}

		// Disabling the user signs them out everywhere, and the apps are told.
		_, sid3 := signInWith(t, s, s.newBrowser(), app, alice.Email, alicePassword)
		if status, out, _ := jsonRequest(t, http.MethodPost, s.admin+"/admin/users/"+alice.ID+"/disable", tok, ""); status != http.StatusOK {
			t.Fatalf("disable: %d %v", status, out)
		}
		wantLogoutToken(t, s, rp.await(t), app, alice.ID, sid3)
	})
}

// TestLogoutChannelsMetadata: registration and the admin API take the
// logout metadata by the names the specifications register and refuse bad
// URIs; a machine token records no login session (only the authorization
// code path does).
func TestLogoutChannelsMetadata(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		s, dsn := startServerDSN(t, dialect, func(c *config.Config) { c.Registration.Policy = config.RegistrationOpen })
		register := func(body string) (int, map[string]any) {
			status, out, _ := jsonRequest(t, http.MethodPost, s.issuer+provider.PathRegister, "", body)
			return status, out
		}
		status, out := register(`{"client_name":"RP","redirect_uris":["https://rp.example/cb"],"token_endpoint_auth_method":"none",
			"backchannel_logout_uri":"https://rp.example/logout/bc?x=1","backchannel_logout_session_required":true,
			"frontchannel_logout_uri":"https://rp.example/logout/fc","frontchannel_logout_session_required":true}`)
		if status != http.StatusCreated || out["backchannel_logout_uri"] != "https://rp.example/logout/bc?x=1" ||
			out["backchannel_logout_session_required"] != true || out["frontchannel_logout_uri"] != "https://rp.example/logout/fc" ||
			out["frontchannel_logout_session_required"] != true {
			t.Fatalf("registration with logout URIs: %d %v", status, out)
		}
		c, err := s.store.ClientByID(context.Background(), out["client_id"].(string))
		if err != nil || c.BackchannelLogoutURI != "https://rp.example/logout/bc?x=1" || !c.FrontchannelLogoutSessionRequired {
			t.Fatalf("stored client: %+v %v", c, err)
		}
		for name, body := range map[string]string{
			"http off loopback":            `"backchannel_logout_uri":"http://rp.example/bc"`,
			"a fragment":                   `"backchannel_logout_uri":"https://rp.example/bc#x"`,
			"not a URL":                    `"backchannel_logout_uri":"bc"`,
			"front-channel elsewhere":      `"frontchannel_logout_uri":"https://other.example/fc"`,
			"front-channel on http":        `"frontchannel_logout_uri":"http://rp.example/fc"`,
			"front-channel another port":   `"frontchannel_logout_uri":"https://rp.example:8443/fc"`,
			"back-channel with a wildcard": `"backchannel_logout_uri":"https://*.rp.example/bc"`,
		} {
			status, out := register(`{"client_name":"RP","redirect_uris":["https://rp.example/cb"],"token_endpoint_auth_method":"none",` + body + `}`)
			if status != http.StatusBadRequest || out["error"] != "invalid_client_metadata" {
				t.Errorf("registration with %s: %d %v", name, status, out)
			}
		}

		// The admin API takes and shows the same names.
		robot, robotSecret := s.client(admin.ClientSpec{Name: "Ops robot", Scopes: []string{provider.ScopeAdmin}, FirstParty: true})
		tok, _ := s.ccToken(t, robot.ID, robotSecret, provider.ScopeAdmin)
		status, out, _ = jsonRequest(t, http.MethodPost, s.admin+"/admin/clients", tok, `{"client_name":"Admin RP",
			"redirect_uris":["http://127.0.0.1:9000/cb"],"backchannel_logout_uri":"http://127.0.0.1:9001/bc",
			"frontchannel_logout_uri":"http://127.0.0.1:9000/fc"}`)
		if status != http.StatusCreated || out["backchannel_logout_uri"] != "http://127.0.0.1:9001/bc" ||
			out["frontchannel_logout_uri"] != "http://127.0.0.1:9000/fc" || out["backchannel_logout_session_required"] != false {
			t.Fatalf("admin API create with logout URIs: %d %v", status, out)
		}
		status, out, _ = jsonRequest(t, http.MethodPost, s.admin+"/admin/clients", tok, `{"client_name":"Machine",
			"grant_types":["client_credentials"],"backchannel_logout_uri":"https://m.example/bc"}`)
		if status != http.StatusBadRequest || !strings.Contains(toJSON(t, out), "backchannel_logout_uri") {
			t.Fatalf("a machine client with a back-channel URI: %d %v", status, out)
		}

		// A machine token records no session.
		m, mSecret := s.client(admin.ClientSpec{Name: "Job", Scopes: []string{"api"}})
		if _, code := s.ccToken(t, m.ID, mSecret, "api"); code != "" {
			t.Fatal(code)
		}
		if n := rawCountOf(t, dsn, "SELECT count(*) FROM login_session_clients"); n != 0 {
			t.Fatalf("a client_credentials token recorded %d session clients", n)
		}
	})
}

// rawCountOf runs a count query on the database of dsn.
func rawCountOf(t *testing.T, dsn, q string) int {
	t.Helper()
	db := openReadOnly(t, dsn)
	defer db.Close()
	var n int
	if err := db.QueryRowContext(context.Background(), q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestCLIUserSessions: the CLI takes the logout metadata, lists a user's
// sessions and ends them, queueing the notifications for the server.
func TestCLIUserSessions(t *testing.T) {
	cliEnv(t)
	if _, _, err := cli(t, "", "migrate"); err != nil {
		t.Fatal(err)
	}
	var created map[string]any
	cliJSON(t, &created, "", "clients", "create", "--name", "RP", "--public", "--redirect-uri", "https://rp.example/cb",
		"--backchannel-logout-uri", "https://rp.example/bc", "--backchannel-logout-session-required",
		"--frontchannel-logout-uri", "https://rp.example/fc", "--json")
	if created["backchannel_logout_uri"] != "https://rp.example/bc" || created["backchannel_logout_session_required"] != true ||
		created["frontchannel_logout_uri"] != "https://rp.example/fc" {
		t.Fatalf("clients create: %v", created)
	}
	id := created["client_id"].(string)
	if _, stderr, err := cli(t, "", "clients", "update", id, "--frontchannel-logout-uri", "https://elsewhere.example/fc"); err == nil ||
		!strings.Contains(err.Error()+stderr, "frontchannel_logout_uri") {
		t.Fatalf("update with a front-channel URI off the redirect origin: %v %s", err, stderr)
	}
	var got map[string]any
	cliJSON(t, &got, "", "clients", "update", id, "--backchannel-logout-uri", "", "--json")
	if got["backchannel_logout_uri"] != nil || got["frontchannel_logout_uri"] != "https://rp.example/fc" {
		t.Fatalf("clients update clearing the back-channel URI: %v", got)
	}
	cliJSON(t, &got, "", "clients", "update", id, "--backchannel-logout-uri", "https://rp.example/bc", "--json")

	st, _ := cliStore(t)
	ctx := context.Background()
	u := &storage.User{ID: "u-1", Email: "ann@example.com", CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if err := st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	for _, sid := range []string{"sid-1", "sid-2"} {
		ls := &storage.LoginSession{ID: "ls-" + sid, UserID: u.ID, SID: sid, UserAgent: "Browser " + sid, AuthTime: now,
			CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := st.CreateLoginSession(ctx, ls); err != nil {
			t.Fatal(err)
		}
		if err := st.AddLoginSessionClient(ctx, ls.ID, id, now); err != nil {
			t.Fatal(err)
		}
	}
	var list struct {
		Items []admin.SessionView `json:"items"`
	}
	cliJSON(t, &list, "", "users", "sessions", "ann@example.com", "--json")
	if len(list.Items) != 2 || list.Items[0].Clients[0].ClientID != id || list.Items[0].UserAgent == "" {
		t.Fatalf("users sessions: %+v", list)
	}
	if _, _, err := cli(t, "", "users", "end-session", "ann@example.com"); err == nil {
		t.Fatal("end-session without --sid or --all succeeded")
	}
	if _, _, err := cli(t, "", "users", "end-session", "ann@example.com", "--sid", "nope"); err == nil {
		t.Fatal("ending an unknown session succeeded")
	}
	out, _, err := cli(t, "", "users", "end-session", "ann@example.com", "--sid", "sid-1")
	if err != nil || !strings.Contains(out, "ended 1 sessions") || !strings.Contains(out, "1 back-channel") {
		t.Fatalf("end-session --sid: %q %v", out, err)
	}
	out, _, err = cli(t, "", "users", "end-session", "ann@example.com", "--all")
	if err != nil || !strings.Contains(out, "ended 1 sessions") {
		t.Fatalf("end-session --all: %q %v", out, err)
	}
	ds, err := st.ClaimLogoutDeliveries(ctx, time.Now().Add(time.Second), time.Minute, 10)
	if err != nil || len(ds) != 2 {
		t.Fatalf("queued notifications = %d, %v; want 2", len(ds), err)
	}
	haveEvents(t, st, wantEvent{Type: audit.SessionEnded, Actor: audit.ActorOperator, Subject: audit.UserSubject(u.ID),
		Details: map[string]string{"sid": "sid-1", "reason": audit.SessionEndedByAdmin}})
}
