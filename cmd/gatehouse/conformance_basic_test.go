package main

// oidcc-basic-certification-test-plan (OIDCCBasicTestPlan): every module
// of the OpenID Foundation's Basic OP certification plan, with the
// variants gatehouse is certified with (response_type=code,
// client_secret_basic, response_mode default, static clients, discovery),
// as a subtest named after the module. Each subtest sends what the module
// sends and checks what the module checks (conformance_rp_test.go); the
// comment names the Java class. docs/conformance.md lists the modules
// and why the few that gatehouse answers with a skip do not apply.
//
// oidcc-formpost-basic-certification-test-plan is the same list of
// modules with response_mode=form_post: TestOIDCCFormPostBasicPlan runs
// the same module functions (basicPlan) with the relying party switched
// to form_post.

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	josev4 "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/internal/clocktest"
	"github.com/gatehouse-dev/gatehouse/provider"
)

func TestOIDCCBasicPlan(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) { basicPlan(t, dialect, "") })
}

// TestOIDCCFormPostBasicPlan is oidcc-formpost-basic-certification-test-plan
// (OIDCCFormPostBasicTestPlan): the Basic plan's modules with the
// response_mode variant form_post (AbstractFormPostTestPlan.changeResponseTypeToFormPost).
// The modules are the same functions; the relying party adds
// response_mode=form_post to every authorization request and takes every
// answer, errors included, from the posted form (suiteOP.callback).
func TestOIDCCFormPostBasicPlan(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) { basicPlan(t, dialect, "form_post") })
}

