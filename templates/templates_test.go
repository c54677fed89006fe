package templates

import (
	"bytes"
	"errors"
	"html"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
)

const xss = `<script>alert(1)</script>`

func mustParse(t *testing.T) *Pages {
	t.Helper()
	p, err := Parse()
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return p
}

func render(t *testing.T, p *Pages, name string, data any) string {
	t.Helper()
	var buf bytes.Buffer
	if err := p.Render(&buf, name, data); err != nil {
		t.Fatalf("Render(%q): %v", name, err)
	}
	return buf.String()
}

func common(title string) Common {
	return Common{Title: title, CSRFToken: "csrf-token-123", Product: "gatehouse"}
}

// samples returns realistic data for every page.
func samples() map[string]any {
	return map[string]any{
		"login": LoginData{
			Common: common("Sign in"), Flow: "flow-abc", ClientName: "Example App",
			Email: "ada@example.com", Error: "Wrong e-mail or password.",
		},
		"consent": ConsentData{
			Common: common("Allow access?"), Flow: "flow-abc", ClientName: "Example App",
			ClientID: "client-1", UserEmail: "ada@example.com",
			Scopes:  []Scope{{"openid", "Know that it is you"}, {"email", "Your e-mail address"}},
			LogoURI: "https://app.example.com/logo.png", ClientURI: "https://app.example.com/",
			PolicyURI: "https://app.example.com/privacy", TosURI: "https://app.example.com/terms",
			RegisteredBy: `registration token "partners"`,
		},
		"error": ErrorData{
			Common: common("Something went wrong"), Status: 400,
			Message: "The request is missing a required parameter.", RequestID: "req-42",
		},
		"logout": LogoutData{
			Common: common("Sign out"), ClientName: "Example App", IDTokenHint: "eyJhbGciOi.x.y",
			PostLogoutRedirectURI: "https://app.example.com/bye", State: "st-1", ClientID: "client-1",
		},
		"logged_out": LoggedOutData{Common: common("Signed out")},
		"account_identities": AccountIdentitiesData{
			Common: common("Sign-in methods"), UserEmail: "ada@example.com", Message: "Corp was unlinked.",
			Identities: []LinkedIdentity{
				{UpstreamID: "google", UpstreamName: "Google", Subject: "1234", Email: "ada@gmail.com", LinkedAt: "2 Jan 2026", LastLogin: "never", CanUnlink: true},
				{UpstreamID: "corp", UpstreamName: "Corp", Subject: "ada", LinkedAt: "2 Jan 2026", LastLogin: "3 Jan 2026"},
			},
		},
		"account_apps": AccountAppsData{
			Common: common("Apps with access"), UserEmail: "ada@example.com", Message: "Access for Old App was revoked.",
			Apps: []AppGrant{{
				ClientID: "client-1", ClientName: "Example App", LogoURI: "https://app.example.com/logo.png",
				ClientURI: "https://app.example.com/", GrantedAt: "2 Jan 2026",
				Scopes: []Scope{{"email", "Your e-mail address"}},
			}},
		},
		"account_sessions": AccountSessionsData{
			Common: common("Where you are signed in"), UserEmail: "ada@example.com", Message: "The session was ended.",
			Sessions: []AccountSession{
				{SID: "sid-1", UserAgent: "Firefox on Linux", IP: "192.0.2.7", SignedIn: "2 Jan 2026 10:04 UTC", Current: true, Apps: []string{"Example App", "Wiki"}},
				{SID: "sid-2", SignedIn: "1 Jan 2026 09:00 UTC"},
				{UserAgent: "Old browser", SignedIn: "1 Jan 2026 08:00 UTC"},
			},
		},
		"account_keys": AccountKeysData{
			Common: common("API keys"), UserEmail: "ada@example.com", OwnsApps: true, Message: "The key old-ci was revoked.",
			Keys: []AccountKey{{
				ID: "key-1", Name: "ci", ClientID: "client-1", ClientName: "Reporting job",
				Scopes: []string{"reports:read", "reports:write"}, State: "active",
				CreatedAt: "2 Jan 2026 10:04 UTC", LastUsed: "never", Expires: "1 Feb 2026 10:04 UTC",
			}, {
				ID: "key-2", Name: "old-ci", ClientID: "client-1", ClientName: "Reporting job",
				Scopes: []string{"reports:read"}, State: "revoked",
				CreatedAt: "1 Jan 2026 09:00 UTC", LastUsed: "1 Jan 2026 09:30 UTC", Expires: "never", Revoked: "3 Jan 2026 08:00 UTC",
			}},
		},
	}
}

