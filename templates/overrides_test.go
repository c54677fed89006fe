package templates

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeOverride(t *testing.T, dir, name, text string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestOverrideReplacesOnlyItsPage(t *testing.T) {
	dir := t.TempDir()
	writeOverride(t, dir, "home.html", `{{define "title"}}Welcome{{end}}{{define "content"}}<h1 id="acme-home">Acme {{.Product}}</h1>{{end}}`)
	writeOverride(t, dir, ".home.html.swp", "editor junk is ignored")
	p, err := ParseWithOverrides(dir)
	if err != nil {
		t.Fatal(err)
	}
	home := render(t, p, "home", HomeData{Common: Common{Product: "Acme ID"}})
	if !strings.Contains(home, `<h1 id="acme-home">Acme Acme ID</h1>`) || !strings.Contains(home, "<title>Welcome · Acme ID</title>") {
		t.Errorf("home is not the override:\n%s", home)
	}
	login := render(t, p, "login", LoginData{Common: common("Sign in")})
	if !strings.Contains(login, `name="password"`) {
		t.Errorf("login lost its embedded template:\n%s", login)
	}
}

func TestOverrideOfTheLayout(t *testing.T) {
	dir := t.TempDir()
	writeOverride(t, dir, "layout.html", `{{define "product"}}{{.Product}}{{end}}{{define "layout"}}<!doctype html><title>{{template "title" .}}</title><div class="acme">{{template "content" .}}</div>{{end}}`)
	p, err := ParseWithOverrides(dir)
	if err != nil {
		t.Fatal(err)
	}
	if out := render(t, p, "error", ErrorData{Common: common("Oops"), Status: 400, Message: "bad"}); !strings.Contains(out, `<div class="acme">`) {
		t.Errorf("layout not replaced:\n%s", out)
	}
}

func TestOverrideRefusedAtParse(t *testing.T) {
	tests := []struct {
		name, file, text string
		want             []string
	}{
		{"syntax error names file and line", "login.html",
			"{{define \"title\"}}Sign in{{end}}\n{{define \"content\"}}\n<p>{{if .Error}}</p>\n{{end}}",
			[]string{"login.html:4:", "unexpected EOF"}},
		{"unknown field fails at start", "consent.html",
			"{{define \"title\"}}Allow{{end}}\n{{define \"content\"}}{{.ClientNmae}}{{end}}",
			[]string{"consent.html:2:", "ClientNmae", "templates.ConsentData"}},
		{"missing block", "device.html", `{{define "title"}}Device{{end}}`,
			[]string{"device.html", `"content"`}},
		{"layout without layout", "layout.html", `{{define "product"}}x{{end}}`,
			[]string{"layout.html", `"layout"`}},
		{"unknown file name", "logon.html", "anything",
			[]string{"logon.html", "not a template gatehouse has", "login.html"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeOverride(t, dir, tc.file, tc.text)
			_, err := ParseWithOverrides(dir)
			if err == nil {
				t.Fatal("ParseWithOverrides accepted it")
			}
			for _, w := range append(tc.want, filepath.Join(dir, tc.file)) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q: %v", w, err)
				}
			}
		})
	}
	t.Run("a directory inside", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.Mkdir(filepath.Join(dir, "login.html"), 0o700); err != nil {
			t.Fatal(err)
		}
		if _, err := ParseWithOverrides(dir); err == nil || !strings.Contains(err.Error(), "not a template") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("too large", func(t *testing.T) {
		dir := t.TempDir()
		writeOverride(t, dir, "home.html", strings.Repeat("x", maxOverrideBytes+1))
		if _, err := ParseWithOverrides(dir); err == nil || !strings.Contains(err.Error(), "larger than") {
			t.Errorf("got %v", err)
		}
	})
}

func TestBrandingInTheLayout(t *testing.T) {
	p := mustParse(t)
	c := Common{Title: "Sign in", Product: "Acme ID", LogoURL: "https://cdn.acme.example/logo.svg", SupportURL: "mailto:help@acme.example"}
	out := render(t, p, "login", LoginData{Common: c})
	for _, want := range []string{
		`<img class="brand-logo" src="https://cdn.acme.example/logo.svg" alt="" height="32">`,
		`<span class="brand">Acme ID</span>`,
		`<title>Sign in · Acme ID</title>`,
		`<a href="mailto:help@acme.example" id="support">Help</a>`,
		`<link rel="stylesheet" href="/static/brand.css">`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("lacks %q:\n%s", want, out)
		}
	}
	if out := render(t, p, "login", LoginData{Common: common("Sign in")}); strings.Contains(out, "brand-logo") || strings.Contains(out, `id="support"`) {
		t.Errorf("logo or support link without branding:\n%s", out)
	}
}

func TestBrandCSS(t *testing.T) {
	if style, err := fs.ReadFile(Static(), "style.css"); err != nil || !strings.Contains(string(style), "--primary: "+DefaultAccentColor+";") {
		t.Errorf("style.css's --primary is not DefaultAccentColor %s (%v)", DefaultAccentColor, err)
	}
	if css := string(BrandCSS("#1D5BD0")); strings.Contains(css, "--primary") {
		t.Errorf("default colour overrides style.css: %s", css)
	}
	css := string(BrandCSS("#ff0"))
	for _, want := range []string{"--primary: #ff0;", "--focus: #ff0;", "--on-primary: #000000;", "color-mix(in srgb, #ff0 80%, black)"} {
		if !strings.Contains(css, want) {
			t.Errorf("lacks %q: %s", want, css)
		}
	}
	if css := string(BrandCSS("#202060")); !strings.Contains(css, "--on-primary: #ffffff;") {
		t.Errorf("dark accent without white text: %s", css)
	}
}

// TestOverrideStaticFolder: the override directory's static/ files are
// served before the embedded ones; folders are never listed; without a
// static/ folder the embedded files stay.
func TestOverrideStaticFolder(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "static", "img"), 0o700); err != nil {
		t.Fatal(err)
	}
	writeOverride(t, filepath.Join(dir, "static", "img"), "logo.svg", "<svg/>")
	p, err := ParseWithOverrides(dir)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := fs.ReadFile(p.Static(), "img/logo.svg"); err != nil || string(b) != "<svg/>" {
		t.Errorf("own file: %q, %v", b, err)
	}
	if b, err := fs.ReadFile(p.Static(), "style.css"); err != nil || !strings.Contains(string(b), "--primary") {
		t.Errorf("embedded style.css: %v", err)
	}
	for _, name := range []string{"img", "missing.png"} {
		if _, err := p.Static().Open(name); err == nil {
			t.Errorf("Open(%q) succeeded", name)
		}
	}
}