// basicPlan runs every module of the Basic plan against a server of
// dialect, with the plan's response mode ("" for the default, or
// "form_post").
func basicPlan(t *testing.T, dialect, responseMode string) {
	clock := clocktest.New(time.Now())
	s, _ := startServerAt(t, dialect, clock, allowManySignIns)
	o := newSuiteOP(t, s)
	o.responseMode = responseMode
	c := o.client
	if responseMode != "" && !slices.Contains(o.meta["response_modes_supported"].([]any), any(responseMode)) {
		// A relying party of the plan uses the mode only if discovery
		// offers it (OpenID Connect Discovery §3, response_modes_supported).
		t.Fatalf("response_modes_supported %v lacks %s", o.meta["response_modes_supported"], responseMode)
	}

	// module runs one module. The server's clock is real time when a
	// module starts; the modules that wait (prompt=login, max_age=1)
	// move it on instead.
	module := func(name string, fn func(t *testing.T)) {
		t.Run(name, func(t *testing.T) {
			clock.Set(time.Now())
			fn(t)
		})
	}
	strs := func(k string) []string {
		var out []string
		for _, v := range o.meta[k].([]any) {
			out = append(out, v.(string))
		}
		return out
	}

	// OIDCCServerTest: the happy flow. The ID token passes
	// PerformStandardIdTokenChecks, at_hash (optional at the token
	// endpoint) is right when present, the ID token holds no claim
	// the scope did not ask for (EnsureIdTokenDoesNotContainName,
	// EnsureIdTokenDoesNotContainNonRequestedClaims), the code is long
	// and random enough, and the access token works at userinfo
	// (requestProtectedResource).
	serverTest := func(t *testing.T, c suiteClient) {
		f := o.codeFlow(t, s.newBrowser(), c, o.authRequest(t, c, "openid"))
		if f.idToken.AccessTokenHash != "" {
			if err := f.idToken.VerifyAccessToken(f.tokens.str("access_token")); err != nil {
				t.Errorf("at_hash: %v", err)
			}
		}
		checkOnlyRequestedClaims(t, f.idToken, "openid")
		o.userinfo(t, http.MethodGet, f.tokens.str("access_token"), false)
	}
	module("oidcc-server", func(t *testing.T) { serverTest(t, c) })

	// OIDCCResponseTypeMissing: no response_type. The module accepts a
	// redirect with invalid_request or unsupported_response_type (in
	// the query: no response type means no fragment), after the
	// generic error checks, or an error page (screenshot).
	module("oidcc-response-type-missing", func(t *testing.T) {
		req := o.authRequest(t, c, "openid", "response_type", "")
		p := s.newBrowser().get(o.authorizeURL(req))
		if code := o.checkErrorCallback(t, p, req); code != "invalid_request" && code != "unsupported_response_type" {
			t.Errorf("error %q, want invalid_request or unsupported_response_type", code)
		}
		if u, _ := url.Parse(p.location); u.Fragment != "" {
			t.Errorf("error in the fragment: %s", p.location)
		}
	})

	// OIDCCIdTokenSignature: not offered for static clients
	// (@VariantNotApplicable static_client). What it checks — a kid in
	// the header and RS256, the default — checkIDToken checks on every
	// ID token of these tests; here for a client that names no
	// algorithm.
	module("oidcc-idtoken-signature", func(t *testing.T) {
		if c.IDTokenSignedResponseAlg != "" && c.IDTokenSignedResponseAlg != "RS256" {
			t.Fatalf("suite client registered with id_token_signed_response_alg %q", c.IDTokenSignedResponseAlg)
		}
		f := o.codeFlow(t, s.newBrowser(), c, o.authRequest(t, c, "openid"))
		if f.idToken.header["alg"] != "RS256" || f.idToken.header["kid"] == nil {
			t.Errorf("header %v", f.idToken.header)
		}
	})

	// OIDCCIdTokenUnsigned: skipped by the suite when
	// id_token_signing_alg_values_supported lacks none
	// (OIDCCCheckIdTokenSigningAlgValuesSupportedAlgNone), and not
	// offered for static clients. gatehouse never signs with none.
	module("oidcc-idtoken-unsigned", func(t *testing.T) {
		if slices.Contains(strs("id_token_signing_alg_values_supported"), "none") {
			t.Fatal("discovery offers unsigned ID tokens")
		}
	})

	// OIDCCUserInfoGet, OIDCCUserInfoPostHeader, OIDCCUserInfoPostBody:
	// the access token at userinfo by GET with the bearer header, by
	// POST with the header, and by POST in the body (optional: a
	// warning if refused; gatehouse accepts it, RFC 6750 §2.2). Each
	// answer is JSON with sub and standard claims of their types.
	for _, m := range []struct {
		name, method string
		inBody       bool
	}{
		{"oidcc-userinfo-get", http.MethodGet, false},
		{"oidcc-userinfo-post-header", http.MethodPost, false},
		{"oidcc-userinfo-post-body", http.MethodPost, true},
	} {
		module(m.name, func(t *testing.T) {
			f := o.codeFlow(t, s.newBrowser(), c, o.authRequest(t, c, "openid"))
			info := o.userinfo(t, m.method, f.tokens.str("access_token"), m.inBody)
			if info["sub"] != f.idToken.Subject {
				t.Errorf("userinfo sub %v, ID token sub %q", info["sub"], f.idToken.Subject)
			}
		})
	}

	// OIDCCEnsureRequestWithoutNonceSucceedsForCodeFlow: no nonce, and
	// a code is issued (the module stops there). The ID token it
	// yields carries no nonce (ValidateIdTokenNonce).
	module("oidcc-ensure-request-without-nonce-succeeds-for-code-flow", func(t *testing.T) {
		o.codeFlow(t, s.newBrowser(), c, o.authRequest(t, c, "openid", "nonce", ""))
	})

	// AbstractOIDCCReturnedClaimsServerTest: the module runs when
	// scopes_supported lists its scopes
	// (OIDCCCheckScopesSupportedContainScopeTest), and skips itself
	// otherwise; userinfo answers with sub and standard claims of their
	// types. VerifyScopesReturnedInUserInfoClaims wants every claim of
	// the scope and only warns: gatehouse releases the claims it holds
	// (OpenID Connect Core §5.4), for profile only name.
	scopeTest := func(t *testing.T, scope string, want ...string) {
		t.Helper()
		for _, sc := range strings.Fields(scope) {
			if !slices.Contains(strs("scopes_supported"), sc) {
				t.Fatalf("scopes_supported %v lacks %s: the suite would skip the module", strs("scopes_supported"), sc)
			}
		}
		f := o.codeFlow(t, s.newBrowser(), c, o.authRequest(t, c, scope))
		info := o.userinfo(t, http.MethodGet, f.tokens.str("access_token"), false)
		for _, k := range want {
			if _, ok := info[k]; !ok {
				t.Errorf("scope %q: userinfo lacks %s: %v", scope, k, info)
			}
		}
		if missing := missingScopeClaims(info, scope); len(missing) > 0 {
			t.Logf("the suite warns (VerifyScopesReturnedInUserInfoClaims): userinfo lacks %v", missing)
		}
	}
	// OIDCCScopeProfile: scope openid profile.
	module("oidcc-scope-profile", func(t *testing.T) { scopeTest(t, "openid profile", "name") })
	// OIDCCScopeEmail: scope openid email; both of its claims.
	module("oidcc-scope-email", func(t *testing.T) { scopeTest(t, "openid email", "email", "email_verified") })
	// OIDCCScopeAddress, OIDCCScopePhone, OIDCCScopeAll (openid email
	// phone address profile): gatehouse keeps no address or phone
	// number, and does not list those scopes, so the suite skips the
	// modules (fireTestSkipped, which certification accepts).
	for _, m := range []struct{ name, scope string }{
		{"oidcc-scope-address", "openid address"},
		{"oidcc-scope-phone", "openid phone"},
		{"oidcc-scope-all", "openid email phone address profile"},
	} {
		module(m.name, func(t *testing.T) {
			supported := strs("scopes_supported")
			if !slices.ContainsFunc(strings.Fields(m.scope), func(sc string) bool { return !slices.Contains(supported, sc) }) {
				t.Fatalf("scopes_supported %v has all of %q: the suite would run the module", supported, m.scope)
			}
		})
	}

	// OIDCCAlternateHappyFlow (extends OIDCCScopeEmail): the scope in
	// reverse order and the query parameters in another order
	// (RFC 6749 §3.3: order does not matter).
	module("oidcc-alternate-happy-flow", func(t *testing.T) {
		req := o.authRequest(t, c, "email openid")
		keys := []string{"response_mode", "response_type", "nonce", "state", "scope", "redirect_uri", "client_id"}
		var q []string
		for _, k := range keys {
			if req.Has(k) {
				q = append(q, url.QueryEscape(k)+"="+url.QueryEscape(req.Get(k)))
			}
		}
		b := s.newBrowser()
		p := b.get(o.endpoint("authorization_endpoint") + "?" + strings.Join(q, "&"))
		p = b.login(p, o.user.Email, alicePassword)
		if p.isConsentPage() {
			p = b.consent(p, "allow")
		}
		code := o.checkSuccessCallback(t, o.callback(t, p, req), req)
		tokens := o.exchange(t, c, code)
		o.checkIDToken(t, c, tokens.str("id_token"), req.Get("nonce"))
		if info := o.userinfo(t, http.MethodGet, tokens.str("access_token"), false); info["email"] != o.user.Email {
			t.Errorf("userinfo %v, want the e-mail address", info)
		}
	})

	// OIDCCDisplayPage, OIDCCDisplayPopup: display=page / popup must
	// not cause an error (OpenID Connect Core §15.1); the login page
	// is the same page.
	for _, d := range []string{"page", "popup"} {
		module("oidcc-display-"+d, func(t *testing.T) {
			b := s.newBrowser()
			req := o.authRequest(t, c, "openid", "display", d)
			if p := b.get(o.authorizeURL(req)); !p.isLoginPage() {
				t.Fatalf("display=%s: got %d, want the login page", d, p.status)
			}
			o.codeFlow(t, b, c, req)
		})
	}

	// OIDCCPromptLogin: a second authorization with prompt=login, one
	// second later, must ask the person to sign in again (the module
	// expects the login page: ExpectSecondLoginPage), and the second ID
	// token's auth_time is later (CheckSecondIdTokenAuthTimeIsLaterIfPresent).
	// The suite waits a second; the test moves the server's clock.
	module("oidcc-prompt-login", func(t *testing.T) {
		b := s.newBrowser()
		first := o.codeFlow(t, b, c, o.authRequest(t, c, "openid"))
		clock.Set(time.Now().Add(time.Second))
		req := o.authRequest(t, c, "openid", "prompt", "login")
		if p := b.get(o.authorizeURL(req)); !p.isLoginPage() {
			t.Fatalf("prompt=login: got %d %q, want the login page", p.status, p.location)
		}
		second := o.codeFlow(t, b, c, req)
		if second.idToken.num("auth_time") <= first.idToken.num("auth_time") {
			t.Errorf("auth_time %d after prompt=login, first %d: want later", second.idToken.num("auth_time"), first.idToken.num("auth_time"))
		}
	})

	// OIDCCPromptNoneNotLoggedIn: prompt=none without a session, with a
	// 128-character state: a redirect with an error that asks for the
	// person (CheckErrorFromAuthorizationEndpointIsOneThatRequiredAUserInterface)
	// and the state unchanged.
	module("oidcc-prompt-none-not-logged-in", func(t *testing.T) {
		req := o.authRequest(t, c, "openid", "prompt", "none", "state", suiteValue(t, 128))
		p := s.newBrowser().get(o.authorizeURL(req))
		if code := o.checkErrorCallback(t, p, req); !slices.Contains([]string{"interaction_required", "login_required", "account_selection_required", "consent_required"}, code) {
			t.Errorf("prompt=none without a session: %q", code)
		}
	})

	// sameAuthTwice is AbstractOIDCCSameAuthTwiceServerTest: the second
	// authorization (req2 from the first flow) must come back without
	// any page, with the same auth_time (CheckIdTokenAuthTimeClaimsSameIfPresent)
	// and sub (CheckIdTokenSubConsistentForSecondAuthorization).
	sameAuthTwice := func(t *testing.T, first url.Values, second func(first flow) url.Values) (flow, flow) {
		t.Helper()
		b := s.newBrowser()
		f1 := o.codeFlow(t, b, c, first)
		req := second(f1)
		p := b.get(o.authorizeURL(req))
		if p.isLoginPage() || p.isConsentPage() {
			t.Fatalf("second authorization showed a page (%d %s)", p.status, p.url)
		}
		code := o.checkSuccessCallback(t, o.callback(t, p, req), req)
		f2 := flow{req: req, tokens: o.exchange(t, c, code)}
		f2.idToken = o.checkIDToken(t, c, f2.tokens.str("id_token"), req.Get("nonce"))
		if f1.idToken.num("auth_time") != f2.idToken.num("auth_time") || f1.idToken.Subject != f2.idToken.Subject {
			t.Errorf("second ID token: auth_time %d sub %q; first: %d %q", f2.idToken.num("auth_time"), f2.idToken.Subject,
				f1.idToken.num("auth_time"), f1.idToken.Subject)
		}
		return f1, f2
	}

	// OIDCCPromptNoneLoggedIn: signed in, a second authorization with
	// prompt=none succeeds silently.
	module("oidcc-prompt-none-logged-in", func(t *testing.T) {
		sameAuthTwice(t, o.authRequest(t, c, "openid"), func(flow) url.Values {
			return o.authRequest(t, c, "openid", "prompt", "none")
		})
	})

	// OIDCCMaxAge1: two seconds after signing in, max_age=1 must ask
	// for the login again (ExpectSecondLoginPage), and the second ID
	// token carries auth_time (CheckIdTokenAuthTimeClaimPresentDueToMaxAge),
	// later than the first and recent (CheckIdTokenAuthTimeIsRecentIfPresent).
	// The suite waits two seconds; the test moves the server's clock.
	module("oidcc-max-age-1", func(t *testing.T) {
		b := s.newBrowser()
		first := o.codeFlow(t, b, c, o.authRequest(t, c, "openid"))
		clock.Set(time.Now().Add(2 * time.Second))
		req := o.authRequest(t, c, "openid", "max_age", "1")
		if p := b.get(o.authorizeURL(req)); !p.isLoginPage() {
			t.Fatalf("max_age=1 two seconds after signing in: got %d %q, want the login page", p.status, p.location)
		}
		second := o.codeFlow(t, b, c, req)
		at := second.idToken.num("auth_time")
		if _, ok := second.idToken.claims["auth_time"]; !ok || at <= first.idToken.num("auth_time") {
			t.Errorf("auth_time %d (first %d): want present and later", at, first.idToken.num("auth_time"))
		}
		if d := clock.Now().Sub(time.Unix(at, 0)); d < 0 || d > time.Second {
			t.Errorf("auth_time %d is not the new sign-in (server time %v)", at, clock.Now())
		}
	})

	// OIDCCMaxAge10000: max_age=15000 first (auth_time then required),
	// then max_age=10000 when signed in: no login page, auth_time
	// present and unchanged, the same sub.
	module("oidcc-max-age-10000", func(t *testing.T) {
		f1, f2 := sameAuthTwice(t, o.authRequest(t, c, "openid", "max_age", "15000"), func(flow) url.Values {
			return o.authRequest(t, c, "openid", "max_age", "10000")
		})
		for _, f := range []flow{f1, f2} {
			if _, ok := f.idToken.claims["auth_time"]; !ok {
				t.Errorf("max_age=%s: no auth_time", f.req.Get("max_age"))
			}
		}
	})

	// OIDCCEnsureRequestWithUnknownParameterSucceeds: extra=foobar is
	// ignored (RFC 6749 §3.1).
	module("oidcc-ensure-request-with-unknown-parameter-succeeds", func(t *testing.T) {
		o.codeFlow(t, s.newBrowser(), c, o.authRequest(t, c, "openid", "extra", "foobar"))
	})

	// OIDCCIdTokenHint: the second authorization has prompt=none and the
	// first ID token as id_token_hint, and succeeds silently.
	module("oidcc-id-token-hint", func(t *testing.T) {
		sameAuthTwice(t, o.authRequest(t, c, "openid"), func(f flow) url.Values {
			return o.authRequest(t, c, "openid", "prompt", "none", "id_token_hint", f.tokens.str("id_token"))
		})
	})

	// OIDCCLoginHint: login_hint (server.login_hint of the
	// configuration, or buffy@<issuer host>) must not cause an error.
	// gatehouse fills the e-mail field with it.
	module("oidcc-login-hint", func(t *testing.T) {
		b := s.newBrowser()
		req := o.authRequest(t, c, "openid", "login_hint", o.user.Email)
		p := b.get(o.authorizeURL(req))
		if !p.isLoginPage() {
			t.Fatalf("login_hint: got %d, want the login page", p.status)
		}
		if !strings.Contains(p.body, `value="`+o.user.Email+`"`) {
			t.Errorf("the login page does not offer the hinted address")
		}
		o.codeFlow(t, b, c, req)
		u, _ := url.Parse(s.issuer)
		o.codeFlow(t, s.newBrowser(), c, o.authRequest(t, c, "openid", "login_hint", "buffy@"+u.Hostname()))
	})

	// OIDCCUiLocales (ui_locales=se unless configured) and
	// OIDCCClaimsLocales (claims_locales=se): must not cause an error
	// (OpenID Connect Core §15.1).
	module("oidcc-ui-locales", func(t *testing.T) {
		o.codeFlow(t, s.newBrowser(), c, o.authRequest(t, c, "openid", "ui_locales", "se"))
	})
	module("oidcc-claims-locales", func(t *testing.T) {
		o.codeFlow(t, s.newBrowser(), c, o.authRequest(t, c, "openid", "claims_locales", "se"))
	})

	// OIDCCEnsureRequestWithAcrValuesSucceeds: acr_values must not cause
	// an error. Discovery has acr_values_supported, so the suite sends
	// those values (phr, a passkey's, and urn:gatehouse:acr:mfa); the
	// second asks for a second factor, which the person (one of their
	// own, without one) sets up on the way. The ID token's acr is then one
	// of those requested (ValidateIdTokenACRClaimAgainstAcrValuesRequest,
	// a SHOULD), with amr saying how (RFC 8176).
	module("oidcc-ensure-request-with-acr-values-succeeds", func(t *testing.T) {
		acrs := strs("acr_values_supported")
		if !slices.Equal(acrs, provider.ACRValues) {
			t.Fatalf("discovery has acr_values_supported %v: update this test and docs/conformance.md", acrs)
		}
		person := s.user("acr-"+randomString(t, 8)+"@example.com", alicePassword)
		req := o.authRequest(t, c, "openid", "acr_values", strings.Join(acrs, " "))
		cb := o.signInAs(t, s.newBrowser(), req, person.Email)
		tokens := o.exchange(t, c, o.checkSuccessCallback(t, cb, req))
		f := o.checkIDToken(t, c, tokens.str("id_token"), req.Get("nonce"))
		if acr := f.claims["acr"]; acr != provider.ACRMultiFactor {
			t.Errorf("acr %v after acr_values %v, want %q", acr, acrs, provider.ACRMultiFactor)
		}
	})

	// codeReuse is AbstractOIDCCAuthCodeReuse: the code a second time is
	// a 400 with JSON and invalid_grant (CheckTokenEndpointHttpStatus400,
	// CheckTokenEndpointReturnedJsonContentType,
	// CheckErrorFromTokenEndpointResponseErrorInvalidGrant), with an
	// error_description of RFC 6749 §5.2's characters. It returns the
	// first access token.
	codeReuse := func(t *testing.T) string {
		t.Helper()
		req := o.authRequest(t, c, "openid")
		code := o.checkSuccessCallback(t, o.signIn(t, s.newBrowser(), req), req)
		tokens := o.exchange(t, c, code)
		again := o.token(t, c, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {o.redirect}})
		if again.status != http.StatusBadRequest || again.str("error") != "invalid_grant" || !strings.HasPrefix(again.header.Get("Content-Type"), "application/json") {
			t.Errorf("code used twice: %d %q %v", again.status, again.header.Get("Content-Type"), again.body)
		}
		for _, r := range again.str("error_description") {
			if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
				t.Errorf("error_description has %q, outside RFC 6749 §5.2", r)
				break
			}
		}
		return tokens.str("access_token")
	}
	// OIDCCAuthCodeReuse: the code again, at once.
	module("oidcc-codereuse", func(t *testing.T) { codeReuse(t) })
	// OIDCCAuthCodeReuseAfter30Seconds: the code again 30 seconds later,
	// and the access token of the first exchange should then be
	// revoked (RFC 6749 §4.1.2; EnsureHttpStatusCodeIs4xx at userinfo,
	// a warning). The wait changes nothing in gatehouse: a used code
	// stays used for as long as it is stored, and the reuse revokes the
	// tokens at once; so the test does not wait.
	module("oidcc-codereuse-30seconds", func(t *testing.T) {
		token := codeReuse(t)
		req, _ := http.NewRequest(http.MethodGet, o.endpoint("userinfo_endpoint"), nil)
		req.Header.Set("Authorization", "Bearer "+token)
		if status, body, _ := doJSON(t, req); status < 400 || status > 499 {
			t.Errorf("the first access token after the code's reuse: %d %v, want a 4xx", status, body)
		}
	})

	// OIDCCEnsureRegisteredRedirectUri: redirect_uri is the registered
	// one plus /<random>. gatehouse must show an error page
	// (ExpectRedirectUriErrorPage) and redirect nowhere, neither to
	// that URI nor to the registered one.
	module("oidcc-ensure-registered-redirect-uri", func(t *testing.T) {
		req := o.authRequest(t, c, "openid", "redirect_uri", o.redirect+"/"+suiteValue(t, 14)[:10])
		p := s.newBrowser().get(o.authorizeURL(req))
		if p.location != "" || p.status < 400 || !strings.Contains(strings.ToLower(p.body), "redirect") {
			t.Fatalf("unregistered redirect_uri: %d %q: %.300s; want an error page about the redirect URI", p.status, p.location, p.body)
		}
	})

	// OIDCCEnsurePostRequestSucceeds: the authorization request as a
	// form POST (OpenID Connect Core §3.1.2.1) completes as a GET does.
	module("oidcc-ensure-post-request-succeeds", func(t *testing.T) {
		req := o.authRequest(t, c, "openid")
		b := s.newBrowser()
		p := b.post(o.endpoint("authorization_endpoint"), req)
		if p.isLoginPage() {
			p = b.login(p, o.user.Email, alicePassword)
		}
		if p.isConsentPage() {
			p = b.consent(p, "allow")
		}
		code := o.checkSuccessCallback(t, o.callback(t, p, req), req)
		o.checkIDToken(t, c, o.exchange(t, c, code).str("id_token"), req.Get("nonce"))
	})

	// OIDCCServerTestClientSecretPost: oidcc-server with the
	// client_secret_post client (configuration client_secret_post).
	module("oidcc-server-client-secret-post", func(t *testing.T) { serverTest(t, o.post) })

	// OIDCCRequestUriUnsignedSupportedCorrectlyOrRejectedAsUnsupported:
	// not offered for static clients, and skipped
	// (skipTestIfNoneUnsupported) because request_object_signing_alg_values_supported
	// lacks none. Had it run, a request_uri is answered
	// request_uri_not_supported at the redirect URI, which it accepts.
	module("oidcc-request-uri-unsigned-supported-correctly-or-rejected-as-unsupported", func(t *testing.T) {
		if slices.Contains(strs("request_object_signing_alg_values_supported"), "none") || o.meta["request_uri_parameter_supported"] != false {
			t.Fatalf("discovery: request_object_signing_alg_values_supported %v, request_uri_parameter_supported %v",
				o.meta["request_object_signing_alg_values_supported"], o.meta["request_uri_parameter_supported"])
		}
		req := o.authRequest(t, c, "openid", "request_uri", suiteBaseURL+"/requesturi/"+suiteValue(t, 16))
		if code := o.checkErrorCallback(t, s.newBrowser().get(o.authorizeURL(req)), req); code != "request_uri_not_supported" {
			t.Errorf("request_uri: %q, want request_uri_not_supported", code)
		}
	})

	// OIDCCUnsignedRequestObjectSupportedCorrectlyOrRejectedAsUnsupported
	// and OIDCCEnsureRequestObjectWithRedirectUri: skipped by the suite
	// (skipTestIfNoneUnsupported): gatehouse supports request objects
	// (request_parameter_supported), signed only. An unsigned one is
	// an invalid request object (RFC 9101 §6.3, OpenID Connect Core
	// §3.1.2.6), answered at the registered redirect URI with the
	// request object's state.
	unsignedRequestObject := func(t *testing.T, redirectInQuery string) {
		if slices.Contains(strs("request_object_signing_alg_values_supported"), "none") || o.meta["request_parameter_supported"] != true {
			t.Fatalf("discovery: request_object_signing_alg_values_supported %v, request_parameter_supported %v",
				o.meta["request_object_signing_alg_values_supported"], o.meta["request_parameter_supported"])
		}
		inner := o.authRequest(t, c, "openid")
		claims := map[string]any{}
		for k := range inner {
			claims[k] = inner.Get(k)
		}
		query := url.Values{"client_id": {c.ID}, "response_type": {"code"}, "scope": {"openid"},
			"request": {signRequestObject(t, josev4.SignatureAlgorithm("none"), nil, "", claims)}}
		if redirectInQuery != "" {
			query.Set("redirect_uri", redirectInQuery)
		}
		if code := o.checkErrorCallback(t, s.newBrowser().get(o.authorizeURL(query)), inner); code != "invalid_request_object" {
			t.Errorf("unsigned request object: %q, want invalid_request_object", code)
		}
	}
	module("oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported", func(t *testing.T) {
		unsignedRequestObject(t, "")
	})

	// OIDCCClaimsEssential: scope openid with claims
	// {"userinfo":{"name":{"essential":true}}}: success, name at
	// userinfo (EnsureUserInfoContainsName, a warning if missing) and
	// not in the ID token (EnsureIdTokenDoesNotContainName).
	module("oidcc-claims-essential", func(t *testing.T) {
		f := o.codeFlow(t, s.newBrowser(), c, o.authRequest(t, c, "openid", "claims", `{"userinfo":{"name":{"essential":true}}}`))
		if info := o.userinfo(t, http.MethodGet, f.tokens.str("access_token"), false); info["name"] != o.user.Name {
			t.Errorf("userinfo %v, want name %q", info, o.user.Name)
		}
		if _, ok := f.idToken.claims["name"]; ok {
			t.Error("name in the ID token; it was asked for at userinfo")
		}
	})

	// OIDCCEnsureRequestObjectWithRedirectUri: skipped, as above. Had
	// it run: the query's redirect_uri is not registered, the request
	// object's is; gatehouse uses only the request object's parameters
	// (RFC 9101 §6.3) and answers there.
	module("oidcc-ensure-request-object-with-redirect-uri", func(t *testing.T) {
		unsignedRequestObject(t, suiteBaseURL+"/invalid_redirect_uri")
	})

	// OIDCCRefreshToken: scope openid offline_access (discovery lists
	// offline_access) with prompt=consent
	// (AddPromptConsentToAuthorizationEndpointRequestIfScopeContainsOfflineAccess).
	// The refresh token is of RFC 6749 §A.17's characters; a refresh
	// with the client's authentication and the scope answers like the
	// token endpoint (RefreshTokenRequestSteps: 200, JSON, no-store,
	// Bearer, expires_in, an access token of 96+ bits), and its ID
	// token has the first's iss, sub, aud and auth_time, no azp, and
	// its own iat (CompareIdTokenClaims); the new access token works.
	// The same for client2 (nonce of 43 characters, no scope in the
	// refresh), whose refresh token then fails for client 1 with 400
	// invalid_grant (RefreshTokenRequestExpectingErrorSteps).
	module("oidcc-refresh-token", func(t *testing.T) {
		if !slices.Contains(strs("scopes_supported"), "offline_access") || !slices.Contains(strs("grant_types_supported"), "refresh_token") {
			t.Fatalf("discovery lacks offline_access or the refresh_token grant")
		}
		refresh := func(t *testing.T, c suiteClient, nonce int, withScope bool) (string, idToken) {
			b := s.newBrowser()
			req := o.authRequest(t, c, "openid offline_access", "prompt", "consent", "nonce", suiteValue(t, nonce))
			p := b.login(b.get(o.authorizeURL(req)), o.user.Email, alicePassword)
			if !p.isConsentPage() {
				t.Fatalf("prompt=consent with offline_access: got %d, want the consent page", p.status)
			}
			code := o.checkSuccessCallback(t, o.callback(t, b.consent(p, "allow"), req), req)
			first := o.exchange(t, c, code)
			idt1 := o.checkIDToken(t, c, first.str("id_token"), req.Get("nonce"))
			rt := first.str("refresh_token")
			if rt == "" || strings.IndexFunc(rt, func(r rune) bool { return r < 0x20 || r > 0x7e }) >= 0 {
				t.Fatalf("refresh_token %q", rt)
			}
			form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
			if withScope {
				form.Set("scope", "openid offline_access")
			}
			second := o.token(t, c, form)
			o.checkTokenResponse(t, second)
			if e := shannonBits(second.str("access_token")); e <= 96 {
				t.Errorf("refreshed access token entropy %.1f bits", e)
			}
			if second.str("id_token") != "" {
				// A refreshed ID token has no nonce (OpenID Connect Core §12.2).
				idt2 := o.checkIDToken(t, c, second.str("id_token"), "")
				checkOnlyRequestedClaims(t, idt2, "openid offline_access")
				if idt2.Issuer != idt1.Issuer || idt2.Subject != idt1.Subject || !slices.Equal(idt2.Audience, idt1.Audience) ||
					idt2.num("auth_time") != idt1.num("auth_time") || idt2.claims["azp"] != idt1.claims["azp"] {
					t.Errorf("refreshed ID token %v, first %v", idt2.claims, idt1.claims)
				}
				// The suite waits a second before refreshing, so iat
				// differs; fosite stamps iat when it issues the token.
				if idt2.num("iat") < idt1.num("iat") {
					t.Errorf("refreshed ID token iat %d before the first's %d", idt2.num("iat"), idt1.num("iat"))
				}
			}
			o.userinfo(t, http.MethodGet, second.str("access_token"), false)
			if next := second.str("refresh_token"); next != "" {
				rt = next
			}
			return rt, idt1
		}
		_, idt1 := refresh(t, c, 16, true)
		rt2, idt2 := refresh(t, o.client2, 43, false)
		// subject_types_supported is public: both clients know the
		// person by the same sub.
		if idt1.Subject != idt2.Subject {
			t.Errorf("sub %q for client, %q for client2; discovery says public", idt1.Subject, idt2.Subject)
		}
		wrong := o.token(t, c, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt2}, "scope": {"openid offline_access"}})
		if wrong.status != http.StatusBadRequest || wrong.str("error") != "invalid_grant" {
			t.Errorf("client2's refresh token used by client 1: %d %v, want 400 invalid_grant", wrong.status, wrong.body)
		}
	})

	// OIDCCEnsureRequestWithValidPkceSucceeds: the only module that sends
	// PKCE (S256 challenge, verifier at the token endpoint); it must
	// succeed.
	module("oidcc-ensure-request-with-valid-pkce-succeeds", func(t *testing.T) {
		verifier := oauth2.GenerateVerifier()
		req := o.authRequest(t, c, "openid", "code_challenge", oauth2.S256ChallengeFromVerifier(verifier), "code_challenge_method", "S256")
		o.codeFlow(t, s.newBrowser(), c, req, "code_verifier", verifier)
	})
}
