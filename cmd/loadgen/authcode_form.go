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

// pageForm returns the page's login form (an e-mail or text input and a
// password input), else its consent form (a submit control of value
// "allow").
func pageForm(page []byte) (htmlForm, bool) {
	var consent *htmlForm
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
