package main

// A relying party that behaves as the OpenID Foundation's conformance
// suite (https://gitlab.com/openid/conformance-suite, the Java modules in
// net.openid.conformance.openid) behaves towards an OP with statically
// registered clients: the requests it sends, and the checks it makes on
// what comes back, condition by condition. The plan tests
// (conformance_*_test.go) run each module of the certification plans with
// it; docs/conformance.md maps every module to its subtest.
//
// The clients are registered exactly as docs/conformance.md tells an
// operator to register the suite's static clients: confidential, PKCE
// optional (the suite sends PKCE in one module only), the suite's
// callback and post_logout_redirect URIs.

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"math"
	"math/big"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/internal/clocktest"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// suiteBaseURL is the suite's base URL for a test plan whose alias is
// "gatehouse" (a local suite); its URIs are base_url + /callback and
// base_url + /post_logout_redirect (suiteOP.redirect,
// suiteOP.postLogoutRedirect). The browser stops at a redirect leaving the
// server, so nothing needs to answer there; the logout channel plans,
// whose back-channel URI gatehouse calls, put the base on a loopback
// server of the test (newSuiteRP).
const suiteBaseURL = "https://localhost.emobix.co.uk:8443/test/a/gatehouse"

// formTag is the opening tag of a page's form.
var formTag = regexp.MustCompile(`<form [^>]*>`)

// suiteScopes are the scopes the suite's clients are registered with
// (docs/conformance.md); the suite asks for openid, profile, email and
// offline_access (and address and phone, which gatehouse does not offer).
var suiteScopes = []string{"openid", "profile", "email", "offline_access"}

// suiteClient is one of the suite's static clients with its secret.
type suiteClient struct {
	*storage.Client
	secret string
}

// suiteOP is gatehouse as the suite sees it: the discovery document and
// the three static clients of the suite's configuration (client,
// client2 for the refresh token module, client_secret_post), registered
// with the URIs under the plan's base URL.
type suiteOP struct {
	s       *testServer
	op      *oidc.Provider
	meta    map[string]any
	client  suiteClient // config "client": client_secret_basic
	client2 suiteClient // config "client2": client_secret_basic
	post    suiteClient // config "client_secret_post"
	user    *storage.User
	// redirect and postLogoutRedirect are the suite's URIs
	// (CreateRedirectUri, CreatePostLogoutRedirectUri): base_url +
	// /callback and base_url + /post_logout_redirect.
	redirect, postLogoutRedirect string
	// responseMode is the plan's ResponseMode variant: "" (default, the
	// query for the code flow) or "form_post" (AbstractFormPostTestPlan:
	// SetAuthorizationEndpointRequestResponseModeToFormPost in every
	// authorization request).
	responseMode string
}

// allowManySignIns lets one test sign in more often than a person would
// in a minute: a plan signs in some forty times from one address, within
// seconds (a person running the suite takes minutes per module).
func allowManySignIns(c *config.Config) {
	c.RateLimits.LoginPerIP = config.Limit{Rate: 1000, Burst: 1000, Period: time.Minute}
}

// newSuiteOP registers the suite's clients and a person on s and reads
// discovery as the suite does (GetDynamicServerConfiguration).
func newSuiteOP(t *testing.T, s *testServer) *suiteOP {
	t.Helper()
	return newSuiteOPAt(t, s, suiteBaseURL, nil)
}

// newSuiteOPAt is newSuiteOP for a suite whose base URL is base, with
// configure adding to each client's registration what a plan asks for
// (its logout URIs).
func newSuiteOPAt(t *testing.T, s *testServer, base string, configure func(*admin.ClientSpec)) *suiteOP {
	t.Helper()
	ctx := context.Background()
	op, err := oidc.NewProvider(ctx, s.issuer)
	if err != nil {
		t.Fatal(err)
	}
	var meta map[string]any
	if err := op.Claims(&meta); err != nil {
		t.Fatal(err)
	}
	redirect, postLogoutRedirect := base+"/callback", base+"/post_logout_redirect"
	register := func(name, method string) suiteClient {
		spec := admin.ClientSpec{
			Name: name, RedirectURIs: []string{redirect}, PostLogoutRedirectURIs: []string{postLogoutRedirect},
			Scopes: suiteScopes, TokenEndpointAuthMethod: method, PKCEOptional: true,
		}
		if configure != nil {
			configure(&spec)
		}
		c, secret := s.client(spec)
		return suiteClient{Client: c, secret: secret}
	}
	return &suiteOP{
		s: s, op: op, meta: meta, redirect: redirect, postLogoutRedirect: postLogoutRedirect,
		client:  register("OpenID conformance suite", provider.AuthMethodBasic),
		client2: register("OpenID conformance suite (client2)", provider.AuthMethodBasic),
		post:    register("OpenID conformance suite (client_secret_post)", provider.AuthMethodPost),
		user:    s.user("buffy@example.com", alicePassword),
	}
}

