package mail

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"
)

// The messages gatehouse sends: NAME.txt.tmpl defines "subject" and
// "text", NAME.html.tmpl "subject" and "content" (put in layout.html.tmpl).
// The HTML has no remote images, no tracking pixels and no script: only
// the link the person needs, also written out in full.
//
//go:embed templates
var templateFS embed.FS

// Message names.
const (
	PasswordReset = "password_reset"
	VerifyEmail   = "verify_email"
	SignupConfirm = "signup_confirm"
	SignupExists  = "signup_exists"
	// EmailChanged tells the previous address of an account that its
	// address was changed (Email is the new address).
	EmailChanged = "email_changed"
	// AddressClaimed tells the owner of an address that someone asked to
	// change another account to it (Email is the recipient's own
	// address; nothing about the other account is given).
	AddressClaimed = "address_claimed"
	// EnrolmentCode carries the code a person types back before setting
	// up a first second factor (Code).
	EnrolmentCode = "mfa_enrolment_code"
	// SecurityNotice tells of a change to how the person signs in (Event:
	// what changed, a fixed text).
	SecurityNotice = "security_notice"
)

// Data fills a message: Product is set by Render; Email is the
// recipient's address, Link the single-use link and Expires how long it
// works ("30 minutes").
type Data struct {
	Product string
	// SupportURL is the deployment's help link (https or mailto:; may be
	// empty), set by Render.
	SupportURL string
	Email      string
	Link       string
	Expires    string
	// Code is a one-time code to type back (EnrolmentCode).
	Code string
	// Event says what changed (SecurityNotice).
	Event string
}

// Branding is what the messages say of the deployment.
type Branding struct {
	// Product names the service ("gatehouse" when empty).
	Product string
	// SupportURL (https or mailto:, validated by config) ends every
	// message as a help link; empty leaves it out.
	SupportURL string
}

// Templates render the messages with the product name.
type Templates struct {
	brand Branding
	text  map[string]*texttemplate.Template
	html  map[string]*htmltemplate.Template
}

// NewTemplates parses the embedded messages.
func NewTemplates(b Branding) (*Templates, error) {
	if b.Product == "" {
		b.Product = "gatehouse"
	}
	t := &Templates{brand: b, text: map[string]*texttemplate.Template{}, html: map[string]*htmltemplate.Template{}}
	for _, name := range []string{PasswordReset, VerifyEmail, SignupConfirm, SignupExists, EmailChanged, AddressClaimed, EnrolmentCode, SecurityNotice} {
		tt, err := texttemplate.ParseFS(templateFS, "templates/"+name+".txt.tmpl")
		if err != nil {
			return nil, err
		}
		ht, err := htmltemplate.ParseFS(templateFS, "templates/layout.html.tmpl", "templates/"+name+".html.tmpl")
		if err != nil {
			return nil, err
		}
		t.text[name], t.html[name] = tt, ht
	}
	return t, nil
}

// Render builds the message name for to.
func (t *Templates) Render(name, to string, d Data) (Message, error) {
	tt, ht := t.text[name], t.html[name]
	if tt == nil || ht == nil {
		return Message{}, fmt.Errorf("mail: no message %q", name)
	}
	d.Product, d.SupportURL = t.brand.Product, t.brand.SupportURL
	var subject, text, html bytes.Buffer
	if err := tt.ExecuteTemplate(&subject, "subject", d); err != nil {
		return Message{}, err
	}
	if err := tt.ExecuteTemplate(&text, "text", d); err != nil {
		return Message{}, err
	}
	if d.SupportURL != "" {
		// One place for every message's text part; the HTML layout has
		// its own line.
		fmt.Fprintf(&text, "\nHelp: %s\n", d.SupportURL)
	}
	if err := ht.ExecuteTemplate(&html, "layout", d); err != nil {
		return Message{}, err
	}
	return Message{
		To: to, Subject: strings.TrimSpace(subject.String()), Text: strings.TrimLeft(text.String(), "\n"), HTML: html.String(),
	}, nil
}
