package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/internal/smtptest"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore/bunstoretest"
)

// mailWait is how long a test waits for the SMTP server to get a message.
const mailWait = 15 * time.Second

// withSMTP points the server's e-mail at a test SMTP server on loopback.
func withSMTP(srv *smtptest.Server) func(*config.Config) {
	return func(c *config.Config) {
		c.SMTP.Host, c.SMTP.Port, c.SMTP.From, c.SMTP.TLS = srv.Host, srv.Port, "noreply@id.example", config.SMTPTLSNone
		c.SMTP.FromName = "Example ID"
		c.Branding.ProductName = "Example ID" // the name the messages use
	}
}

var resetLink = regexp.MustCompile(`https?://[^\s"<>]+/password/reset\?token=[A-Za-z0-9_\-]+`)

// linkIn returns the reset link of a message.
func linkIn(t *testing.T, m smtptest.Message) string {
	t.Helper()
	text, err := m.Part("text/plain")
	if err != nil {
		t.Fatalf("message: %v", err)
	}
	link := resetLink.FindString(text)
	if link == "" {
		t.Fatalf("no reset link in %q", text)
	}
	return link
}

// askReset fills in the "forgot password" form for email.
func (b *browser) askReset(email string) *page {
	b.t.Helper()
	p := b.get(b.s.issuer + "/password/forgot")
	if p.status != http.StatusOK || !strings.Contains(p.body, `action="/password/forgot"`) {
		b.t.Fatalf("forgot password page: %d %.300s", p.status, p.body)
	}
	form := p.formValues()
	form.Set("email", email)
	return b.post(b.s.issuer+"/password/forgot", form)
}

// setPassword submits the new-password form of a reset page.
func (b *browser) setPassword(p *page, password, confirm string) *page {
	b.t.Helper()
	form := p.formValues()
	if form.Get("token") == "" {
		b.t.Fatalf("no reset form: %d %.300s", p.status, p.body)
	}
	form.Set("password", password)
	form.Set("password_confirm", confirm)
	return b.post(b.s.issuer+"/password/reset", form)
}

// signedIn says whether the browser's session opens the account pages.
func (b *browser) signedIn() bool {
	b.t.Helper()
	return !b.get(b.s.issuer + provider.PathAccount).isLoginPage()
}

