package resourceserver

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"

	"github.com/gatehouse-dev/gatehouse/provider/dpop"
)

// maxJKTBytes bounds a token's cnf.jkt: a base64url SHA-256 thumbprint is
// 43 characters.
const maxJKTBytes = 128

// binding reads the key a token is bound to from its cnf claim (a JWT
// access token's, RFC 9449 §6.1, or an introspection answer's, §6.2): the
// JWK thumbprint jkt, "" for an unbound token. A token bound by another
// method (RFC 8705's x5t#S256, ...) cannot be checked here and is refused
// rather than taken as a bearer token.
func binding(cnf map[string]json.RawMessage) (string, error) {
	if cnf == nil {
		return "", nil
	}
	raw, ok := cnf["jkt"]
	if !ok {
		return "", invalid("bound by a confirmation method other than DPoP")
	}
	var jkt string
	if err := json.Unmarshal(raw, &jkt); err != nil || jkt == "" || len(jkt) > maxJKTBytes {
		return "", invalid("cnf.jkt is not a thumbprint")
	}
	return jkt, nil
}

// origin is the scheme and host of resource (checked at New).
func origin(resource string) string {
	u, _ := url.Parse(resource)
	return (&url.URL{Scheme: u.Scheme, Host: u.Host}).String()
}

// requestURL is the URL a client used to reach r, for the proof's htu.
func (a *Authenticator) requestURL(r *http.Request) string {
	if a.opts.ExternalURL != nil {
		return a.opts.ExternalURL(r)
	}
	return a.origin + r.URL.EscapedPath()
}

// checkSender checks that the caller may present the token p stands for
// with the scheme it used (RFC 9449 §7): a bound token only with DPoP and
// a proof for this request, by the key the token is bound to, presenting
// this token (ath); an unbound one only as a bearer token. A refusal is
// ErrInvalidToken (the scheme does not fit the token) or a *dpop.Error;
// any other error is a replay cache failure.
func (a *Authenticator) checkSender(ctx context.Context, r *http.Request, c *credential, p *Principal) error {
	switch {
	case !c.dpop && p.JKT == "":
		return nil
	case !c.dpop:
		// §7.2: a DPoP-bound token presented as a bearer token is
		// refused, or binding it would protect nothing.
		return invalid("a DPoP-bound token with the Bearer scheme")
	case p.JKT == "":
		return invalid("a token bound to no key with the DPoP scheme")
	}
	_, err := a.dpop.Verify(ctx, dpop.Request{
		Proofs:      c.proofs,
		Method:      r.Method,
		URL:         a.requestURL(r),
		AccessToken: c.token,
		JKT:         p.JKT,
	})
	return err
}
