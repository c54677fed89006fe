// Package fedtest runs a fake upstream OpenID Connect issuer on a loopback
// httptest server, for tests of federated sign-in: discovery, a JWKS,
// /authorize (no UI: it redirects straight back with a code, or with
// error=access_denied when told to) and /token (client_secret_basic and
// client_secret_post, single-use codes, PKCE S256), issuing RS256 ID
// tokens for the identity the test sets. Knobs make the next responses
// misbehave in the ways a real upstream or an attacker could.
package fedtest

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Defaults for Options.
const (
	DefaultClientID     = "fedtest-client"
	DefaultClientSecret = "fedtest-client-secret-5f1c0d9a7b"
)

// Options configure New.
type Options struct {
	// ClientID and ClientSecret of the one registered client; defaults
	// DefaultClientID and DefaultClientSecret.
	ClientID, ClientSecret string
	// RedirectURI registered for the client (exact match); required.
	RedirectURI string
	// Addr, when set, is the loopback address to listen on (e.g. a port
	// chosen in advance, so that the issuer URL is known before the
	// server runs). Default: a random port on 127.0.0.1.
	Addr string
	// AuthMethods are advertised as token_endpoint_auth_methods_supported
	// and are the only ones /token accepts; default client_secret_basic
	// and client_secret_post.
	AuthMethods []string
	// SigningAlgs are advertised as id_token_signing_alg_values_supported;
	// default RS256 (tokens are RS256 whatever this says).
	SigningAlgs []string
}

// Identity is who the fake upstream says signs in. Empty Email, Name and
// HD leave the claims out (email_verified goes with email).
type Identity struct {
	Subject       string
	Email         string
	EmailVerified bool
	Name          string
	HD            string
}

// DefaultIdentity is the identity of a new Server.
var DefaultIdentity = Identity{
	Subject:       "fedtest-subject-0001",
	Email:         "alice@example.com",
	EmailVerified: true,
	Name:          "Alice Example",
}

// Breakage is a way the next token response misbehaves; see Break.
type Breakage struct {
	kind  string
	delay time.Duration
}

func (b Breakage) String() string {
	if b.kind == "slow_token" {
		return fmt.Sprintf("SlowToken(%s)", b.delay)
	}
	return b.kind
}

// Breakages of the next token response.
var (
	WrongIssuer    = Breakage{kind: "WrongIssuer"}    // iss is another issuer
	WrongAudience  = Breakage{kind: "WrongAudience"}  // aud (and azp) is another client
	Expired        = Breakage{kind: "Expired"}        // exp in the past
	BadSignature   = Breakage{kind: "BadSignature"}   // signed by a key not published, with the current kid
	AlgNone        = Breakage{kind: "AlgNone"}        // unsigned, alg "none"
	WrongNonce     = Breakage{kind: "WrongNonce"}     // nonce is not the one sent to /authorize
	AZPMismatch    = Breakage{kind: "AZPMismatch"}    // aud includes us, but azp names another client
	IssuedInFuture = Breakage{kind: "IssuedInFuture"} // iat an hour ahead
	AlgHS256       = Breakage{kind: "AlgHS256"}       // HS256 with the client secret as key (algorithm confusion)
	NoIDToken      = Breakage{kind: "NoIDToken"}      // the token response has no id_token
	// LeakyError answers 400 invalid_grant with an error_description
	// that repeats the client secret, the code and the verifier, as a
	// careless upstream might: they must not reach logs.
	LeakyError = Breakage{kind: "LeakyError"}
)

// SlowToken delays the next token response by d (or until the request is
// abandoned or the test ends, whichever comes first).
func SlowToken(d time.Duration) Breakage { return Breakage{kind: "slow_token", delay: d} }

// Server is a fake upstream issuer. URL is its issuer URL.
type Server struct {
	URL string

	t       testing.TB
	opts    Options
	srv     *httptest.Server
	closing chan struct{}

	mu            sync.Mutex
	key           *rsa.PrivateKey
	kid           string
	identity      Identity
	codes         map[string]*grant
	denyNext      bool
	breaks        []Breakage
	hits          map[string]int
	lastAuthorize url.Values
	lastTokenAuth string
}

type grant struct {
	redirectURI string
	challenge   string
	nonce       string
	identity    Identity
	authTime    time.Time
	expires     time.Time
	used        bool
}

// codeLifetime is how long an authorization code may be redeemed.
const codeLifetime = time.Minute

