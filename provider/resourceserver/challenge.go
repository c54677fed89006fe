package resourceserver

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/gatehouse-dev/gatehouse/provider/dpop"
)

// APIKeyHeader is where an API key may be presented besides the
// Authorization header.
const APIKeyHeader = "X-API-Key"

// apiKeyPrefix starts every gatehouse API key (gatehouse's
// provider/apikey.Prefix; repeated here so that this package does not
// import the server).
const apiKeyPrefix = "gth_ak_"

// isOtherGatehouseCredential reports gatehouse's refresh tokens and
// authorization codes (gth_rt_, gth_ac_): never access tokens, refused
// without asking anyone.
func isOtherGatehouseCredential(token string) bool {
	return strings.HasPrefix(token, "gth_rt_") || strings.HasPrefix(token, "gth_ac_")
}

// credential is what a request presents.
type credential struct {
	token  string
	apiKey bool
	// dpop: the token came with the DPoP scheme (RFC 9449 §7.1), and
	// proofs are the request's DPoP header values, checked against it.
	dpop   bool
	proofs []string
}

// The Authorization schemes a resource server takes (RFC 6750 §2.1,
// RFC 9449 §7.1), as its challenges name them.
const (
	schemeBearer = "Bearer"
	schemeDPoP   = dpop.Scheme
)

// Errors of a request's credentials, as RFC 6750 §3.1 and RFC 9449 §7.1,
// §9 name them.
const (
	errInvalidRequest    = "invalid_request"
	errInvalidToken      = "invalid_token"
	errInsufficientScope = "insufficient_scope"
	errInvalidDPoPProof  = dpop.CodeInvalidProof
	errUseDPoPNonce      = dpop.CodeUseNonce
	// Not RFC 6750 codes: a missing role (RFC 6749 §4.1.2.1's word for a
	// refusal) and a token that cannot be checked now (§4.1.2.1 too).
	errAccessDenied           = "access_denied"
	errTemporarilyUnavailable = "temporarily_unavailable"
)

// credentialOf extracts the credential of r: the token of the
// Authorization header with the Bearer scheme (RFC 6750 §2.1) or the DPoP
// scheme (RFC 9449 §7.1, with the request's DPoP headers), or an API key
// in X-API-Key. used is the scheme the request used (Bearer for an API
// key, "" for none or for a request malformed whatever its scheme). No
// credential is (nil, "", ""); a malformed one, or more than one way at
// once (RFC 6750 §3.1: "uses more than one method"), is an error code. A
// token in the query string (RFC 6750 §2.3) is refused: the MCP
// specification forbids it, and URLs end up in logs. The form body (§2.2)
// is never read.
func credentialOf(r *http.Request) (c *credential, used, errCode string) {
	if r.URL.Query().Has("access_token") {
		return nil, "", errInvalidRequest
	}
	auths := r.Header.Values("Authorization")
	keys := r.Header.Values(APIKeyHeader)
	if len(auths)+len(keys) > 1 {
		return nil, "", errInvalidRequest
	}
	if len(keys) == 1 {
		key := strings.TrimSpace(keys[0])
		if key == "" || len(key) > maxTokenBytes || !strings.HasPrefix(key, apiKeyPrefix) || !isB64Token(key) {
			return nil, schemeBearer, errInvalidToken
		}
		return &credential{token: key, apiKey: true}, schemeBearer, ""
	}
	if len(auths) == 0 {
		return nil, "", ""
	}
	token, scheme, ok := parseAuthorization(auths[0])
	if scheme == "" {
		// Another scheme (Basic, ...) is no credential of this server: the
		// request lacks authentication as far as it goes (RFC 6750 §3.1).
		return nil, "", ""
	}
	if !ok {
		return nil, scheme, errInvalidToken
	}
	c = &credential{token: token, apiKey: strings.HasPrefix(token, apiKeyPrefix)}
	if scheme == schemeDPoP {
		// All of them: more than one is refused by the proof check
		// (RFC 9449 §4.3, check 1).
		c.dpop, c.proofs = true, r.Header.Values(dpop.HeaderName)
	}
	return c, scheme, ""
}

// parseAuthorization parses an Authorization header value of the Bearer
// or the DPoP scheme: the scheme (case-insensitive, RFC 9110 §11.1), 1*SP,
// and a b64token (RFC 6750 §2.1; RFC 9449 §7.1's token68 is the same
// characters). scheme is schemeBearer, schemeDPoP, or "" for any other;
// ok reports a well-formed token of at most maxTokenBytes.
func parseAuthorization(v string) (token, scheme string, ok bool) {
	v = strings.Trim(v, " \t")
	name, rest, _ := strings.Cut(v, " ")
	switch {
	case strings.EqualFold(name, schemeBearer):
		scheme = schemeBearer
	case strings.EqualFold(name, schemeDPoP):
		scheme = schemeDPoP
	default:
		return "", "", false
	}
	token = strings.TrimLeft(rest, " ")
	if token == "" || len(token) > maxTokenBytes || !isB64Token(token) {
		return "", scheme, false
	}
	return token, scheme, true
}

