package handlers

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/dpop"
)

// The access token of a request to one of gatehouse's own APIs (userinfo,
// the admin API, the self-service key API) comes with the Bearer scheme
// (RFC 6750) or, bound to a key, the DPoP scheme with a proof (RFC 9449
// §7). The handlers only read it from the request (accessCredential) and
// answer a refusal with its challenges (setChallenges); the provider
// decides (provider.Provider.AuthorizeBearer, UserInfo).

// accessCredential is the access token r presents, for an API whose URL,
// as its clients address it, is url (a DPoP proof's htu): from the
// Authorization header with the Bearer or the DPoP scheme, or, for a
// form POST (userinfo), the access_token of the body (RFC 6750 §2.2;
// Bearer). Never from the query: tokens stay out of URLs and logs.
func accessCredential(r *http.Request, url string) provider.Credential {
	cred := provider.Credential{Method: r.Method, URL: url}
	if auth := r.Header.Get(echo.HeaderAuthorization); auth != "" {
		scheme, token, ok := strings.Cut(auth, " ")
		switch {
		case !ok:
		case strings.EqualFold(scheme, "Bearer"):
			cred.Token = strings.TrimSpace(token)
		case strings.EqualFold(scheme, dpop.Scheme):
			// Every DPoP header: more than one is refused by the proof
			// check (RFC 9449 §4.3, check 1).
			cred.Token, cred.DPoP, cred.Proofs = strings.TrimSpace(token), true, r.Header.Values(dpop.HeaderName)
		}
		return cred
	}
	if r.Method == http.MethodPost && r.PostForm != nil {
		cred.Token = r.PostForm.Get("access_token")
	}
	return cred
}

// publicURL is the URL of r's endpoint on the public listener as clients
// address it: the issuer's (never the Host header, which the client
// chooses), with r's path.
func (h *Handler) publicURL(r *http.Request) string {
	return strings.TrimSuffix(h.issuer.String(), "/") + r.URL.EscapedPath()
}

// adminURL is the URL r was made to on the admin listener, which has no
// public URL of its own: plain HTTP (TLS when the connection is), the
// Host header and the path. A DPoP proof for the admin API names it as
// its htu (docs/integration.md, "Sender-constrained tokens").
func adminURL(r *http.Request) string {
	scheme := "http://"
	if r.TLS != nil {
		scheme = "https://"
	}
	return scheme + r.Host + r.URL.EscapedPath()
}

// challenge is what a refusal of a request's access token says in its
// WWW-Authenticate challenges (RFC 6750 §3, RFC 9449 §7.1).
type challenge struct {
	// realm names the protection space; "" for none.
	realm string
	// errCode is the error (invalid_token, insufficient_scope,
	// invalid_dpop_proof, use_dpop_nonce); "" for a request that
	// presented no token (RFC 6750 §3.1).
	errCode string
	// scope is the scope needed, with insufficient_scope.
	scope string
}

// setChallenges sets the challenges of a refusal of cred: one
// WWW-Authenticate field per scheme (RFC 9110 §11.6.1), Bearer first
// (clients that read only one expect it), then DPoP with the proof
// algorithms accepted (RFC 9449 §7.1). The error goes on the challenge
// of the scheme the request used (Bearer when it used none). The nonce
// for the next proof goes in DPoP-Nonce with use_dpop_nonce, and with
// every answer when the server requires nonces (§9).
func (h *Handler) setChallenges(c echo.Context, cred provider.Credential, ch challenge, err error) {
	algs, nonce := h.p.DPoPChallenge(err)
	params := func(scheme string) string {
		var ps []string
		if ch.realm != "" {
			ps = append(ps, `realm="`+ch.realm+`"`)
		}
		if used := cred.DPoP == (scheme == dpop.Scheme); used && ch.errCode != "" {
			ps = append(ps, `error="`+ch.errCode+`"`)
			if ch.scope != "" {
				ps = append(ps, `scope="`+ch.scope+`"`)
			}
		}
		if scheme == dpop.Scheme {
			ps = append(ps, `algs="`+strings.Join(algs, " ")+`"`)
		}
		if len(ps) == 0 {
			return scheme
		}
		return scheme + " " + strings.Join(ps, ", ")
	}
	hd := c.Response().Header()
	hd.Del(echo.HeaderWWWAuthenticate)
	hd.Add(echo.HeaderWWWAuthenticate, params("Bearer"))
	hd.Add(echo.HeaderWWWAuthenticate, params(dpop.Scheme))
	if nonce != "" {
		hd.Set(dpop.NonceHeader, nonce)
	}
}

// setDPoPNonce gives a client that presented a DPoP-bound token the
// nonce for its next proof when the server requires nonces (RFC 9449 §9),
// on a success; setChallenges does it on a refusal.
func (h *Handler) setDPoPNonce(c echo.Context, cred provider.Credential) {
	if !cred.DPoP {
		return
	}
	if _, nonce := h.p.DPoPChallenge(nil); nonce != "" {
		c.Response().Header().Set(dpop.NonceHeader, nonce)
	}
}