// New starts a fake issuer; it is closed when the test ends.
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.RedirectURI == "" {
		t.Fatal("fedtest: Options.RedirectURI is required")
	}
	if opts.ClientID == "" {
		opts.ClientID = DefaultClientID
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = DefaultClientSecret
	}
	if len(opts.AuthMethods) == 0 {
		opts.AuthMethods = []string{"client_secret_basic", "client_secret_post"}
	}
	if len(opts.SigningAlgs) == 0 {
		opts.SigningAlgs = []string{"RS256"}
	}
	s := &Server{
		t:        t,
		opts:     opts,
		closing:  make(chan struct{}),
		identity: DefaultIdentity,
		codes:    map[string]*grant{},
		hits:     map[string]int{},
	}
	s.key, s.kid = newKey(t)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", s.count(s.discovery))
	mux.HandleFunc("GET /jwks", s.count(s.jwks))
	mux.HandleFunc("GET /authorize", s.count(s.authorize))
	mux.HandleFunc("POST /token", s.count(s.token))
	s.srv = httptest.NewUnstartedServer(mux)
	if opts.Addr != "" {
		l, err := net.Listen("tcp", opts.Addr)
		if err != nil {
			t.Fatalf("fedtest: listen on %s: %v", opts.Addr, err)
		}
		_ = s.srv.Listener.Close()
		s.srv.Listener = l
	}
	// Set before Start: handlers read it (Start sets the same srv.URL).
	s.URL = "http://" + s.srv.Listener.Addr().String()
	s.srv.Start()
	t.Cleanup(func() {
		close(s.closing)
		s.srv.Close()
	})
	return s
}

func newKey(t testing.TB) (*rsa.PrivateKey, string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("fedtest: generating a key: %v", err)
	}
	return key, "fedtest-" + randomString(6)
}

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// ClientID returns the registered client id.
func (s *Server) ClientID() string { return s.opts.ClientID }

// ClientSecret returns the registered client secret.
func (s *Server) ClientSecret() string { return s.opts.ClientSecret }

// SetIdentity sets who signs in from now on (codes issued before keep the
// identity they were issued for).
func (s *Server) SetIdentity(id Identity) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.identity = id
}

// RotateKey replaces the signing key: the new one is published under a
// new kid and the old one is removed from the JWKS.
func (s *Server) RotateKey() {
	s.t.Helper()
	key, kid := newKey(s.t)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.key, s.kid = key, kid
}

// KID returns the kid of the current signing key.
func (s *Server) KID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.kid
}

// DenyNext makes the next /authorize redirect back with
// error=access_denied, as when the user clicks "Cancel".
func (s *Server) DenyNext() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.denyNext = true
}

// Break makes the next token response misbehave in all the given ways
// (they are used up by that response).
func (s *Server) Break(b ...Breakage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.breaks = append(s.breaks, b...)
}

// Hits returns how many requests path ("/token", "/jwks", "/authorize",
// "/.well-known/openid-configuration") has received.
func (s *Server) Hits(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[path]
}

// LastAuthorize returns the query of the last /authorize request.
func (s *Server) LastAuthorize() url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	return cloneValues(s.lastAuthorize)
}

// LastTokenAuthMethod returns how the last token request authenticated:
// "client_secret_basic", "client_secret_post" or "".
func (s *Server) LastTokenAuthMethod() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastTokenAuth
}

// Authorize performs the browser's leg: it GETs authURL (an authorization
// URL of this server) and returns the URL the server redirects to, the
// client's redirect URI with code and state (or error). It fails the test
// on anything else.
func (s *Server) Authorize(t testing.TB, authURL string) (callbackURL string) {
	t.Helper()
	// A transport of its own without keep-alive: nothing lingers after.
	transport := &http.Transport{DisableKeepAlives: true}
	defer transport.CloseIdleConnections()
	client := &http.Client{
		Transport:     transport,
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Get(authURL)
	if err != nil {
		t.Fatalf("fedtest: GET %s: %v", authURL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("fedtest: GET %s: %s, want a redirect: %s", authURL, resp.Status, body)
	}
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, s.opts.RedirectURI+"?") {
		t.Fatalf("fedtest: redirected to %q, not to the redirect URI %q", loc, s.opts.RedirectURI)
	}
	return loc
}

func (s *Server) count(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.hits[r.URL.Path]++
		s.mu.Unlock()
		h(w, r)
	}
}

func (s *Server) discovery(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                s.URL,
		"authorization_endpoint":                s.URL + "/authorize",
		"token_endpoint":                        s.URL + "/token",
		"jwks_uri":                              s.URL + "/jwks",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": s.opts.SigningAlgs,
		"scopes_supported":                      []string{"openid", "email", "profile"},
		"token_endpoint_auth_methods_supported": s.opts.AuthMethods,
		"code_challenge_methods_supported":      []string{"S256"},
		"grant_types_supported":                 []string{"authorization_code"},
		"claims_supported":                      []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "azp", "email", "email_verified", "name", "hd"},
	})
}

