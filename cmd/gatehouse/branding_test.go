package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/internal/smtptest"
)

// withBranding gives the server a product name, logo, accent colour and
// support link.
func withBranding(c *config.Config) {
	c.Branding.ProductName = "Acme ID"
	c.Branding.LogoURL = "https://cdn.acme.example/logo.svg"
	c.Branding.AccentColor = "#c0ffee"
	c.Branding.SupportURL = "mailto:help@acme.example"
}

// TestBrandingOnPagesAndInMail: the configured name, logo, accent colour
// and support link reach the landing page, the sign-in page (under a CSP
// that still allows no inline style) and an e-mail sent to a real SMTP
// server.
func TestBrandingOnPagesAndInMail(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		srv := smtptest.Start(t)
		s := startServer(t, dialect, withSMTP(srv), withBranding)
		s.user("ann@example.com", "password-1")
		b := s.newBrowser()
		for _, path := range []string{"/", "/login"} {
			p := b.get(s.issuer + path)
			if p.status != http.StatusOK {
				t.Fatalf("%s: %d %.300s", path, p.status, p.body)
			}
			for _, want := range []string{
				" · Acme ID</title>",
				`<span class="brand">Acme ID</span>`,
				`<img class="brand-logo" src="https://cdn.acme.example/logo.svg"`,
				`<link rel="stylesheet" href="/static/brand.css">`,
				`<a href="mailto:help@acme.example" id="support">Help</a>`,
			} {
				if !strings.Contains(p.body, want) {
					t.Errorf("%s lacks %q:\n%s", path, want, p.body)
				}
			}
			if strings.Contains(p.body, "gatehouse</") {
				t.Errorf("%s still names gatehouse:\n%s", path, p.body)
			}
			csp := p.header.Get("Content-Security-Policy")
			if !strings.Contains(csp, "style-src 'self'") || strings.Contains(csp, "unsafe-inline") || strings.Contains(p.body, "style=") {
				t.Errorf("%s: CSP %q or an inline style", path, csp)
			}
		}
		if p := b.get(s.issuer + "/"); !strings.Contains(p.body, "<h1>Acme ID</h1>") {
			t.Errorf("landing page heading:\n%s", p.body)
		}
		css := b.get(s.issuer + "/static/brand.css")
		if css.status != http.StatusOK || !strings.HasPrefix(css.header.Get("Content-Type"), "text/css") ||
			!strings.Contains(css.body, "--primary: #c0ffee;") || !strings.Contains(css.body, "--on-primary: #000000;") {
			t.Errorf("brand.css: %d %q %s", css.status, css.header.Get("Content-Type"), css.body)
		}

		if p := b.askReset("ann@example.com"); p.status != http.StatusOK {
			t.Fatalf("asking for a reset link: %d %.300s", p.status, p.body)
		}
		msg := srv.Wait(mailWait)
		if !strings.Contains(string(msg.Data), "Subject: Reset your Acme ID password") {
			t.Errorf("subject does not name the product:\n%s", msg.Data)
		}
		text, err := msg.Part("text/plain")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(text, "Acme ID account") || !strings.Contains(text, "Help: mailto:help@acme.example") {
			t.Errorf("text part:\n%s", text)
		}
		html, err := msg.Part("text/html")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(html, `<a href="mailto:help@acme.example">`) {
			t.Errorf("HTML part lacks the support link:\n%s", html)
		}
	})
}

// TestBrandingDefaults: without branding, the pages are gatehouse's and
// brand.css leaves style.css's colours alone.
func TestBrandingDefaults(t *testing.T) {
	s := startServer(t, "sqlite")
	b := s.newBrowser()
	p := b.get(s.issuer + "/login")
	if !strings.Contains(p.body, `<span class="brand">gatehouse</span>`) || strings.Contains(p.body, "brand-logo") || strings.Contains(p.body, `id="support"`) {
		t.Errorf("default login page:\n%s", p.body)
	}
	if css := b.get(s.issuer + "/static/brand.css"); css.status != http.StatusOK || strings.Contains(css.body, "--primary") {
		t.Errorf("default brand.css: %d %s", css.status, css.body)
	}
}

