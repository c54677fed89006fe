// The authcode scenario: one whole authorization code flow per measured
// unit (authorize, login form, consent, code exchange with PKCE).
//
// Each worker is one user agent (its own cookie jar) that runs whole flows
// back to back; the measured unit is a flow, from the authorization request
// to the token response. Redirects are followed by hand, not by net/http, so
// that every request is counted under its step, none leaves the server's
// origin, and the redirect URI (not served) is never contacted.

package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"
)

// Steps: every HTTP request of a flow is one of these.
const (
	stepAuthorize          = iota // the authorization request
	stepLoginPage                 // GET of a page with the login form
	stepLoginSubmit               // POST of the login form
	stepPasskeyBegin              // POST of the passkey ceremony's begin (JSON)
	stepSecondFactorPage          // GET of a page with the second-factor (TOTP) form
	stepSecondFactorSubmit        // POST of the TOTP code
	stepConsentPage               // GET of a page with the consent form
	stepConsentSubmit             // POST of decision=allow
	stepRedirect                  // GET of a same-server URL that redirected again
	stepToken                     // POST of the code exchange
	numSteps
)

var stepNames = [numSteps]string{"authorize", "login_page", "login_submit", "passkey_begin", "second_factor_page", "second_factor_submit",
	"consent_page", "consent_submit", "redirect", "token"}

// maxFlowReqs bounds one flow: authorize, login page and POST, second
// factor page and POST, consent page and POST, token is 8; the margin
// allows for a few extra redirects.
const maxFlowReqs = 12

const (
	errKindTransport = iota
	errKindStatus
	errKindBody
)

// flowError is a failed flow, counted under kind like a failed request.
type flowError struct {
	kind int
	msg  string
}

func flowErrf(kind int, f string, a ...any) *flowError {
	return &flowError{kind: kind, msg: fmt.Sprintf(f, a...)}
}

type authcode struct {
	c          config
	authorize  *url.URL
	redirect   *url.URL
	tokenAuthz string // client_secret_basic header; empty with -auth post or none
	public     bool   // -auth none: no client secret at all
	fresh      bool
	origin     string       // the server's origin, for the passkey begin's Origin header
	passkey    *softPasskey // -authcode-login passkey
	pool       *totpPool    // -authcode-login totp

	mu     sync.Mutex
	agents map[int]*agent // by worker index
}

// agent is one user agent. It is kept across the warm-up, the measured run
// and the repetitions, so that with -authcode-fresh-session=false only a
// worker's first flow (in the warm-up, if any) signs in.
type agent struct {
	jar    http.CookieJar
	dirty  bool // the last flow failed: start the next one from an empty jar
	buf    bytes.Buffer
	steps  [numSteps]int64
	stepNS [numSteps]int64
}

func newAuthcode(c config) (scenario, error) {
	if c.authorizeURL == "" || c.tokenURL == "" || c.clientID == "" || c.redirectURI == "" || c.username == "" || c.password == "" {
		return scenario{}, errors.New("authcode needs -authorize-url, -token-url, -client-id, -client-secret, -redirect-uri, -username and -password or -password-file")
	}
	for _, u := range []string{c.authorizeURL, c.tokenURL} {
		if err := requireLoopback(u); err != nil {
			return scenario{}, err
		}
	}
	az, err := url.Parse(c.authorizeURL)
	if err != nil {
		return scenario{}, err
	}
	// The redirect URI is only compared with Location headers, never
	// contacted, so it need not be loopback; it must be absolute.
	ru, err := url.Parse(c.redirectURI)
	if err != nil || ru.Scheme == "" || ru.Host == "" {
		return scenario{}, fmt.Errorf("-redirect-uri %q: must be an absolute URL", c.redirectURI)
	}
	a := &authcode{c: c, authorize: az, redirect: ru, fresh: c.authcodeFresh, agents: map[int]*agent{},
		origin: az.Scheme + "://" + az.Host}
	switch c.authMethod {
	case "basic":
		a.tokenAuthz = basic(c.clientID, c.clientSecret)
	case "post":
	case "none":
		// A public client (RFC 6749 §2.1): client_id in the form, no
		// secret; PKCE is its proof.
		a.public = true
	default:
		return scenario{}, fmt.Errorf("bad -auth %q (basic|post|none)", c.authMethod)
	}
	cl := newClient(8, c.reqTimeout)
	defer cl.CloseIdleConnections()
	origin := &url.URL{Scheme: az.Scheme, Host: az.Host}
	switch c.authcodeLogin {
	case loginPassword:
	case loginPasskey:
		if a.passkey, err = registerPasskey(cl, origin, c.username, c.password); err != nil {
			return scenario{}, fmt.Errorf("authcode: register a passkey: %v", err)
		}
	case loginTOTP:
		if a.pool, err = enrolPool(cl, origin, poolUsernames(c.username, c.authcodeAccounts), c.password, 8); err != nil {
			return scenario{}, fmt.Errorf("authcode: turn on an authenticator app: %v", err)
		}
	}
	// One flow first, so a wrong setting fails here with its reason
	// instead of making a run of errors. With a client that asks for
	// consent, this flow gives it; the workers then find it remembered.
	probe := &agent{}
	if ferr := a.flow(probe, cl); ferr != nil {
		return scenario{}, fmt.Errorf("authcode: a first flow failed: %s", ferr.msg)
	}
	var seq []string
	for i, n := range probe.steps {
		for j := int64(0); j < n; j++ {
			seq = append(seq, stepNames[i])
		}
	}
	fmt.Fprintf(os.Stderr, "# authcode: first flow ok, %d requests (%s); login=%s fresh_session=%v\n", len(seq), strings.Join(seq, ","), c.authcodeLogin, a.fresh)
	return scenario{name: "authcode", flow: a.run, maxReqs: maxFlowReqs}, nil
}

