package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-dev/gatehouse/provider/admin"
)

// envRequireBrowser makes TestSinglePageAppInChromium fail instead of
// skipping when no Chromium is installed; CI sets it (and installs one).
const envRequireBrowser = "GATEHOUSE_TEST_REQUIRE_BROWSER"

// chromiumPath finds a Chromium or Chrome binary; t is skipped without
// one, unless envRequireBrowser is set.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv(envRequireBrowser) != "" {
		t.Fatalf("%s is set but no Chromium or Chrome is installed (apt-get install chromium)", envRequireBrowser)
	}
	t.Skip("no Chromium or Chrome installed (apt-get install chromium): skipping the real-browser test")
	return ""
}

// spaPage is a single-page app as its developers would write it: the
// authorization code flow with PKCE (S256 through WebCrypto), the code
// exchanged and userinfo read with fetch — cross-origin, so the browser
// enforces gatehouse's CORS answers, including the preflight of the
// Authorization header. It writes what it got into #result and marks the
// page done (body[data-done]).
const spaPage = `<!doctype html>
<html><head><meta charset="utf-8"><title>SPA</title></head>
<body><pre id="result">working</pre>
<script>
const issuer = %q, clientID = %q, redirectURI = location.origin + "/cb";
const b64url = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const show = (v) => { document.getElementById("result").textContent = JSON.stringify(v); document.body.dataset.done = "1"; };
async function start() {
  const verifier = b64url(crypto.getRandomValues(new Uint8Array(32)));
  const state = b64url(crypto.getRandomValues(new Uint8Array(16)));
  sessionStorage.setItem("pkce", JSON.stringify({verifier, state}));
  const challenge = b64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  const q = new URLSearchParams({response_type: "code", client_id: clientID, redirect_uri: redirectURI,
    scope: "openid email profile", state, code_challenge: challenge, code_challenge_method: "S256"});
  location.assign(issuer + "/oauth2/authorize?" + q);
}
async function callback() {
  const params = new URLSearchParams(location.search);
  const {verifier, state} = JSON.parse(sessionStorage.getItem("pkce") || "{}");
  if (params.get("error")) { show({error: params.get("error")}); return; }
  if (params.get("state") !== state) { show({error: "state mismatch"}); return; }
  const tokenResp = await fetch(issuer + "/oauth2/token", {method: "POST",
    body: new URLSearchParams({grant_type: "authorization_code", code: params.get("code"),
      redirect_uri: redirectURI, client_id: clientID, code_verifier: verifier})});
  const token = await tokenResp.json();
  if (!tokenResp.ok) { show({error: "token", status: tokenResp.status, body: token}); return; }
  const infoResp = await fetch(issuer + "/userinfo", {headers: {Authorization: "Bearer " + token.access_token}});
  const info = await infoResp.json();
  show({ok: true, iss: params.get("iss"), token_type: token.token_type, has_id_token: !!token.id_token,
    has_refresh_token: !!token.refresh_token, userinfo_status: infoResp.status, email: info.email});
}
(location.pathname === "/cb" ? callback() : start()).catch((e) => show({error: String(e)}));
</script></body></html>`

// startChromium starts the headless Chromium at path for the test (closed
// at its end) and returns the browser's context. Run the steps under a
// deadline derived from it: the context that starts the browser must not
// carry one, or the browser would stop with it.
func startChromium(t *testing.T, path string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // as root in a container
		// No connections of the browser's own: this machine has no network.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelBrowser)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// listenApp opens a loopback port for an app of the test: another origin
// than gatehouse's, known before the app is (its client needs it).
func listenApp(t *testing.T) (net.Listener, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln, "http://" + ln.Addr().String()
}

// serveApp serves h on ln until the test ends.
func serveApp(t *testing.T, ln net.Listener, h http.HandlerFunc) {
	app := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go app.Serve(ln)
	t.Cleanup(func() { app.Close() })
}

// TestSinglePageAppInChromium signs a person in to a single-page app in a
// real browser (headless Chromium): the login and consent pages with
// their CSP, cookies and form posts, the redirect back to the app, and the
// app's cross-origin token and userinfo calls. What the Go tests' cookie
// jar cannot show: that a browser lets all of it happen.
func TestSinglePageAppInChromium(t *testing.T) {
	t.Parallel()
	browser := chromiumPath(t)
	s := startServer(t, "sqlite")
	s.user("spa-user@example.com", alicePassword)

	// The app on its own origin (another port).
	ln, origin := listenApp(t)
	c, _ := s.client(admin.ClientSpec{Name: "Browser App", Public: true, RedirectURIs: []string{origin + "/cb"},
		AllowedOrigins: []string{origin}, Scopes: []string{"openid", "email", "profile", "offline_access"}})
	page := fmt.Sprintf(spaPage, s.issuer, c.ID)
	serveApp(t, ln, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, page)
	})

	ctx := startChromium(t, browser)
	stepCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	allow := chromedp.CSS(`button[name="decision"][value="allow"]`)
	err := chromedp.Do(stepCtx,
		chromedp.Navigate(origin+"/"),
		// The app sends the browser to gatehouse's login page.
		chromedp.WaitVisible(chromedp.CSS("#email")),
		chromedp.SendKeys(chromedp.CSS("#email"), "spa-user@example.com"),
		chromedp.SendKeys(chromedp.CSS("#password"), alicePassword),
		chromedp.Submit(chromedp.CSS("#password")),
		// A third-party app: the consent page asks.
		chromedp.WaitVisible(allow),
		chromedp.Click(allow),
	)
	var result string
	if err == nil {
		// Back at the app, which exchanges the code, reads userinfo and
		// marks its page done. A selector wait (unlike a script polled in
		// the page) carries on across the navigation away from the
		// consent page.
		err = chromedp.Do(stepCtx, chromedp.WaitReady(chromedp.CSS("body[data-done]")))
	}
	if err == nil {
		result, err = chromedp.Run(stepCtx, chromedp.TextContent(chromedp.CSS("#result")))
	}
	if err != nil {
		where, _ := chromedp.Run(ctx, chromedp.Location())
		body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
		t.Fatalf("browser flow: %v (at %s: %.500s)", err, where, body)
	}
	var got struct {
		OK             bool   `json:"ok"`
		Error          any    `json:"error"`
		Iss            string `json:"iss"`
		TokenType      string `json:"token_type"`
		HasIDToken     bool   `json:"has_id_token"`
		HasRefresh     bool   `json:"has_refresh_token"`
		UserinfoStatus int    `json:"userinfo_status"`
		Email          string `json:"email"`
	}
	if err := json.Unmarshal([]byte(result), &got); err != nil {
		t.Fatalf("app result %q: %v", result, err)
	}
	if !got.OK || got.Iss != s.issuer || !strings.EqualFold(got.TokenType, "bearer") || !got.HasIDToken ||
		got.UserinfoStatus != http.StatusOK || got.Email != "spa-user@example.com" {
		t.Fatalf("the app got %s", result)
	}
}