// TestPasswordResetByEmail: "Forgot password?" on the login page, the
// e-mail arrives at a real SMTP server, its link sets a new password
// (under the same rules as the admin path), works once, ends the
// person's other sessions and clears their sign-in lock; the old password
// stops working, the new one works.
func TestPasswordResetByEmail(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		srv := smtptest.Start(t)
		s := startServer(t, dialect, withSMTP(srv))
		u := s.user("ann@example.com", "old-password-1")
		u.EmailVerified = false
		if err := s.store.UpdateUser(context.Background(), u); err != nil {
			t.Fatal(err)
		}

		other := s.newBrowser()
		if p := other.login(other.get(s.issuer+"/login"), "ann@example.com", "old-password-1"); !other.signedIn() {
			t.Fatalf("sign-in before the reset: %d %.300s", p.status, p.body)
		}
		// A lock on the account from someone else's guesses.
		for range 5 {
			stranger := s.newBrowser()
			stranger.login(stranger.get(s.issuer+"/login"), "ann@example.com", "wrong-guess")
		}

		b := s.newBrowser()
		if p := b.get(s.issuer + "/login"); !strings.Contains(p.body, `href="/password/forgot"`) {
			t.Fatalf("the login page has no \"Forgot password?\" link: %.500s", p.body)
		}
		p := b.askReset("Ann@Example.com ")
		if p.status != http.StatusOK || !strings.Contains(p.body, `id="reset-sent"`) {
			t.Fatalf("asking for a link: %d %.300s", p.status, p.body)
		}
		msg := srv.Wait(mailWait)
		if len(msg.To) != 1 || msg.To[0] != "ann@example.com" {
			t.Fatalf("message to %v", msg.To)
		}
		link := linkIn(t, msg)
		if !strings.HasPrefix(link, s.issuer+"/password/reset?token=") {
			t.Fatalf("link %q does not start at the issuer", link)
		}
		form := b.get(link)
		if form.status != http.StatusOK {
			t.Fatalf("reset page: %d %.300s", form.status, form.body)
		}
		if p := b.setPassword(form, "new-password-1", "new-password-2"); p.status != http.StatusBadRequest || !strings.Contains(p.body, "differ") {
			t.Fatalf("different passwords: %d %.300s", p.status, p.body)
		}
		if p := b.setPassword(form, "short", "short"); p.status != http.StatusBadRequest || !strings.Contains(p.body, "8 to") {
			t.Fatalf("a short password: %d %.300s", p.status, p.body)
		}
		if p := b.setPassword(form, "new-password-1", "new-password-1"); p.status != http.StatusOK || !strings.Contains(p.body, `id="reset-done"`) {
			t.Fatalf("setting the new password: %d %.300s", p.status, p.body)
		}

		// Used: the link works no more.
		if p := b.get(link); p.status != http.StatusBadRequest || !strings.Contains(p.body, `href="/password/forgot"`) {
			t.Fatalf("the used link: %d %.300s", p.status, p.body)
		}
		if p := b.setPassword(form, "another-password", "another-password"); p.status != http.StatusBadRequest || !strings.Contains(p.body, `id="reset-error"`) {
			t.Fatalf("the used link posted again: %d %.300s", p.status, p.body)
		}
		// Every other session ended.
		if other.signedIn() {
			t.Error("the session signed in before the reset is still signed in")
		}
		got, err := s.store.UserByID(context.Background(), u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if ok, _ := secret.VerifyPassword(got.PasswordHash, "new-password-1"); !ok || !strings.HasPrefix(got.PasswordHash, "$argon2id$") {
			t.Fatalf("stored hash %q does not take the new password", got.PasswordHash)
		}
		if !got.EmailVerified {
			t.Error("a completed reset did not mark the address verified (the link reached it)")
		}
		// The lock was lifted and the new password signs in, from a
		// browser the account has never seen; the old one does not.
		fresh := s.newBrowser()
		fresh.login(fresh.get(s.issuer+"/login"), "ann@example.com", "old-password-1")
		if fresh.signedIn() {
			t.Fatal("the old password still signs in")
		}
		fresh = s.newBrowser()
		fresh.login(fresh.get(s.issuer+"/login"), "ann@example.com", "new-password-1")
		if !fresh.signedIn() {
			t.Fatal("the new password does not sign in")
		}
	})
}

// TestPasswordResetNewerLinkAndPasswordChange: a newer link invalidates
// the older, and a password changed another way (the admin path)
// invalidates a link made before.
func TestPasswordResetNewerLinkAndPasswordChange(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		srv := smtptest.Start(t)
		s := startServer(t, dialect, withSMTP(srv))
		u := s.user("bob@example.com", "old-password-1")
		b := s.newBrowser()
		b.askReset("bob@example.com")
		first := linkIn(t, srv.Wait(mailWait))
		b.askReset("bob@example.com")
		second := linkIn(t, srv.Wait(mailWait))
		if p := b.get(first); p.status != http.StatusBadRequest {
			t.Errorf("the older link after a newer one: %d", p.status)
		}
		if p := b.get(second); p.status != http.StatusOK {
			t.Fatalf("the newer link: %d %.300s", p.status, p.body)
		}
		if _, err := s.app.admin.SetUserPassword(context.Background(), nil, u.ID, "set-by-admin-1"); err != nil {
			t.Fatal(err)
		}
		if p := b.get(second); p.status != http.StatusBadRequest {
			t.Errorf("the link after the password changed: %d", p.status)
		}
		// A link sent to an address the account no longer has is useless.
		b.askReset("bob@example.com")
		third := linkIn(t, srv.Wait(mailWait))
		if _, err := s.app.admin.UpdateUser(context.Background(), nil, u.ID, admin.UserUpdate{Email: "robert@example.com", Name: u.Name, EmailVerified: true}); err != nil {
			t.Fatal(err)
		}
		if p := b.get(third); p.status != http.StatusBadRequest {
			t.Errorf("the link after the address changed: %d", p.status)
		}
	})
}

