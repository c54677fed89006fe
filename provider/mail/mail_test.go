package mail_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/clocktest"
	"github.com/gatehouse-dev/gatehouse/internal/smtptest"
	"github.com/gatehouse-dev/gatehouse/provider/audit"
	"github.com/gatehouse-dev/gatehouse/provider/mail"
	"github.com/gatehouse-dev/gatehouse/provider/providertest"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore/bunstoretest"
)

// wait is how long a test waits for the SMTP server to receive a message.
const wait = 10 * time.Second

type fixture struct {
	outbox *mail.Outbox
	store  *bunstore.Store
	smtp   *smtptest.Server
	clock  *clocktest.Clock
	log    *providertest.AuditLog
	tmpl   *mail.Templates
}

func newFixture(t *testing.T, dialect string, mod func(*mail.Options)) *fixture {
	t.Helper()
	clock := clocktest.New(time.Now().UTC().Truncate(time.Second))
	st := bunstoretest.Open(t, dialect, bunstore.Options{Now: clock.Now})
	srv := smtptest.Start(t)
	sender, err := mail.NewSMTP(mail.SMTPOptions{
		Host: srv.Host, Port: srv.Port, From: "noreply@id.example", FromName: "Example ID", TLS: mail.TLSNone,
		Timeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	log := providertest.NewAuditLog(t, clock.Now)
	o := mail.Options{
		Store: st, Keyring: providertest.Ring(t), Sender: sender, Audit: log.Recorder, Now: clock.Now,
		Logger: slog.New(slog.DiscardHandler),
	}
	if mod != nil {
		mod(&o)
	}
	x, err := mail.New(o)
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := mail.NewTemplates(mail.Branding{Product: "Example ID"})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{outbox: x, store: st, smtp: srv, clock: clock, log: log, tmpl: tmpl}
}

func (f *fixture) queueReset(t *testing.T, to, link string) string {
	t.Helper()
	m, err := f.tmpl.Render(mail.PasswordReset, to, mail.Data{Email: to, Link: link, Expires: "30 minutes"})
	if err != nil {
		t.Fatal(err)
	}
	id, err := f.outbox.Queue(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (f *fixture) runOnce(t *testing.T, want int) {
	t.Helper()
	n, err := f.outbox.RunOnce(context.Background())
	if err != nil || n != want {
		t.Fatalf("RunOnce = %d, %v; want %d claimed", n, err, want)
	}
}

// TestQueuedMessageArrives: a queued message reaches a real SMTP server
// with its link in the text and the HTML part, from the product's name,
// without remote images; once sent it leaves the outbox.
func TestQueuedMessageArrives(t *testing.T) {
	bunstoretest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		f := newFixture(t, dialect, nil)
		link := "https://id.example/password/reset?token=abc123"
		f.queueReset(t, "ann@example.com", link)
		f.runOnce(t, 1)
		got := f.smtp.Wait(wait)
		if len(got.To) != 1 || got.To[0] != "ann@example.com" || got.From != "noreply@id.example" {
			t.Errorf("envelope from %q to %v", got.From, got.To)
		}
		if from := got.Header("From"); !strings.Contains(from, "Example ID") {
			t.Errorf("From = %q, want the product name", from)
		}
		if s := got.Header("Subject"); s != "Reset your Example ID password" {
			t.Errorf("Subject = %q", s)
		}
		text, err := got.Part("text/plain")
		if err != nil || !strings.Contains(text, link) || !strings.Contains(text, "30 minutes") {
			t.Errorf("text part = %q, %v; want the link and its lifetime", text, err)
		}
		html, err := got.Part("text/html")
		if err != nil || !strings.Contains(html, `href="`+link+`"`) {
			t.Errorf("HTML part = %q, %v; want the link", html, err)
		}
		for _, bad := range []string{"<img", "<script", "src="} {
			if strings.Contains(strings.ToLower(html), bad) {
				t.Errorf("HTML part has %q: no remote content or tracking in mail", bad)
			}
		}
		f.runOnce(t, 0)
		f.clock.Advance(time.Hour)
		f.runOnce(t, 0)
		providertest.WantEvents(t, f.log.Events(), audit.MailSent)
	})
}

// TestBodySealedAtRest: the outbox row holds the message sealed, so the
// single-use link is not readable in the database.
func TestBodySealedAtRest(t *testing.T) {
	f := newFixture(t, "sqlite", nil)
	link := "https://id.example/password/reset?token=secret-token-value"
	f.queueReset(t, "ann@example.com", link)
	got, err := f.store.ClaimMail(context.Background(), f.clock.Now(), time.Minute, 10)
	if err != nil || len(got) != 1 || len(got[0].Body) == 0 || bytes.Contains(got[0].Body, []byte("secret-token-value")) {
		t.Fatalf("stored messages = %+v, %v; want one, its body sealed", got, err)
	}
}

// TestServerDownThenUp: with the mail server down (connection refused)
// and then answering 451, nothing is lost: each failed attempt is
// rescheduled with back-off, nothing is tried before it is due, and once
// the server is back the message arrives, once.
func TestServerDownThenUp(t *testing.T) {
	bunstoretest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		f := newFixture(t, dialect, nil)
		f.smtp.Close()
		link := "https://id.example/verify?token=xyz"
		f.queueReset(t, "bob@example.com", link)
		f.runOnce(t, 1) // refused: rescheduled 30 s later
		f.clock.Advance(29 * time.Second)
		f.runOnce(t, 0)
		f.smtp.Restart()
		f.smtp.Reply(func(string) error { return smtptest.Temporary() })
		f.clock.Advance(time.Second)
		f.runOnce(t, 1) // 451: rescheduled 60 s later
		f.smtp.None()
		f.clock.Advance(59 * time.Second)
		f.runOnce(t, 0)
		f.smtp.Reply(nil)
		f.clock.Advance(time.Second)
		f.runOnce(t, 1)
		got := f.smtp.Wait(wait)
		if text, _ := got.Part("text/plain"); !strings.Contains(text, link) {
			t.Errorf("the message that arrived = %q; want the link", text)
		}
		f.clock.Advance(24 * time.Hour)
		f.runOnce(t, 0)
		f.smtp.None()
		providertest.WantEvents(t, f.log.Events(), audit.MailFailed, audit.MailFailed, audit.MailSent)
		if dead, err := f.outbox.DeadLetters(context.Background(), 10); err != nil || len(dead) != 0 {
			t.Errorf("DeadLetters = %+v, %v; want none", dead, err)
		}
	})
}

