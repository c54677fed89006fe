package main

import (
	"net/url"
	"reflect"
	"testing"
)

func TestPageForm(t *testing.T) {
	// The shapes of gatehouse's login and consent pages (templates/), with
	// the attribute quoting HTML allows.
	const login = `<html><head><title>Sign in</title></head><body>
<form method="post" action="/login?a=1&amp;b=2" class="form">
<input type="hidden" name="_csrf" value="c&amp;1">
<input type='hidden' name='flow' value='f1'>
<input id="email" name="email" type="email" autocomplete="username" required value="">
<input id="password" name="password" type="password" required>
<button type="submit" class="btn">Sign in</button>
</form></body></html>`
	const consent = `<form method="post" action="/consent">
<input type="hidden" name="_csrf" value="c2">
<input type=hidden name=flow value=f2>
<button type="submit" name="decision" value="deny">Deny</button>
<button type="submit" name="decision" value="allow">Allow</button>
</form>`
	tests := []struct {
		name string
		page string
		want htmlForm
		ok   bool
	}{
		{"login", login, htmlForm{action: "/login?a=1&b=2", method: "post",
			values: url.Values{"_csrf": {"c&1"}, "flow": {"f1"}}, user: "email", pass: "password"}, true},
		{"consent", consent, htmlForm{action: "/consent", method: "post",
			values: url.Values{"_csrf": {"c2"}, "flow": {"f2"}}, allowName: "decision", allowValue: "allow"}, true},
		{"a login form wins over a consent form before it", consent + login, htmlForm{action: "/login?a=1&b=2", method: "post",
			values: url.Values{"_csrf": {"c&1"}, "flow": {"f1"}}, user: "email", pass: "password"}, true},
		{"an input submit of value allow", `<form action="/c" method="POST"><input type="submit" name="ok" value="Allow"></form>`,
			htmlForm{action: "/c", method: "POST", values: url.Values{}, allowName: "ok", allowValue: "Allow"}, true},
		{"a password without a user input is no login form", `<form action="/x"><input type="password" name="p"></form>`, htmlForm{}, false},
		{"a deny button alone is no consent form", `<form action="/x"><button name="decision" value="deny"></button></form>`, htmlForm{}, false},
		{"no form", `<p>Something went wrong</p>`, htmlForm{}, false},
	}
	for _, tt := range tests {
		got, ok := pageForm([]byte(tt.page))
		if ok != tt.ok || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: pageForm = %+v, %v, want %+v, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

func TestPageText(t *testing.T) {
	tests := []struct{ page, want string }{
		{`{"error":"invalid_client"}`, `{"error":"invalid_client"}`},
		{"<html><head><title>T</title><style>p{}</style></head><body><script>x()</script><h1>Bad  request</h1>\n<p>The flow &amp; its code expired.</p></body></html>",
			"Bad request The flow & its code expired."},
	}
	for _, tt := range tests {
		if got := pageText([]byte(tt.page)); got != tt.want {
			t.Errorf("pageText(%q) = %q, want %q", tt.page, got, tt.want)
		}
	}
}
