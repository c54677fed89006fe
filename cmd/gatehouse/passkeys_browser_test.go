package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
)

// onLocalhost makes the issuer http://localhost:<port>: a WebAuthn relying
// party id must be a domain, not an IP address (WebAuthn §5.1.4.1), and
// localhost is a secure context over plain http.
func onLocalhost(c *config.Config) {
	_, port, _ := net.SplitHostPort(c.Listen)
	c.Issuer = "http://localhost:" + port
}

// addVirtualAuthenticator gives the browser's tab a platform authenticator
// of Chromium's DevTools WebAuthn domain: CTAP2, internal transport,
// discoverable credentials, user verification that succeeds.
func addVirtualAuthenticator(ctx context.Context) (webauthn.AuthenticatorID, error) {
	noUI := false
	if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{EnableUI: &noUI}); err != nil {
		return "", err
	}
	res, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21,
			Transport: webauthn.AuthenticatorTransportInternal, HasResidentKey: true, HasUserVerification: true,
			IsUserVerified: true, AutomaticPresenceSimulation: true,
		},
	})
	return res.AuthenticatorID, err
}

// TestPasskeysInChromium: in a real browser with a virtual authenticator, a
// person signs in with a password, adds a passkey on the account page,
// signs out, and signs in to a loopback app through an authorization
// request with the passkey alone (no e-mail typed): the app's code gives an
// ID token whose amr says a key (hwk or swk) with user verification and
// whose acr is phr. Then the stored signature counter is set above the
// authenticator's, as a clone racing ahead would leave it: the next
// assertion is refused, and the account page shows the passkey as possibly
// copied.
func TestPasskeysInChromium(t *testing.T) {
	t.Parallel()
	browserPath := chromiumPath(t)
	s := startServer(t, "sqlite", onLocalhost)
	u := s.user("passkey-user@example.com", alicePassword)

	ln, origin := listenApp(t)
	c, secret := s.client(admin.ClientSpec{
		Name: "Passkey App", RedirectURIs: []string{origin + "/cb"}, SkipConsent: true,
		Scopes: []string{"openid", "email"},
	})
	conf := s.oauthConfig(c, secret, "openid", "email")
	codes := make(chan string, 4)
	serveApp(t, ln, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/cb" {
			http.NotFound(w, r) // the browser's favicon request
			return
		}
		codes <- r.URL.Query().Get("code")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><title>app</title><body data-done="1">signed in</body>`)
	})

	ctx := startChromium(t, browserPath)
	stepCtx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	fail := func(what string, err error) {
		t.Helper()
		where, _ := chromedp.Run(ctx, chromedp.Location())
		body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
		t.Fatalf("%s: %v (at %s: %.600s)", what, err, where, body)
	}
	authenticator, err := addVirtualAuthenticator(stepCtx)
	if err != nil {
		t.Fatalf("virtual authenticator: %v", err)
	}
	// presence turns the authenticator's automatic user presence on or
	// off. On, it also answers the login page's autofill request
	// (conditional mediation) as soon as the page asks, as a person
	// picking the passkey from the e-mail field's suggestions would.
	presence := func(on bool) {
		t.Helper()
		if _, err := chromedp.Call(stepCtx, webauthn.SetAutomaticPresenceSimulation,
			webauthn.SetAutomaticPresenceSimulationParams{AuthenticatorID: authenticator, Enabled: on}); err != nil {
			t.Fatal(err)
		}
	}

	// Sign in with the password and add a passkey.
	err = chromedp.Do(stepCtx,
		chromedp.Navigate(s.issuer+"/login?next=/account/security/passkeys"),
		chromedp.WaitVisible(chromedp.CSS("#password")),
		chromedp.SendKeys(chromedp.CSS("#email"), u.Email),
		chromedp.SendKeys(chromedp.CSS("#password"), alicePassword),
		chromedp.Submit(chromedp.CSS("#password")),
		chromedp.WaitVisible(chromedp.CSS("#passkey-name")),
		chromedp.SendKeys(chromedp.CSS("#passkey-name"), "Virtual key"),
		chromedp.Click(chromedp.CSS("#passkey-add-button")),
		chromedp.WaitVisible(chromedp.CSS(".passkey .app-name")),
	)
	if err != nil {
		fail("add a passkey", err)
	}
	keys, err := s.store.PasskeysOfUser(context.Background(), u.ID)
	if err != nil || len(keys) != 1 || keys[0].Name != "Virtual key" {
		t.Fatalf("passkeys after adding one = %+v, %v", keys, err)
	}

	// Sign out, then sign in to the app with the passkey only.
	signOut := func() {
		t.Helper()
		if err := chromedp.Do(stepCtx,
			chromedp.Navigate(s.issuer+"/oauth2/logout"),
			chromedp.WaitVisible(chromedp.CSS(`form button[type="submit"]`)),
			chromedp.Click(chromedp.CSS(`form button[type="submit"]`)),
			chromedp.WaitNotPresent(chromedp.CSS(`form[action="/oauth2/logout"]`)),
		); err != nil {
			fail("sign out", err)
		}
	}
	signOut()
	// With the button: the page's autofill request stays pending (no
	// presence), then the click replaces it with a modal request, which
	// the authenticator answers.
	presence(false)
	verifier, challenge := pkce()
	err = chromedp.Do(stepCtx,
		chromedp.Navigate(conf.AuthCodeURL(randomString(t, 16), challenge)),
		chromedp.WaitVisible(chromedp.CSS("#passkey-signin")),
	)
	if err == nil {
		presence(true)
		// The autofill request may win the race with the click (presence
		// is on again): then the page has gone, and that sign-in counts.
		_, err = chromedp.Run(stepCtx, chromedp.Evaluate[any](`{ const b = document.getElementById("passkey-signin"); if (b) b.click(); }`))
	}
	if err != nil {
		fail("passwordless sign-in", err)
	}
	// The app's callback tells when the browser arrived with the code.
	var code string
	select {
	case code = <-codes:
	case <-stepCtx.Done():
		fail("passwordless sign-in: no code at the app", stepCtx.Err())
	}
	tok, err := conf.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	claims := idTokenClaims(t, tok)
	var amr []string
	for _, v := range claims["amr"].([]any) {
		amr = append(amr, v.(string))
	}
	if !(slices.Contains(amr, "hwk") || slices.Contains(amr, "swk")) || !slices.Contains(amr, "user") ||
		slices.Contains(amr, "pwd") || claims["acr"] != "phr" || claims["sub"] != u.ID {
		t.Fatalf("ID token of a passkey sign-in: amr %q acr %v sub %v; want hwk or swk, user, no pwd; acr phr", amr, claims["acr"], claims["sub"])
	}

	// A clone: the stored counter is ahead of the authenticator's.
	keys, _ = s.store.PasskeysOfUser(context.Background(), u.ID)
	if keys[0].SignCount == 0 {
		t.Fatalf("the virtual authenticator's counter was not stored: %+v", keys[0])
	}
	keys[0].SignCount += 1000
	if err := s.store.RecordPasskeyUse(context.Background(), keys[0], time.Time{}); err != nil {
		t.Fatal(err)
	}
	signOut()
	// Through the autofill this time: the page's conditional request is
	// answered as soon as it is made. The refusal's page offers the
	// passkey through its button only, so the authenticator is not asked
	// again.
	_, challenge = pkce()
	err = chromedp.Do(stepCtx,
		chromedp.Navigate(conf.AuthCodeURL(randomString(t, 16), challenge)),
		chromedp.WaitVisible(chromedp.CSS("#login-error")),
	)
	if err != nil {
		fail("cloned passkey", err)
	}
	// No more automatic answers: the sign-in page would offer the passkey
	// again on every load.
	presence(false)
	select {
	case code := <-codes:
		t.Fatalf("a passkey whose counter went back signed in (code %q)", code)
	default:
	}
	keys, _ = s.store.PasskeysOfUser(context.Background(), u.ID)
	if !keys[0].CloneWarning {
		t.Fatalf("the passkey is not marked possibly cloned: %+v", keys[0])
	}

	// The account page says so: in a tab of its own, without the
	// authenticator (the first tab's sign-in page may still be offering
	// the passkey), signed in with the password.
	tab, closeTab := chromedp.NewContext(ctx)
	defer closeTab()
	tabCtx, cancelTab := context.WithTimeout(tab, 60*time.Second)
	defer cancelTab()
	if _, err := chromedp.Call(tabCtx, network.ClearBrowserCookies, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	err = chromedp.Do(tabCtx,
		chromedp.Navigate(s.issuer+"/login?next=/account/security/passkeys"),
		chromedp.WaitVisible(chromedp.CSS("#password")),
		chromedp.SendKeys(chromedp.CSS("#email"), u.Email),
		chromedp.SendKeys(chromedp.CSS("#password"), alicePassword),
		chromedp.Submit(chromedp.CSS("#password")),
		chromedp.WaitVisible(chromedp.CSS(".passkey-cloned")),
	)
	var page string
	if err == nil {
		page, err = chromedp.Run(tabCtx, chromedp.Text(chromedp.CSS("#passkeys")))
	}
	if err != nil {
		fail("account page after a clone", err)
	}
	if !strings.Contains(page, "possibly copied") {
		t.Fatalf("account page does not show the clone: %q", page)
	}
}

// TestPasskeySecondFactorInChromium: in a real browser with a virtual
// authenticator, a person adds a passkey, then — signed out — signs in to
// a client that requires two factors (require_mfa) with the password and
// then the passkey on the second-factor page. The page's button is shown
// by static/passkeys.js, so it appearing proves the script ran under the
// page's CSP (script-src 'self', no inline script). The app's ID token
// says amr pwd, hwk or swk, user, mfa and acr urn:gatehouse:acr:mfa.
func TestPasskeySecondFactorInChromium(t *testing.T) {
	t.Parallel()
	browserPath := chromiumPath(t)
	s := startServer(t, "sqlite", onLocalhost)
	u := s.user("second-factor@example.com", alicePassword)

	ln, origin := listenApp(t)
	c, secret := s.client(admin.ClientSpec{
		Name: "Strict App", RedirectURIs: []string{origin + "/cb"}, SkipConsent: true,
		Scopes: []string{"openid"}, RequireMFA: true,
	})
	conf := s.oauthConfig(c, secret, "openid")
	codes := make(chan string, 4)
	serveApp(t, ln, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/cb" {
			http.NotFound(w, r)
			return
		}
		codes <- r.URL.Query().Get("code")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><title>app</title><body data-done="1">signed in</body>`)
	})

	ctx := startChromium(t, browserPath)
	stepCtx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	fail := func(what string, err error) {
		t.Helper()
		where, _ := chromedp.Run(ctx, chromedp.Location())
		body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
		t.Fatalf("%s: %v (at %s: %.600s)", what, err, where, body)
	}
	authenticator, err := addVirtualAuthenticator(stepCtx)
	if err != nil {
		t.Fatalf("virtual authenticator: %v", err)
	}
	presence := func(on bool) {
		t.Helper()
		if _, err := chromedp.Call(stepCtx, webauthn.SetAutomaticPresenceSimulation,
			webauthn.SetAutomaticPresenceSimulationParams{AuthenticatorID: authenticator, Enabled: on}); err != nil {
			t.Fatal(err)
		}
	}

	// A password session adds the passkey. The sign-in page's autofill
	// request must not answer meanwhile: no presence until the passkey
	// page.
	presence(false)
	err = chromedp.Do(stepCtx,
		chromedp.Navigate(s.issuer+"/login?next=/account/security/passkeys"),
		chromedp.WaitVisible(chromedp.CSS("#password")),
		chromedp.SendKeys(chromedp.CSS("#email"), u.Email),
		chromedp.SendKeys(chromedp.CSS("#password"), alicePassword),
		chromedp.Submit(chromedp.CSS("#password")),
		chromedp.WaitVisible(chromedp.CSS("#passkey-name")),
	)
	if err == nil {
		presence(true)
		err = chromedp.Do(stepCtx,
			chromedp.SendKeys(chromedp.CSS("#passkey-name"), "Virtual key"),
			chromedp.Click(chromedp.CSS("#passkey-add-button")),
			chromedp.WaitVisible(chromedp.CSS(".passkey .app-name")),
		)
	}
	if err != nil {
		fail("add a passkey", err)
	}
	if keys, err := s.store.PasskeysOfUser(context.Background(), u.ID); err != nil || len(keys) != 1 {
		t.Fatalf("passkeys after adding one = %+v, %v", keys, err)
	}

	// Signed out (no cookies), the strict app: the password first, with
	// the sign-in page's autofill left unanswered, then the passkey.
	presence(false)
	if _, err := chromedp.Call(stepCtx, network.ClearBrowserCookies, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	verifier, challenge := pkce()
	err = chromedp.Do(stepCtx,
		chromedp.Navigate(conf.AuthCodeURL(randomString(t, 16), challenge)),
		chromedp.WaitVisible(chromedp.CSS("#password")),
		chromedp.SendKeys(chromedp.CSS("#email"), u.Email),
		chromedp.SendKeys(chromedp.CSS("#password"), alicePassword),
		chromedp.Submit(chromedp.CSS("#password")),
		chromedp.WaitVisible(chromedp.CSS("#passkey-second-factor-button")),
	)
	if err == nil {
		presence(true)
		err = chromedp.Do(stepCtx, chromedp.Click(chromedp.CSS("#passkey-second-factor-button")))
	}
	if err != nil {
		fail("password, then the passkey", err)
	}
	var code string
	select {
	case code = <-codes:
	case <-stepCtx.Done():
		fail("password, then the passkey: no code at the app", stepCtx.Err())
	}
	tok, err := conf.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	claims := idTokenClaims(t, tok)
	var amr []string
	for _, v := range claims["amr"].([]any) {
		amr = append(amr, v.(string))
	}
	key := "hwk"
	if slices.Contains(amr, "swk") {
		key = "swk"
	}
	if !slices.Equal(amr, []string{"pwd", key, "user", "mfa"}) || claims["acr"] != provider.ACRMultiFactor || claims["sub"] != u.ID {
		t.Fatalf("ID token of password + passkey: amr %q acr %v sub %v; want pwd, hwk or swk, user, mfa; acr %s",
			amr, claims["acr"], claims["sub"], provider.ACRMultiFactor)
	}
}
