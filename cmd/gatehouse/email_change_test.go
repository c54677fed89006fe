package main

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/smtptest"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
)

// changeEmail signs b in to the security page as email and posts the
// change form with newEmail and password.
func (b *browser) changeEmail(p *page, newEmail, password string) *page {
	b.t.Helper()
	if !strings.Contains(p.body, `id="email-change"`) {
		b.t.Fatalf("no change-of-address form: %d %s %.300s", p.status, p.url, p.body)
	}
	form := p.formValues()
	form.Set("email", newEmail)
	form.Set("password", password)
	return b.post(b.s.issuer+"/account/security/email", form)
}

// signsIn: email and password sign in to the account pages.
func (s *testServer) signsIn(email, password string) bool {
	b := s.newBrowser()
	p := b.login(b.get(s.issuer+"/account/security"), email, password)
	return p.status == http.StatusOK && !p.isLoginPage()
}

// TestEmailChange: a signed-in person changes their address with their
// password; the link goes to the new address, and until it is confirmed
// the old address signs in and is in the ID token. After the button the
// new address signs in, is in the ID token with email_verified true, the
// old one does not sign in, and the old address was told; the link then
// works no more, and the person's session in another browser has ended
// (the link was confirmed in a browser signed in as nobody). A wrong
// password sends nothing, and an address of another account gets the
// same page and no link (its owner is told, TestEmailChangeAddressClaimed).
func TestEmailChange(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		srv := smtptest.Start(t)
		s := startServer(t, dialect, withSMTP(srv))
		ctx := context.Background()
		u := s.user("old@example.com", "password-123")
		s.user("taken@example.com", "password-456")
		app, appSecret := s.client(admin.ClientSpec{Name: "App", RedirectURIs: []string{appRedirect}, SkipConsent: true})
		conf := s.oauthConfig(app, appSecret, "openid", "email")

		b := s.newBrowser()
		page := b.login(b.get(s.issuer+"/account/security"), "old@example.com", "password-123")

		// A wrong password: refused, nothing queued.
		p := b.changeEmail(page, "new@example.com", "wrong-password")
		if p.status != http.StatusUnauthorized || !strings.Contains(p.body, `id="security-error"`) {
			t.Fatalf("wrong password: %d %.300s", p.status, p.body)
		}
		if !outboxEmpty(t, s.store) {
			t.Fatal("a wrong password queued a message")
		}

		// Another account's address: the same page as a free address, and
		// no link to it: its owner gets a notice without one.
		taken := b.changeEmail(page, "Taken@Example.com", "password-123")
		claimed := srv.Wait(mailWait)
		if ctext, _ := claimed.Part("text/plain"); len(claimed.To) != 1 || claimed.To[0] != "taken@example.com" || strings.Contains(ctext, "http") {
			t.Fatalf("to another account's address, to %v: %q", claimed.To, ctext)
		}
		if !waitFor(mailWait, func() bool { return outboxEmpty(t, s.store) }) {
			t.Fatal("the outbox did not empty")
		}
		srv.None()

		sent := b.changeEmail(page, "new@example.com", "password-123")
		if sent.status != http.StatusOK || taken.status != sent.status ||
			strings.ReplaceAll(taken.body, taken.formValues().Get("_csrf"), "") != strings.ReplaceAll(sent.body, sent.formValues().Get("_csrf"), "") {
			t.Fatalf("the answers differ: taken %d, free %d:\n%.600s\n---\n%.600s", taken.status, sent.status, taken.body, sent.body)
		}
		msg := srv.Wait(mailWait)
		text, _ := msg.Part("text/plain")
		link := verifyLink.FindString(text)
		if len(msg.To) != 1 || msg.To[0] != "new@example.com" || link == "" {
			t.Fatalf("message to %v: %q", msg.To, text)
		}

		// Not yet confirmed: the old address is still the one in use.
		if got, _ := s.store.UserByID(ctx, u.ID); got.Email != "old@example.com" || !got.EmailVerified {
			t.Fatalf("before the link: %q verified %v", got.Email, got.EmailVerified)
		}
		if !s.signsIn("old@example.com", "password-123") || s.signsIn("new@example.com", "password-123") {
			t.Fatal("before the link, the old address must sign in and the new must not")
		}

		c := s.newBrowser()
		confirm := c.get(link)
		if confirm.status != http.StatusOK {
			t.Fatalf("the link's page: %d %.300s", confirm.status, confirm.body)
		}
		if p := c.post(s.issuer+"/email/verify", confirm.formValues()); p.status != http.StatusOK || !strings.Contains(p.body, `id="verify-done"`) {
			t.Fatalf("confirming: %d %.300s", p.status, p.body)
		}
		notice := srv.Wait(mailWait)
		ntext, _ := notice.Part("text/plain")
		if len(notice.To) != 1 || notice.To[0] != "old@example.com" || !strings.Contains(ntext, "changed to new@example.com") {
			t.Fatalf("notice to %v: %q", notice.To, ntext)
		}

		tok := s.signIn(t, conf, "new@example.com", "password-123")
		if v := emailVerifiedClaim(t, tok); v != true {
			t.Errorf("email_verified = %v, want true", v)
		}
		if e := idTokenClaims(t, tok)["email"]; e != "new@example.com" {
			t.Errorf("email = %v, want the new address", e)
		}
		if s.signsIn("old@example.com", "password-123") {
			t.Error("the old address still signs in")
		}
		if p := b.get(s.issuer + "/account/sessions"); !p.isLoginPage() {
			t.Errorf("the session of before the change lives on: %d %s", p.status, p.url)
		}

		// The link is used up.
		if p := c.post(s.issuer+"/email/verify", confirm.formValues()); p.status != http.StatusBadRequest || !strings.Contains(p.body, `id="verify-error"`) {
			t.Errorf("the link used twice: %d", p.status)
		}
		if !waitFor(mailWait, func() bool { return outboxEmpty(t, s.store) }) {
			t.Fatal("the outbox did not empty")
		}
		srv.None()
	})
}

