package main

// oidcc-backchannel-rp-initiated-logout-certification-test-plan
// (OIDCCBackchannelRpInitiatedLogoutTestPlan) and
// oidcc-frontchannel-rp-initiated-logout-certification-test-plan
// (OIDCCFrontchannelRpInitiatedLogoutTestPlan): each a discovery module and
// an RP-initiated logout module (AbstractOIDCCRpInitiatedLogout) that
// checks, besides the redirect with the state and prompt=none failing
// afterwards, what the app is told: the logout token POSTed to its
// backchannel_logout_uri, or its frontchannel_logout_uri loaded by the
// signed-out page. The suite's static client is registered as
// docs/conformance.md tells operators: the URIs under the plan's base URL,
// and the *_logout_session_required flag that makes gatehouse send the sid
// the modules compare.

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/provider/backchannel"
	"github.com/gatehouse-dev/gatehouse/templates"
)

// suiteRP is the suite's own web server for one plan, on loopback: its
// base URL takes the place of https://<suite>/test/a/<alias>, and it
// records what the modules' handleHttp receives at backchannel_logout
// (answering 200 with Cache-Control no-store, as the module does).
type suiteRP struct {
	srv  *httptest.Server
	base string
	// backchannel receives each request made to base/backchannel_logout.
	backchannel chan backchannelRequest
}

// backchannelRequest is a request to the back-channel logout URI as the
// module keeps it (requestParts: method, headers, body_form_params, TLS).
type backchannelRequest struct {
	method, contentType string
	form                url.Values
	tls                 *tls.ConnectionState
}

func newSuiteRP(t *testing.T) *suiteRP {
	t.Helper()
	rp := &suiteRP{backchannel: make(chan backchannelRequest, 4)}
	rp.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/test/a/gatehouse/backchannel_logout" {
			_ = r.ParseForm()
			rp.backchannel <- backchannelRequest{method: r.Method, contentType: r.Header.Get("Content-Type"), form: r.PostForm, tls: r.TLS}
			w.Header().Set("Cache-Control", "no-store")
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(rp.srv.Close)
	rp.base = rp.srv.URL + "/test/a/gatehouse"
	return rp
}

// awaitBackchannel returns the next back-channel logout request. The
// module waits for it without a deadline of its own (the test then times
// out); the test waits at most 10 s for the server's deliverer, which
// runs in the background and is woken when the session ends.
func (rp *suiteRP) awaitBackchannel(t *testing.T) backchannelRequest {
	t.Helper()
	select {
	case r := <-rp.backchannel:
		return r
	case <-time.After(10 * time.Second):
		t.Fatalf("no back-channel logout request reached %s", rp.base)
		return backchannelRequest{}
	}
}

// logoutDiscoveryModule is OIDCCBackchannelLogoutDiscoveryEndpointVerification
// (channel "backchannel") or OIDCCFrontchannelLogoutDiscoveryEndpointVerification
// ("frontchannel"), against a gatehouse whose issuer is https (TLS being
// the proxy's) as the suite requires of every endpoint: discovery 200 JSON
// (EnsureDiscoveryEndpointResponseStatusCodeIs200,
// CheckDiscoveryEndpointReturnedJsonContentType), every *_endpoint an
// https URL (CheckDiscEndpointAllEndpointsAreHttps), <channel>_logout_supported
// and, which certification requires, <channel>_logout_session_supported
// true (CheckDiscEndpoint…LogoutSupported, …LogoutSessionSupported), and
// an end_session_endpoint (CheckDiscEndSessionEndpoint).
func logoutDiscoveryModule(t *testing.T, dialect, channel string) {
	t.Helper()
	const issuer = "https://login.example.test"
	s := startServer(t, dialect, func(c *config.Config) { c.Issuer = issuer })
	status, meta, header := getJSON(t, s.addr+"/.well-known/openid-configuration")
	if status != http.StatusOK || !strings.HasPrefix(header.Get("Content-Type"), "application/json") {
		t.Fatalf("discovery: %d %q", status, header.Get("Content-Type"))
	}
	for k, v := range meta {
		if u, err := url.Parse(asString(v)); strings.HasSuffix(k, "_endpoint") && (err != nil || u.Scheme != "https" || u.Host == "") {
			t.Errorf("%s = %v, want an https URL", k, v)
		}
	}
	for _, k := range []string{channel + "_logout_supported", channel + "_logout_session_supported"} {
		if meta[k] != true {
			t.Errorf("%s = %v, want true", k, meta[k])
		}
	}
	if !strings.HasPrefix(asString(meta["end_session_endpoint"]), issuer+"/") {
		t.Errorf("end_session_endpoint = %v", meta["end_session_endpoint"])
	}
}

