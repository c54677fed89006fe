package provider

import (
	"net/url"

	"github.com/ory/fosite"

	"github.com/gatehouse-dev/gatehouse/provider/dpop"
)

// Binding the authorization code to a DPoP key (RFC 9449 §10): the
// authorization request names the key by its thumbprint, dpop_jkt, or a
// pushed request carries a DPoP proof whose key becomes its dpop_jkt
// (§10.1). The parameter travels with the request's form (the pushed
// request and the sign-in flow store the form), Complete puts it in the
// code's session (Session.JKT), and the token endpoint then issues
// tokens for that code only to a proof of that key (bindDPoP): a code
// stolen on its way back through the browser is of no use without the
// client's private key.

// ParamDPoPJKT is the authorization request parameter naming the key the
// code is bound to.
const ParamDPoPJKT = "dpop_jkt"

// errBadDPoPJKT refuses a dpop_jkt that cannot be a thumbprint.
var errBadDPoPJKT = fosite.ErrInvalidRequest.WithHint(
	"dpop_jkt must be the base64url-encoded SHA-256 JWK thumbprint (RFC 7638) of the DPoP key: 43 characters.")

// checkDPoPJKT checks the form of the dpop_jkt of an authorization
// request: a base64url SHA-256 thumbprint, as RFC 9449 §10 defines it
// (the key is checked when the code is exchanged). An empty one is no
// parameter (RFC 6749 §3.1).
func checkDPoPJKT(form url.Values) error {
	if jkt := form.Get(ParamDPoPJKT); jkt != "" && !isBase64URLSHA256(jkt) {
		return errBadDPoPJKT
	}
	return nil
}

// codeDPoPJKT is the key the code of ar is to be bound to ("" for none).
func codeDPoPJKT(ar fosite.AuthorizeRequester) string {
	return ar.GetRequestForm().Get(ParamDPoPJKT)
}

// bindPushedRequest makes the key of proof the dpop_jkt of the pushed
// request ar, which is then stored with it (§10.1). A dpop_jkt that names
// another key is refused: the client would not be able to redeem the
// code with either.
func bindPushedRequest(ar fosite.AuthorizeRequester, proof *dpop.Proof) error {
	if proof == nil {
		return nil
	}
	form := ar.GetRequestForm()
	if jkt := form.Get(ParamDPoPJKT); jkt != "" && jkt != proof.JKT {
		return refuseProof("dpop_jkt is not the thumbprint of the DPoP proof's key")
	}
	form.Set(ParamDPoPJKT, proof.JKT)
	return nil
}
