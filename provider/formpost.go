package provider

import (
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"net/http"
	"net/url"
	"strings"
)

// The form_post response mode (OAuth 2.0 Form Post Response Mode): the
// authorization response, success or error, is an HTML page whose form
// the browser posts to the client's redirect URI. fosite's own page
// submits itself with an inline onload handler, which gatehouse's pages'
// Content-Security-Policy (no inline script) blocks; this page carries one
// inline script allowed by its SHA-256 hash, and a visible button for a
// browser that runs no script.

// formPostScript submits the page's form; formPostScriptHash allows
// exactly it (CSP Level 2 hash source).
const formPostScript = `document.forms[0].submit();`

var formPostScriptHash = func() string {
	sum := sha256.Sum256([]byte(formPostScript))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}()

// formPostPage is the page. html/template escapes every value: the
// parameters, and the action (a registered, verified redirect URI).
var formPostPage = template.Must(template.New("form_post").Parse(`<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Returning to the app</title></head>
<body>
<form method="post" action="{{.RedirURL}}">
{{- range $key, $values := .Parameters}}{{range $values}}
<input type="hidden" name="{{$key}}" value="{{.}}">
{{- end}}{{end}}
<p>Returning you to the app. If nothing happens, press Continue.</p>
<button type="submit">Continue</button>
</form>
<script>` + formPostScript + `</script>
</body>
</html>
`))

// writeFormPost writes the form_post page that carries params to
// redirectURI, with a Content-Security-Policy that lets its one script
// run and its form post to the redirect URI's origin (form-action), and
// nothing else.
func writeFormPost(w http.ResponseWriter, redirectURI *url.URL, params url.Values) {
	action := *redirectURI
	action.Fragment = "" // RFC 6749 §3.1.2: no fragment
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Pragma", "no-cache")
	hd.Set("Content-Security-Policy", formPostCSP(&action))
	w.WriteHeader(http.StatusOK)
	_ = formPostPage.Execute(w, struct {
		RedirURL   template.URL
		Parameters url.Values
	}{template.URL(action.String()), params})
}

// formPostCSP is the policy of a form_post page posting to action.
func formPostCSP(action *url.URL) string {
	target := (&url.URL{Scheme: action.Scheme, Host: action.Host}).String()
	if action.Host == "" {
		target = action.Scheme + ":" // a custom scheme (native app)
	}
	if strings.ContainsAny(target, " ;,'\"") {
		target = "'none'" // cannot be said in a policy; verified URIs never look so
	}
	return "default-src 'none'; script-src " + formPostScriptHash + "; style-src 'self'; img-src 'self'; " +
		"form-action " + target + "; frame-ancestors 'none'; base-uri 'none'"
}