// returnToApp is the signed-out page's link to the post_logout_redirect_uri,
// which its script follows.
var returnToApp = regexp.MustCompile(`<a [^>]*href="([^"]*)" id="return-to-app">`)

// signedInForLogout is the first part of AbstractOIDCCRpInitiatedLogout:
// a sign-in with a 128-character state in a new browser, whose ID token
// carries the sid of the session (the suite compares it with what the
// app is told; EnsureIdTokenDoesNotContainNonRequestedClaims allows it).
func (o *suiteOP) signedInForLogout(t *testing.T) (*browser, flow, string) {
	t.Helper()
	b := o.s.newBrowser()
	f := o.codeFlow(t, b, o.client, o.authRequest(t, o.client, "openid", "state", suiteValue(t, 128)))
	checkOnlyRequestedClaims(t, f.idToken, "openid")
	sid, _ := f.idToken.claims["sid"].(string)
	if sid == "" {
		t.Fatalf("ID token without sid: %v", f.idToken.claims)
	}
	return b, f, sid
}

func TestOIDCCBackchannelLogoutPlan(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		// OIDCCBackchannelLogoutDiscoveryEndpointVerification.
		t.Run("oidcc-backchannel-logout-discovery-endpoint-verification", func(t *testing.T) {
			logoutDiscoveryModule(t, dialect, "backchannel")
		})

		// OIDCCBackChannelRpInitiatedLogout: sign in, RP-initiated logout
		// with id_token_hint, post_logout_redirect_uri and state; gatehouse
		// POSTs a logout token to the backchannel_logout_uri and sends the
		// browser to the post_logout_redirect_uri (the module takes them in
		// either order); then prompt=none fails.
		//
		// The suite's backchannel_logout_uri is on the internet, and
		// gatehouse's outbound policy keeps logout tokens out of private
		// networks; the test's stands on loopback, which
		// http_client.allow_private_networks admits (a test and
		// development setting). It speaks plain HTTP (loopback http is a
		// valid back-channel URI): gatehouse's outbound client trusts only
		// the system's roots, so an https test server could not be
		// reached. The module's TLS check (EnsureIncomingTls12WithSecureCipherOrTls13,
		// a warning) is therefore not mirrored; Go's client offers TLS 1.2
		// and 1.3 with strong suites only.
		t.Run("oidcc-backchannel-rp-initiated-logout", func(t *testing.T) {
			s := startServer(t, dialect, allowManySignIns, func(c *config.Config) { c.HTTPClient.AllowPrivateNetworks = true })
			rp := newSuiteRP(t)
			o := newSuiteOPAt(t, s, rp.base, func(spec *admin.ClientSpec) {
				spec.BackchannelLogoutURI = rp.base + "/backchannel_logout"
				spec.BackchannelLogoutSessionRequired = true
			})
			b, f, sid := o.signedInForLogout(t)

			req := o.logoutRequest(t, f)
			p := b.get(o.endpoint("end_session_endpoint") + "?" + req.Encode())
			if p.status != http.StatusSeeOther && p.status != http.StatusFound {
				t.Fatalf("logout: %d %.500s, want a redirect to the post_logout_redirect_uri", p.status, p.body)
			}
			o.checkPostLogoutRedirect(t, p.location, req.Get("state"))

			bc := rp.awaitBackchannel(t)
			// Back-Channel Logout §2.5: a POST of a form
			// (ExtractLogoutTokenFromBackchannelLogoutRequest reads
			// body_form_params.logout_token), with no other parameter
			// (CheckForUnexpectedParametersInBackchannelLogoutRequest).
			if bc.method != http.MethodPost || bc.contentType != "application/x-www-form-urlencoded" {
				t.Errorf("back-channel request: %s %q, want a form POST", bc.method, bc.contentType)
			}
			for k := range bc.form {
				if k != "logout_token" {
					t.Errorf("back-channel request has unexpected parameter %q", k)
				}
			}
			o.checkLogoutToken(t, bc.form.Get("logout_token"), f.idToken, sid)
			o.checkSignedOut(t, b)
		})
	})
}