func (s *Server) jwks(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{
		Key: &s.key.PublicKey, KeyID: s.kid, Algorithm: "RS256", Use: "sig",
	}}}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, set)
}

func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != s.opts.ClientID {
		http.Error(w, "fedtest: unknown client_id "+strconvQuote(q.Get("client_id")), http.StatusBadRequest)
		return
	}
	if q.Get("redirect_uri") != s.opts.RedirectURI {
		http.Error(w, "fedtest: redirect_uri "+strconvQuote(q.Get("redirect_uri"))+" is not the registered one", http.StatusBadRequest)
		return
	}
	back := func(params url.Values) {
		if st := q.Get("state"); st != "" {
			params.Set("state", st)
		}
		http.Redirect(w, r, s.opts.RedirectURI+"?"+params.Encode(), http.StatusFound)
	}
	fail := func(code, desc string) {
		back(url.Values{"error": {code}, "error_description": {desc}})
	}

	s.mu.Lock()
	s.lastAuthorize = cloneValues(q)
	deny := s.denyNext
	s.denyNext = false
	identity := s.identity
	s.mu.Unlock()

	switch {
	case deny:
		fail("access_denied", "The user denied the request")
		return
	case q.Get("response_type") != "code":
		fail("unsupported_response_type", "only response_type=code is supported")
		return
	case !slices.Contains(strings.Fields(q.Get("scope")), "openid"):
		fail("invalid_scope", "scope must include openid")
		return
	case q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43:
		fail("invalid_request", "PKCE with code_challenge_method=S256 is required")
		return
	}
	code := "fedtest-code-" + randomString(24)
	now := time.Now()
	s.mu.Lock()
	s.codes[code] = &grant{
		redirectURI: q.Get("redirect_uri"),
		challenge:   q.Get("code_challenge"),
		nonce:       q.Get("nonce"),
		identity:    identity,
		authTime:    now,
		expires:     now.Add(codeLifetime),
	}
	s.mu.Unlock()
	back(url.Values{"code": {code}})
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		tokenError(w, http.StatusBadRequest, "invalid_request", "unparsable form")
		return
	}
	// Client authentication.
	id, secret, basic := r.BasicAuth()
	method := "client_secret_basic"
	if basic {
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		secret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil {
			tokenError(w, http.StatusUnauthorized, "invalid_client", "malformed Basic credentials")
			return
		}
		if r.PostForm.Has("client_secret") {
			tokenError(w, http.StatusBadRequest, "invalid_request", "more than one client authentication method")
			return
		}
	} else {
		method = "client_secret_post"
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		if secret == "" {
			w.Header().Set("WWW-Authenticate", `Basic realm="fedtest"`)
			tokenError(w, http.StatusUnauthorized, "invalid_client", "client authentication required")
			return
		}
	}
	s.mu.Lock()
	s.lastTokenAuth = method
	s.mu.Unlock()
	if !slices.Contains(s.opts.AuthMethods, method) {
		w.Header().Set("WWW-Authenticate", `Basic realm="fedtest"`)
		tokenError(w, http.StatusUnauthorized, "invalid_client", method+" is not allowed")
		return
	}
	if id != s.opts.ClientID || !hmac.Equal([]byte(secret), []byte(s.opts.ClientSecret)) {
		w.Header().Set("WWW-Authenticate", `Basic realm="fedtest"`)
		tokenError(w, http.StatusUnauthorized, "invalid_client", "wrong client credentials")
		return
	}
	if r.PostForm.Has("client_id") && r.PostForm.Get("client_id") != s.opts.ClientID {
		tokenError(w, http.StatusBadRequest, "invalid_request", "client_id does not match the authenticated client")
		return
	}
	if r.PostForm.Get("grant_type") != "authorization_code" {
		tokenError(w, http.StatusBadRequest, "unsupported_grant_type", "only authorization_code")
		return
	}

	code := r.PostForm.Get("code")
	s.mu.Lock()
	g := s.codes[code]
	var used bool
	if g != nil {
		used = g.used
		g.used = true
	}
	breaks := s.breaks
	s.breaks = nil
	key, kid := s.key, s.kid
	s.mu.Unlock()
	switch {
	case g == nil:
		tokenError(w, http.StatusBadRequest, "invalid_grant", "unknown authorization code")
		return
	case used:
		tokenError(w, http.StatusBadRequest, "invalid_grant", "authorization code already used")
		return
	case time.Now().After(g.expires):
		tokenError(w, http.StatusBadRequest, "invalid_grant", "authorization code expired")
		return
	case r.PostForm.Get("redirect_uri") != g.redirectURI:
		tokenError(w, http.StatusBadRequest, "invalid_grant", "redirect_uri does not match the authorization request")
		return
	case s256(r.PostForm.Get("code_verifier")) != g.challenge:
		tokenError(w, http.StatusBadRequest, "invalid_grant", "PKCE verification failed")
		return
	}

	has := func(b Breakage) bool { return slices.Contains(breaks, b) }
	for _, b := range breaks {
		if b.kind == "slow_token" {
			t := time.NewTimer(b.delay)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			case <-s.closing:
				t.Stop()
				return
			}
		}
	}
	if has(LeakyError) {
		tokenError(w, http.StatusBadRequest, "invalid_grant", fmt.Sprintf("rejected client_secret=%s code=%s code_verifier=%s",
			secret, code, r.PostForm.Get("code_verifier")))
		return
	}

	accessToken := "fedtest-at-" + randomString(24)
	now := time.Now()
	c := map[string]any{
		"iss":       s.URL,
		"sub":       g.identity.Subject,
		"aud":       s.opts.ClientID,
		"azp":       s.opts.ClientID,
		"iat":       now.Unix(),
		"exp":       now.Add(10 * time.Minute).Unix(),
		"auth_time": g.authTime.Unix(),
		"at_hash":   atHash(accessToken),
	}
	if g.nonce != "" {
		c["nonce"] = g.nonce
	}
	if g.identity.Email != "" {
		c["email"] = g.identity.Email
		c["email_verified"] = g.identity.EmailVerified
	}
	if g.identity.Name != "" {
		c["name"] = g.identity.Name
	}
	if g.identity.HD != "" {
		c["hd"] = g.identity.HD
	}
	if has(WrongIssuer) {
		c["iss"] = "https://issuer.invalid"
	}
	if has(WrongAudience) {
		c["aud"], c["azp"] = "another-client", "another-client"
	}
	if has(Expired) {
		c["iat"] = now.Add(-65 * time.Minute).Unix()
		c["exp"] = now.Add(-5 * time.Minute).Unix()
	}
	if has(IssuedInFuture) {
		c["iat"] = now.Add(time.Hour).Unix()
		c["exp"] = now.Add(2 * time.Hour).Unix()
	}
	if has(WrongNonce) {
		c["nonce"] = "not-" + g.nonce
	}
	if has(AZPMismatch) {
		c["aud"] = []string{s.opts.ClientID, "another-client"}
		c["azp"] = "another-client"
	}
	payload, err := json.Marshal(c)
	if err != nil {
		tokenError(w, http.StatusInternalServerError, "server_error", err.Error())
		return
	}

	var idToken string
	switch {
	case has(AlgNone):
		idToken = unsigned(kid, payload)
	case has(AlgHS256):
		idToken = hs256(kid, payload, []byte(s.opts.ClientSecret))
	case has(BadSignature):
		var rogue *rsa.PrivateKey
		if rogue, err = rsa.GenerateKey(rand.Reader, 2048); err == nil {
			idToken, err = sign(rogue, kid, payload)
		}
	default:
		idToken, err = sign(key, kid, payload)
	}
	if err != nil {
		tokenError(w, http.StatusInternalServerError, "server_error", err.Error())
		return
	}
	resp := map[string]any{
		"access_token": accessToken,
		"token_type":   "Bearer",
		"expires_in":   3600,
		"scope":        "openid email profile",
	}
	if !has(NoIDToken) {
		resp["id_token"] = idToken
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, resp)
}

func sign(key *rsa.PrivateKey, kid string, payload []byte) (string, error) {
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: kid, Algorithm: "RS256"}},
		(&jose.SignerOptions{}).WithType("JWT"),
	)
	if err != nil {
		return "", err
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return obj.CompactSerialize()
}

func unsigned(kid string, payload []byte) string {
	h, _ := json.Marshal(map[string]string{"alg": "none", "typ": "JWT", "kid": kid})
	return b64(h) + "." + b64(payload) + "."
}

func hs256(kid string, payload, key []byte) string {
	h, _ := json.Marshal(map[string]string{"alg": "HS256", "typ": "JWT", "kid": kid})
	input := b64(h) + "." + b64(payload)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(input))
	return input + "." + b64(mac.Sum(nil))
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return b64(sum[:])
}

func atHash(accessToken string) string {
	sum := sha256.Sum256([]byte(accessToken))
	return b64(sum[:16])
}

func tokenError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func cloneValues(v url.Values) url.Values {
	if v == nil {
		return nil
	}
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

func strconvQuote(s string) string { return fmt.Sprintf("%q", s) }
