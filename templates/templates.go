// Package templates holds gatehouse's browser pages (sign-in, consent, error,
// sign-out confirmation, signed-out and the account pages), embedded in the
// binary, and the one stylesheet they use.
//
// The pages are written for a strict Content-Security-Policy: they contain no
// JavaScript, no inline styles and no external resources, and they work as
// plain HTML forms answered with 3xx redirects. All styling lives in
// static/style.css, which the HTTP handlers serve at /static/style.css from
// [Static], and in /static/brand.css ([BrandCSS]: the deployment's accent
// colour).
//
// An operator may replace any template with a file of the same name
// ([ParseWithOverrides]); each page's data is the *Data struct below.
//
// Every page is built from a shared layout (layout.html) and one page file
// that defines the "title" and "content" blocks. The templates use
// html/template, so every string in the data is escaped for the context it
// lands in; callers pass plain text, never HTML.
package templates

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

//go:embed layout.html login.html consent.html error.html logout.html logged_out.html account_apps.html account_keys.html account_identities.html account_sessions.html account_security.html second_factor.html factors.html password_forgot.html password_reset.html email_verify.html signup.html signup_complete.html account_passkeys.html device.html home.html
var pageFiles embed.FS

//go:embed static
var staticFiles embed.FS

// pageNames are the pages Render knows; each has a file <name>.html.
var pageNames = []string{"login", "consent", "error", "logout", "logged_out", "account_apps", "account_keys", "account_identities", "account_sessions", "account_security", "second_factor", "password_forgot", "password_reset", "email_verify", "signup", "signup_complete", "account_passkeys", "device", "home"}

// Pages is the parsed set of page templates. Safe for concurrent use.
type Pages struct {
	pages map[string]*template.Template
	// static is Static() with the operator's static/ folder over it.
	static fs.FS
}

var funcs = template.FuncMap{
	// continueAfterLogoutFrames is the signed-out page's one script
	// (ContinueAfterLogoutFramesHash allows it).
	"continueAfterLogoutFrames": func() template.JS { return template.JS(continueAfterLogoutFrames) },
	// statusText is http.StatusText, so the error page can say "Bad Request"
	// next to 400. It returns "" for unknown codes.
	"statusText": http.StatusText,
	// createdKeyForms pairs the keys an app made with the page's CSRF
	// token, for the "created_keys" list and its revoke forms.
	"createdKeyForms": func(keys []CreatedKey, csrfToken string) createdKeyForms {
		return createdKeyForms{Keys: keys, CSRFToken: csrfToken}
	},
}

// createdKeyForms is the data of the "created_keys" block of account_apps.
type createdKeyForms struct {
	Keys      []CreatedKey
	CSRFToken string
}

// Parse parses the embedded templates; call once at start.
func Parse() (*Pages, error) { return ParseWithOverrides("") }

// maxOverrideBytes bounds one override file: a page is a few kilobytes,
// and the file is read into memory at start.
const maxOverrideBytes = 1 << 20

// ParseWithOverrides parses the embedded templates, each file of dir
// (branding.templates_dir; "" for none) with the name of an embedded one
// (layout.html, factors.html or a page's <name>.html) replacing it. It
// refuses what would otherwise become a 500 on some later request: a file
// name gatehouse has no template for, a template that does not parse (the
// error names the file and line), a page without its blocks, and a page
// that fails to render its zero data (such as a field its data does not
// have).
func ParseWithOverrides(dir string) (*Pages, error) {
	files, err := templateFiles(dir)
	if err != nil {
		return nil, err
	}
	parse := func(t *template.Template, name string) (*template.Template, error) {
		f := files[name]
		if _, err := t.New(name).Parse(f.text); err != nil {
			return nil, fmt.Errorf("templates: %s: %w", f.path, err)
		}
		return t, nil
	}
	base := template.New("pages").Funcs(funcs)
	for _, name := range []string{"layout.html", "factors.html"} {
		if base, err = parse(base, name); err != nil {
			return nil, err
		}
	}
	if base.Lookup("layout") == nil {
		return nil, fmt.Errorf("templates: %s does not define \"layout\"", files["layout.html"].path)
	}
	p := &Pages{pages: make(map[string]*template.Template, len(pageNames)), static: Static()}
	if dir != "" {
		own := filepath.Join(dir, staticFolder)
		if fi, err := os.Stat(own); err == nil && fi.IsDir() {
			p.static = overStatic{own: os.DirFS(own), base: p.static}
		}
	}
	for _, name := range pageNames {
		t, err := base.Clone()
		if err != nil {
			return nil, fmt.Errorf("templates: clone layout for %q: %w", name, err)
		}
		if t, err = parse(t, name+".html"); err != nil {
			return nil, err
		}
		for _, block := range []string{"title", "content"} {
			if t.Lookup(block) == nil {
				return nil, fmt.Errorf("templates: %s does not define %q", files[name+".html"].path, block)
			}
		}
		p.pages[name] = t
	}
	// A trial render catches what parsing cannot (html/template escapes a
	// template on its first execution; a field name is looked up then):
	// better at start than as a 500 on someone's sign-in.
	for _, name := range pageNames {
		if err := p.Render(io.Discard, name, zeroData[name]); err != nil {
			return nil, fmt.Errorf("templates: %s: %w (its data is %T)", files[name+".html"].path, err, zeroData[name])
		}
	}
	return p, nil
}