// thirdPartyURLs are the https URLs the samples carry on purpose (client
// links and logos); the CSP checks strip them first.
var thirdPartyURLs = regexp.MustCompile(`https://app\.example\.com/[^"]*`)

// logoImg is the one <img> the pages may carry: a client logo whose src is
// an https URL (CSP img-src allows https:).
var logoImg = regexp.MustCompile(`<img class="app-logo[^"]*" src="https://[^"]*" alt="" width="\d+" height="\d+">`)

func TestParse(t *testing.T) {
	p := mustParse(t)
	for _, name := range []string{"login", "consent", "error", "logout", "logged_out", "account_apps", "account_keys"} {
		if _, ok := p.pages[name]; !ok {
			t.Errorf("page %q missing after Parse", name)
		}
	}
}

func TestEveryPageRenders(t *testing.T) {
	p := mustParse(t)
	for name, data := range samples() {
		t.Run(name, func(t *testing.T) {
			out := render(t, p, name, data)
			for _, want := range []string{
				"<!doctype html>",
				`<html lang="en">`,
				`<meta charset="utf-8">`,
				`<meta name="viewport" content="width=device-width, initial-scale=1">`,
				`<meta name="referrer" content="no-referrer">`,
				`<link rel="stylesheet" href="/static/style.css">`,
				`<span class="brand">gatehouse</span>`,
				"<main",
				"<h1>",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
			if !regexp.MustCompile(`<title>[^<]+ · gatehouse</title>`).MatchString(out) {
				t.Errorf("no <title> with product:\n%s", out)
			}
			// The same output again, also as a pointer: handlers may pass either.
			ptr := reflect.New(reflect.TypeOf(data))
			ptr.Elem().Set(reflect.ValueOf(data))
			if got := render(t, p, name, ptr.Interface()); got != out {
				t.Errorf("pointer data renders differently")
			}
		})
	}
}

// TestNoScriptNoInlineStyle checks the CSP rules on every page, with both full
// and empty data.
func TestNoScriptNoInlineStyle(t *testing.T) {
	p := mustParse(t)
	check := func(t *testing.T, out string) {
		t.Helper()
		low := strings.ToLower(out)
		for _, bad := range []string{"<script", " style=", "<style", "javascript:", "http://", "https://fonts", "<iframe", "<img"} {
			if strings.Contains(low, bad) {
				t.Errorf("output contains %q:\n%s", bad, out)
			}
		}
		if hasInlineHandler(out) {
			t.Errorf("output contains an inline event handler:\n%s", out)
		}
	}
	for name, data := range samples() {
		t.Run(name, func(t *testing.T) {
			out := render(t, p, name, data)
			// Client logos and links are the only third-party URLs.
			check(t, thirdPartyURLs.ReplaceAllString(logoImg.ReplaceAllString(out, ""), ""))
			empty := reflect.Zero(reflect.TypeOf(data)).Interface()
			check(t, render(t, p, name, empty))
		})
	}
}

var (
	tagRe           = regexp.MustCompile(`<[^>]*>`)
	quotedRe        = regexp.MustCompile(`"[^"]*"`)
	handlerAttrRe   = regexp.MustCompile(`(?i)\son[a-z]+\s*=`)
	unquotedValueRe = regexp.MustCompile(`=\s*[^"\s>]`)
)

// hasInlineHandler reports whether any tag in out has an on* attribute, or an
// unquoted attribute value (which could hide one). Quoted values are skipped:
// html/template escapes '"' inside them, so they cannot end early.
func hasInlineHandler(out string) bool {
	for _, tag := range tagRe.FindAllString(out, -1) {
		bare := quotedRe.ReplaceAllString(tag, `""`)
		if handlerAttrRe.MatchString(bare) || unquotedValueRe.MatchString(bare) {
			return true
		}
	}
	return false
}

// fillStrings sets every string field (recursively, including embedded
// Common and slices of Scope) of v to s.
func fillStrings(v reflect.Value, s string) {
	switch v.Kind() {
	case reflect.Pointer:
		fillStrings(v.Elem(), s)
	case reflect.String:
		v.SetString(s)
	case reflect.Struct:
		for i := range v.NumField() {
			fillStrings(v.Field(i), s)
		}
	case reflect.Slice:
		if v.Len() == 0 && v.Type().Elem().Kind() == reflect.Struct {
			v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		}
		for i := range v.Len() {
			fillStrings(v.Index(i), s)
		}
	}
}

func TestUserStringsAreEscaped(t *testing.T) {
	p := mustParse(t)

	t.Run("ClientName", func(t *testing.T) {
		for name, data := range map[string]any{
			"login":   LoginData{Common: common("Sign in"), ClientName: xss},
			"consent": ConsentData{Common: common("Allow"), ClientName: xss},
			"logout":  LogoutData{Common: common("Sign out"), ClientName: xss},
		} {
			out := render(t, p, name, data)
			if strings.Contains(out, xss) || strings.Contains(out, "<script") {
				t.Errorf("%s: raw script tag in output:\n%s", name, out)
			}
			if !strings.Contains(out, "&lt;script&gt;alert(1)&lt;/script&gt;") {
				t.Errorf("%s: escaped client name missing:\n%s", name, out)
			}
		}
	})

	// Every string field of every page, including hidden input values (an
	// attribute break-out attempt) and the product name.
	payloads := []string{
		xss,
		`"><script>alert(1)</script>`,
		`' onmouseover='alert(1)`,
		`javascript:alert(1)`,
	}
	for name, data := range samples() {
		for _, payload := range payloads {
			v := reflect.New(reflect.TypeOf(data))
			v.Elem().Set(reflect.ValueOf(data))
			fillStrings(v, payload)
			out := render(t, p, name, v.Interface())
			// The signed-out page's own script is allowed by its hash; no
			// other may appear.
			low := strings.ToLower(strings.ReplaceAll(out, "<script>"+continueAfterLogoutFrames+"</script>", ""))
			if strings.Contains(low, "<script") {
				t.Errorf("%s with %q: raw <script in output:\n%s", name, payload, out)
			}
			if hasInlineHandler(out) {
				t.Errorf("%s with %q: attribute break-out:\n%s", name, payload, out)
			}
			// Unescaping the whole page must give the payload back somewhere:
			// it was shown (escaped), not dropped.
			if !strings.Contains(html.UnescapeString(out), payload) &&
				!strings.Contains(out, "#ZgotmplZ") {
				t.Errorf("%s with %q: payload neither shown escaped nor filtered", name, payload)
			}
		}
	}
}

var (
	inputRe  = regexp.MustCompile(`<input\b[^>]*>`)
	buttonRe = regexp.MustCompile(`(?s)<button\b([^>]*)>(.*?)</button>`)
	formRe   = regexp.MustCompile(`<form\b[^>]*>`)
	attrRe   = regexp.MustCompile(`([a-z_-]+)(?:="([^"]*)")?`)
)

// attrs parses the attributes of one tag (good enough for our own output).
func attrs(tag string) map[string]string {
	tag = strings.TrimSuffix(strings.TrimPrefix(tag, "<"), ">")
	_, rest, _ := strings.Cut(tag, " ")
	m := map[string]string{}
	for _, a := range attrRe.FindAllStringSubmatch(rest, -1) {
		m[a[1]] = html.UnescapeString(a[2])
	}
	return m
}

func inputsByName(out string) map[string]map[string]string {
	m := map[string]map[string]string{}
	for _, tag := range inputRe.FindAllString(out, -1) {
		a := attrs(tag)
		m[a["name"]] = a
	}
	return m
}

func onlyForm(t *testing.T, out string) map[string]string {
	t.Helper()
	forms := formRe.FindAllString(out, -1)
	if len(forms) != 1 {
		t.Fatalf("want exactly one form, got %d:\n%s", len(forms), out)
	}
	return attrs(forms[0])
}

func TestLoginForm(t *testing.T) {
	p := mustParse(t)
	out := render(t, p, "login", samples()["login"])

	form := onlyForm(t, out)
	if form["method"] != "post" || form["action"] != "/login" {
		t.Errorf("form = %v, want method=post action=/login", form)
	}
	in := inputsByName(out)
	want := map[string]map[string]string{
		"_csrf":    {"type": "hidden", "value": "csrf-token-123"},
		"flow":     {"type": "hidden", "value": "flow-abc"},
		"email":    {"type": "email", "autocomplete": "username", "value": "ada@example.com"},
		"password": {"type": "password", "autocomplete": "current-password"},
	}
	for name, w := range want {
		got, ok := in[name]
		if !ok {
			t.Errorf("no input named %q:\n%s", name, out)
			continue
		}
		for k, v := range w {
			if got[k] != v {
				t.Errorf("input %q: %s=%q, want %q", name, k, got[k], v)
			}
		}
	}
	for _, name := range []string{"email", "password"} {
		if _, ok := in[name]["required"]; !ok {
			t.Errorf("input %q is not required", name)
		}
		// Every visible input has a label tied to it.
		id := in[name]["id"]
		if id == "" || !strings.Contains(out, `<label for="`+id+`">`) {
			t.Errorf("input %q has no label (id %q)", name, id)
		}
	}
	if _, ok := in["password"]["value"]; ok {
		t.Errorf("password input must never carry a value")
	}
	if b := buttonRe.FindAllStringSubmatch(out, -1); len(b) != 1 || attrs("<b" + b[0][1] + ">")["type"] != "submit" {
		t.Errorf("want one submit button, got %v", b)
	}
	if !strings.Contains(out, `role="alert"`) || !strings.Contains(out, "Wrong e-mail or password.") {
		t.Errorf("error not shown as an alert:\n%s", out)
	}
	if !strings.Contains(out, "Sign in to continue to Example App") {
		t.Errorf("heading does not mention the client:\n%s", out)
	}

	// Without an error or client: no alert, plain heading.
	plain := render(t, p, "login", LoginData{Common: common("Sign in"), Flow: "f"})
	if strings.Contains(plain, `role="alert"`) {
		t.Errorf("alert shown without an error:\n%s", plain)
	}
	if !strings.Contains(plain, "<h1>Sign in</h1>") {
		t.Errorf("plain heading missing:\n%s", plain)
	}
}

func TestConsentForm(t *testing.T) {
	p := mustParse(t)
	out := render(t, p, "consent", samples()["consent"])

	form := onlyForm(t, out)
	if form["method"] != "post" || form["action"] != "/consent" {
		t.Errorf("form = %v, want method=post action=/consent", form)
	}
	in := inputsByName(out)
	if in["_csrf"]["value"] != "csrf-token-123" || in["_csrf"]["type"] != "hidden" {
		t.Errorf("_csrf input = %v", in["_csrf"])
	}
	if in["flow"]["value"] != "flow-abc" || in["flow"]["type"] != "hidden" {
		t.Errorf("flow input = %v", in["flow"])
	}
	decisions := map[string]string{}
	for _, b := range buttonRe.FindAllStringSubmatch(out, -1) {
		a := attrs("<button" + b[1] + ">")
		if a["name"] != "decision" {
			t.Errorf("button without name=decision: %s", b[0])
		}
		if a["type"] != "submit" {
			t.Errorf("button is not a submit button: %s", b[0])
		}
		if _, ok := a["disabled"]; ok {
			t.Errorf("button is disabled: %s", b[0])
		}
		decisions[a["value"]] = b[2]
	}
	if decisions["allow"] != "Allow" || decisions["deny"] != "Deny" || len(decisions) != 2 {
		t.Errorf("decision buttons = %v, want allow=Allow and deny=Deny", decisions)
	}
	for _, want := range []string{
		"Example App", "Know that it is you", "Your e-mail address",
		`<span class="scope-name">email</span>`, "Signed in as <strong>ada@example.com</strong>",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("consent lacks %q:\n%s", want, out)
		}
	}
}

