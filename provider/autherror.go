package provider

import (
	"context"
	"net/http"
	"net/url"

	"github.com/ory/fosite"
)

// WriteAuthorizeError sends an authorization error to the client's verified
// redirect URI, as fosite's WriteAuthorizeError does, in the request's
// response mode (query or form_post), with the iss parameter added: RFC
// 9207 asks for it on error responses too (a client defending against
// mix-up checks it before trusting any response), and fosite does not know
// the parameter. state is sent only when the request had one (RFC 6749
// §4.1.2.1); fosite sends it empty otherwise.
func (p *Provider) WriteAuthorizeError(ctx context.Context, w http.ResponseWriter, ar fosite.AuthorizeRequester, err error) {
	if ar != nil && ar.IsRedirectURIValid() && ar.GetResponseMode() == fosite.ResponseModeFormPost {
		rfc := fosite.ErrorToRFC6749Error(err).WithLegacyFormat(false).WithExposeDebug(false)
		params := rfc.ToValues()
		if ar.GetState() != "" {
			params.Set("state", ar.GetState())
		}
		params.Set("iss", p.opts.Issuer)
		writeFormPost(w, ar.GetRedirectURI(), params)
		return
	}
	p.oauth2.WriteAuthorizeError(ctx, &issuerRedirect{ResponseWriter: w, issuer: p.opts.Issuer}, ar, err)
}

// AuthorizeErrorURL is where WriteAuthorizeError would send the browser
// for err: the client's redirect URI with error, error_description, state
// and iss; "" when ar's redirect URI may not receive errors
// (AuthorizeErrorRedirectable), or when the response mode is form_post (a
// POST, which no link can make). A page offers it as a link when the
// browser is not sent there by itself.
func (p *Provider) AuthorizeErrorURL(ctx context.Context, ar fosite.AuthorizeRequester, err error) string {
	if !AuthorizeErrorRedirectable(ar) {
		return ""
	}
	rec := &redirectRecorder{header: http.Header{}}
	p.WriteAuthorizeError(ctx, rec, ar, err)
	if rec.status < 300 || rec.status >= 400 {
		return ""
	}
	return rec.header.Get("Location")
}

// redirectRecorder keeps the status and headers of a response and drops
// its body.
type redirectRecorder struct {
	header http.Header
	status int
}

func (r *redirectRecorder) Header() http.Header         { return r.header }
func (r *redirectRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *redirectRecorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

// issuerRedirect adds iss to the query of an error redirect as its header
// is written, and drops an empty state (the request had none).
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
				if q.Has("state") && q.Get("state") == "" {
					q.Del("state")
				}
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