// endpoint is a URL of the discovery document (the suite calls only
// what discovery names).
func (o *suiteOP) endpoint(name string) string {
	u, _ := o.meta[name].(string)
	return u
}

// authorizeURL is the discovered authorization endpoint with req.
func (o *suiteOP) authorizeURL(req url.Values) string {
	return o.endpoint("authorization_endpoint") + "?" + req.Encode()
}

// checkIss is ValidateIssIfPresentInAuthorizationResponse, stricter: the
// discovery document says authorization_response_iss_parameter_supported,
// so iss must be there (RFC 9207 §2.4), and be the issuer.
func (o *suiteOP) checkIss(t *testing.T, cb url.Values) {
	t.Helper()
	if o.meta["authorization_response_iss_parameter_supported"] == true && !cb.Has("iss") {
		t.Errorf("callback %v without iss, though discovery says authorization_response_iss_parameter_supported", cb)
	}
	if iss := cb.Get("iss"); cb.Has("iss") && iss != o.s.issuer {
		t.Errorf("callback iss %q, want %q", iss, o.s.issuer)
	}
}

// suiteValue is a state or nonce as the suite makes one longer than 10
// characters (CreateRandomStateValue, CreateRandomNonceValue):
// alphanumerics and then "-._~", every URL-safe character.
func suiteValue(t *testing.T, n int) string {
	t.Helper()
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n-4)
	for i := range b {
		k, err := rand.Int(rand.Reader, big.NewInt(int64(len(alnum))))
		if err != nil {
			t.Fatal(err)
		}
		b[i] = alnum[k.Int64()]
	}
	return string(b) + "-._~"
}

// authRequest is the suite's authorization request
// (CreateAuthorizationRequestSteps): client_id, redirect_uri, scope,
// state, nonce, response_type=code and, in a form post plan,
// response_mode=form_post; extra pairs are added or, with an empty value,
// removed.
func (o *suiteOP) authRequest(t *testing.T, c suiteClient, scope string, extra ...string) url.Values {
	t.Helper()
	v := url.Values{
		"client_id": {c.ID}, "redirect_uri": {o.redirect}, "scope": {scope},
		"state": {suiteValue(t, 16)}, "nonce": {suiteValue(t, 16)}, "response_type": {"code"},
	}
	if o.responseMode != "" {
		v.Set("response_mode", o.responseMode)
	}
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i+1] == "" {
			v.Del(extra[i])
		} else {
			v.Set(extra[i], extra[i+1])
		}
	}
	return v
}

// signIn sends the browser to the authorization endpoint with req and
// through the login and consent pages (as the person at the suite's
// browser does) and returns the callback.
func (o *suiteOP) signIn(t *testing.T, b *browser, req url.Values) url.Values {
	t.Helper()
	return o.signInAs(t, b, req, o.user.Email)
}

// signInAs is signIn as the person with email. A request that needs a
// second factor from a person without one (acr_values) sets up an
// authenticator on the way, as the person would; then the person has one,
// so the plans use a person of their own for it.
func (o *suiteOP) signInAs(t *testing.T, b *browser, req url.Values, email string) url.Values {
	t.Helper()
	p := b.get(o.authorizeURL(req))
	if p.isLoginPage() {
		p = b.login(p, email, alicePassword)
	}
	if p.isSecondFactorPage("enrol") {
		_, p = enrolOnSecondFactorPage(t, b, p, clocktest.New(time.Now()))
	}
	if p.isConsentPage() {
		p = b.consent(p, "allow")
	}
	return o.callback(t, p, req)
}