func TestLogoutForm(t *testing.T) {
	p := mustParse(t)
	out := render(t, p, "logout", samples()["logout"])
	form := onlyForm(t, out)
	if form["method"] != "post" || form["action"] != "/oauth2/logout" {
		t.Errorf("form = %v, want method=post action=/oauth2/logout", form)
	}
	in := inputsByName(out)
	for name, value := range map[string]string{
		"_csrf": "csrf-token-123", "id_token_hint": "eyJhbGciOi.x.y",
		"post_logout_redirect_uri": "https://app.example.com/bye", "state": "st-1", "client_id": "client-1",
	} {
		if in[name]["type"] != "hidden" || in[name]["value"] != value {
			t.Errorf("input %q = %v, want hidden value %q", name, in[name], value)
		}
	}
	b := buttonRe.FindAllStringSubmatch(out, -1)
	if len(b) != 1 || b[0][2] != "Sign out" {
		t.Errorf("want one Sign out button, got %v", b)
	}

	// Empty optional fields are left out of the form.
	bare := render(t, p, "logout", LogoutData{Common: common("Sign out")})
	in = inputsByName(bare)
	if len(in) != 1 || in["_csrf"] == nil {
		t.Errorf("minimal logout form inputs = %v, want only _csrf", in)
	}
}

