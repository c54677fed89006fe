package main

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/internal/clocktest"
	"github.com/gatehouse-dev/gatehouse/internal/smtptest"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
)

var enrolmentCodeRe = regexp.MustCompile(`\b[0-9]{8}\b`)

// enrolmentCode waits for the e-mailed code to to and returns it.
func enrolmentCode(t *testing.T, srv *smtptest.Server, to string) string {
	t.Helper()
	m := srv.Wait(mailWait)
	if len(m.To) != 1 || m.To[0] != to {
		t.Fatalf("the code went to %v, want %s", m.To, to)
	}
	text, err := m.Part("text/plain")
	if err != nil {
		t.Fatal(err)
	}
	code := enrolmentCodeRe.FindString(text)
	if code == "" || !strings.Contains(m.Header("Subject"), code) {
		t.Fatalf("no code in the message (subject %q): %s", m.Header("Subject"), text)
	}
	return code
}

// TestRequiredSecondFactorEnrolmentProvesAddress: when a second factor is
// required of a person who has none, the first factor alone does not let
// them set one up (trust on first use would let a stolen password enrol
// the thief's authenticator): a code goes to the account's address first,
// and only the browser it was sent for, with the right code, gets to the
// authenticator. The code is single-browser, resending is limited, the
// unverified address becomes verified, and wrong codes count towards the
// account's lockout like wrong TOTP codes.
func TestRequiredSecondFactorEnrolmentProvesAddress(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		srv := smtptest.Start(t)
		clock := clocktest.New(time.Now().Add(-2 * time.Hour).UTC().Truncate(30 * time.Second))
		s, _ := startServerAt(t, dialect, clock, withSMTP(srv), func(c *config.Config) { c.Login.RequireMFA = true })
		dan := s.user("dan@example.com", alicePassword)
		dan.EmailVerified = false
		if err := s.store.UpdateUser(context.Background(), dan); err != nil {
			t.Fatal(err)
		}
		c, secret := s.client(admin.ClientSpec{
			Name: "App", RedirectURIs: []string{"http://127.0.0.1:9999/cb"}, SkipConsent: true, Scopes: []string{"openid"},
		})
		conf := s.oauthConfig(c, secret, "openid")
		verifier, challenge := pkce()

		// The thief, with the password only: a page asking for the code,
		// no authenticator to scan, and no way past it by posting the
		// enrolment directly.
		thief := s.newBrowser()
		p := thief.login(thief.get(conf.AuthCodeURL("st", challenge)), dan.Email, alicePassword)
		if !p.isSecondFactorPage("enrol_email") || totpSecretRe.MatchString(p.body) || !strings.Contains(p.body, "d•••@example.com") {
			t.Fatalf("want the page asking for the e-mailed code, without an authenticator: %d %s %.600s", p.status, p.url, p.body)
		}
		thiefsCode := enrolmentCode(t, srv, dan.Email) // the owner's mailbox, which the thief cannot read
		if got := thief.secondFactor(withMethod(p, "enrol"), "enrol", "123456"); got.status != http.StatusForbidden || totpSecretRe.MatchString(got.body) {
			t.Fatalf("enrolling without the code: %d %.400s", got.status, got.body)
		}
		refusedSecondFactor(t, thief.secondFactor(p, "enrol_email", "00000000"), "a wrong code")
		if resend := thief.secondFactor(p, "enrol_email_resend", ""); resend.status != http.StatusTooManyRequests {
			t.Fatalf("a new code within the minute: %d %.300s", resend.status, resend.body)
		}
		srv.None()

		// The owner, in their own browser: a code of their own; the one
		// sent for the other browser does not work here.
		owner := s.newBrowser()
		p = owner.login(owner.get(conf.AuthCodeURL("st", challenge)), dan.Email, alicePassword)
		code := enrolmentCode(t, srv, dan.Email)
		if code == thiefsCode {
			t.Fatal("two browsers got the same code")
		}
		refusedSecondFactor(t, owner.secondFactor(p, "enrol_email", thiefsCode), "the other browser's code")
		p = owner.secondFactor(p, "enrol_email", code[:4]+" "+code[4:]) // spaces as people type them
		_, p = enrolOnSecondFactorPage(t, owner, p, clock)
		// The owner is told the authenticator was set up (a notice).
		if m := srv.Wait(mailWait); len(m.To) != 1 || m.To[0] != dan.Email || !strings.Contains(m.Header("Subject"), "how you sign in") {
			t.Fatalf("the notice of the new authenticator: to %v, subject %q", m.To, m.Header("Subject"))
		}
		tok, err := conf.Exchange(context.Background(), p.callback(t).Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		wantAMR(t, idTokenClaims(t, tok), []string{"pwd", "otp", "mfa"}, provider.ACRMultiFactor)
		if u, err := s.store.UserByID(context.Background(), dan.ID); err != nil || !u.EmailVerified {
			t.Fatalf("the address the code went to is not verified: %v %v", u, err)
		}

		// Wrong codes lock the account as wrong TOTP codes do: after the
		// budget, even the right code is refused.
		erin := s.user("erin@example.com", alicePassword)
		b := s.newBrowser()
		p = b.login(b.get(conf.AuthCodeURL("st", challenge)), erin.Email, alicePassword)
		code = enrolmentCode(t, srv, erin.Email)
		for range config.Default().Login.MaxFailures {
			p = refusedSecondFactor(t, b.secondFactor(p, "enrol_email", "11111111"), "guessing")
		}
		refusedSecondFactor(t, b.secondFactor(p, "enrol_email", code), "the right code on a locked account")

		// A minute later a new code may be sent; it replaces the old one.
		clock.Advance(2 * time.Minute)
		frank := s.user("frank@example.com", alicePassword)
		b = s.newBrowser()
		p = b.login(b.get(conf.AuthCodeURL("st", challenge)), frank.Email, alicePassword)
		first := enrolmentCode(t, srv, frank.Email)
		clock.Advance(login2ResendWait)
		if p = b.secondFactor(p, "enrol_email_resend", ""); p.status != http.StatusOK || !strings.Contains(p.body, "We sent a new code") {
			t.Fatalf("a new code: %d %.300s", p.status, p.body)
		}
		second := enrolmentCode(t, srv, frank.Email)
		refusedSecondFactor(t, b.secondFactor(p, "enrol_email", first), "the replaced code")
		if p = b.secondFactor(p, "enrol_email", second); !p.isSecondFactorPage("enrol") || !totpSecretRe.MatchString(p.body) {
			t.Fatalf("after the new code: %d %s %.400s", p.status, p.url, p.body)
		}
	})
}