// checkLogoutToken is the module's validateLogoutResults for the token:
// ValidateLogoutTokenSignature (a key of the server's JWKS),
// ValidateLogoutTokenClaims (iss the issuer; aud the client; iat present
// and not over five minutes ahead — and here not over a day old; jti;
// events an object of exactly one member,
// http://schemas.openid.net/event/backchannel-logout, whose value is {}),
// CheckIdTokenSubMatchesLogoutToken and CheckIdTokenSidMatchesLogoutToken
// (when present, as in the ID token), CheckLogoutTokenNoNonce and
// CheckLogoutTokenHasSubOrSid. The client asked for the sid
// (backchannel_logout_session_required, Back-Channel Logout §2.2), so it
// must be there.
func (o *suiteOP) checkLogoutToken(t *testing.T, token string, idt idToken, sid string) {
	t.Helper()
	ctx := context.Background()
	payload, err := oidc.NewRemoteKeySet(ctx, o.endpoint("jwks_uri")).VerifySignature(ctx, token)
	if err != nil {
		t.Fatalf("logout token %q: signature: %v", token, err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	if claims["iss"] != o.s.issuer {
		t.Errorf("logout token iss %v, want %s", claims["iss"], o.s.issuer)
	}
	switch aud := claims["aud"].(type) {
	case string:
		if aud != o.client.ID {
			t.Errorf("logout token aud %q, want %s", aud, o.client.ID)
		}
	case []any:
		if !slices.Contains(aud, any(o.client.ID)) {
			t.Errorf("logout token aud %v lacks %s", aud, o.client.ID)
		}
	default:
		t.Errorf("logout token aud %v", claims["aud"])
	}
	iat, ok := claims["iat"].(float64)
	if at := time.Unix(int64(iat), 0); !ok || at.After(time.Now().Add(5*time.Minute)) || at.Before(time.Now().Add(-24*time.Hour)) {
		t.Errorf("logout token iat %v: want present, not in the future nor over a day old", claims["iat"])
	}
	if jti, _ := claims["jti"].(string); jti == "" {
		t.Errorf("logout token without jti: %v", claims)
	}
	events, _ := claims["events"].(map[string]any)
	event, isObject := events[backchannel.EventBackchannelLogout].(map[string]any)
	if len(events) != 1 || !isObject || len(event) != 0 {
		t.Errorf("logout token events %v, want exactly {%q: {}}", claims["events"], backchannel.EventBackchannelLogout)
	}
	if sub, ok := claims["sub"]; ok && sub != idt.Subject {
		t.Errorf("logout token sub %v, ID token's %q", sub, idt.Subject)
	}
	if claims["sid"] != sid {
		t.Errorf("logout token sid %v, ID token's %q", claims["sid"], sid)
	}
	if _, ok := claims["nonce"]; ok {
		t.Errorf("logout token has a nonce (Back-Channel Logout §2.4 forbids it): %v", claims)
	}
	// The header names the key (ValidateLogoutTokenSignature picks it by
	// kid) and says what the token is (Back-Channel Logout §2.4, typ
	// logout+jwt, RECOMMENDED).
	var header map[string]any
	if h, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0]); err != nil || json.Unmarshal(h, &header) != nil ||
		header["kid"] == nil || header["typ"] != backchannel.TokenType {
		t.Errorf("logout token header %v", header)
	}
}

