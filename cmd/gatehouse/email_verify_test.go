package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/internal/smtptest"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore/bunstoretest"
)

var verifyLink = regexp.MustCompile(`https?://[^\s"<>]+/email/verify\?token=[A-Za-z0-9_\-]+`)

// emailVerifiedClaim reads email_verified from the token's ID token (its
// signature is checked by the tests of the token endpoint).
func emailVerifiedClaim(t *testing.T, tok *oauth2.Token) any {
	t.Helper()
	raw, _ := tok.Extra("id_token").(string)
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("no ID token: %q", raw)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	return claims["email_verified"]
}

// TestEmailVerificationSentByAdmin: an administrator has a verification
// link sent; it arrives at a real SMTP server; opening it verifies
// nothing until the person presses the button; then email_verified in the
// ID token turns true, the link is used up, and asking again is refused.
func TestEmailVerificationSentByAdmin(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		srv := smtptest.Start(t)
		s := startServer(t, dialect, withSMTP(srv))
		ctx := context.Background()
		u := s.user("vera@example.com", "password-123")
		u.EmailVerified = false
		if err := s.store.UpdateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		app, appSecret := s.client(admin.ClientSpec{Name: "App", RedirectURIs: []string{appRedirect}, SkipConsent: true})
		conf := s.oauthConfig(app, appSecret, "openid", "email")
		if v := emailVerifiedClaim(t, s.signIn(t, conf, "vera@example.com", "password-123")); v != false {
			t.Fatalf("email_verified before = %v, want false", v)
		}

		robot, robotSecret := s.client(admin.ClientSpec{Name: "robot", Scopes: []string{provider.ScopeAdmin}, FirstParty: true})
		tok, errCode := s.ccToken(t, robot.ID, robotSecret, provider.ScopeAdmin)
		if errCode != "" {
			t.Fatal(errCode)
		}
		api := s.admin + "/admin/users/" + u.ID + "/send-verification"
		if status, body, _ := jsonRequest(t, http.MethodPost, api, tok, ""); status != http.StatusAccepted {
			t.Fatalf("send-verification: %d %v", status, body)
		}
		msg := srv.Wait(mailWait)
		text, _ := msg.Part("text/plain")
		link := verifyLink.FindString(text)
		if msg.To[0] != "vera@example.com" || link == "" || !strings.HasPrefix(link, s.issuer+"/email/verify?") {
			t.Fatalf("message to %v: %q", msg.To, text)
		}
		b := s.newBrowser()
		page := b.get(link)
		if page.status != http.StatusOK || !strings.Contains(page.body, `action="/email/verify"`) {
			t.Fatalf("verification page: %d %.300s", page.status, page.body)
		}
		if got, _ := s.store.UserByID(ctx, u.ID); got.EmailVerified {
			t.Fatal("opening the link verified the address without the button")
		}
		if p := b.post(s.issuer+"/email/verify", page.formValues()); p.status != http.StatusOK || !strings.Contains(p.body, `id="verify-done"`) {
			t.Fatalf("confirming: %d %.300s", p.status, p.body)
		}
		if v := emailVerifiedClaim(t, s.signIn(t, conf, "vera@example.com", "password-123")); v != true {
			t.Errorf("email_verified after = %v, want true", v)
		}
		if p := b.get(link); p.status != http.StatusBadRequest || !strings.Contains(p.body, `id="verify-error"`) {
			t.Errorf("the used link: %d", p.status)
		}
		status, body, hdr := jsonRequest(t, http.MethodPost, api, tok, "")
		wantAdminProblem(t, "verified already", status, body, hdr, http.StatusBadRequest)
	})
}

// TestEmailVerificationFollowsTheAddress: a link verifies only the
// address it was sent to; after the address changed it does nothing.
func TestEmailVerificationFollowsTheAddress(t *testing.T) {
	srv := smtptest.Start(t)
	s := startServer(t, "sqlite", withSMTP(srv))
	ctx := context.Background()
	u := s.user("old@example.com", "password-123")
	u.EmailVerified = false
	if err := s.store.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if _, err := s.app.admin.SendVerification(ctx, nil, u.ID); err != nil {
		t.Fatal(err)
	}
	text, _ := srv.Wait(mailWait).Part("text/plain")
	link := verifyLink.FindString(text)
	u.Email = "new@example.com"
	if err := s.store.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	b := s.newBrowser()
	if p := b.get(link); p.status != http.StatusBadRequest {
		t.Fatalf("the link after the address changed: %d", p.status)
	}
	if got, _ := s.store.UserByID(ctx, u.ID); got.EmailVerified {
		t.Fatal("the new address was verified by the old address's link")
	}
}

// TestCLISendVerification: gatehouse users send-verification queues the
// message for a server to send; without e-mail settings it is refused.
func TestCLISendVerification(t *testing.T) {
	dsn := bunstoretest.NewMigratedDSN(t, "sqlite")
	st := openMigrated(t, dsn, bunstore.Options{})
	t.Setenv("GATEHOUSE_DSN", dsn)
	t.Setenv("GATEHOUSE_SECRET", "cli-test-secret-cli-test-secret-0123456789")
	t.Setenv("GATEHOUSE_LOG_LEVEL", "error")
	if _, _, err := cli(t, "password-123\n", "users", "create", "--email", "cleo@example.com", "--password-stdin"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := cli(t, "", "users", "send-verification", "cleo@example.com"); err == nil || !strings.Contains(err.Error(), "smtp.host") {
		t.Fatalf("without e-mail settings: %v", err)
	}
	t.Setenv("GATEHOUSE_SMTP_HOST", "127.0.0.1")
	t.Setenv("GATEHOUSE_SMTP_FROM", "noreply@id.example")
	t.Setenv("GATEHOUSE_SMTP_TLS", "none")
	out, _, err := cli(t, "", "users", "send-verification", "cleo@example.com")
	if err != nil || !strings.Contains(out, "queued") {
		t.Fatalf("send-verification: %q, %v", out, err)
	}
	if outboxEmpty(t, st) {
		t.Fatal("nothing queued")
	}
}