// TestPasswordResetAnswersAlike: asking for a link for an address with an
// account and for one without gives the same status and the same page;
// only the account's owner gets e-mail. Timing is equal by construction:
// the request queues one deferred message whatever the address, and the
// account is looked up later by the outbox (login.PasswordReset.Request);
// the medians of 30 tries each are logged, and compared with a generous
// bound only.
func TestPasswordResetAnswersAlike(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		srv := smtptest.Start(t)
		s := startServer(t, dialect, withSMTP(srv), func(c *config.Config) { c.RateLimits.Enabled = false })
		s.user("known@example.com", "password-123")
		b := s.newBrowser()
		normal := func(p *page, email string) string { return strings.ReplaceAll(p.body, email, "EMAIL") }
		known, unknown := b.askReset("known@example.com"), b.askReset("nobody@example.com")
		if known.status != unknown.status || normal(known, "known@example.com") != normal(unknown, "nobody@example.com") {
			t.Fatalf("answers differ:\n%d %s\n%d %s", known.status, known.body, unknown.status, unknown.body)
		}
		msg := srv.Wait(mailWait)
		if msg.To[0] != "known@example.com" {
			t.Fatalf("message to %v", msg.To)
		}
		// The unknown address's deferred message is dropped, unsent.
		if !waitFor(mailWait, func() bool { return outboxEmpty(t, s.store) }) {
			t.Fatal("the outbox did not empty")
		}
		srv.None()

		form := b.get(s.issuer + "/password/forgot").formValues()
		timed := func(email string) time.Duration {
			f := url.Values{"_csrf": {form.Get("_csrf")}, "email": {email}}
			start := time.Now()
			if p := b.post(s.issuer+"/password/forgot", f); p.status != http.StatusOK {
				t.Fatalf("ask: %d", p.status)
			}
			return time.Since(start)
		}
		var kd, ud []time.Duration
		for range 30 {
			kd = append(kd, timed("known@example.com"))
			ud = append(ud, timed("nobody@example.com"))
		}
		mk, mu := median(kd), median(ud)
		t.Logf("%s: median answer for an account %s, without one %s", dialect, mk, mu)
		if d := (mk - mu).Abs(); d > 50*time.Millisecond+max(mk, mu) {
			t.Errorf("medians differ by %s (account %s, none %s)", d, mk, mu)
		}
	})
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// outboxEmpty: nothing waits in the outbox (claimable far in the future)
// and nothing is held.
func outboxEmpty(t *testing.T, st *bunstore.Store) bool {
	t.Helper()
	var n int
	if err := st.Pools()["primary"].QueryRowContext(context.Background(), "SELECT count(*) FROM mail_outbox WHERE dead_at IS NULL").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 0
}

// TestPasswordResetRateLimits: a fourth request for one address within
// 15 minutes is refused (429), for an address with an account and one
// without alike.
func TestPasswordResetRateLimits(t *testing.T) {
	srv := smtptest.Start(t)
	s := startServer(t, "sqlite", withSMTP(srv))
	s.user("known@example.com", "password-123")
	b := s.newBrowser()
	for _, email := range []string{"known@example.com", "nobody@example.com"} {
		for i := range 3 {
			if p := b.askReset(email); p.status != http.StatusOK {
				t.Fatalf("%s request %d: %d", email, i+1, p.status)
			}
		}
		if p := b.askReset(email); p.status != http.StatusTooManyRequests || p.header.Get("Retry-After") == "" {
			t.Errorf("%s fourth request: %d", email, p.status)
		}
	}
}

// TestUndeliverableMailIsADeadLetter: a reset e-mail the mail server
// refuses for good (550) is listed by the admin API as a dead letter,
// with the server's answer and without its link.
func TestUndeliverableMailIsADeadLetter(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		srv := smtptest.Start(t)
		srv.Reply(func(string) error { return smtptest.Permanent() })
		s := startServer(t, dialect, withSMTP(srv))
		s.user("gone@example.com", "password-123")
		robot, robotSecret := s.client(admin.ClientSpec{Name: "robot", Scopes: []string{provider.ScopeAdmin}, FirstParty: true})
		tok, errCode := s.ccToken(t, robot.ID, robotSecret, provider.ScopeAdmin)
		if errCode != "" {
			t.Fatal(errCode)
		}
		s.newBrowser().askReset("gone@example.com")
		var items []map[string]any
		if !waitFor(mailWait, func() bool {
			status, body, _ := jsonRequest(t, http.MethodGet, s.admin+"/admin/mail/dead", tok, "")
			if status != http.StatusOK {
				t.Fatalf("GET /admin/mail/dead: %d %v", status, body)
			}
			raw, _ := json.Marshal(body["items"])
			_ = json.Unmarshal(raw, &items)
			return len(items) > 0
		}) {
			t.Fatal("no dead letter")
		}
		d := items[0]
		if d["to"] != "gone@example.com" || !strings.Contains(d["last_error"].(string), "550") || d["subject"] != "Reset your password" {
			t.Errorf("dead letter %v", d)
		}
		if raw, _ := json.Marshal(d); strings.Contains(string(raw), "token") {
			t.Errorf("dead letter shows the link: %s", raw)
		}
		status, body, hdr := jsonRequest(t, http.MethodGet, s.admin+"/admin/mail/dead?limit=0", tok, "")
		wantAdminProblem(t, "limit 0", status, body, hdr, http.StatusBadRequest)
	})
}