// isB64Token reports the b64token syntax of RFC 6750 §2.1:
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isB64Token(s string) bool {
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/') {
			break
		}
	}
	if i == 0 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}

// challenge is one WWW-Authenticate challenge of a refusal: scheme with
// error (RFC 6750 §3, absent when the request had no credential), for
// DPoP the proof algorithms accepted (algs, RFC 9449 §7.1), scope (the
// scopes needed, §3 and MCP 2025-11-25) and resource_metadata (RFC 9728
// §5.1). The scope tokens, algorithm names and URLs (checked at New) hold
// no '"' or '\', so the quoted-strings need no escapes; quote escapes
// anyway.
func challenge(scheme, errCode string, scopes []string, metadataURL string, algs []string) string {
	var params []string
	if errCode != "" {
		params = append(params, `error=`+quote(errCode))
	}
	if len(algs) > 0 {
		params = append(params, `algs=`+quote(strings.Join(algs, " ")))
	}
	if errCode == errInsufficientScope {
		// RFC 6750 §3 puts the error first; the scope then says what is
		// missing, the metadata where to learn more.
		if len(scopes) > 0 {
			params = append(params, `scope=`+quote(strings.Join(scopes, " ")))
		}
		params = append(params, `resource_metadata=`+quote(metadataURL))
	} else {
		params = append(params, `resource_metadata=`+quote(metadataURL))
		if len(scopes) > 0 {
			params = append(params, `scope=`+quote(strings.Join(scopes, " ")))
		}
	}
	return scheme + " " + strings.Join(params, ", ")
}

// challenges are the WWW-Authenticate challenges of a refusal, one per
// scheme the resource takes (RFC 9110 §11.6.1), each its own header field:
// Bearer first (unless RequireDPoP; clients that read only the first
// challenge, as MCP clients do, find the Bearer one they expect), then
// DPoP (RFC 9449 §7.1). errCode goes on the challenge of the scheme the
// request used, or on every one when used is "": a request malformed
// whatever its scheme, or one that had no credential (errCode "").
func (a *Authenticator) challenges(used, errCode string, scopes []string) []string {
	if a.opts.RequireDPoP {
		used = "" // the DPoP challenge is the only one
	}
	on := func(scheme string) string {
		if used == "" || used == scheme {
			return errCode
		}
		return ""
	}
	var out []string
	if !a.opts.RequireDPoP {
		out = append(out, challenge(schemeBearer, on(schemeBearer), scopes, a.metaURL, nil))
	}
	return append(out, challenge(schemeDPoP, on(schemeDPoP), scopes, a.metaURL, a.dpop.Algorithms()))
}

// quote makes a quoted-string (RFC 9110 §5.6.4).
func quote(s string) string {
	if !strings.ContainsAny(s, `"\`) {
		return `"` + s + `"`
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}

// errorDescription describes a refusal: fixed texts, never why a token
// failed (that is logged), so that nothing internal reaches the caller.
func errorDescription(errCode string) string {
	switch errCode {
	case errInvalidRequest:
		return "The request presents credentials in an unsupported way or more than once; send one access token in the Authorization header."
	case errInvalidToken:
		return "The access token is missing, malformed, expired, revoked, or not for this resource."
	case errInsufficientScope:
		return "The access token lacks a scope this request needs."
	case errAccessDenied:
		return "The caller may not use this resource."
	case errTemporarilyUnavailable:
		return "The access token cannot be checked right now; try again later."
	case errInvalidDPoPProof:
		return "The DPoP proof is missing, malformed, reused, too old, or does not match this request, this access token or the key it is bound to."
	case errUseDPoPNonce:
		return "The DPoP proof must carry the nonce of this response's DPoP-Nonce header."
	}
	return "This resource needs an access token in the Authorization header."
}

// writeRefusal answers a request that failed authentication or
// authorization: the status, the challenges (none for a 403 of a missing
// role, nor a 503) and a small JSON body with the error.
func writeRefusal(w http.ResponseWriter, status int, errCode string, challenges []string) {
	h := w.Header()
	for _, c := range challenges {
		h.Add("WWW-Authenticate", c)
	}
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	if status == http.StatusServiceUnavailable {
		h.Set("Retry-After", "5")
	}
	body := map[string]string{"error_description": errorDescription(errCode)}
	if errCode != "" {
		body["error"] = errCode
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