func (a *authcode) agent(w int) *agent {
	a.mu.Lock()
	defer a.mu.Unlock()
	ag := a.agents[w]
	if ag == nil {
		ag = &agent{}
		a.agents[w] = ag
	}
	return ag
}

// run is the scenario's flow: one flow of worker w, its errors counted.
func (a *authcode) run(w int, client *http.Client, ct *counters) bool {
	ag := a.agent(w)
	ferr := a.flow(ag, client)
	if ferr == nil {
		for i := range ag.steps {
			ct.steps[i].Add(ag.steps[i])
			ct.stepNS[i].Add(ag.stepNS[i])
		}
		return true
	}
	ag.dirty = true
	switch ferr.kind {
	case errKindTransport:
		ct.errTransport.Add(1)
	case errKindStatus:
		ct.errStatus.Add(1)
	default:
		ct.errBody.Add(1)
	}
	ct.report("authcode: %s", ferr.msg)
	if ferr.kind == errKindTransport {
		time.Sleep(10 * time.Millisecond) // avoid spinning on refused connections
	}
	return false
}

func randToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (Go 1.24+: it aborts the program instead)
	return base64.RawURLEncoding.EncodeToString(b)
}

// noFollow makes net/http hand every redirect back to the flow.
func noFollow(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// flow runs one authorization code flow with ag's cookies.
func (a *authcode) flow(ag *agent, base *http.Client) *flowError {
	if a.fresh || ag.dirty || ag.jar == nil {
		ag.jar, _ = cookiejar.New(nil) // a new browser: no session, no CSRF cookie
		ag.dirty = false
	}
	ag.steps, ag.stepNS = [numSteps]int64{}, [numSteps]int64{}
	cl := &http.Client{Transport: base.Transport, Timeout: base.Timeout, Jar: ag.jar, CheckRedirect: noFollow}

	verifier, state, nonce := randToken(32), randToken(16), randToken(16)
	challenge := sha256.Sum256([]byte(verifier))
	q := url.Values{}
	q.Set("response_type", "code")
	q.Set("client_id", a.c.clientID)
	q.Set("redirect_uri", a.c.redirectURI)
	q.Set("scope", "openid")
	q.Set("state", state)
	q.Set("nonce", nonce)
	q.Set("code_challenge", base64.RawURLEncoding.EncodeToString(challenge[:]))
	q.Set("code_challenge_method", "S256")
	u := *a.authorize
	if u.RawQuery != "" {
		u.RawQuery += "&"
	}
	u.RawQuery += q.Encode()
	req, err := http.NewRequest(http.MethodGet, u.String(), nil)
	if err != nil {
		return flowErrf(errKindTransport, "build: %v", err)
	}

	step := stepAuthorize // the step of req when it is not a plain GET of a page
	var loggedIn, consented, secondFactor bool
	var code string // -authcode-login totp: the code of the account signing in
	for n := 0; n < maxFlowReqs-1; n++ {
		req.Header.Set("Accept", "text/html")
		t0 := time.Now()
		resp, err := cl.Do(req)
		if err != nil {
			return flowErrf(errKindTransport, "%s: %v", req.URL.Path, err)
		}
		ag.buf.Reset()
		_, rerr := ag.buf.ReadFrom(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		lat := time.Since(t0).Nanoseconds()
		if rerr != nil {
			return flowErrf(errKindTransport, "%s: read body: %v", req.URL.Path, rerr)
		}
		record := func(s int) { ag.steps[s]++; ag.stepNS[s] += lat }
		isGet := req.Method == http.MethodGet && step != stepAuthorize

		if resp.StatusCode >= 300 && resp.StatusCode <= 399 {
			if isGet {
				step = stepRedirect
			}
			record(step)
			loc := resp.Header.Get("Location")
			if loc == "" {
				return flowErrf(errKindStatus, "%s: %d without Location", req.URL.Path, resp.StatusCode)
			}
			next, err := req.URL.Parse(loc)
			if err != nil {
				return flowErrf(errKindBody, "%s: bad Location %q", req.URL.Path, loc)
			}
			if a.isRedirectURI(next) {
				return a.exchange(cl, ag, next, state, verifier, nonce)
			}
			if !sameOrigin(next, a.authorize) {
				// Only the server under test is ever contacted.
				return flowErrf(errKindBody, "%s: redirected off the server to %s", req.URL.Path, next.Redacted())
			}
			if req, err = http.NewRequest(http.MethodGet, next.String(), nil); err != nil {
				return flowErrf(errKindTransport, "build: %v", err)
			}
			step = stepRedirect // a GET: named by what it answers
			continue
		}
		if resp.StatusCode != http.StatusOK {
			record(step)
			return flowErrf(errKindStatus, "%s %s: status %d: %s", req.Method, req.URL.Path, resp.StatusCode, pageText(ag.buf.Bytes()))
		}
		// A page: it must carry the login, second-factor or consent form.
		page := ag.buf.Bytes()
		var f htmlForm
		switch sf, isTOTP := totpForm(page); {
		case isTOTP:
			if isGet {
				step = stepSecondFactorPage
			}
			record(step)
			if code == "" || secondFactor {
				return flowErrf(errKindBody, "%s: the second-factor form came back (a refused code?): %s", req.URL.Path, pageText(page))
			}
			secondFactor = true
			f = sf
			f.values.Set(f.user, code)
			step = stepSecondFactorSubmit
		default:
			var ok bool
			if f, ok = pageForm(page); !ok {
				record(step)
				return flowErrf(errKindBody, "%s %s: 200 without a login or consent form: %s", req.Method, req.URL.Path, pageText(page))
			}
			if f.pass == "" {
				if isGet {
					step = stepConsentPage
				}
				record(step)
				if consented {
					return flowErrf(errKindBody, "%s: the consent form came back after allowing", req.URL.Path)
				}
				consented = true
				f.values.Set(f.allowName, f.allowValue)
				step = stepConsentSubmit
				break
			}
			if isGet {
				step = stepLoginPage
			}
			record(step)
			if loggedIn {
				return flowErrf(errKindBody, "%s: the login form came back after signing in (wrong password? locked account?): %s", req.URL.Path, pageText(page))
			}
			loggedIn = true
			switch a.c.authcodeLogin {
			case loginPasskey:
				pf, ok := passkeyForm(page)
				if !ok {
					return flowErrf(errKindBody, "%s: no passkey form on the login page (passkeys off?)", req.URL.Path)
				}
				action, err := req.URL.Parse(pf.action + "/begin")
				if err != nil {
					return flowErrf(errKindBody, "%s: bad passkey form action %q", req.URL.Path, pf.action)
				}
				t1 := time.Now()
				opts, status, err := beginCeremony(cl, action.String(), a.origin, pf.values.Get("_csrf"), &ag.buf)
				if err != nil {
					kind := errKindStatus
					if status == 0 {
						kind = errKindTransport
					}
					return flowErrf(kind, "passkey begin: %v", err)
				}
				ag.steps[stepPasskeyBegin]++
				ag.stepNS[stepPasskeyBegin] += time.Since(t1).Nanoseconds()
				cred, err := a.passkey.get(opts)
				if err != nil {
					return flowErrf(errKindBody, "passkey assertion: %v", err)
				}
				f = pf
				f.values.Set("credential", string(cred))
			case loginTOTP:
				user, c, ok := a.pool.take(time.Now())
				if !ok {
					return flowErrf(errKindBody, "%v", errPoolExhausted)
				}
				code = c
				f.values.Set(f.user, user)
				f.values.Set(f.pass, a.c.password)
			default:
				f.values.Set(f.user, a.c.username)
				f.values.Set(f.pass, a.c.password)
			}
			step = stepLoginSubmit
		}
		action, err := req.URL.Parse(f.action)
		if err != nil || !sameOrigin(action, a.authorize) || !strings.EqualFold(f.method, "post") {
			return flowErrf(errKindBody, "%s: the form's action %q (method %q) is not a POST to the server", req.URL.Path, f.action, f.method)
		}
		if req, err = http.NewRequest(http.MethodPost, action.String(), strings.NewReader(f.values.Encode())); err != nil {
			return flowErrf(errKindTransport, "build: %v", err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return flowErrf(errKindBody, "no redirect to the redirect URI after %d requests", maxFlowReqs-1)
}

// exchange checks the redirect to the client and trades the code for tokens.
func (a *authcode) exchange(cl *http.Client, ag *agent, loc *url.URL, state, verifier, nonce string) *flowError {
	q := loc.Query()
	if e := q.Get("error"); e != "" {
		return flowErrf(errKindStatus, "authorization error %s: %s", e, q.Get("error_description"))
	}
	if q.Get("state") != state {
		return flowErrf(errKindBody, "the redirect's state does not match the request's")
	}
	code := q.Get("code")
	if code == "" {
		return flowErrf(errKindBody, "no code in the redirect")
	}
	v := url.Values{}
	v.Set("grant_type", "authorization_code")
	v.Set("code", code)
	v.Set("redirect_uri", a.c.redirectURI)
	v.Set("code_verifier", verifier)
	if a.tokenAuthz == "" {
		v.Set("client_id", a.c.clientID)
		if !a.public {
			v.Set("client_secret", a.c.clientSecret)
		}
	}
	req, err := postForm(a.c.tokenURL, []byte(v.Encode()), a.tokenAuthz)()
	if err != nil {
		return flowErrf(errKindTransport, "build: %v", err)
	}
	t0 := time.Now()
	resp, err := cl.Do(req)
	if err != nil {
		return flowErrf(errKindTransport, "token: %v", err)
	}
	ag.buf.Reset()
	_, rerr := ag.buf.ReadFrom(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	ag.steps[stepToken]++
	ag.stepNS[stepToken] += time.Since(t0).Nanoseconds()
	if rerr != nil {
		return flowErrf(errKindTransport, "token: read body: %v", rerr)
	}
	if resp.StatusCode != http.StatusOK {
		return flowErrf(errKindStatus, "token: status %d: %s", resp.StatusCode, truncate(ag.buf.Bytes(), 200))
	}
	var tr struct {
		AccessToken string `json:"access_token"`
		IDToken     string `json:"id_token"`
	}
	if err := json.Unmarshal(ag.buf.Bytes(), &tr); err != nil || tr.AccessToken == "" || tr.IDToken == "" {
		return flowErrf(errKindBody, "token: no access_token and id_token: %s", truncate(ag.buf.Bytes(), 200))
	}
	// The ID token must be this flow's (its nonce); the signature is the
	// client's business and not checked here.
	parts := strings.Split(tr.IDToken, ".")
	var claims struct {
		Nonce string `json:"nonce"`
	}
	if len(parts) != 3 {
		return flowErrf(errKindBody, "token: id_token is not a JWS")
	}
	if payload, err := base64.RawURLEncoding.DecodeString(parts[1]); err != nil || json.Unmarshal(payload, &claims) != nil || claims.Nonce != nonce {
		return flowErrf(errKindBody, "token: the id_token's nonce is not the request's")
	}
	return nil
}

func (a *authcode) isRedirectURI(u *url.URL) bool {
	p1, p2 := u.Path, a.redirect.Path
	if p1 == "" {
		p1 = "/"
	}
	if p2 == "" {
		p2 = "/"
	}
	return strings.EqualFold(u.Scheme, a.redirect.Scheme) && strings.EqualFold(u.Host, a.redirect.Host) && p1 == p2
}

func sameOrigin(u, base *url.URL) bool {
	return strings.EqualFold(u.Scheme, base.Scheme) && strings.EqualFold(u.Host, base.Host)
}