func TestErrorAndLoggedOut(t *testing.T) {
	p := mustParse(t)
	out := render(t, p, "error", samples()["error"])
	for _, want := range []string{"400", "Bad Request", "The request is missing a required parameter.", "req-42"} {
		if !strings.Contains(out, want) {
			t.Errorf("error page lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "<form") {
		t.Errorf("error page has a form")
	}
	// No request id: nothing about it.
	if out := render(t, p, "error", ErrorData{Common: common("Oops"), Status: 500, Message: "m"}); strings.Contains(out, "Request ID") {
		t.Errorf("request id line shown without an id:\n%s", out)
	}

	out = render(t, p, "logged_out", samples()["logged_out"])
	if !strings.Contains(out, "You are signed out.") {
		t.Errorf("logged_out lacks the message:\n%s", out)
	}
}

// The signed-out page loads each app's front-channel logout URI in an
// iframe, with the URL escaped as an attribute, and names the apps.
func TestLoggedOutFrontChannelFrames(t *testing.T) {
	p := mustParse(t)
	out := render(t, p, "logged_out", LoggedOutData{
		Common: common("Signed out"), ReturnURL: "https://app.example.com/bye", ClientName: "Example App",
		LogoutFrames: []LogoutFrame{
			{URL: "https://app.example.com/fc?iss=https%3A%2F%2Fid.example&sid=abc", ClientName: "Example App"},
			{URL: "https://wiki.example/logout\"><script>", ClientName: ""},
		},
	})
	for _, want := range []string{
		`<iframe class="logout-frame" src="https://app.example.com/fc?iss=https%3A%2F%2Fid.example&amp;sid=abc" width="0" height="0" title="Signing out of Example App"></iframe>`,
		`title="Signing out of an app"`,
		`href="https://app.example.com/bye"`,
		"Signing you out of Example App, an app as well.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("logged_out lacks %q:\n%s", want, out)
		}
	}
	if strings.Count(out, "<iframe") != 2 || strings.Count(out, "<script") != 1 ||
		!strings.Contains(out, "<script>"+continueAfterLogoutFrames+"</script>") {
		t.Errorf("logged_out frames are wrong, or not its one script that continues to the app:\n%s", out)
	}
	// Without a page to return to, nothing to continue to: no script.
	out = render(t, p, "logged_out", LoggedOutData{Common: common("Signed out"),
		LogoutFrames: []LogoutFrame{{URL: "https://app.example.com/fc", ClientName: "Example App"}}})
	if strings.Contains(out, "<script") {
		t.Errorf("logged_out without a return URL has a script:\n%s", out)
	}
	if hasInlineHandler(out) {
		t.Errorf("logged_out has an inline handler:\n%s", out)
	}
}

func TestAccountSessionsPage(t *testing.T) {
	p := mustParse(t)
	out := render(t, p, "account_sessions", samples()["account_sessions"])
	for _, want := range []string{
		`action="/account/sessions/end"`, `name="sid" value="sid-1"`, `name="sid" value="sid-2"`,
		"Firefox on Linux", "from 192.0.2.7", "(this browser)", "Sign out here", "End this session",
		"Apps signed in through it: Example App, Wiki", "Unknown browser", `aria-current="page">Sessions`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("account_sessions lacks %q:\n%s", want, out)
		}
	}
	// A session without a sid (started before sids were kept) has no form.
	if n := strings.Count(out, `action="/account/sessions/end"`); n != 2 {
		t.Errorf("%d end forms, want 2", n)
	}
}

