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

	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
)

// TestFrontChannelLogoutInChromium: RP-initiated logout in a real browser
// (headless Chromium) loads the app's front-channel logout page in an
// iframe, with iss and sid (Front-Channel Logout 1.0 §3) — the page's
// Content-Security-Policy frames exactly the app's origin — and then
// continues to the post_logout_redirect_uri by itself, with state, once
// the frame has loaded (its one script, allowed by its hash).
func TestFrontChannelLogoutInChromium(t *testing.T) {
	t.Parallel()
	browser := chromiumPath(t)
	s := startServer(t, "sqlite")
	user := s.user("front-channel@example.com", alicePassword)

	ln, origin := listenApp(t)
	c, secret := s.client(admin.ClientSpec{
		Name: "Front-channel app", RedirectURIs: []string{origin + "/cb"}, PostLogoutRedirectURIs: []string{origin + "/bye"},
		Scopes: []string{"openid"}, SkipConsent: true,
		FrontchannelLogoutURI: origin + "/fc", FrontchannelLogoutSessionRequired: true,
	})
	conf := s.oauthConfig(c, secret, "openid")

	// The app records its callback and its front-channel logout request.
	callbacks, frontChannel := make(chan url.Values, 1), make(chan url.Values, 1)
	serveApp(t, ln, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/cb":
			select {
			case callbacks <- r.URL.Query():
			default:
			}
		case "/fc":
			select {
			case frontChannel <- r.URL.Query():
			default:
			}
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html><body data-page="%s"></body></html>`, r.URL.Path)
	})

	ctx := startChromium(t, browser)
	stepCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	fail := func(step string, err error) {
		t.Helper()
		where, _ := chromedp.Run(ctx, chromedp.Location())
		t.Fatalf("%s: %v (browser at %s)", step, err, where)
	}

	verifier, challenge := pkce()
	err := chromedp.Do(stepCtx,
		chromedp.Navigate(conf.AuthCodeURL("", challenge)),
		chromedp.WaitVisible(chromedp.CSS("#email")),
		chromedp.SendKeys(chromedp.CSS("#email"), user.Email),
		chromedp.SendKeys(chromedp.CSS("#password"), alicePassword),
		chromedp.Submit(chromedp.CSS("#password")),
		chromedp.WaitReady(chromedp.CSS(`body[data-page="/cb"]`)),
	)
	if err != nil {
		fail("sign-in", err)
	}
	tok, err := conf.Exchange(context.Background(), (<-callbacks).Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	idToken, _ := tok.Extra("id_token").(string)
	sid, _ := idTokenClaims(t, tok)["sid"].(string)

	logout := s.issuer + provider.PathLogout + "?" + url.Values{
		"id_token_hint": {idToken}, "post_logout_redirect_uri": {origin + "/bye"}, "state": {"after-logout"},
	}.Encode()
	err = chromedp.Do(stepCtx,
		chromedp.Navigate(logout),
		// Nothing is clicked: the signed-out page continues by itself.
		chromedp.WaitReady(chromedp.CSS(`body[data-page="/bye"]`)),
	)
	if err != nil {
		fail("logout", err)
	}
	final, err := chromedp.Run(stepCtx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	var fc url.Values
	select {
	case fc = <-frontChannel:
	default:
		t.Fatal("the app's front-channel logout page was never loaded")
	}
	if fc.Get("iss") != s.issuer || fc.Get("sid") != sid || sid == "" {
		t.Fatalf("front-channel logout request %v, want iss %s and sid %s", fc, s.issuer, sid)
	}
	if u, err := url.Parse(final); err != nil || u.Query().Get("state") != "after-logout" {
		t.Fatalf("the browser ended at %s, want the post-logout URI with state", final)
	}
}
