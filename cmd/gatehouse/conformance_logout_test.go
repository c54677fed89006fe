package main

// oidcc-rp-initiated-logout-certification-test-plan
// (OIDCCRpInitiatedLogoutTestPlan): every module after the discovery one
// (in conformance_config_test.go) as a subtest. Each module
// (AbstractOIDCCRpInitiatedLogout) signs in with a 128-character state,
// then sends the browser to end_session_endpoint with id_token_hint,
// post_logout_redirect_uri and a state of printable ASCII
// (CreateRandomEndSessionState), changed as the module says. Where the
// module expects to be sent back, it then checks that prompt=none fails:
// the person is signed out.

import (
	"crypto/rand"
	"encoding/base64"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	josev4 "github.com/go-jose/go-jose/v4"
)

// endSessionState is CreateRandomEndSessionState: 50 letters, 10 digits
// and 30 of RFC 6749's VSCHAR punctuation, '+', ';' and ' ' made '~'.
func endSessionState(t *testing.T) string {
	t.Helper()
	pick := func(set string, n int) string {
		b := make([]byte, n)
		for i := range b {
			k, err := rand.Int(rand.Reader, big.NewInt(int64(len(set))))
			if err != nil {
				t.Fatal(err)
			}
			b[i] = set[k.Int64()]
		}
		return string(b)
	}
	punct := ` !"#$%&'()*+,-./:;<=>?@[\]^_` + "`{|}~"
	s := pick("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", 50) + pick("0123456789", 10) + pick(punct, 30)
	return strings.NewReplacer("+", "~", ";", "~", " ", "~").Replace(s)
}

// logoutRequest is CreateEndSessionEndpointRequest after the module's
// first authorization f: id_token_hint, post_logout_redirect_uri and
// state, changed by the module (a pair with an empty value removes the
// parameter).
func (o *suiteOP) logoutRequest(t *testing.T, f flow, changes ...string) url.Values {
	t.Helper()
	v := url.Values{"id_token_hint": {f.tokens.str("id_token")}, "post_logout_redirect_uri": {o.postLogoutRedirect}, "state": {endSessionState(t)}}
	for i := 0; i+1 < len(changes); i += 2 {
		if changes[i+1] == "" {
			v.Del(changes[i])
		} else {
			v.Set(changes[i], changes[i+1])
		}
	}
	return v
}

// checkSignedOut is a logout module's last step (performAuthorizationFlow
// once more, with AddPromptNoneToAuthorizationEndpointRequest): prompt=none
// in browser b now fails with an error asking for the person
// (CheckErrorFromAuthorizationEndpointIsOneThatRequiredAUserInterface),
// with the 128-character state back.
func (o *suiteOP) checkSignedOut(t *testing.T, b *browser) {
	t.Helper()
	req := o.authRequest(t, o.client, "openid", "prompt", "none", "state", suiteValue(t, 128))
	if code := o.checkErrorCallback(t, b.get(o.authorizeURL(req)), req); !slices.Contains([]string{"interaction_required", "login_required", "account_selection_required", "consent_required"}, code) {
		t.Errorf("prompt=none after logout: %q", code)
	}
}

// checkPostLogoutRedirect is CheckPostLogoutState (or
// CheckNoPostLogoutState) and CheckForUnexpectedParametersInPostLogoutRedirect:
// target, where the browser goes after the logout, is the registered
// post_logout_redirect_uri with exactly the state sent, or no query
// without one.
func (o *suiteOP) checkPostLogoutRedirect(t *testing.T, target, state string) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil || u.Scheme+"://"+u.Host+u.Path != o.postLogoutRedirect || u.Fragment != "" {
		t.Fatalf("the browser goes to %q, want %s", target, o.postLogoutRedirect)
	}
	q := u.Query()
	if q.Get("state") != state || (state == "" && (q.Has("state") || u.RawQuery != "")) {
		t.Errorf("post logout redirect %q: state %q, want %q", target, q.Get("state"), state)
	}
	for k := range q {
		if k != "state" {
			t.Errorf("post logout redirect has unexpected parameter %q", k)
		}
	}
}