// TestEmailChangeTakenMeanwhile: the new address went to another account
// after the link was sent: confirming it shows a clear page (409, never a
// 500 from the unique constraint), the address stays, the link is used
// up.
func TestEmailChangeTakenMeanwhile(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		srv := smtptest.Start(t)
		s := startServer(t, dialect, withSMTP(srv))
		ctx := context.Background()
		u := s.user("mover@example.com", "password-123")
		b := s.newBrowser()
		page := b.login(b.get(s.issuer+"/account/security"), "mover@example.com", "password-123")
		if p := b.changeEmail(page, "wanted@example.com", "password-123"); p.status != http.StatusOK {
			t.Fatalf("change: %d %.300s", p.status, p.body)
		}
		text, _ := srv.Wait(mailWait).Part("text/plain")
		link := verifyLink.FindString(text)
		s.user("wanted@example.com", "password-456")

		confirm := b.get(link)
		p := b.post(s.issuer+"/email/verify", confirm.formValues())
		if p.status != http.StatusConflict || !strings.Contains(p.body, `id="verify-taken"`) {
			t.Fatalf("confirming a taken address: %d %.300s", p.status, p.body)
		}
		if got, _ := s.store.UserByID(ctx, u.ID); got.Email != "mover@example.com" {
			t.Errorf("address = %q, want unchanged", got.Email)
		}
		if p := b.post(s.issuer+"/email/verify", confirm.formValues()); p.status != http.StatusBadRequest {
			t.Errorf("the link again: %d", p.status)
		}
	})
}

// TestEmailChangeBadInput: no address, a long one, not an address, the
// person's own: a 400 page, never a 500, nothing queued.
func TestEmailChangeBadInput(t *testing.T) {
	srv := smtptest.Start(t)
	s := startServer(t, "sqlite", withSMTP(srv))
	s.user("self@example.com", "password-123")
	s.user("other@example.com", "password-123")
	b := s.newBrowser()
	page := b.login(b.get(s.issuer+"/account/security"), "self@example.com", "password-123")
	// Two people: each may ask three times in 15 minutes.
	o := s.newBrowser()
	other := o.login(o.get(s.issuer+"/account/security"), "other@example.com", "password-123")
	for i, email := range []string{"", strings.Repeat("a", 400) + "@example.com", "not an address", "Other <other@example.com>", "OTHER@example.com"} {
		bb, pp := b, page
		if i >= 3 {
			bb, pp = o, other
		}
		if p := bb.changeEmail(pp, email, "password-123"); p.status != http.StatusBadRequest {
			t.Errorf("%.40q: %d", email, p.status)
		}
	}
	// Without the CSRF token: refused by the middleware.
	if p := b.post(s.issuer+"/account/security/email", url.Values{"email": {"x@example.com"}, "password": {"password-123"}}); p.status != http.StatusForbidden {
		t.Errorf("without CSRF: %d", p.status)
	}
	if !outboxEmpty(t, s.store) {
		t.Fatal("bad input queued a message")
	}
}

// TestEmailChangeRateLimit: a fourth change within 15 minutes is refused
// for the person (429), even with the right password, and queues nothing.
func TestEmailChangeRateLimit(t *testing.T) {
	srv := smtptest.Start(t)
	s := startServer(t, "sqlite", withSMTP(srv))
	s.user("busy@example.com", "password-123")
	b := s.newBrowser()
	page := b.login(b.get(s.issuer+"/account/security"), "busy@example.com", "password-123")
	for i := 0; i < 3; i++ {
		if p := b.changeEmail(page, "elsewhere@example.com", "wrong-password"); p.status != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i+1, p.status)
		}
	}
	if p := b.changeEmail(page, "elsewhere@example.com", "password-123"); p.status != http.StatusTooManyRequests || p.header.Get("Retry-After") == "" {
		t.Fatalf("the fourth: %d", p.status)
	}
	if !outboxEmpty(t, s.store) {
		t.Fatal("a refused change queued a message")
	}
}