// zeroData is each page's data type, for the trial render of
// ParseWithOverrides (and the contract of an override: the page gets this
// struct).
var zeroData = map[string]any{
	"login": LoginData{}, "consent": ConsentData{}, "error": ErrorData{}, "logout": LogoutData{},
	"logged_out": LoggedOutData{}, "account_apps": AccountAppsData{}, "account_keys": AccountKeysData{},
	"account_identities": AccountIdentitiesData{}, "account_sessions": AccountSessionsData{},
	"account_security": AccountSecurityData{}, "second_factor": SecondFactorData{},
	"password_forgot": PasswordForgotData{}, "password_reset": PasswordResetData{},
	"email_verify": EmailVerifyData{}, "signup": SignupData{}, "signup_complete": SignupCompleteData{},
	"account_passkeys": AccountPasskeysData{}, "device": DeviceData{}, "home": HomeData{},
}

// templateFile is one template's text and where it came from (for errors).
type templateFile struct {
	path string // "layout.html" (embedded) or the override's path
	text string
}

// templateFiles reads every embedded template and the overrides in dir.
func templateFiles(dir string) (map[string]templateFile, error) {
	names := []string{"layout.html", "factors.html"}
	for _, n := range pageNames {
		names = append(names, n+".html")
	}
	files := make(map[string]templateFile, len(names))
	for _, n := range names {
		b, err := fs.ReadFile(pageFiles, n)
		if err != nil {
			return nil, fmt.Errorf("templates: embedded %s: %w", n, err)
		}
		files[n] = templateFile{path: n, text: string(b)}
	}
	if dir == "" {
		return files, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("templates: branding.templates_dir: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue // editors' swap and backup files, .git
		}
		if name == staticFolder && e.IsDir() {
			continue // the operator's static files (Pages.Static)
		}
		path := filepath.Join(dir, name)
		if _, known := files[name]; !known || !e.Type().IsRegular() {
			return nil, fmt.Errorf("templates: %s: not a template gatehouse has (a file named as one of: %s)", path, strings.Join(names, ", "))
		}
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("templates: %w", err)
		}
		b, err := io.ReadAll(io.LimitReader(f, maxOverrideBytes+1))
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("templates: read %s: %w", path, err)
		}
		if len(b) > maxOverrideBytes {
			return nil, fmt.Errorf("templates: %s: larger than %d bytes", path, maxOverrideBytes)
		}
		files[name] = templateFile{path: path, text: string(b)}
	}
	return files, nil
}

// Render executes the named page into w. It renders into a buffer first, so a
// template error never leaves a half-written page (the caller gets the error and
// can answer 500). Names: "login", "consent", "error", "logout", "logged_out",
// "account_apps", "account_keys".
//
// Render writes only the HTML body; the caller sets the headers
// (Content-Type: text/html; charset=utf-8, CSP, and so on).
func (p *Pages) Render(w io.Writer, name string, data any) error {
	t, ok := p.pages[name]
	if !ok {
		return fmt.Errorf("templates: unknown page %q (known: %v)", name, p.names())
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", data); err != nil {
		return fmt.Errorf("templates: render %q: %w", name, err)
	}
	if _, err := buf.WriteTo(w); err != nil {
		return fmt.Errorf("templates: write %q: %w", name, err)
	}
	return nil
}

