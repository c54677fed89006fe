package provider

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	josev3 "github.com/go-jose/go-jose/v3"
	josev4 "github.com/go-jose/go-jose/v4"
	"github.com/ory/fosite"

	"github.com/gatehouse-dev/gatehouse/provider/clientjwks"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// Request objects (RFC 9101, JWT-Secured Authorization Request; OpenID
// Connect Core §6.1): an authorization request whose parameters come as a
// JWT the client signed, in the request parameter, at the authorization
// endpoint or at the PAR endpoint (RFC 9126 §3).
//
// gatehouse verifies the request object itself, before fosite sees the
// request, and hands fosite a plain request made of the request object's
// parameters, as it does for a pushed request. fosite v0.49's own support
// (authorizeRequestParametersFromOpenIDConnectRequest) is not used: it
// merges the query's parameters with the request object's (RFC 9101 §6.3
// forbids that), copies the JWT claims iss, aud and exp into the request,
// turns a claims object into Go's %s rendering of a map, skips request
// objects unless the query's scope has openid, and would fetch request_uri
// from anywhere. Doing it first also means that everything after —
// gatehouse's checks, the flow stored for the sign-in pages and the
// request rebuilt from it (ResumeAuthorizeRequest), PAR's stored form —
// sees the resolved parameters, never the JWT.
//
// Which parameters count. RFC 9101 §6.3: the authorization server MUST use
// only the parameters in the request object, even when the same parameter
// is also in the query; client_id must be in the query and equal the
// request object's. OpenID Connect Core §6.1 (written before RFC 9101)
// asks OpenID clients to repeat response_type and scope (with openid) in
// the query and lets a request object carry only some parameters, the
// others coming from the query. gatehouse follows RFC 9101: a signed
// request must not be completed by unsigned parameters (the reason RFC
// 9101 §5 gives for the rule; FAPI 1.0 Advanced §5.2.2 and FAPI 2.0
// Message Signing take the same position). OpenID Connect's rule becomes a
// consistency check: a response_type in the query must equal the request
// object's, and a query scope with openid needs openid in the request
// object's scope too, so that the query never says something the request
// does not mean. Clients that follow OpenID Connect to the letter (both
// in the query and in the request object) therefore work, and so do RFC
// 9101 clients that send only client_id and request.

// RequestObjectAlgs are the JWS algorithms a request object may be signed
// with: the asymmetric ones fosite and go-jose verify, as for
// private_key_jwt. Never "none" (an unsigned request object proves
// nothing), and never HMAC with the client secret (HS256...): gatehouse
// keeps only a keyed hash of client secrets, so it could not verify one,
// and a shared secret would let the server forge the client's requests
// (RFC 8725 §3.1, §3.2; RFC 9101 §10.2 on request object integrity).
var RequestObjectAlgs = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}

// MaxRequestObjectLifetime bounds a request object's validity: exp at most
// this far in the future, nbf at most this far in the past. FAPI 1.0
// Advanced §5.2.2 (items 13 and 17) requires exactly this (60 minutes);
// RFC 9101 itself leaves it to the server. exp and nbf stay optional
// (RFC 9101 §4 does not require them): OpenID Connect clients commonly
// send neither.
const MaxRequestObjectLifetime = time.Hour

// maxRequestObjectLen bounds the request object gatehouse decodes.
const maxRequestObjectLen = 64 << 10

// requestObjectType is the explicit JWT type of a request object (RFC 9101
// §10.8, RFC 8725 §3.11).
const requestObjectType = "oauth-authz-req+jwt"

// jwtOnlyClaims are the JWT claims of a request object that are not
// authorization request parameters: they are checked, not passed on.
var jwtOnlyClaims = []string{"iss", "aud", "exp", "nbf", "iat", "jti", "sub"}

// errNoClientKeys answers a request object from a client that registered
// no keys to verify it with.
var errNoClientKeys = fosite.ErrInvalidRequestObject.WithHint("The client has no registered keys (jwks or jwks_uri) to verify a request object with.")

