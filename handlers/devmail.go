package handlers

import (
	"html/template"
	"net/http"
	"regexp"

	"github.com/labstack/echo/v4"
)

// devMailTemplate lists the e-mail of development mode: each message's
// text with its links made clickable. Development only (Options.DevMail):
// the messages carry single-use links.
var devMailTemplate = template.Must(template.New("devmail").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>E-mail (development)</title></head>
<body style="font-family:system-ui,sans-serif;max-width:48rem;margin:1rem auto;padding:0 1rem">
<h1>E-mail not sent (development mode)</h1>
<p>Newest first; set <code>smtp.host</code> to send real e-mail.</p>
{{range .}}<section style="border-top:1px solid #888;padding:0.5rem 0">
<h2 style="font-size:1rem">{{.Subject}}</h2>
<p>To: {{.To}}</p>
{{range .Links}}<p><a href="{{.}}">{{.}}</a></p>{{end}}
<pre style="white-space:pre-wrap">{{.Text}}</pre>
</section>{{else}}<p>No e-mail yet.</p>{{end}}
</body></html>
`))

var devMailLink = regexp.MustCompile(`https?://[^\s<>"]+`)

// devMailPage answers GET /admin/dev/mail.
func (h *Handler) devMailPage(c echo.Context) error {
	type item struct {
		To, Subject, Text string
		Links             []string
	}
	var items []item
	for _, m := range h.devMail() {
		items = append(items, item{To: m.To, Subject: m.Subject, Text: m.Text, Links: devMailLink.FindAllString(m.Text, -1)})
	}
	c.Response().Header().Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
	c.Response().WriteHeader(http.StatusOK)
	return devMailTemplate.Execute(c.Response(), items)
}
