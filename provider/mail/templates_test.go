package mail_test

import (
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/provider/mail"
)

// TestBrandingInEveryMessage: the product name in the subject and body,
// the support link at the end of both parts; without one, no "Help".
func TestBrandingInEveryMessage(t *testing.T) {
	branded, err := mail.NewTemplates(mail.Branding{Product: "Acme ID", SupportURL: "https://help.acme.example/id?a=1&b=2"})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := mail.NewTemplates(mail.Branding{})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{mail.PasswordReset, mail.VerifyEmail, mail.SignupConfirm, mail.SignupExists, mail.EmailChanged, mail.AddressClaimed, mail.EnrolmentCode, mail.SecurityNotice} {
		t.Run(name, func(t *testing.T) {
			d := mail.Data{Email: "ada@example.com", Link: "https://id.example/x", Expires: "30 minutes", Code: "12345678", Event: "A passkey was added."}
			m, err := branded.Render(name, "ada@example.com", d)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(m.Subject, "Acme ID") || !strings.Contains(m.Text, "Acme ID") || !strings.Contains(m.HTML, "Acme ID") {
				t.Errorf("product name missing: %q\n%s\n%s", m.Subject, m.Text, m.HTML)
			}
			if !strings.HasSuffix(m.Text, "\nHelp: https://help.acme.example/id?a=1&b=2\n") {
				t.Errorf("text lacks the help line at its end:\n%s", m.Text)
			}
			if !strings.Contains(m.HTML, `Help: <a href="https://help.acme.example/id?a=1&amp;b=2">`) {
				t.Errorf("HTML lacks the help link:\n%s", m.HTML)
			}
			m, err = plain.Render(name, "ada@example.com", d)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(m.Text, "Help:") || strings.Contains(m.HTML, "Help:") || !strings.Contains(m.Subject+m.Text, "gatehouse") {
				t.Errorf("unbranded message:\n%s\n%s", m.Text, m.HTML)
			}
		})
	}
}