func TestDefaults(t *testing.T) {
	p := mustParse(t)
	// Empty Title and Product still give a sensible page.
	out := render(t, p, "logged_out", LoggedOutData{})
	if !strings.Contains(out, "<title>Signed out · gatehouse</title>") {
		t.Errorf("defaults not applied:\n%s", out)
	}
	out = render(t, p, "error", ErrorData{Common: Common{Product: "Acme ID"}})
	if !strings.Contains(out, `<span class="brand">Acme ID</span>`) || !strings.Contains(out, "<h1>Something went wrong</h1>") {
		t.Errorf("product or default title missing:\n%s", out)
	}
}

func TestRenderErrorsWriteNothing(t *testing.T) {
	p := mustParse(t)
	for _, tc := range []struct {
		name string
		data any
	}{
		{"nope", LoginData{}},               // unknown page
		{"", nil},                           // unknown page
		{"Login", LoginData{}},              // names are exact
		{"login", 42},                       // wrong data type: template error mid-page
		{"consent", ErrorData{Status: 400}}, // fields of another page
		{"error", (*ErrorData)(nil)},        // nil pointer
	} {
		var buf bytes.Buffer
		if err := p.Render(&buf, tc.name, tc.data); err == nil {
			t.Errorf("Render(%q, %T) = nil error", tc.name, tc.data)
		}
		if buf.Len() != 0 {
			t.Errorf("Render(%q, %T) wrote %d bytes on error", tc.name, tc.data, buf.Len())
		}
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

func TestRenderReportsWriteError(t *testing.T) {
	p := mustParse(t)
	if err := p.Render(failWriter{}, "logged_out", LoggedOutData{}); err == nil {
		t.Fatal("write error not reported")
	}
}

func TestConcurrentRender(t *testing.T) {
	p := mustParse(t)
	s := samples()
	want := map[string]string{}
	for name, data := range s {
		want[name] = render(t, p, name, data)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for name, data := range s {
				var buf bytes.Buffer
				if err := p.Render(&buf, name, data); err != nil || buf.String() != want[name] {
					t.Errorf("concurrent render of %q differs (err %v)", name, err)
				}
			}
		}()
	}
	wg.Wait()
}

func TestStatic(t *testing.T) {
	css, err := fs.ReadFile(Static(), "style.css")
	if err != nil {
		t.Fatalf("style.css: %v", err)
	}
	if len(css) == 0 {
		t.Fatal("style.css is empty")
	}
	// No external resources: the CSP allows style-src 'self' only, and the
	// pages promise no external fonts or images.
	for _, bad := range []string{"@import", "url(", "http:", "https:", "expression("} {
		if bytes.Contains(css, []byte(bad)) {
			t.Errorf("style.css contains %q", bad)
		}
	}

	srv := httptest.NewServer(http.StripPrefix("/static/", http.FileServerFS(Static())))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/static/style.css")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /static/style.css: %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/css") {
		t.Errorf("Content-Type = %q, want text/css", ct)
	}
	if !bytes.Equal(body, css) {
		t.Errorf("served body differs from the embedded file")
	}
	// The templates themselves are not exposed as static files.
	if _, err := fs.Stat(Static(), "login.html"); err == nil {
		t.Errorf("templates are reachable through Static()")
	}
}