// TestRejectedMessageBecomesDeadLetter: a 550 to the recipient is
// permanent (RFC 5321 §4.2.1): the message is not tried again and is
// listed as a dead letter, with the server's answer and without its body.
func TestRejectedMessageBecomesDeadLetter(t *testing.T) {
	bunstoretest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		f := newFixture(t, dialect, nil)
		f.smtp.Reply(func(rcpt string) error {
			if rcpt == "gone@example.com" {
				return smtptest.Permanent()
			}
			return nil
		})
		f.queueReset(t, "gone@example.com", "https://id.example/x")
		f.runOnce(t, 1)
		f.smtp.None()
		f.clock.Advance(2 * time.Hour)
		f.runOnce(t, 0)
		dead, err := f.outbox.DeadLetters(context.Background(), 0)
		if err != nil || len(dead) != 1 {
			t.Fatalf("DeadLetters = %+v, %v; want one", dead, err)
		}
		d := dead[0]
		if d.To != "gone@example.com" || d.Subject != "Reset your Example ID password" || !strings.Contains(d.LastError, "550") ||
			d.Body != nil || d.DeadAt.IsZero() {
			t.Errorf("dead letter = %+v", d)
		}
		providertest.WantEvents(t, f.log.Events(), audit.MailDead+" rejected")
	})
}

// TestRetriesAreBounded: a server that keeps answering 451 gets
// MaxAttempts tries, then the message is a dead letter.
func TestRetriesAreBounded(t *testing.T) {
	f := newFixture(t, "sqlite", func(o *mail.Options) { o.MaxAttempts = 3 })
	f.smtp.Reply(func(string) error { return smtptest.Temporary() })
	f.queueReset(t, "ann@example.com", "https://id.example/x")
	for range 3 {
		f.runOnce(t, 1)
		f.clock.Advance(time.Hour)
	}
	f.runOnce(t, 0)
	dead, err := f.outbox.DeadLetters(context.Background(), 10)
	if err != nil || len(dead) != 1 || dead[0].Attempts != 3 {
		t.Fatalf("DeadLetters = %+v, %v; want one after 3 attempts", dead, err)
	}
	providertest.WantEvents(t, f.log.Events(), audit.MailFailed, audit.MailFailed, audit.MailDead+" too_many_attempts")
}