// TestTemplateOverrideReplacesAPage: a file in branding.templates_dir
// replaces the page of its name on a running server; the others stay.
func TestTemplateOverrideReplacesAPage(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "home.html"),
		[]byte(`{{define "title"}}Welcome{{end}}{{define "content"}}<h1 id="acme-home">Welcome to {{.Product}}</h1><a href="/login">Sign in</a>{{end}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "static"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "static", "acme.svg"), []byte("<svg/>"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, "sqlite", withBranding, func(c *config.Config) {
		c.Branding.TemplatesDir, c.Branding.LogoURL = dir, "/static/acme.svg"
	})
	b := s.newBrowser()
	if p := b.get(s.issuer + "/"); p.status != http.StatusOK || !strings.Contains(p.body, `<h1 id="acme-home">Welcome to Acme ID</h1>`) {
		t.Errorf("landing page is not the override: %d\n%s", p.status, p.body)
	}
	if p := b.get(s.issuer + "/login"); p.status != http.StatusOK || !strings.Contains(p.body, `name="password"`) ||
		!strings.Contains(p.body, `<img class="brand-logo" src="/static/acme.svg"`) {
		t.Errorf("login page: %d\n%s", p.status, p.body)
	}
	if p := b.get(s.issuer + "/static/acme.svg"); p.status != http.StatusOK || p.body != "<svg/>" {
		t.Errorf("the logo from the templates directory: %d %q", p.status, p.body)
	}
	if p := b.get(s.issuer + "/static/style.css"); p.status != http.StatusOK || !strings.Contains(p.body, "--primary") {
		t.Errorf("the embedded stylesheet: %d", p.status)
	}
}

// TestServeRefusesABrokenTemplateOverride: serve stops before binding or
// migrating anything, naming the file (and line) or the unknown name.
func TestServeRefusesABrokenTemplateOverride(t *testing.T) {
	for _, tc := range []struct {
		name, file, text string
		want             []string
	}{
		{"syntax error", "login.html", "{{define \"title\"}}Sign in{{end}}\n{{define \"content\"}}\n{{if .Error}}\n{{end}}", []string{"login.html:4:", "unexpected EOF"}},
		{"unknown field", "error.html", "{{define \"title\"}}Oops{{end}}\n\n{{define \"content\"}}{{.Messag}}{{end}}", []string{"error.html:3:", "Messag", "templates.ErrorData"}},
		{"unknown file name", "signin.html", "<p>hello</p>", []string{"signin.html", "not a template gatehouse has"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dbDir := cliEnv(t)
			dir := t.TempDir()
			path := filepath.Join(dir, tc.file)
			if err := os.WriteFile(path, []byte(tc.text), 0o600); err != nil {
				t.Fatal(err)
			}
			t.Setenv("GATEHOUSE_LISTEN", "127.0.0.1:0")
			t.Setenv("GATEHOUSE_ADMIN_LISTEN", "127.0.0.1:0")
			t.Setenv("GATEHOUSE_BRANDING_TEMPLATES_DIR", dir)
			_, err := tryServe(t, "--dev")
			if err == nil {
				t.Fatal("serve started with a broken template")
			}
			for _, want := range append(tc.want, path) {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q: %v", want, err)
				}
			}
			if _, err := os.Stat(filepath.Join(dbDir, "g.db")); !os.IsNotExist(err) {
				t.Errorf("the database was created before the templates were checked: %v", err)
			}
		})
	}
}

// TestServeRefusesBadBranding: a bad value stops serve at configuration
// validation, naming the key.
func TestServeRefusesBadBranding(t *testing.T) {
	cliEnv(t)
	t.Setenv("GATEHOUSE_BRANDING_ACCENT_COLOR", "red")
	t.Setenv("GATEHOUSE_BRANDING_SUPPORT_URL", "javascript:alert(1)")
	_, err := tryServe(t, "--dev")
	if err == nil {
		t.Fatal("serve started")
	}
	for _, want := range []string{"branding.accent_color: must be a CSS hex colour #rgb or #rrggbb", "branding.support_url: must be an https URL or a mailto: address"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}
