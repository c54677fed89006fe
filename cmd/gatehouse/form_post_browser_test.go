package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/provider/admin"
)

// TestFormPostInChromium: with response_mode=form_post a real browser
// (headless Chromium) posts the authorization response to the app by
// itself: the page's script runs under gatehouse's Content-Security-Policy
// (allowed by its hash) and its form may post to the app's origin
// (form-action). The app, on another loopback port, receives a POST whose
// code it exchanges.
func TestFormPostInChromium(t *testing.T) {
	t.Parallel()
	browser := chromiumPath(t)
	s := startServer(t, "sqlite")
	s.user("form-post@example.com", alicePassword)

	ln, origin := listenApp(t)
	c, secret := s.client(admin.ClientSpec{Name: "Form post app", RedirectURIs: []string{origin + "/cb"}, Scopes: []string{"openid"}})
	conf := s.oauthConfig(c, secret, "openid")

	// The app: its callback takes the POST and records what came.
	received := make(chan url.Values, 1)
	serveApp(t, ln, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/cb" && r.Method == http.MethodPost && r.ParseForm() == nil {
			select {
			case received <- r.PostForm:
			default:
			}
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html><body data-done="1"><p id="method">%s</p></body></html>`, r.Method)
	})

	ctx := startChromium(t, browser)
	stepCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()

	verifier, challenge := pkce()
	state := `st "<&>" é`
	authURL := conf.AuthCodeURL(state, challenge, oauth2.SetAuthURLParam("response_mode", "form_post"))
	allow := chromedp.CSS(`button[name="decision"][value="allow"]`)
	err := chromedp.Do(stepCtx,
		chromedp.Navigate(authURL),
		chromedp.WaitVisible(chromedp.CSS("#email")),
		chromedp.SendKeys(chromedp.CSS("#email"), "form-post@example.com"),
		chromedp.SendKeys(chromedp.CSS("#password"), alicePassword),
		chromedp.Submit(chromedp.CSS("#password")),
		chromedp.WaitVisible(allow),
		chromedp.Click(allow),
		// Nothing more is clicked: the form_post page submits itself.
		chromedp.WaitReady(chromedp.CSS("body[data-done]")),
	)
	if err != nil {
		where, _ := chromedp.Run(ctx, chromedp.Location())
		body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
		t.Fatalf("browser flow: %v (at %s: %.500s)", err, where, body)
	}
	var form url.Values
	select {
	case form = <-received:
	default:
		where, _ := chromedp.Run(ctx, chromedp.Location())
		t.Fatalf("the app got no POST at its callback (browser at %s)", where)
	}
	if form.Get("state") != state || form.Get("iss") != s.issuer || form.Get("code") == "" {
		t.Fatalf("the app got %v", form)
	}
	if _, err := conf.Exchange(context.Background(), form.Get("code"), oauth2.VerifierOption(verifier)); err != nil {
		t.Fatalf("exchange of the posted code: %v", err)
	}
}