func TestOIDCCRPInitiatedLogoutPlan(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect, allowManySignIns)
		o := newSuiteOP(t, s)
		c := o.client
		endSession := o.endpoint("end_session_endpoint")

		// signedIn is the module's first authorization: a signed-in browser
		// and its ID token.
		signedIn := func(t *testing.T) (*browser, flow) {
			b := s.newBrowser()
			return b, o.codeFlow(t, b, c, o.authRequest(t, c, "openid", "state", suiteValue(t, 128)))
		}
		logoutRequest, signedOut := o.logoutRequest, o.checkSignedOut
		stillSignedIn := func(t *testing.T, b *browser) {
			t.Helper()
			req := o.authRequest(t, c, "openid", "prompt", "none")
			o.checkSuccessCallback(t, b.get(o.authorizeURL(req)).callback(t), req)
		}
		// refused is what the modules that send something wrong expect:
		// no redirect (to the post_logout_redirect_uri or anywhere) but an
		// error page (ExpectPostLogoutRedirectUriNotRegisteredErrorPage,
		// ExpectInvalidIdTokenHintErrorPage, a screenshot), and the person
		// still signed in.
		refused := func(t *testing.T, b *browser, req url.Values, says string) {
			t.Helper()
			p := b.get(endSession + "?" + req.Encode())
			if p.location != "" || p.status != http.StatusBadRequest || !strings.Contains(p.body, says) {
				t.Fatalf("got %d %q %.300s, want an error page saying %q", p.status, p.location, p.body, says)
			}
			stillSignedIn(t, b)
		}
		// confirmThenSignedOut is what the modules that send no
		// id_token_hint expect (ExpectSuccessfulLogoutPage: the person is
		// signed out, a screenshot of it): gatehouse asks the person to
		// confirm (a third-party page must not sign people out,
		// OpenID Connect RP-Initiated Logout §2 and §6), then says they
		// are signed out, and sends them nowhere.
		confirmThenSignedOut := func(t *testing.T, b *browser, req url.Values) {
			t.Helper()
			p := b.get(endSession + "?" + req.Encode())
			if p.status != http.StatusOK || p.location != "" || !strings.Contains(p.body, `action="/oauth2/logout"`) {
				t.Fatalf("got %d %q %.300s, want the sign-out confirmation", p.status, p.location, p.body)
			}
			p = b.post(endSession, p.formValues())
			if p.status != http.StatusOK || p.location != "" || !strings.Contains(p.body, "You are signed out") {
				t.Fatalf("after confirming: %d %q %.300s, want the signed-out page", p.status, p.location, p.body)
			}
			signedOut(t, b)
		}
		// backToClient: a redirect to the post_logout_redirect_uri with the
		// state (checkPostLogoutRedirect).
		backToClient := func(t *testing.T, p *page, state string) {
			t.Helper()
			if p.status != http.StatusSeeOther && p.status != http.StatusFound {
				t.Fatalf("got %d %.300s, want a redirect to the post_logout_redirect_uri", p.status, p.body)
			}
			o.checkPostLogoutRedirect(t, p.location, state)
		}

		// OIDCCRpInitiatedLogout: all three parameters: back to the
		// post_logout_redirect_uri with the state, and signed out.
		t.Run("oidcc-rp-initiated-logout", func(t *testing.T) {
			b, f := signedIn(t)
			req := logoutRequest(t, f)
			backToClient(t, b.get(endSession+"?"+req.Encode()), req.Get("state"))
			signedOut(t, b)
		})

		// OIDCCRpInitiatedLogoutBadLogoutRedirectUri: an unregistered
		// post_logout_redirect_uri (base_url + /bad_post_logout_redirect_uri).
		t.Run("oidcc-rp-initiated-logout-bad-post-logout-redirect-uri", func(t *testing.T) {
			b, f := signedIn(t)
			refused(t, b, logoutRequest(t, f, "post_logout_redirect_uri", suiteBaseURL+"/bad_post_logout_redirect_uri"), "not registered")
		})

		// OIDCCRpInitiatedLogoutModifiedIdTokenHint: the ID token's header
		// replaced by {"alg": "none"} and its signature removed
		// (ChangeIdTokenToAlgNone).
		t.Run("oidcc-rp-initiated-logout-modified-id-token-hint", func(t *testing.T) {
			b, f := signedIn(t)
			parts := strings.Split(f.tokens.str("id_token"), ".")
			unsigned := base64.RawURLEncoding.EncodeToString([]byte(`{"alg": "none"}`)) + "." + parts[1] + "."
			refused(t, b, logoutRequest(t, f, "id_token_hint", unsigned), "id_token_hint")
		})

		// OIDCCRpInitiatedLogoutNoIdTokenHint: post_logout_redirect_uri and
		// state without id_token_hint: the OP must not redirect, and shows
		// an error or asks the person. gatehouse cannot tell which client's
		// URI it is, and says so.
		t.Run("oidcc-rp-initiated-logout-no-id-token-hint", func(t *testing.T) {
			b, f := signedIn(t)
			refused(t, b, logoutRequest(t, f, "id_token_hint", ""), "id_token_hint")
		})

		// OIDCCRpInitiatedLogoutNoParams: no parameters at all.
		t.Run("oidcc-rp-initiated-logout-no-params", func(t *testing.T) {
			b, _ := signedIn(t)
			confirmThenSignedOut(t, b, url.Values{})
		})

		// OIDCCRpInitiatedLogoutNoPostLogoutRedirectUri: id_token_hint and
		// state: signed out at once (the hint shows the client asks), the
		// signed-out page, no redirect (ExpectSuccessfulLogoutPage).
		t.Run("oidcc-rp-initiated-logout-no-post-logout-redirect-uri", func(t *testing.T) {
			b, f := signedIn(t)
			p := b.get(endSession + "?" + logoutRequest(t, f, "post_logout_redirect_uri", "").Encode())
			if p.status != http.StatusOK || p.location != "" || !strings.Contains(p.body, "You are signed out") {
				t.Fatalf("got %d %q %.300s, want the signed-out page", p.status, p.location, p.body)
			}
			signedOut(t, b)
		})

		// OIDCCRpInitiatedLogoutNoState: id_token_hint and
		// post_logout_redirect_uri: back to it with no state
		// (CheckNoPostLogoutState), and signed out.
		t.Run("oidcc-rp-initiated-logout-no-state", func(t *testing.T) {
			b, f := signedIn(t)
			p := b.get(endSession + "?" + logoutRequest(t, f, "state", "").Encode())
			backToClient(t, p, "")
			signedOut(t, b)
		})

		// OIDCCRpInitiatedLogoutOnlyState: only state.
		t.Run("oidcc-rp-initiated-logout-only-state", func(t *testing.T) {
			b, f := signedIn(t)
			confirmThenSignedOut(t, b, logoutRequest(t, f, "id_token_hint", "", "post_logout_redirect_uri", ""))
		})

		// OIDCCRpInitiatedLogoutQueryAddedToLogoutRedirectUri: the
		// registered post_logout_redirect_uri with ?foo=bar added: not the
		// registered URI (exact match, OpenID Connect RP-Initiated Logout
		// §3).
		t.Run("oidcc-rp-initiated-logout-query-added-to-post-logout-redirect-uri", func(t *testing.T) {
			b, f := signedIn(t)
			refused(t, b, logoutRequest(t, f, "post_logout_redirect_uri", o.postLogoutRedirect+"?foo=bar"), "not registered")
		})

		// OIDCCRpInitiatedLogoutBadIdTokenHint: an "ID token" the suite
		// signed itself (GenerateFakeIdTokenClaims, SignFakeIdToken: iss the
		// client_id, aud the issuer, HS256 with the client secret,
		// GenerateJWKsFromClientSecret).
		t.Run("oidcc-rp-initiated-logout-bad-id-token-hint", func(t *testing.T) {
			b, f := signedIn(t)
			now := time.Now()
			fake := signRequestObject(t, josev4.HS256, []byte(c.secret), "", map[string]any{
				"iss": c.ID, "sub": "SubjectID", "aud": s.issuer, "nonce": "flibble",
				"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
			})
			refused(t, b, logoutRequest(t, f, "id_token_hint", fake), "id_token_hint")
		})
	})
}