// callback is what the suite's callback endpoint receives when the
// browser leaves gatehouse at p, the answer to req, and returns the
// authorization response's parameters, success or error.
//
// In the query (the code flow's default) the browser is redirected to
// the redirect_uri with the parameters in the query
// (callback_query_params).
//
// With response_mode=form_post the page is a form the browser posts to the
// redirect_uri, and the suite's processCallback then checks
// CheckCallbackHttpMethodIsPost, CheckCallbackContentTypeIsFormUrlEncoded
// (OAuth 2.0 Form Post Response Mode §2), RejectAuthCodeInUrlQuery and
// RejectErrorInUrlQuery, and reads the body (callback_body_form_params).
// The Go browser runs no script, so the test reads the form as the browser
// submits it (HTML's form submission: method post, no enctype, so
// application/x-www-form-urlencoded; the hidden inputs are the body; the
// action is the URL); wantFormPost checks the page itself (its CSP allows
// the one script that submits it). form_post_browser_test.go submits such
// a page in Chromium.
func (o *suiteOP) callback(t *testing.T, p *page, req url.Values) url.Values {
	t.Helper()
	redirect := req.Get("redirect_uri")
	if req.Get("response_mode") == "form_post" {
		params := wantFormPost(t, "form_post response", p, redirect)
		form := formTag.FindString(p.body)
		// CheckCallbackHttpMethodIsPost, CheckCallbackContentTypeIsFormUrlEncoded.
		if !strings.Contains(form, `method="post"`) || strings.Contains(form, "enctype=") {
			t.Errorf("form_post form %s: want method post, urlencoded", form)
		}
		// RejectAuthCodeInUrlQuery, RejectErrorInUrlQuery: the posted URL
		// (the action, the redirect URI) carries neither.
		if u, err := url.Parse(htmlUnescape(formAction.FindStringSubmatch(p.body)[1])); err != nil || u.Query().Has("code") || u.Query().Has("error") {
			t.Errorf("form_post action %q carries the response in its query", u)
		}
		if p.location != "" {
			t.Errorf("form_post answered with a redirect to %s", p.location)
		}
		return params
	}
	if p.status != http.StatusSeeOther && p.status != http.StatusFound {
		t.Fatalf("want a redirect to %s, got %d at %s: %.500s", redirect, p.status, p.url, p.body)
	}
	u, err := url.Parse(p.location)
	if err != nil || u.Scheme+"://"+u.Host+u.Path != redirect || u.Fragment != "" {
		t.Fatalf("redirect to %q, want %s with the response in the query", p.location, redirect)
	}
	return u.Query()
}

// checkSuccessCallback is onAuthorizationCallbackResponse for a success:
// iss is the issuer when present (ValidateIssIfPresentInAuthorizationResponse),
// no error (CheckIfAuthorizationEndpointError), the state sent
// (CheckStateInAuthorizationResponse), a code
// (ExtractAuthorizationCodeFromAuthorizationResponse) of at least 128 bits
// and 96 bits of Shannon entropy (EnsureMinimumAuthorizationCodeLength,
// EnsureMinimumAuthorizationCodeEntropy, oidcc-server).
func (o *suiteOP) checkSuccessCallback(t *testing.T, cb, req url.Values) string {
	t.Helper()
	o.checkIss(t, cb)
	if cb.Get("error") != "" {
		t.Fatalf("callback error %q: %s", cb.Get("error"), cb.Get("error_description"))
	}
	if cb.Get("state") != req.Get("state") {
		t.Errorf("callback state %q, want %q", cb.Get("state"), req.Get("state"))
	}
	code := cb.Get("code")
	if len(code)*8 < 128 {
		t.Errorf("code %q is shorter than 128 bits", code)
	}
	if e := shannonBits(code); e <= 96 {
		t.Errorf("code %q has %.1f bits of Shannon entropy, want more than 96", code, e)
	}
	return code
}