// TestCLIListsDeadMail: gatehouse mail dead lists what the outbox gave
// up on, until the janitor's retention ends.
func TestCLIListsDeadMail(t *testing.T) {
	dsn := bunstoretest.NewMigratedDSN(t, "sqlite")
	st := openMigrated(t, dsn, bunstore.Options{})
	ctx := context.Background()
	now := time.Now()
	if err := st.EnqueueMail(ctx, &storage.MailMessage{ID: "m1", To: "gone@example.com", Subject: "Reset your password", Body: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ClaimMail(ctx, now, time.Minute, 1); err != nil {
		t.Fatal(err)
	}
	if err := st.BuryMail(ctx, "m1", now, "550 5.1.1 no such user"); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GATEHOUSE_DSN", dsn)
	t.Setenv("GATEHOUSE_LOG_LEVEL", "error")
	out, _, err := cli(t, "", "mail", "dead", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ Items []admin.DeadMailView }
	if err := json.Unmarshal([]byte(out), &got); err != nil || len(got.Items) != 1 || got.Items[0].To != "gone@example.com" ||
		got.Items[0].LastError != "550 5.1.1 no such user" {
		t.Fatalf("mail dead --json = %q, %v", out, err)
	}
	out, _, err = cli(t, "", "mail", "dead")
	if err != nil || !strings.Contains(out, "gone@example.com") || !strings.Contains(out, "550 5.1.1") {
		t.Fatalf("mail dead = %q, %v", out, err)
	}

	// The janitor keeps a dead letter for janitor.dead_mail_retention
	// (30 days by default), then deletes it.
	var rep janitorReport
	cliJSONAt(t, func() time.Time { return now.Add(29 * 24 * time.Hour) }, &rep, "", "janitor", "--json")
	if !rep.Ran || rep.DeadMail != 0 {
		t.Fatalf("janitor within the retention: %+v", rep)
	}
	cliJSONAt(t, func() time.Time { return now.Add(31 * 24 * time.Hour) }, &rep, "", "janitor", "--json")
	if !rep.Ran || rep.DeadMail != 1 {
		t.Fatalf("janitor after the retention: %+v, want one dead letter deleted", rep)
	}
	out, _, err = cli(t, "", "mail", "dead", "--json")
	if err != nil || strings.Contains(out, "gone@example.com") {
		t.Fatalf("mail dead after the retention = %q, %v", out, err)
	}
}

// TestDevModeListsMail: under --dev without a mail server the e-mail is
// not sent but listed on the admin listener, its link clickable, and the
// reset completes from it; without --dev the list does not exist.
func TestDevModeListsMail(t *testing.T) {
	s := startServer(t, "sqlite", func(c *config.Config) { c.Dev = true })
	s.user("dev@example.com", "password-123")
	b := s.newBrowser()
	b.askReset("dev@example.com")
	var link string
	if !waitFor(mailWait, func() bool {
		p := b.get(s.admin + "/admin/dev/mail")
		if p.status != http.StatusOK {
			t.Fatalf("GET /admin/dev/mail: %d", p.status)
		}
		link = resetLink.FindString(p.body)
		return link != "" && strings.Contains(p.body, `<a href="`+strings.ReplaceAll(link, "&", "&amp;")+`">`)
	}) {
		t.Fatal("the dev mail list shows no reset link")
	}
	if p := b.setPassword(b.get(htmlUnescape(link)), "password-456", "password-456"); p.status != http.StatusOK {
		t.Fatalf("reset from the dev mail list: %d %.300s", p.status, p.body)
	}

	prod := startServer(t, "sqlite")
	if p := prod.newBrowser().get(prod.admin + "/admin/dev/mail"); p.status != http.StatusNotFound {
		t.Errorf("GET /admin/dev/mail without --dev: %d", p.status)
	}
	if p := prod.newBrowser().get(prod.issuer + "/login"); strings.Contains(p.body, "/password/forgot") {
		t.Error("the login page offers a reset without e-mail")
	}
}
