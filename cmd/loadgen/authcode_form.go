// How the authcode flow reads a page: its login or consent form, and the
// visible text of an error page for error samples.

package main

import (
	"bytes"
	"html"
	"net/url"
	"regexp"
	"strings"
)

// htmlForm is what a flow needs of a page's form: where it posts, its
// hidden fields, and either the login inputs or the consent "allow" control.
type htmlForm struct {
	action, method        string
	values                url.Values // hidden inputs
	user, pass            string     // names of the e-mail/username and password inputs
	allowName, allowValue string     // the submit control whose value is "allow"
}

// A few regular expressions are enough for the server's own forms and keep
// the program standard-library only (no HTML parser there).
var (
	reForm    = regexp.MustCompile(`(?is)<form\b([^>]*)>(.*?)</form\s*>`)
	reControl = regexp.MustCompile(`(?is)<(input|button)\b([^>]*)>`)
	reAttr    = regexp.MustCompile(`(?s)([A-Za-z_:][-A-Za-z0-9_:.]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>` + "`" + `]+)))?`)
)

var reMarkup = regexp.MustCompile(`(?is)<(head|script|style)\b.*?</(head|script|style)\s*>|<[^>]*>`)

// pageText is the start of a page's visible text, for error samples: the
// message of an error page, not its markup.
func pageText(b []byte) string {
	if !bytes.Contains(b[:min(len(b), 1024)], []byte("<")) {
		return truncate(b, 200)
	}
	t := strings.Join(strings.Fields(html.UnescapeString(string(reMarkup.ReplaceAll(b, []byte(" "))))), " ")
	return truncate([]byte(t), 200)
}

func attrs(b []byte) map[string]string {
	m := map[string]string{}
	for _, g := range reAttr.FindAllSubmatch(b, -1) {
		name := strings.ToLower(string(g[1]))
		if _, dup := m[name]; dup {
			continue // HTML keeps the first
		}
		v := g[2]
		if len(v) == 0 {
			v = g[3]
		}
		if len(v) == 0 {
			v = g[4]
		}
		m[name] = html.UnescapeString(string(v))
	}
	return m
}

// pageForms reads every form of a page: where it posts, its hidden
// fields, its login inputs and its "allow" control.
func pageForms(page []byte) []htmlForm {
	var out []htmlForm
	for _, fm := range reForm.FindAllSubmatch(page, -1) {
		fa := attrs(fm[1])
		f := htmlForm{action: fa["action"], method: fa["method"], values: url.Values{}}
		for _, cm := range reControl.FindAllSubmatch(fm[2], -1) {
			ca := attrs(cm[2])
			name, typ := ca["name"], strings.ToLower(ca["type"])
			if strings.EqualFold(string(cm[1]), "button") {
				if typ == "" || typ == "submit" {
					if name != "" && strings.EqualFold(ca["value"], "allow") {
						f.allowName, f.allowValue = name, ca["value"]
					}
				}
				continue
			}
			switch typ {
			case "hidden":
				if name != "" {
					f.values.Add(name, ca["value"])
				}
			case "password":
				f.pass = name
			case "", "text", "email":
				if f.user == "" {
					f.user = name
				}
			case "submit":
				if name != "" && strings.EqualFold(ca["value"], "allow") {
					f.allowName, f.allowValue = name, ca["value"]
				}
			}
		}
		out = append(out, f)
	}
	return out
}

// pageForm returns the page's login form (an e-mail or text input and a
// password input), else its consent form (a submit control of value
// "allow").
func pageForm(page []byte) (htmlForm, bool) {
	var consent *htmlForm
	for _, f := range pageForms(page) {
		if f.pass != "" && f.user != "" {
			return f, true
		}
		if f.allowName != "" && consent == nil {
			f.pass = "" // no username input: not a login form, so post it as consent
			consent = &f
		}
	}
	if consent != nil {
		return *consent, true
	}
	return htmlForm{}, false
}

// passkeyForm returns the login page's passkey form: the one posting to
// a path ending in /passkey with a hidden "credential" field, which the
// page's script fills with the assertion.
func passkeyForm(page []byte) (htmlForm, bool) {
	for _, f := range pageForms(page) {
		if _, ok := f.values["credential"]; ok && strings.HasSuffix(f.action, "/passkey") {
			return f, true
		}
	}
	return htmlForm{}, false
}

// totpForm returns the second-factor page's form for a code from an
// authenticator app (hidden method=totp, the code in a text input).
func totpForm(page []byte) (htmlForm, bool) {
	for _, f := range pageForms(page) {
		if f.values.Get("method") == "totp" && f.user != "" {
			return f, true
		}
	}
	return htmlForm{}, false
}