// checkErrorCallback is performGenericAuthorizationEndpointErrorResponseValidation:
// an answer to the client (in req's response mode: callback) with the
// state sent, iss when present, an error, no code, only the parameters an
// error response has, and an error_description (when present) of the
// characters RFC 6749 §4.1.2.1 allows. It returns the error code.
func (o *suiteOP) checkErrorCallback(t *testing.T, p *page, req url.Values) string {
	t.Helper()
	cb := o.callback(t, p, req)
	if cb.Get("state") != req.Get("state") {
		t.Errorf("error callback state %q, want %q", cb.Get("state"), req.Get("state"))
	}
	o.checkIss(t, cb)
	if cb.Get("error") == "" || cb.Has("code") {
		t.Errorf("error callback %v: want an error and no code", cb)
	}
	for k := range cb {
		if !slices.Contains([]string{"error", "error_description", "error_uri", "state", "iss"}, k) {
			t.Errorf("error callback has unexpected parameter %q", k)
		}
	}
	for _, r := range cb.Get("error_description") {
		// RFC 6749 §4.1.2.1: %x20-21 / %x23-5B / %x5D-7E.
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			t.Errorf("error_description has character %q outside RFC 6749 §4.1.2.1", r)
			break
		}
	}
	return cb.Get("error")
}

// tokenResponse is the token endpoint's answer.
type tokenResponse struct {
	status int
	header http.Header
	body   map[string]any
}

func (r tokenResponse) str(k string) string { s, _ := r.body[k].(string); return s }

// token calls the token endpoint as the suite does
// (CallTokenEndpointAndReturnFullResponse), authenticating c with its
// registered method (AddBasicAuthClientSecretToRequest,
// AddFormBasedClientSecretToRequest).
func (o *suiteOP) token(t *testing.T, c suiteClient, form url.Values) tokenResponse {
	t.Helper()
	user, pass := c.ID, c.secret
	if c.TokenEndpointAuthMethod == provider.AuthMethodPost {
		form.Set("client_id", c.ID)
		form.Set("client_secret", c.secret)
		user, pass = "", ""
	}
	status, body, header := postForm(t, o.endpoint("token_endpoint"), form, user, pass)
	return tokenResponse{status: status, header: header, body: body}
}

// exchange redeems code and checks the answer as requestAuthorizationCode
// does: 200 (CheckTokenEndpointHttpStatus200), no error, a bearer access
// token, expires_in a positive number (ValidateExpiresIn), an ID token
// (ExtractIdTokenFromTokenResponse), not cacheable
// (CheckTokenEndpointCacheHeaders).
func (o *suiteOP) exchange(t *testing.T, c suiteClient, code string, extra ...string) tokenResponse {
	t.Helper()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {o.redirect}}
	for i := 0; i+1 < len(extra); i += 2 {
		form.Set(extra[i], extra[i+1])
	}
	r := o.token(t, c, form)
	o.checkTokenResponse(t, r)
	if r.str("id_token") == "" {
		t.Fatalf("token response without an id_token: %v", r.body)
	}
	return r
}

// checkTokenResponse is the part of the checks common to the code and the
// refresh grant.
func (o *suiteOP) checkTokenResponse(t *testing.T, r tokenResponse) {
	t.Helper()
	if r.status != http.StatusOK || r.body["error"] != nil {
		t.Fatalf("token endpoint: %d %v", r.status, r.body)
	}
	if !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Errorf("token endpoint Content-Type %q", r.header.Get("Content-Type"))
	}
	if r.str("access_token") == "" || !strings.EqualFold(r.str("token_type"), "Bearer") {
		t.Errorf("token response: access_token %q, token_type %q", r.str("access_token"), r.str("token_type"))
	}
	if exp, ok := r.body["expires_in"].(float64); !ok || exp <= 0 {
		t.Errorf("token response expires_in %v", r.body["expires_in"])
	}
	if cc := r.header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("token response Cache-Control %q, want no-store", cc)
	}
}

// idTokenClaimsAllowed are the claims EnsureIdTokenDoesNotContainNonRequestedClaims
// accepts in an ID token without a scope asking for more.
var idTokenClaimsAllowed = []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "azp",
	"at_hash", "c_hash", "nbf", "jti", "sid", "s_hash"}

// scopeClaims are the claims each scope stands for
// (AbstractVerifyScopesReturnedInClaims.SCOPE_STANDARD_CLAIMS).
var scopeClaims = map[string][]string{
	"openid":  {"sub"},
	"profile": {"name", "given_name", "family_name", "middle_name", "nickname", "profile", "picture", "website", "gender", "birthdate", "zoneinfo", "locale", "updated_at", "preferred_username"},
	"email":   {"email", "email_verified"},
	"address": {"address"},
	"phone":   {"phone_number", "phone_number_verified"},
}