// requestObjectRequest verifies the request object of form (the parameters
// of an authorization request, with request and client_id) for client and
// returns the authorization request it stands for: its parameters and
// client_id, as a GET of the authorization endpoint.
func (p *Provider) requestObjectRequest(ctx context.Context, client *storage.Client, form url.Values) (*http.Request, error) {
	params, err := p.requestObjectParams(ctx, client, form.Get("request"))
	if err != nil {
		return nil, err
	}
	if err := consistentWithQuery(form, params); err != nil {
		return nil, err
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, p.opts.Issuer+PathAuthorize+"?"+params.Encode(), nil)
	if err != nil {
		return nil, fmt.Errorf("provider: rebuild request object request: %w", err)
	}
	return r, nil
}

// requestObjectParams verifies raw, a request object of client, and
// returns the authorization request parameters it carries, with
// client_id.
func (p *Provider) requestObjectParams(ctx context.Context, client *storage.Client, raw string) (url.Values, error) {
	if len(raw) > maxRequestObjectLen {
		return nil, fosite.ErrInvalidRequestObject.WithHintf("The request object is longer than %d bytes.", maxRequestObjectLen)
	}
	if strings.Count(raw, ".") == 4 {
		return nil, fosite.ErrInvalidRequestObject.WithHint("Encrypted request objects are not supported; send a signed one.")
	}
	header, err := requestObjectHeader(raw)
	if err != nil {
		return nil, err
	}
	if err := checkRequestObjectAlg(client, header.Alg); err != nil {
		return nil, err
	}
	if header.Typ != "" && !strings.EqualFold(header.Typ, requestObjectType) && !strings.EqualFold(header.Typ, "JWT") {
		return nil, fosite.ErrInvalidRequestObject.WithHintf("The request object has typ %q; a request object is typed %q (RFC 9101 §10.8).", header.Typ, requestObjectType)
	}
	jws, err := josev4.ParseSignedCompact(raw, []josev4.SignatureAlgorithm{josev4.SignatureAlgorithm(header.Alg)})
	if err != nil {
		return nil, fosite.ErrInvalidRequestObject.WithHint("The request object is not a well-formed signed JWT.").WithWrap(err).WithDebug(err.Error())
	}
	payload, err := p.verifyRequestObject(ctx, client, jws, header.Kid)
	if err != nil {
		return nil, err
	}
	claims, err := decodeRequestObjectClaims(payload)
	if err != nil {
		return nil, err
	}
	if err := p.checkRequestObjectClaims(client.ID, claims); err != nil {
		return nil, err
	}
	return requestObjectForm(client.ID, claims)
}

// joseHeader is the part of a JWS header read before verification.
type joseHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ"`
}

// requestObjectHeader decodes the protected header of a compact JWS, so
// that a wrong algorithm is answered with what is wrong rather than with
// go-jose's "unexpected signature algorithm".
func requestObjectHeader(raw string) (joseHeader, error) {
	var h joseHeader
	encoded, _, ok := strings.Cut(raw, ".")
	if !ok {
		return h, fosite.ErrInvalidRequestObject.WithHint("The request object is not a JWT.")
	}
	b, err := base64.RawURLEncoding.DecodeString(encoded)
	if err != nil || json.Unmarshal(b, &h) != nil {
		return h, fosite.ErrInvalidRequestObject.WithHint("The request object's header is not base64url-encoded JSON.")
	}
	return h, nil
}

// checkRequestObjectAlg refuses an algorithm the client may not sign its
// request objects with: none, HMAC, anything not in RequestObjectAlgs, or
// another than the client registered (OpenID Connect Registration §2:
// "All Request Objects from this Client MUST be rejected, if not signed
// with this algorithm").
func checkRequestObjectAlg(client *storage.Client, alg string) error {
	switch {
	case strings.EqualFold(alg, "none"):
		return fosite.ErrInvalidRequestObject.WithHint("The request object is unsigned (alg none); request objects must be signed with a key the client registered.")
	case strings.HasPrefix(alg, "HS"):
		return fosite.ErrInvalidRequestObject.WithHintf("The request object is signed with %s, a shared secret; sign it with the private key of a key the client registered (%s).", alg, strings.Join(RequestObjectAlgs, ", "))
	case client.RequestObjectSigningAlg != "" && alg != client.RequestObjectSigningAlg:
		return fosite.ErrInvalidRequestObject.WithHintf("The request object is signed with %s, but the client registered request_object_signing_alg %s.", alg, client.RequestObjectSigningAlg)
	case !slices.Contains(RequestObjectAlgs, alg):
		return fosite.ErrInvalidRequestObject.WithHintf("The request object's signing algorithm %q is not supported (use one of %s).", alg, strings.Join(RequestObjectAlgs, ", "))
	}
	return nil
}