func TestOIDCCFrontchannelLogoutPlan(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		// OIDCCFrontchannelLogoutDiscoveryEndpointVerification.
		t.Run("oidcc-frontchannel-logout-discovery-endpoint-verification", func(t *testing.T) {
			logoutDiscoveryModule(t, dialect, "frontchannel")
		})

		// OIDCCFrontChannelRpInitiatedLogout: sign in, RP-initiated logout
		// with id_token_hint, post_logout_redirect_uri and state; the
		// signed-out page must load the frontchannel_logout_uri with iss
		// (ValidateFrontchannelLogoutIss) and the ID token's sid
		// (CheckIdTokenSidMatchesFrontChannelLogoutRequest) and no other
		// parameter (CheckForUnexpectedParametersInFrontchannelLogoutRequest),
		// and the browser must reach the post_logout_redirect_uri with the
		// state (CheckPostLogoutState,
		// CheckForUnexpectedParametersInPostLogoutRedirect); then prompt=none
		// fails.
		//
		// The Go browser runs no script and loads no iframe, so this
		// module reads the signed-out page: the one iframe's URL, the
		// Content-Security-Policy that lets exactly the app's origin be
		// framed and the page's one script run, and the link that script
		// follows once the frames have loaded. TestFrontChannelLogoutInChromium
		// proves the browser's part in headless Chromium: the frame is
		// requested with iss and sid, and the browser then reaches the
		// post_logout_redirect_uri with the state by itself.
		t.Run("oidcc-frontchannel-rp-initiated-logout", func(t *testing.T) {
			s := startServer(t, dialect, allowManySignIns)
			rp := newSuiteRP(t)
			frontchannelURI := rp.base + "/frontchannel_logout"
			o := newSuiteOPAt(t, s, rp.base, func(spec *admin.ClientSpec) {
				spec.FrontchannelLogoutURI = frontchannelURI
				spec.FrontchannelLogoutSessionRequired = true
			})
			b, f, sid := o.signedInForLogout(t)

			req := o.logoutRequest(t, f)
			p := b.get(o.endpoint("end_session_endpoint") + "?" + req.Encode())
			if p.status != http.StatusOK || p.location != "" || !strings.Contains(p.body, "You are signed out.") {
				t.Fatalf("logout: %d %q %.500s, want the signed-out page", p.status, p.location, p.body)
			}

			// The front-channel request: the iframe's URL.
			frames := logoutFrame.FindAllStringSubmatch(p.body, -1)
			if len(frames) != 1 {
				t.Fatalf("signed-out page has %d logout frames, want 1: %.2000s", len(frames), p.body)
			}
			fc, err := url.Parse(html.UnescapeString(frames[0][1]))
			if err != nil || fc.Scheme+"://"+fc.Host+fc.Path != frontchannelURI {
				t.Fatalf("logout frame %q, want %s", frames[0][1], frontchannelURI)
			}
			q := fc.Query()
			if q.Get("iss") != s.issuer {
				t.Errorf("front-channel iss %q, want %s", q.Get("iss"), s.issuer)
			}
			if q.Get("sid") != sid {
				t.Errorf("front-channel sid %q, ID token's %q", q.Get("sid"), sid)
			}
			for k := range q {
				if k != "iss" && k != "sid" {
					t.Errorf("front-channel request has unexpected parameter %q", k)
				}
			}

			// The page may frame exactly the app's origin and run its one
			// script, which follows the link once the frame has loaded.
			csp := p.header.Get("Content-Security-Policy")
			if got := frameSrc(t, csp); !slices.Equal(got, []string{rp.srv.URL}) || !strings.Contains(csp, "default-src 'none'") ||
				!strings.Contains(csp, "script-src "+templates.ContinueAfterLogoutFramesHash) {
				t.Errorf("CSP %q: want frame-src %s and the page's script by its hash", csp, rp.srv.URL)
			}
			if strings.Count(p.body, "<script") != 1 {
				t.Errorf("signed-out page has %d scripts, want 1", strings.Count(p.body, "<script"))
			}
			link := returnToApp.FindStringSubmatch(p.body)
			if link == nil {
				t.Fatalf("signed-out page has no link to the app: %.2000s", p.body)
			}
			o.checkPostLogoutRedirect(t, html.UnescapeString(link[1]), req.Get("state"))
			o.checkSignedOut(t, b)
		})
	})
}