// idToken is a verified ID token with its claims and header.
type idToken struct {
	*oidc.IDToken
	raw    string
	claims map[string]any
	header map[string]any
}

// num returns a numeric claim (0 when absent).
func (t idToken) num(k string) int64 { f, _ := t.claims[k].(float64); return int64(f) }

// checkIDToken verifies raw as a relying party does (go-oidc: signature
// with the published keys, iss, aud, expiry) and makes the checks of the
// suite's PerformStandardIdTokenChecks that go-oidc does not:
// ValidateIdToken (iat within five minutes, auth_time within the last
// year and not in the future, acr not empty), ValidateIdTokenNonce (the
// nonce sent, or none when none was sent), CheckForSubjectInIdToken (sub
// at most 255 printable ASCII characters), EnsureIdTokenUpdatedAtValid,
// ValidateIdTokenStandardClaims (standard claims of their JSON types), and
// the header carries a kid (CheckForKeyIdInServerJWKs, EnsureIdTokenContainsKid).
// The suite's clients use the default algorithm, RS256
// (EnsureIdTokenSignatureIsRS256).
func (o *suiteOP) checkIDToken(t *testing.T, c suiteClient, raw, nonce string) idToken {
	t.Helper()
	ctx := context.Background()
	idt, err := o.op.Verifier(&oidc.Config{ClientID: c.ID, SupportedSigningAlgs: []string{"RS256"}}).Verify(ctx, raw)
	if err != nil {
		t.Fatalf("ID token: %v", err)
	}
	tok := idToken{IDToken: idt, raw: raw, claims: map[string]any{}, header: map[string]any{}}
	if err := idt.Claims(&tok.claims); err != nil {
		t.Fatal(err)
	}
	if h, err := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[0]); err != nil || json.Unmarshal(h, &tok.header) != nil {
		t.Fatalf("ID token header: %v", err)
	}
	if kid, _ := tok.header["kid"].(string); kid == "" || tok.header["alg"] != "RS256" {
		t.Errorf("ID token header %v: want a kid and alg RS256", tok.header)
	}
	now := time.Now()
	const skew = 5 * time.Minute
	if iat := time.Unix(tok.num("iat"), 0); iat.After(now.Add(skew)) || iat.Before(now.Add(-skew)) {
		t.Errorf("ID token iat %v is not within five minutes of now", iat)
	}
	if _, ok := tok.claims["auth_time"]; ok {
		at := time.Unix(tok.num("auth_time"), 0)
		if at.After(now.Add(skew)) || at.Before(now.AddDate(-1, 0, 0)) {
			t.Errorf("ID token auth_time %v is in the future or over a year old", at)
		}
	}
	if acr, ok := tok.claims["acr"]; ok && acr == "" {
		t.Error("ID token acr is empty")
	}
	if got, _ := tok.claims["nonce"].(string); got != nonce {
		t.Errorf("ID token nonce %q, want %q", got, nonce)
	}
	if len(idt.Subject) == 0 || len(idt.Subject) > 255 || strings.IndexFunc(idt.Subject, func(r rune) bool { return r < 0x20 || r >= 0x7f }) >= 0 {
		t.Errorf("ID token sub %q: want 1 to 255 printable ASCII characters", idt.Subject)
	}
	checkStandardClaims(t, "ID token", tok.claims)
	return tok
}

// checkStandardClaims is ValidateUserInfoStandardClaims /
// ValidateIdTokenStandardClaims with EnsureUserInfoUpdatedAtValid: the
// standard claims present have their JSON types (strings, booleans,
// updated_at a number after 1990 and not in the future).
func checkStandardClaims(t *testing.T, what string, claims map[string]any) {
	t.Helper()
	for k, v := range claims {
		switch k {
		case "sub", "name", "given_name", "family_name", "middle_name", "nickname", "preferred_username", "profile",
			"picture", "website", "email", "gender", "zoneinfo", "locale", "phone_number":
			if _, ok := v.(string); !ok {
				t.Errorf("%s %s is %T, want a string", what, k, v)
			}
		case "email_verified", "phone_number_verified":
			if _, ok := v.(bool); !ok {
				t.Errorf("%s %s is %T, want a boolean", what, k, v)
			}
		case "updated_at":
			f, ok := v.(float64)
			if u := time.Unix(int64(f), 0); !ok || u.Before(time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC)) || u.After(time.Now().Add(5*time.Minute)) {
				t.Errorf("%s updated_at %v", what, v)
			}
		}
	}
}