// verifyRequestObject checks the signature of jws with the client's
// registered keys (inline jwks, or jwks_uri through the same fetcher as
// private_key_jwt) and returns its payload. Keys published at a URL are
// fetched again, once, when none verifies: the client may have rotated
// them since they were cached.
func (p *Provider) verifyRequestObject(ctx context.Context, client *storage.Client, jws *josev4.JSONWebSignature, kid string) ([]byte, error) {
	if client.GetJSONWebKeys() == nil && client.JWKSURI == "" {
		return nil, errNoClientKeys
	}
	for _, refetch := range []bool{false, true} {
		if refetch && client.JWKSURI == "" {
			break
		}
		set, err := p.clientKeySet(ctx, client, refetch)
		if err != nil {
			return nil, err
		}
		candidates := set.Keys
		if kid != "" {
			candidates = set.Key(kid)
		}
		for _, k := range candidates {
			if k.Use != "" && k.Use != "sig" {
				continue
			}
			switch k.Key.(type) {
			case *rsa.PublicKey, *ecdsa.PublicKey:
			default:
				continue
			}
			if payload, err := jws.Verify(k.Key); err == nil {
				return payload, nil
			}
		}
	}
	if kid != "" {
		return nil, fosite.ErrInvalidRequestObject.WithHintf("The request object's signature does not verify with the client's key %q (or the client has no such key).", kid)
	}
	return nil, fosite.ErrInvalidRequestObject.WithHint("The request object's signature does not verify with any key the client registered.")
}

// clientKeySet returns the client's public keys: the registered set, or
// the one at its jwks_uri (refetched, past the cache, when refetch).
func (p *Provider) clientKeySet(ctx context.Context, client *storage.Client, refetch bool) (*josev3.JSONWebKeySet, error) {
	if set := client.GetJSONWebKeys(); set != nil {
		return set, nil
	}
	set, err := p.jwksFetcher.Resolve(ctx, client.JWKSURI, refetch)
	if err != nil {
		if errors.Is(err, storage.ErrUnavailable) || errors.Is(ctx.Err(), context.Canceled) {
			return nil, err
		}
		rfc := fosite.ErrorToRFC6749Error(err)
		return nil, fosite.ErrInvalidRequestObject.WithHintf("The client's keys could not be fetched from its jwks_uri: %s", rfc.GetDescription()).WithWrap(err)
	}
	return set, nil
}

// decodeRequestObjectClaims decodes a verified payload: a JSON object,
// numbers kept as written (max_age must reach fosite as "3600", not
// "3.6e+03").
func decodeRequestObjectClaims(payload []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var claims map[string]any
	if err := dec.Decode(&claims); err != nil || claims == nil || dec.More() {
		return nil, fosite.ErrInvalidRequestObject.WithHint("The request object's payload is not a JSON object.")
	}
	return claims, nil
}

// checkRequestObjectClaims checks what binds a verified request object to
// this client, this server and this moment (RFC 9101 §4, §6.3; the
// lifetime bound of FAPI 1.0 Advanced §5.2.2).
func (p *Provider) checkRequestObjectClaims(clientID string, claims map[string]any) error {
	if iss, _ := claims["iss"].(string); iss != clientID {
		return fosite.ErrInvalidRequestObject.WithHint("The request object's iss must be the client's client_id.")
	}
	if !audienceHas(claims["aud"], p.opts.Issuer) {
		return fosite.ErrInvalidRequestObject.WithHintf("The request object's aud must be the issuer %s.", p.opts.Issuer)
	}
	if v, ok := claims["client_id"]; ok {
		if id, _ := v.(string); id != clientID {
			return fosite.ErrInvalidRequestObject.WithHint("The request object's client_id differs from the request's client_id.")
		}
	}
	for _, k := range []string{"request", "request_uri"} {
		if _, ok := claims[k]; ok {
			// RFC 9101 §4: they MUST NOT be included in request objects.
			return fosite.ErrInvalidRequestObject.WithHintf("A request object must not contain %s.", k)
		}
	}
	now := p.now()
	skew := clientjwks.AssertionClockSkew
	if v, ok := claims["exp"]; ok {
		exp, ok := numericDate(v)
		switch {
		case !ok:
			return fosite.ErrInvalidRequestObject.WithHint("The request object's exp is not a number.")
		case !now.Before(exp.Add(skew)):
			return fosite.ErrInvalidRequestObject.WithHint("The request object has expired.")
		case exp.After(now.Add(MaxRequestObjectLifetime + skew)):
			return fosite.ErrInvalidRequestObject.WithHintf("The request object's exp is more than %s in the future.", MaxRequestObjectLifetime)
		}
	}
	if v, ok := claims["nbf"]; ok {
		nbf, ok := numericDate(v)
		switch {
		case !ok:
			return fosite.ErrInvalidRequestObject.WithHint("The request object's nbf is not a number.")
		case nbf.After(now.Add(skew)):
			return fosite.ErrInvalidRequestObject.WithHint("The request object is not valid yet (nbf).")
		case nbf.Before(now.Add(-MaxRequestObjectLifetime)):
			return fosite.ErrInvalidRequestObject.WithHintf("The request object's nbf is more than %s in the past.", MaxRequestObjectLifetime)
		}
	}
	return nil
}