// TestEmailChangeEndsOtherSessions: a person signed in in two browsers
// changes their address from the first and confirms the link there: the
// second browser's session has ended (its account pages ask to sign in),
// the first stays signed in, and the store has that one session left.
func TestEmailChangeEndsOtherSessions(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		srv := smtptest.Start(t)
		s := startServer(t, dialect, withSMTP(srv))
		ctx := context.Background()
		u := s.user("twice@example.com", "password-123")
		a, b := s.newBrowser(), s.newBrowser()
		page := a.login(a.get(s.issuer+"/account/security"), "twice@example.com", "password-123")
		if p := b.login(b.get(s.issuer+"/account/sessions"), "twice@example.com", "password-123"); p.status != http.StatusOK || p.isLoginPage() {
			t.Fatalf("the second browser did not sign in: %d %s", p.status, p.url)
		}
		if p := a.changeEmail(page, "moved@example.com", "password-123"); p.status != http.StatusOK {
			t.Fatalf("change: %d %.300s", p.status, p.body)
		}
		text, _ := srv.Wait(mailWait).Part("text/plain")
		link := verifyLink.FindString(text)
		if link == "" {
			t.Fatalf("no link in %q", text)
		}
		// Before the link, both browsers are signed in.
		if p := b.get(s.issuer + "/account/sessions"); p.isLoginPage() {
			t.Fatal("the second browser was signed out before the link was confirmed")
		}

		confirm := a.get(link)
		if p := a.post(s.issuer+"/email/verify", confirm.formValues()); p.status != http.StatusOK || !strings.Contains(p.body, `id="verify-done"`) {
			t.Fatalf("confirming: %d %.300s", p.status, p.body)
		}
		if p := b.get(s.issuer + "/account/sessions"); !p.isLoginPage() {
			t.Errorf("the other browser is still signed in: %d %s", p.status, p.url)
		}
		if p := a.get(s.issuer + "/account/sessions"); p.status != http.StatusOK || p.isLoginPage() {
			t.Errorf("the browser that confirmed was signed out: %d %s", p.status, p.url)
		}
		left, err := s.store.LoginSessionsOfUser(ctx, u.ID)
		if err != nil || len(left) != 1 {
			t.Fatalf("sessions left: %d (%v), want 1", len(left), err)
		}
		notice := srv.Wait(mailWait)
		if len(notice.To) != 1 || notice.To[0] != "twice@example.com" {
			t.Fatalf("notice to %v", notice.To)
		}
	})
}

// TestEmailChangeAddressClaimed: asking for the address of another
// account gets the same answer as a free address (status and body), and
// the owner of that address is told, without the asker's address and
// without a link; a second asker within the day gets the same answer and
// the owner no second notice (no mail-bombing through the form).
func TestEmailChangeAddressClaimed(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		srv := smtptest.Start(t)
		s := startServer(t, dialect, withSMTP(srv))
		s.user("asker@example.com", "password-123")
		s.user("owner@example.com", "password-456")
		s.user("second@example.com", "password-789")
		b := s.newBrowser()
		page := b.login(b.get(s.issuer+"/account/security"), "asker@example.com", "password-123")

		taken := b.changeEmail(page, "owner@example.com", "password-123")
		notice := srv.Wait(mailWait)
		text, err := notice.Part("text/plain")
		if err != nil {
			t.Fatal(err)
		}
		html, err := notice.Part("text/html")
		if err != nil {
			t.Fatal(err)
		}
		if len(notice.To) != 1 || notice.To[0] != "owner@example.com" || !strings.Contains(text, "Example ID") || !strings.Contains(text, "nothing changed") {
			t.Fatalf("notice to %v: %q", notice.To, text)
		}
		for _, part := range []string{text, html, notice.Header("Subject")} {
			if strings.Contains(part, "asker@example.com") || strings.Contains(part, "http") {
				t.Errorf("the notice names the asker or carries a link: %q", part)
			}
		}

		free := b.changeEmail(page, "free@example.com", "password-123")
		if free.status != http.StatusOK || taken.status != free.status ||
			strings.ReplaceAll(taken.body, taken.formValues().Get("_csrf"), "") != strings.ReplaceAll(free.body, free.formValues().Get("_csrf"), "") {
			t.Fatalf("the answers differ: taken %d, free %d:\n%.600s\n---\n%.600s", taken.status, free.status, taken.body, free.body)
		}
		if m := srv.Wait(mailWait); len(m.To) != 1 || m.To[0] != "free@example.com" {
			t.Fatalf("the link went to %v", m.To)
		}

		// Someone else asks for the same address within the day: the same
		// answer, and no second notice.
		o := s.newBrowser()
		opage := o.login(o.get(s.issuer+"/account/security"), "second@example.com", "password-789")
		if p := o.changeEmail(opage, "owner@example.com", "password-789"); p.status != http.StatusOK {
			t.Fatalf("the second asker: %d %.300s", p.status, p.body)
		}
		if !waitFor(mailWait, func() bool { return outboxEmpty(t, s.store) }) {
			t.Fatal("the outbox did not empty")
		}
		srv.None()
	})
}