// checkOnlyRequestedClaims is EnsureIdTokenDoesNotContainNonRequestedClaims
// (and EnsureIdTokenDoesNotContainName): the ID token holds the claims
// every ID token may hold and those of the scopes asked for, nothing more.
func checkOnlyRequestedClaims(t *testing.T, tok idToken, scope string) {
	t.Helper()
	allowed := slices.Clone(idTokenClaimsAllowed)
	for _, s := range strings.Fields(scope) {
		allowed = append(allowed, scopeClaims[s]...)
	}
	for k := range tok.claims {
		if !slices.Contains(allowed, k) {
			t.Errorf("ID token has claim %q, which scope %q did not ask for", k, scope)
		}
	}
}

// userinfo calls the userinfo endpoint with token: GET with the bearer
// header (CallUserInfoEndpoint), POST with the header
// (SetResourceMethodToPost), or POST with access_token in the body
// (CallUserInfoEndpointWithBearerTokenInBody). It checks 200
// (EnsureHttpStatusCodeIs200), JSON (EnsureContentTypeJson), sub
// (EnsureUserInfoContainsSub) and the standard claims' types.
func (o *suiteOP) userinfo(t *testing.T, method, token string, inBody bool) map[string]any {
	t.Helper()
	var req *http.Request
	if inBody {
		req, _ = http.NewRequest(http.MethodPost, o.endpoint("userinfo_endpoint"), strings.NewReader(url.Values{"access_token": {token}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req, _ = http.NewRequest(method, o.endpoint("userinfo_endpoint"), nil)
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Accept", "application/json")
	status, body, header := doJSON(t, req)
	if status != http.StatusOK {
		t.Fatalf("userinfo %s (token in body: %v): %d %v", method, inBody, status, body)
	}
	if !strings.HasPrefix(header.Get("Content-Type"), "application/json") {
		t.Errorf("userinfo Content-Type %q", header.Get("Content-Type"))
	}
	if s, _ := body["sub"].(string); s == "" {
		t.Errorf("userinfo without sub: %v", body)
	}
	checkStandardClaims(t, "userinfo", body)
	return body
}

// missingScopeClaims is VerifyScopesReturnedInUserInfoClaims (a warning
// in the suite): the claims of scope that claims lacks.
func missingScopeClaims(claims map[string]any, scope string) []string {
	var missing []string
	for _, s := range strings.Fields(scope) {
		for _, c := range scopeClaims[s] {
			if _, ok := claims[c]; !ok {
				missing = append(missing, c)
			}
		}
	}
	return missing
}

// shannonBits is the suite's entropy estimate (AbstractEnsureMinimumEntropy):
// the Shannon entropy of s's characters times its length.
func shannonBits(s string) float64 {
	if s == "" {
		return 0
	}
	count := map[rune]int{}
	for _, r := range s {
		count[r]++
	}
	var e float64
	n := float64(len([]rune(s)))
	for _, c := range count {
		p := float64(c) / n
		e -= p * math.Log2(p)
	}
	return e * n
}

// flow is one authorization of a module: the request sent, the callback,
// the tokens and the verified ID token.
type flow struct {
	req     url.Values
	cb      url.Values
	tokens  tokenResponse
	idToken idToken
}

// codeFlow runs the suite's happy path for c with req in browser b:
// authorization, the callback checks, the exchange and the ID token
// checks. extra goes with the token request (code_verifier).
func (o *suiteOP) codeFlow(t *testing.T, b *browser, c suiteClient, req url.Values, extra ...string) flow {
	t.Helper()
	cb := o.signIn(t, b, req)
	code := o.checkSuccessCallback(t, cb, req)
	tokens := o.exchange(t, c, code, extra...)
	tok := o.checkIDToken(t, c, tokens.str("id_token"), req.Get("nonce"))
	return flow{req: req, cb: cb, tokens: tokens, idToken: tok}
}