// audienceHas reports whether a JWT aud (a string or an array of strings)
// names want.
func audienceHas(aud any, want string) bool {
	switch v := aud.(type) {
	case string:
		return v == want
	case []any:
		for _, a := range v {
			if s, ok := a.(string); ok && s == want {
				return true
			}
		}
	}
	return false
}

// numericDate reads a JWT NumericDate (seconds since the epoch, RFC 7519
// §2) decoded with UseNumber.
func numericDate(v any) (time.Time, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return time.Time{}, false
	}
	f, err := n.Float64()
	if err != nil || f < 0 || f > 1<<40 {
		return time.Time{}, false
	}
	return time.Unix(int64(f), 0), true
}

// requestObjectForm turns the claims of a verified request object into
// authorization request parameters: strings as they are, numbers as
// written, booleans as true/false, an array of strings as repeated values
// (resource, RFC 8707), and any other JSON value (claims, an object) as
// its JSON text, which is how it travels in a query. The JWT's own claims
// are left out; client_id is the request's.
func requestObjectForm(clientID string, claims map[string]any) (url.Values, error) {
	form := url.Values{}
	for k, v := range claims {
		if slices.Contains(jwtOnlyClaims, k) || k == "client_id" {
			continue
		}
		switch v := v.(type) {
		case nil:
		case string:
			form.Set(k, v)
		case json.Number:
			form.Set(k, v.String())
		case bool:
			form.Set(k, fmt.Sprint(v))
		default:
			if arr, ok := v.([]any); ok {
				if all := stringsOf(arr); all != nil {
					form[k] = all
					break
				}
			}
			b, err := json.Marshal(v)
			if err != nil {
				return nil, fosite.ErrInvalidRequestObject.WithHintf("The request object's %s cannot be read.", k)
			}
			form.Set(k, string(b))
		}
	}
	form.Set("client_id", clientID)
	return form, nil
}