func TestAccountAppsRevokeForm(t *testing.T) {
	p := mustParse(t)
	out := render(t, p, "account_apps", samples()["account_apps"])
	for _, want := range []string{
		`<form method="post" action="/account/apps/revoke"`,
		`<input type="hidden" name="_csrf" value="csrf-token-123">`,
		`<input type="hidden" name="client_id" value="client-1">`,
		`Revoke access`, `Your e-mail address`, `Access for Old App was revoked.`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("account page lacks %q", want)
		}
	}
	empty := render(t, p, "account_apps", AccountAppsData{Common: common("Apps")})
	if strings.Contains(empty, "/account/apps/revoke") || !strings.Contains(empty, "not allowed any app") {
		t.Errorf("empty account page: %s", empty)
	}
	login := render(t, p, "login", LoginData{Common: common("Sign in"), Next: "/account/apps"})
	if !strings.Contains(login, `name="next" value="/account/apps"`) || strings.Contains(login, `name="flow"`) {
		t.Errorf("account login form: %s", login)
	}
}

func TestAccountKeysPage(t *testing.T) {
	p := mustParse(t)
	out := render(t, p, "account_keys", samples()["account_keys"])
	// One revoke form: the active key's, with the CSRF token.
	forms := formRe.FindAllString(out, -1)
	if len(forms) != 1 {
		t.Fatalf("want one revoke form (the active key), got %d:\n%s", len(forms), out)
	}
	if a := attrs(forms[0]); a["method"] != "post" || a["action"] != "/account/keys/revoke" {
		t.Errorf("form = %v", a)
	}
	for _, want := range []string{
		`<input type="hidden" name="_csrf" value="csrf-token-123">`,
		`<input type="hidden" name="key_id" value="key-1">`,
		"Revoke key", "Reporting job", `<span class="scope-name">reports:write</span>`,
		"<dt>Last used</dt><dd>never</dd>", "<dd>1 Jan 2026 09:30 UTC</dd>", "<dt>Revoked</dt><dd>3 Jan 2026 08:00 UTC</dd>",
		"The key old-ci was revoked.", "Signed in as <strong>ada@example.com</strong>",
		`<a href="/account/apps">Apps with access</a>`, `<a href="/account/keys" aria-current="page">API keys</a>`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("account keys page lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, `name="key_id" value="key-2"`) {
		t.Errorf("a revoked key has a revoke form")
	}

	// No keys: say why, no form.
	none := render(t, p, "account_keys", AccountKeysData{Common: common("API keys"), OwnsApps: true})
	if strings.Contains(none, "<form") || !strings.Contains(none, "Your apps have no API keys.") {
		t.Errorf("owner without keys: %s", none)
	}
	noApps := render(t, p, "account_keys", AccountKeysData{Common: common("API keys")})
	if strings.Contains(noApps, "<form") || !strings.Contains(noApps, "You do not own any app") {
		t.Errorf("no apps: %s", noApps)
	}

	// The apps page links to the keys page.
	apps := render(t, p, "account_apps", samples()["account_apps"])
	if !strings.Contains(apps, `<a href="/account/keys">API keys</a>`) || !strings.Contains(apps, `<a href="/account/apps" aria-current="page">`) {
		t.Errorf("account apps page does not link to the keys page:\n%s", apps)
	}
}

func TestLoginUpstreamsAndErrorBack(t *testing.T) {
	p := mustParse(t)
	out := render(t, p, "login", LoginData{Common: common("Sign in"), Flow: "f1",
		Upstreams: []UpstreamButton{{ID: "google", Name: "Google", URL: "/login/google?flow=f1"}}})
	for _, want := range []string{`href="/login/google?flow=f1"`, "Continue with Google", `action="/login"`, `name="password"`} {
		if !strings.Contains(out, want) {
			t.Errorf("login with upstreams lacks %q", want)
		}
	}
	only := render(t, p, "login", LoginData{Common: common("Sign in"), Flow: "f1", PasswordDisabled: true,
		Upstreams: []UpstreamButton{{ID: "corp", Name: "Corp", URL: "/login/corp?flow=f1"}}})
	if strings.Contains(only, `name="password"`) || !strings.Contains(only, "Continue with Corp") || strings.Contains(only, "divider") {
		t.Errorf("upstream-only login page: %s", only)
	}
	errPage := render(t, p, "error", ErrorData{Common: common("Sign-in failed"), Status: 400, Message: "Nope.", BackURL: "/login?flow=f1", BackText: "Back to sign-in"})
	if !strings.Contains(errPage, `href="/login?flow=f1"`) || !strings.Contains(errPage, "Back to sign-in") {
		t.Errorf("error page back link: %s", errPage)
	}
	ids := render(t, p, "account_identities", samples()["account_identities"])
	if strings.Count(ids, `action="/account/identities/unlink"`) != 1 || !strings.Contains(ids, "only way to sign in") ||
		!strings.Contains(ids, `name="subject" value="1234"`) {
		t.Errorf("identities page: %s", ids)
	}
}