func (p *Pages) names() []string {
	names := make([]string, 0, len(p.pages))
	for n := range p.pages {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// staticFolder is the folder of an override directory whose files are
// served at /static/ (a logo, a stylesheet of one's own).
const staticFolder = "static"

// Static is what /static/ serves: the override directory's static/
// files, then the embedded ones ([Static]). Only files: a folder is "not
// found", so nothing is ever listed.
func (p *Pages) Static() fs.FS { return p.static }

// overStatic serves own's files before base's.
type overStatic struct{ own, base fs.FS }

func (o overStatic) Open(name string) (fs.File, error) {
	if name == "." {
		return o.base.Open(name)
	}
	if f, err := o.own.Open(name); err == nil {
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			return f, nil
		}
		f.Close()
	}
	f, err := o.base.Open(name)
	if err != nil {
		return nil, err
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fs.ErrNotExist
	}
	return f, nil
}

// Static is the file system with style.css (and any other static asset) at its root,
// served by the handlers at /static/.
func Static() fs.FS {
	sub, err := fs.Sub(staticFiles, "static")
	if err != nil {
		// fs.Sub fails only for an invalid path name, and "static" is valid.
		panic(err)
	}
	return sub
}

// HomeData is the data of the "home" page, the landing page at / for a
// browser that is not signed in.
type HomeData struct {
	Common
}

// Common is embedded in every page's data.
type Common struct {
	Title     string // page title shown in <title> and the heading
	CSRFToken string // value for the hidden input named "_csrf" in every form
	Product   string // "gatehouse" (or a deployment's name: branding.product_name)
	// LogoURL is the deployment's logo in the header (https or a path
	// under /static/; empty: none).
	LogoURL string
	// SupportURL is the footer's help link (https or mailto:; empty:
	// none).
	SupportURL string
}

// DefaultAccentColor is style.css's --primary (light scheme).
const DefaultAccentColor = "#1d5bd0"

// BrandCSS is the stylesheet the layout loads after style.css
// (/static/brand.css): the accent colour (a validated #rgb or #rrggbb) as
// the custom properties style.css uses. A stylesheet of our own origin, not
// an inline style, so the pages' CSP stays style-src 'self'. The default
// colour (or "") gives an empty sheet: style.css's own colours stay,
// including its dark-mode ones.
func BrandCSS(accent string) []byte {
	if accent == "" || strings.EqualFold(accent, DefaultAccentColor) {
		return []byte("/* the default accent colour of style.css */\n")
	}
	return []byte(fmt.Sprintf(`:root {
  --primary: %[1]s;
  --primary-hover: color-mix(in srgb, %[1]s 80%%, black);
  --focus: %[1]s;
  --on-primary: %[2]s;
}
`, accent, textOn(accent)))
}

// textOn picks black or white text for a background, whichever contrasts
// more (WCAG 2.x relative luminance, threshold where both contrast ratios
// meet).
func textOn(hex string) string {
	h := strings.TrimPrefix(hex, "#")
	if len(h) == 3 {
		h = string([]byte{h[0], h[0], h[1], h[1], h[2], h[2]})
	}
	var lum float64
	for i, weight := range []float64{0.2126, 0.7152, 0.0722} {
		var v uint8
		if _, err := fmt.Sscanf(h[2*i:2*i+2], "%02x", &v); err != nil {
			return "#ffffff"
		}
		c := float64(v) / 255
		if c <= 0.04045 {
			c /= 12.92
		} else {
			c = math.Pow((c+0.055)/1.055, 2.4)
		}
		lum += weight * c
	}
	if lum > 0.179 {
		return "#000000"
	}
	return "#ffffff"
}

// LoginData is the data of the "login" page: the e-mail and password form,
// posted to /login.
type LoginData struct {
	Common
	Flow       string // hidden input "flow" (empty when signing in to the account pages)
	Next       string // hidden input "next": where to go after signing in without a flow
	ClientName string // the app the user is signing in to (may be empty)
	Email      string // pre-filled e-mail after a failed attempt
	Error      string // generic message such as "Wrong e-mail or password." (may be empty)
	// Upstreams are the "Continue with ..." buttons (plain links), one per
	// configured upstream identity provider.
	Upstreams []UpstreamButton
	// PasswordDisabled hides the e-mail and password form (a deployment
	// that signs people in only through upstreams).
	PasswordDisabled bool
	// ForgotPassword shows the "Forgot password?" link (e-mail is set up).
	ForgotPassword bool
	// Signup shows the "Create an account" link (sign-up is on).
	Signup bool
	// Passkeys adds "Sign in with a passkey" and the browser's passkey
	// autofill (static/passkeys.js; the handler allows script-src 'self').
	Passkeys bool
	// PasskeyFailed: a passkey sign-in was just refused. The page then
	// offers the passkey through the button only, not again at once
	// through the autofill.
	PasskeyFailed bool
}

// SignupData is the data of the "signup" page: the form (kept filled in
// after an Error, never the password), or (Sent) the answer, the same
// whether or not the address has an account.
type SignupData struct {
	Common
	Flow, Email, Name, Error string
	MinLength                int
	Sent                     bool
}

// SignupCompleteData is the data of the "signup_complete" page: the button
// that makes the account of the link's Token, or that the link does not
// work (Invalid).
type SignupCompleteData struct {
	Common
	Token, Flow string
	Invalid     bool
}

// PasswordForgotData is the data of the "password_forgot" page: the form
// asking for a reset link, or (Sent) the answer, the same whether or not
// the address has an account.
type PasswordForgotData struct {
	Common
	Sent  bool
	Email string
}

// EmailVerifyData is the data of the "email_verify" page: the button that
// confirms the link's Token, or that the link does not work (Invalid), or
// that the address is verified (Done).
type EmailVerifyData struct {
	Common
	Token   string
	Invalid bool
	Done    bool
	// Taken: a change link's new address belongs to another account by
	// now; the address was not changed.
	Taken bool
}

// PasswordResetData is the data of the "password_reset" page: the new
// password form for the link's Token, or that the link does not work
// (Invalid), or that the password was changed (Done).
type PasswordResetData struct {
	Common
	Token     string
	Error     string
	MinLength int
	Invalid   bool
	Done      bool
}

// AccountPasskeysData is the data of the "account_passkeys" section: the
// person's passkeys with forms to add (a WebAuthn ceremony, run by
// static/passkeys.js), rename and remove them.
type AccountPasskeysData struct {
	Common
	UserEmail string
	Message   string // what was done (may be empty)
	Error     string // what went wrong (may be empty)
	Passkeys  []PasskeyRow
}

// PasskeyRow is one passkey on the account page.
type PasskeyRow struct {
	ID, Name, CreatedAt, LastUsed string
	// Synced: a multi-device (backup-eligible) passkey.
	Synced bool
	// PossiblyCloned: its signature counter went back (WebAuthn §6.1.1);
	// it no longer signs the person in.
	PossiblyCloned bool
	// Removable is false for the person's last way to sign in.
	Removable bool
}

// UpstreamButton is a "Continue with Name" link to URL.
type UpstreamButton struct {
	ID, Name, URL string
}

// Scope is one requested scope described for a person, e.g.
// {"email", "Your e-mail address"}.
type Scope struct{ Name, Description string }

// DeviceData is the data of the "device" page (RFC 8628 verification):
// Step "" asks for the user code (posted to /device), "confirm" names the
// client and scopes with a warning against remote phishing (RFC 8628
// §5.4; posted to /device/decide with decision=allow or deny), "done"
// shows Message.
type DeviceData struct {
	Common
	Step       string
	UserCode   string
	Message    string
	ClientName string
	ClientID   string
	UserEmail  string
	Scopes     []Scope
}

// ConsentData is the data of the "consent" page, posted to /consent with
// decision=allow or decision=deny.
type ConsentData struct {
	Common
	Flow       string
	ClientName string
	ClientID   string
	UserEmail  string  // who is signed in
	Scopes     []Scope // what the app asks for, in plain words
	// What the app says about itself (RFC 7591 metadata; https URLs or
	// empty) and who registered it, so a person can judge a third-party app.
	LogoURI      string
	ClientURI    string
	PolicyURI    string
	TosURI       string
	RegisteredBy string
	// Document is set for an app that is not registered here but
	// describes itself in a metadata document at its client ID's URL.
	Document *ClientDocument
}

// ClientDocument is what the consent page says of an app known by its
// metadata document (draft-ietf-oauth-client-id-metadata-document,
// §"OAuth Phishing Attacks"): where the document is, where the person
// will be sent back, and whether only a program on their own device can
// receive that.
type ClientDocument struct {
	Host          string
	RedirectHost  string
	LocalhostOnly bool
}

// ErrorData is the data of the "error" page.
type ErrorData struct {
	Common
	Status    int    // HTTP status, e.g. 400
	Message   string // plain text explanation for a person, never HTML
	RequestID string // shown small so a report can be matched to a log line (may be empty)
	// Code is the OAuth error code (RFC 6749 §4.1.2.1), shown small so
	// that a person can quote it to the app's developers; may be empty.
	Code string
	// Details are plain-text lines for developers (what the server
	// received against what is registered), shown in a collapsed section.
	// Never a secret.
	Details []string
	// BackURL, when set, is a link offered under the message (a local path
	// such as the login page, or a client's redirect URI carrying the
	// error), labelled BackText.
	BackURL  string
	BackText string
}

// LogoutData is the data of the "logout" page: a "Do you want to sign out?"
// confirmation form, POSTs to /oauth2/logout. Empty fields are left out of
// the form.
type LogoutData struct {
	Common
	ClientName            string // may be empty
	IDTokenHint           string // hidden "id_token_hint" (may be empty)
	PostLogoutRedirectURI string // hidden "post_logout_redirect_uri" (may be empty)
	State                 string // hidden "state" (may be empty)
	ClientID              string // hidden "client_id" (may be empty)
}

// LoggedOutData is the data of the "logged_out" page.
// continueAfterLogoutFrames sends the browser on to the "Return to the
// app" link once every front-channel logout iframe has loaded, or after 3
// seconds whatever they do (Front-Channel Logout 1.0 §4: the OP
// continues to the post_logout_redirect_uri after the apps' pages are
// loaded). It is constant, so a hash allows it.
const continueAfterLogoutFrames = `(function () {
  var link = document.getElementById("return-to-app");
  if (!link) return;
  var frames = document.querySelectorAll("iframe.logout-frame");
  var left = frames.length, gone = false;
  function go() { if (!gone) { gone = true; window.location.replace(link.href); } }
  frames.forEach(function (f) { f.addEventListener("load", function () { if (--left === 0) go(); }); });
  if (left === 0) go();
  setTimeout(go, 3000);
})();`

// ContinueAfterLogoutFramesHash is the CSP hash source of the signed-out
// page's script, for its Content-Security-Policy (script-src).
var ContinueAfterLogoutFramesHash = func() string {
	sum := sha256.Sum256([]byte(continueAfterLogoutFrames))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}()

type LoggedOutData struct {
	Common
	// ReturnURL, when set, is the app's registered post-logout URI, offered
	// as a link "Return to ClientName"; with LogoutFrames, the page's
	// script follows it once they have loaded.
	ReturnURL  string
	ClientName string
	// LogoutFrames are the apps' front-channel logout URIs, each loaded in
	// an invisible iframe (OpenID Connect Front-Channel Logout 1.0 §3);
	// the page's Content-Security-Policy allows exactly their origins.
	LogoutFrames []LogoutFrame
}

// LogoutFrame is one app's frontchannel_logout_uri, with iss and sid when
// the app asked for them.
type LogoutFrame struct {
	URL        string
	ClientName string
}

// AccountSession is one sign-in session on the "account_sessions" page.
// The times are already formatted for people.
type AccountSession struct {
	SID       string // posted back as "sid" to end it; empty: cannot be ended alone
	UserAgent string // may be empty
	IP        string // may be empty
	SignedIn  string
	Current   bool     // the session of this browser
	Apps      []string // names of the apps that got tokens in it
}

// AccountSessionsData is the data of the "account_sessions" page: the
// person's sign-in sessions, each with a form posted to
// /account/sessions/end.
type AccountSessionsData struct {
	Common
	UserEmail string
	Sessions  []AccountSession
	Message   string // e.g. "The session was ended." (may be empty)
}

// SecondFactorData is the data of the "second_factor" page: the second
// step of a sign-in (or a step-up), posted to /login/second-factor. One of
// three views: the person's methods (Methods, in order: "passkey",
// "totp", "recovery_code"; Passkey when "passkey" is among them and the
// page loads static/passkeys.js, the handler allowing script-src
// 'self'), setting up an authenticator first (Enrol), or the
// recovery codes of an authenticator just set up (RecoveryCodes, with a
// Continue link).
type SecondFactorData struct {
	Common
	Flow          string
	Next          string
	ClientName    string
	Methods       []string
	Passkey       bool
	Enrol         *TOTPEnrolment
	RecoveryCodes []string
	ContinueURL   string
	Error         string
	// ProveEmail is the masked address a code went to, before a first
	// second factor is set up (login.EnrolmentProofs); NoAddress says
	// the account has none, so it cannot be set up here.
	ProveEmail string
	NoAddress  bool
	Message    string
}

// TOTPEnrolment is an authenticator being set up: its QR code (a data:
// URI of a PNG, which the pages' img-src allows) and its secret.
type TOTPEnrolment struct {
	QRCode template.URL
	Secret string
}

// AccountSecurityData is the data of the "account_security" page.
type AccountSecurityData struct {
	Common
	UserEmail         string
	Message           string
	Error             string
	TOTP              bool
	TOTPSince         string
	RecoveryCodesLeft int
	Enrol             *TOTPEnrolment
	// RecoveryCodes are shown once, right after they were made.
	RecoveryCodes []string
	// Passkeys links to the passkeys section (passkeys are on).
	Passkeys bool
	// EmailChange shows the form changing the address (e-mail is on);
	// HasPassword asks for the password in it.
	EmailChange, HasPassword bool
}

// AppGrant is one app a person has allowed, on the "account_apps" page.
type AppGrant struct {
	ClientID   string // posted back as "client_id" to revoke
	ClientName string
	LogoURI    string // https or empty
	ClientURI  string // https or empty
	Scopes     []Scope
	GrantedAt  string // already formatted for display
	// CreatedKeys are the usable API keys the app made for the person.
	CreatedKeys []CreatedKey
}

// CreatedKey is an API key an app made for the person (through the
// self-service API), shown with a revoke form posted to
// /account/keys/revoke.
type CreatedKey struct {
	ID         string // posted back as "key_id" to revoke
	Name       string
	ClientName string // the client the key belongs to
	CreatedAt  string // already formatted for display
}

// AccountAppsData is the data of the "account_apps" page: the apps the
// signed-in person has allowed, each with a revoke form posted to
// /account/apps/revoke.
type AccountAppsData struct {
	Common
	UserEmail string
	Apps      []AppGrant
	Message   string // e.g. "Access for X was revoked." (may be empty)
	// RevokedKeys are the usable API keys the app whose access was just
	// revoked had made for the person: they still work until revoked.
	RevokedKeys []CreatedKey
}

// AccountKey is one API key on the "account_keys" page. The times are
// already formatted for people.
type AccountKey struct {
	ID         string // posted back as "key_id" to revoke
	Name       string
	ClientID   string
	ClientName string
	Scopes     []string
	// State is "active", "expired" or "revoked"; only an active key has a
	// revoke form.
	State     string
	CreatedAt string
	LastUsed  string // "never" when the key was never used
	Expires   string // "never" when the key does not expire
	Revoked   string // when it was revoked; empty while it is not
}

// AccountKeysData is the data of the "account_keys" page: the API keys of
// the apps the signed-in person owns, each active one with a revoke form
// posted to /account/keys/revoke.
type AccountKeysData struct {
	Common
	UserEmail string
	Keys      []AccountKey
	OwnsApps  bool   // whether the person owns any app (with or without keys)
	Message   string // e.g. "The key X was revoked." (may be empty)
}

// LinkedIdentity is one upstream account linked to the person's account,
// on the "account_identities" page.
type LinkedIdentity struct {
	UpstreamID   string // posted back as "upstream" to unlink
	UpstreamName string // e.g. "Google"
	Subject      string // posted back as "subject" to unlink
	Email        string // what the upstream said last time (may be empty)
	LinkedAt     string // formatted for display
	LastLogin    string // formatted for display, or "never"
	CanUnlink    bool   // false when it is the last way to sign in
}

// AccountIdentitiesData is the data of the "account_identities" page: the
// upstream accounts (Google, ...) the person signs in with, each with an
// unlink form posted to /account/identities/unlink.
type AccountIdentitiesData struct {
	Common
	UserEmail  string
	Identities []LinkedIdentity
	Message    string // e.g. "Google was unlinked." (may be empty)
}