// stringsOf returns the elements of v if every one is a string, else nil.
func stringsOf(v []any) []string {
	out := make([]string, 0, len(v))
	for _, e := range v {
		s, ok := e.(string)
		if !ok {
			return nil
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// consistentWithQuery applies OpenID Connect Core §6.1 to a request whose
// parameters come from a request object (params): the query's
// response_type, when it has one, must be the request object's, and a
// query scope with openid needs openid in the request object's scope. The
// query's values are never used (RFC 9101 §6.3).
func consistentWithQuery(query, params url.Values) error {
	if rt := query.Get("response_type"); rt != "" && !sameWords(rt, params.Get("response_type")) {
		return fosite.ErrInvalidRequestObject.WithHint("The response_type in the query differs from the request object's (OpenID Connect Core §6.1).")
	}
	if fosite.Arguments(strings.Fields(query.Get("scope"))).Has(ScopeOpenID) &&
		!fosite.Arguments(strings.Fields(params.Get("scope"))).Has(ScopeOpenID) {
		return fosite.ErrInvalidRequestObject.WithHint("The query's scope has openid but the request object's scope does not (OpenID Connect Core §6.1).")
	}
	return nil
}

// sameWords reports whether two space-separated lists hold the same words.
func sameWords(a, b string) bool {
	x, y := strings.Fields(a), strings.Fields(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

// errorRoutingForm is what the answer to a refused request object is
// routed by: the query without request and request_uri, with the
// redirect_uri, state, response_type and response_mode the request object
// names when its payload can be read at all. They are not trusted for
// anything else: the redirect URI must still be one the client registered
// (fosite and redirectURIAllowed check it), exactly as for an unsigned
// request, and anyone could send those.
func errorRoutingForm(form url.Values) url.Values {
	out := url.Values{}
	for k, v := range form {
		if k != "request" && k != "request_uri" {
			out[k] = v
		}
	}
	raw := form.Get("request")
	if raw == "" || len(raw) > maxRequestObjectLen {
		return out
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return out
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return out
	}
	var claims map[string]any
	if json.Unmarshal(b, &claims) != nil {
		return out
	}
	for _, k := range []string{"redirect_uri", "state", "response_type", "response_mode"} {
		if s, ok := claims[k].(string); ok && s != "" {
			out.Set(k, s)
		}
	}
	if s, ok := claims["scope"].(string); ok && !out.Has("scope") {
		out.Set("scope", s)
	}
	return out
}

// refusedAuthorizeRequest returns err with the authorization request that
// form describes as far as fosite validates it (the client and a
// registered redirect URI), so that the error goes where an error of that
// request would go: to the client's redirect URI when it is a verified
// one, or on a page. fosite's own complaint about form is not the answer.
func (p *Provider) refusedAuthorizeRequest(ctx context.Context, form url.Values, err error) (fosite.AuthorizeRequester, error) {
	r, rerr := http.NewRequestWithContext(ctx, http.MethodGet, p.opts.Issuer+PathAuthorize+"?"+form.Encode(), nil)
	if rerr != nil {
		return nil, err
	}
	ar, _ := p.oauth2.NewAuthorizeRequest(ctx, r)
	return ar, err
}

// pushedRequestObject resolves the request object of a pushed
// authorization request (RFC 9126 §3 allows one) into the request fosite
// validates: the request object's parameters plus the client's credentials
// from the original form (the client authenticates as usual). A request
// without a request object is returned as it is.
func (p *Provider) pushedRequestObject(ctx context.Context, r *http.Request) (*http.Request, error) {
	if err := r.ParseMultipartForm(1 << 20); err != nil && !errors.Is(err, http.ErrNotMultipart) {
		return r, nil // fosite answers it
	}
	if r.Form.Get("request") == "" || r.Form.Get("request_uri") != "" {
		return r, nil // fosite refuses request_uri at PAR
	}
	clientID := r.Form.Get("client_id")
	if clientID == "" {
		if user, _, ok := r.BasicAuth(); ok {
			clientID, _ = url.QueryUnescape(user)
		}
	}
	client, err := p.store.ClientByID(ctx, clientID)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && clientID == "") {
		return nil, fosite.ErrInvalidClient.WithHint("The requested OAuth 2.0 Client does not exist.")
	} else if err != nil {
		return nil, err
	}
	params, err := p.requestObjectParams(ctx, client, r.Form.Get("request"))
	if err != nil {
		return nil, err
	}
	if err := consistentWithQuery(r.Form, params); err != nil {
		return nil, err
	}
	for _, k := range []string{"client_id", "client_secret", "client_assertion", "client_assertion_type"} {
		if v, ok := r.PostForm[k]; ok {
			params[k] = v
		}
	}
	if r.Form.Get("client_id") == "" {
		params.Del("client_id")
	}
	rebuilt := r.Clone(ctx)
	rebuilt.Form, rebuilt.PostForm = params, params
	return rebuilt, nil
}

// requestObjectAuthorizeRequest resolves the request object of an
// authorization request (form) into the request it stands for. The client
// is the one client_id names, which must be in the query (RFC 9101 §5).
func (p *Provider) requestObjectAuthorizeRequest(ctx context.Context, form url.Values) (*http.Request, error) {
	clientID := form.Get("client_id")
	if clientID == "" {
		return nil, fosite.ErrInvalidRequest.WithHint("A request with a request object must also carry client_id (RFC 9101 §5).")
	}
	client, err := p.store.ClientByID(ctx, clientID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fosite.ErrInvalidClient.WithHint("The requested OAuth 2.0 Client does not exist.")
	} else if err != nil {
		return nil, err
	}
	return p.requestObjectRequest(ctx, client, form)
}
