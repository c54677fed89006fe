package provider

import (
	"context"
	"net/http"
	"net/url"

	"github.com/ory/fosite"
)

// WriteAuthorizeError sends an authorization error to the client's verified
// redirect URI, as fosite's WriteAuthorizeError does, with the iss
// parameter added: RFC 9207 asks for it on error responses too (a client
// defending against mix-up checks it before trusting any response), and
// fosite does not know the parameter. Only the query response mode exists
// here, so the parameter goes into the Location's query.
func (p *Provider) WriteAuthorizeError(ctx context.Context, w http.ResponseWriter, ar fosite.AuthorizeRequester, err error) {
	p.OAuth2.WriteAuthorizeError(ctx, &issuerRedirect{ResponseWriter: w, issuer: p.opts.Issuer}, ar, err)
}

// issuerRedirect adds iss to the query of a redirect as its header is
// written.
type issuerRedirect struct {
	http.ResponseWriter
	issuer  string
	written bool
}

func (w *issuerRedirect) WriteHeader(status int) {
	if !w.written && status >= 300 && status < 400 {
		if loc, err := url.Parse(w.Header().Get("Location")); err == nil && loc.Fragment == "" {
			q := loc.Query()
			if q.Get("error") != "" && !q.Has("iss") {
				q.Set("iss", w.issuer)
				loc.RawQuery = q.Encode()
				w.Header().Set("Location", loc.String())
			}
		}
	}
	w.written = true
	w.ResponseWriter.WriteHeader(status)
}

func (w *issuerRedirect) Write(b []byte) (int, error) {
	w.written = true
	return w.ResponseWriter.Write(b)
}