// login2ResendWait is past login.EnrolmentResendAfter.
const login2ResendWait = 61 * time.Second

// withMethod is p with its form's method set to method, to post a form
// the page does not offer.
func withMethod(p *page, method string) *page {
	q := *p
	q.body = strings.Replace(p.body, `name="method" value="enrol_email"`, `name="method" value="`+method+`"`, 1)
	return &q
}

// TestSecurityNotices: a person is told by e-mail, at a verified address,
// when an authenticator app is set up and when the recovery codes are
// replaced; a person whose address is not verified is told nothing (the
// address may be somebody else's).
func TestSecurityNotices(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		srv := smtptest.Start(t)
		clock := clocktest.New(time.Now().Add(-2 * time.Hour).UTC().Truncate(30 * time.Second))
		s, _ := startServerAt(t, dialect, clock, withSMTP(srv))
		gus := s.user("gus@example.com", alicePassword)
		b := s.newBrowser()
		b.login(b.get(s.issuer+"/account/security"), gus.Email, alicePassword)
		enrolTOTP(t, b, clock)
		wantNotice := func(says string) {
			t.Helper()
			m := srv.Wait(mailWait)
			text, err := m.Part("text/plain")
			if err != nil || len(m.To) != 1 || m.To[0] != gus.Email || !strings.Contains(text, says) {
				t.Fatalf("notice to %v: %q %v, want one saying %q", m.To, text, err, says)
			}
		}
		wantNotice("An authenticator app was set up")
		p := b.get(s.issuer + "/account/security")
		form := p.formValues()
		if p = b.post(s.issuer+"/account/security/recovery-codes", form); p.status != http.StatusOK {
			t.Fatalf("new recovery codes: %d %.300s", p.status, p.body)
		}
		wantNotice("New recovery codes were made")

		hal := s.user("hal@example.com", alicePassword)
		hal.EmailVerified = false
		if err := s.store.UpdateUser(context.Background(), hal); err != nil {
			t.Fatal(err)
		}
		b2 := s.newBrowser()
		b2.login(b2.get(s.issuer+"/account/security"), hal.Email, alicePassword)
		enrolTOTP(t, b2, clock)
		// Then gus again: the outbox sends in the order queued, so the
		// next message would be hal's had one been queued for her.
		if p = b.post(s.issuer+"/account/security/recovery-codes", b.get(s.issuer+"/account/security").formValues()); p.status != http.StatusOK {
			t.Fatalf("new recovery codes: %d %.300s", p.status, p.body)
		}
		wantNotice("New recovery codes were made")
	})
}
