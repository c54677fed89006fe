package resourceserver

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"go/parser"
	"go/token"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// TestChallenge: the WWW-Authenticate values of RFC 6750 §3 with the
// RFC 9728 §5.1 resource_metadata parameter, in the order the MCP
// specification shows them.
func TestChallenge(t *testing.T) {
	const md = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
	for _, tc := range []struct {
		err    string
		scopes []string
		want   string
	}{
		{"", []string{"mcp:tools"}, `Bearer resource_metadata="` + md + `", scope="mcp:tools"`},
		{"", nil, `Bearer resource_metadata="` + md + `"`},
		{errInvalidToken, []string{"a", "b"}, `Bearer error="invalid_token", resource_metadata="` + md + `", scope="a b"`},
		{errInsufficientScope, []string{"files:write", "mcp:tools"}, `Bearer error="insufficient_scope", scope="files:write mcp:tools", resource_metadata="` + md + `"`},
	} {
		if got := challenge("Bearer", tc.err, tc.scopes, md, nil); got != tc.want {
			t.Errorf("challenge(%q, %v):\n got %s\nwant %s", tc.err, tc.scopes, got, tc.want)
		}
	}
	if got, want := challenge("DPoP", errInvalidDPoPProof, []string{"a"}, md, []string{"ES256", "EdDSA"}),
		`DPoP error="invalid_dpop_proof", algs="ES256 EdDSA", resource_metadata="`+md+`", scope="a"`; got != want {
		t.Errorf("DPoP challenge:\n got %s\nwant %s", got, want)
	}
	if got := quote(`a"b\c`); got != `"a\"b\\c"` {
		t.Errorf("quote: %s", got)
	}
}

// TestParseAuthorization: "Bearer" or "DPoP" (any case) with one
// b64token (RFC 6750 §2.1, RFC 9449 §7.1).
func TestParseAuthorization(t *testing.T) {
	for _, tc := range []struct {
		in     string
		token  string
		scheme string
		valid  bool
	}{
		{"Bearer abc.def-ghi_~+/==", "abc.def-ghi_~+/==", "Bearer", true},
		{"bearer gth_at_x.y", "gth_at_x.y", "Bearer", true},
		{"BEARER  two-spaces", "two-spaces", "Bearer", true},
		{"DPoP gth_at_x.y", "gth_at_x.y", "DPoP", true},
		{"dpop a.b.c", "a.b.c", "DPoP", true},
		{"DPoP", "", "DPoP", false},
		{"DPoP a b", "", "DPoP", false},
		{"Bearer", "", "Bearer", false},
		{"Bearer ", "", "Bearer", false},
		{"Bearer a b", "", "Bearer", false},
		{"Bearer a=b", "", "Bearer", false},
		{"Bearer ==", "", "Bearer", false},
		{`Bearer "quoted"`, "", "Bearer", false},
		{"Bearer a,b", "", "Bearer", false},
		{"Bearer " + strings.Repeat("a", maxTokenBytes+1), "", "Bearer", false},
		{"Basic dXNlcjpwYXNz", "", "", false},
		{"Bearerabc", "", "", false},
		{"DPoPabc", "", "", false},
		{"", "", "", false},
	} {
		token, scheme, ok := parseAuthorization(tc.in)
		if token != tc.token || scheme != tc.scheme || ok != tc.valid {
			t.Errorf("parseAuthorization(%.40q) = %q %q %v, want %q %q %v", tc.in, token, scheme, ok, tc.token, tc.scheme, tc.valid)
		}
	}
}

// FuzzParseAuthorization: no input panics, and a token that is accepted
// is a b64token of bounded length that parses back to itself.
func FuzzParseAuthorization(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer a.b.c", "Basic x", "Bearer  ", "Bearer a==", "Bearer =a", "Bearer \x00", "Bearer é", "DPoP a.b", "dPoP  x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		token, scheme, ok := parseAuthorization(in)
		if !ok {
			if token != "" {
				t.Fatalf("refused %q but returned %q", in, token)
			}
			return
		}
		if (scheme != "Bearer" && scheme != "DPoP") || !isB64Token(token) || len(token) > maxTokenBytes || strings.ContainsAny(token, " \t\r\n\",") {
			t.Fatalf("accepted %q as %q %q", in, scheme, token)
		}
		if again, sameScheme, ok := parseAuthorization(scheme + " " + token); !ok || again != token || sameScheme != scheme {
			t.Fatalf("%q does not parse back", token)
		}
	})
}

// TestCredentialOf: where a token may come from, and what is refused.
func TestCredentialOf(t *testing.T) {
	req := func(target string, hdr ...string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, target, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Header.Add(hdr[i], hdr[i+1])
		}
		return r
	}
	const key = "gth_ak_abcdefghijklmnopqrstuv0123456789"
	for _, tc := range []struct {
		name   string
		r      *http.Request
		token  string
		apiKey bool
		used   string
		err    string
		proofs int
	}{
		{"none", req("/mcp"), "", false, "", "", 0},
		{"bearer", req("/mcp", "Authorization", "Bearer t1"), "t1", false, "Bearer", "", 0},
		{"bearer API key", req("/mcp", "Authorization", "Bearer "+key), key, true, "Bearer", "", 0},
		{"X-API-Key", req("/mcp", "X-API-Key", key), key, true, "Bearer", "", 0},
		{"X-API-Key not a key", req("/mcp", "X-API-Key", "gth_at_x.y"), "", false, "Bearer", errInvalidToken, 0},
		{"basic is no credential", req("/mcp", "Authorization", "Basic dTpw"), "", false, "", "", 0},
		{"malformed bearer", req("/mcp", "Authorization", "Bearer a b"), "", false, "Bearer", errInvalidToken, 0},
		{"dpop", req("/mcp", "Authorization", "DPoP t1", "DPoP", "p1"), "t1", false, "DPoP", "", 1},
		{"dpop, two proofs", req("/mcp", "Authorization", "dpop t1", "DPoP", "p1", "DPoP", "p2"), "t1", false, "DPoP", "", 2},
		{"dpop, no proof", req("/mcp", "Authorization", "DPoP t1"), "t1", false, "DPoP", "", 0},
		{"malformed dpop", req("/mcp", "Authorization", "DPoP a b"), "", false, "DPoP", errInvalidToken, 0},
		{"query token", req("/mcp?access_token=t1"), "", false, "", errInvalidRequest, 0},
		{"two methods", req("/mcp", "Authorization", "Bearer t1", "X-API-Key", key), "", false, "", errInvalidRequest, 0},
		{"two headers", req("/mcp", "Authorization", "Bearer t1", "Authorization", "DPoP t2"), "", false, "", errInvalidRequest, 0},
	} {
		c, used, errCode := credentialOf(tc.r)
		if errCode != tc.err || used != tc.used {
			t.Errorf("%s: error %q, scheme %q, want %q, %q", tc.name, errCode, used, tc.err, tc.used)
			continue
		}
		if (c == nil) != (tc.token == "") || c != nil && (c.token != tc.token || c.apiKey != tc.apiKey || c.dpop != (used == "DPoP") || len(c.proofs) != tc.proofs) {
			t.Errorf("%s: credential %+v, want %q apiKey=%v", tc.name, c, tc.token, tc.apiKey)
		}
	}
}

// TestJWKSRefreshOnUnknownKid: the keys are fetched once and reused; a
// token with a kid the cache does not know makes one refetch (shared by
// concurrent requests), and at most one per KeysRefreshInterval however
// many unknown kids come; the keys are fetched again after KeysTTL.
func TestJWKSRefreshOnUnknownKid(t *testing.T) {
	as := newTestAS(t)
	as.addKey("k1")
	clock := newClock()
	a := newTestAuthenticator(t, as, clock, func(o *Options) {
		o.KeysRefreshInterval = time.Minute
		o.KeysTTL = time.Hour
	})
	ctx := context.Background()
	verify := func(kid string) error {
		_, err := a.Verify(ctx, as.sign(kid, "at+jwt", as.claimsAt(clock.Now())))
		return err
	}
	for range 3 {
		if err := verify("k1"); err != nil {
			t.Fatal(err)
		}
	}
	if n := as.jwksHits.Load(); n != 1 {
		t.Fatalf("JWKS fetched %d times for one kid, want 1", n)
	}
	if n := as.metadataHits.Load(); n != 1 {
		t.Fatalf("metadata fetched %d times, want 1", n)
	}

	// The authorization server rotates: a new key is fetched at its first
	// token, after the interval since the last fetch.
	clock.Add(time.Minute)
	as.addKey("k2")
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() { errs <- verify("k2") })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("new kid: %v", err)
		}
	}
	if n := as.jwksHits.Load(); n != 2 {
		t.Fatalf("JWKS fetched %d times after 20 concurrent tokens of a new kid, want 2", n)
	}

	// Made-up kids: refused; no fetch within the interval.
	for i := range 5 {
		if err := verify("forged-" + strconv.Itoa(i)); !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("unknown kid: %v", err)
		}
	}
	if n := as.jwksHits.Load(); n != 2 {
		t.Fatalf("JWKS fetched %d times for unknown kids within the interval, want 2", n)
	}
	clock.Add(time.Minute)
	if err := verify("forged-x"); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("unknown kid: %v", err)
	}
	if n := as.jwksHits.Load(); n != 3 {
		t.Fatalf("JWKS fetched %d times after the interval, want 3", n)
	}

	// After the TTL the keys are fetched again, even for a known kid.
	clock.Add(time.Hour)
	if err := verify("k1"); err != nil {
		t.Fatal(err)
	}
	if n := as.jwksHits.Load(); n != 4 {
		t.Fatalf("JWKS fetched %d times after the TTL, want 4", n)
	}

	// The authorization server goes away: the keys in hand still verify.
	as.srv.Close()
	clock.Add(2 * time.Hour)
	if err := verify("k2"); err != nil {
		t.Fatalf("stale keys while the AS is down: %v", err)
	}
	// A kid never seen cannot be checked: unavailable (503), not invalid.
	clock.Add(time.Hour)
	if err := verify("k9"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("new kid while the AS is down: %v", err)
	}
}

// TestJWTChecks: RFC 9068 §4 — each bad token is refused, the good one
// gives its principal.
func TestJWTChecks(t *testing.T) {
	as := newTestAS(t)
	as.addKey("k1")
	clock := newClock()
	a := newTestAuthenticator(t, as, clock, nil)
	now := clock.Now()
	good := as.sign("k1", "at+jwt", as.claimsAt(now))
	p, err := a.Verify(context.Background(), good)
	if err != nil {
		t.Fatal(err)
	}
	if p.Subject != "user-1" || p.ClientID != "app" || !p.HasScope("files:read") || p.Via != ViaJWT || p.IsAPIKey() ||
		!p.Expiry.Equal(now.Add(5*time.Minute)) || len(p.Audience) != 1 || p.Audience[0] != testResource {
		t.Fatalf("principal: %+v", p)
	}
	if _, err := a.Verify(context.Background(), as.sign("k1", "application/at+jwt", as.claimsAt(now))); err != nil {
		t.Fatalf("typ application/at+jwt: %v", err)
	}
	with := func(k string, v any) map[string]any {
		c := as.claimsAt(now)
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	parts := strings.Split(good, ".")
	b64 := base64.RawURLEncoding.EncodeToString
	hs256 := func() string {
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte(strings.Repeat("k", 32))},
			(&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", "k1"))
		if err != nil {
			t.Fatal(err)
		}
		tok, _ := jwt.Signed(s).Claims(as.claimsAt(now)).Serialize()
		return tok
	}()
	for name, tok := range map[string]string{
		"typ JWT":         as.sign("k1", "JWT", as.claimsAt(now)),
		"no typ":          as.sign("k1", "", as.claimsAt(now)),
		"other issuer":    as.sign("k1", "at+jwt", with("iss", "https://evil.example")),
		"other audience":  as.sign("k1", "at+jwt", with("aud", []string{"https://other.example/mcp"})),
		"no audience":     as.sign("k1", "at+jwt", with("aud", nil)),
		"no exp":          as.sign("k1", "at+jwt", with("exp", nil)),
		"expired":         as.sign("k1", "at+jwt", with("exp", now.Add(-time.Minute).Unix())),
		"not yet valid":   as.sign("k1", "at+jwt", with("nbf", now.Add(time.Minute).Unix())),
		"issued later":    as.sign("k1", "at+jwt", with("iat", now.Add(time.Minute).Unix())),
		"no sub":          as.sign("k1", "at+jwt", with("sub", nil)),
		"bound by mTLS":   as.sign("k1", "at+jwt", with("cnf", map[string]any{"x5t#S256": "abc"})),
		"empty cnf.jkt":   as.sign("k1", "at+jwt", with("cnf", map[string]any{"jkt": ""})),
		"cnf.jkt number":  as.sign("k1", "at+jwt", with("cnf", map[string]any{"jkt": 42})),
		"unpublished key": as.sign("k1-but-other", "at+jwt", as.claimsAt(now)),
		"alg none":        b64([]byte(`{"alg":"none","typ":"at+jwt","kid":"k1"}`)) + "." + parts[1] + ".",
		"HS256":           hs256,
		"tampered":        parts[0] + "." + b64([]byte(`{"iss":"`+as.issuer+`","sub":"admin","aud":["`+testResource+`"],"exp":9999999999}`)) + "." + parts[2],
	} {
		if _, err := a.Verify(context.Background(), tok); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: %v, want invalid", name, err)
		}
	}
	// Within the leeway an expired token still passes; past it, not.
	clock.Add(5*time.Minute + 20*time.Second)
	if _, err := a.Verify(context.Background(), good); err != nil {
		t.Fatalf("within leeway: %v", err)
	}
	clock.Add(20 * time.Second)
	if _, err := a.Verify(context.Background(), good); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("past leeway: %v", err)
	}
}

// TestIntrospection: opaque tokens and API keys are introspected with the
// resource server's credentials; answers are cached (by hash) for the TTL
// but never past the token's expiry; Forget drops an answer; the audience,
// issuer and type are checked.
func TestIntrospection(t *testing.T) {
	as := newTestAS(t)
	clock := newClock()
	a := newTestAuthenticator(t, as, clock, nil)
	ctx := context.Background()
	now := clock.Now()
	const opaque = "gth_at_opaque.one"
	as.setAnswer(opaque, map[string]any{"active": true, "iss": as.issuer, "client_id": "app", "sub": "user-1",
		"scope": "mcp:tools", "aud": []string{testResource}, "exp": now.Add(time.Hour).Unix(), "token_type": "Bearer", "roles": []string{"admin"}})
	p, err := a.Verify(ctx, opaque)
	if err != nil || p.Subject != "user-1" || p.Via != ViaIntrospection || !p.HasRole("admin") {
		t.Fatalf("opaque: %+v %v", p, err)
	}
	if u, _ := as.lastBasicUser.Load().(string); u != "rs" {
		t.Fatalf("introspection authenticated as %q", u)
	}
	if _, err := a.Verify(ctx, opaque); err != nil || as.introspectHits.Load() != 1 {
		t.Fatalf("second use: %v, %d introspections", err, as.introspectHits.Load())
	}
	// Revoked at the server: the cached answer holds for the TTL ...
	as.setAnswer(opaque, map[string]any{"active": false})
	if _, err := a.Verify(ctx, opaque); err != nil {
		t.Fatalf("within the cache TTL: %v", err)
	}
	// ... and not after.
	clock.Add(30 * time.Second)
	if _, err := a.Verify(ctx, opaque); !errors.Is(err, ErrInvalidToken) || as.introspectHits.Load() != 2 {
		t.Fatalf("after the TTL: %v, %d introspections", err, as.introspectHits.Load())
	}

	// An API key: cached, Forget makes the next use ask again.
	const key = "gth_ak_abcdefghijklmnopqrstuv0123456789"
	as.setAnswer(key, map[string]any{"active": true, "iss": as.issuer, "client_id": "ci", "scope": "mcp:tools", "token_type": "api_key"})
	hits := as.introspectHits.Load()
	if p, err := a.Verify(ctx, key); err != nil || !p.IsAPIKey() || p.Subject != "ci" || !p.Expiry.IsZero() {
		t.Fatalf("API key: %+v %v", p, err)
	}
	as.setAnswer(key, map[string]any{"active": false})
	if _, err := a.Verify(ctx, key); err != nil {
		t.Fatalf("API key from the cache: %v", err)
	}
	a.Forget(key)
	if _, err := a.Verify(ctx, key); !errors.Is(err, ErrInvalidToken) || as.introspectHits.Load() != hits+2 {
		t.Fatalf("API key after Forget: %v, %d introspections", err, as.introspectHits.Load()-hits)
	}

	// A token expiring in 10 s is cached 10 s, not 30.
	const short = "gth_at_short.lived"
	as.setAnswer(short, map[string]any{"active": true, "iss": as.issuer, "sub": "u", "aud": testResource, "exp": clock.Now().Add(10 * time.Second).Unix()})
	if _, err := a.Verify(ctx, short); err != nil {
		t.Fatal(err)
	}
	hits = as.introspectHits.Load()
	clock.Add(11 * time.Second)
	_, _ = a.Verify(ctx, short)
	if as.introspectHits.Load() != hits+1 {
		t.Fatal("an answer was cached past the token's expiry")
	}

	bad := map[string]map[string]any{
		"gth_at_other.aud":          {"active": true, "iss": as.issuer, "sub": "u", "aud": []string{"https://other.example"}},
		"gth_at_no.aud":             {"active": true, "iss": as.issuer, "sub": "u"},
		"gth_at_other.iss":          {"active": true, "iss": "https://evil.example", "sub": "u", "aud": testResource},
		"gth_at_expired.x":          {"active": true, "iss": as.issuer, "sub": "u", "aud": testResource, "exp": clock.Now().Add(-time.Hour).Unix()},
		"gth_at_refresh.typed":      {"active": true, "iss": as.issuer, "sub": "u", "aud": testResource, "token_type": "refresh_token"},
		"gth_ak_not_typed_as_a_key": {"active": true, "iss": as.issuer, "client_id": "ci", "aud": testResource, "token_type": "Bearer"},
		"gth_at_dpop.without_cnf":   {"active": true, "iss": as.issuer, "sub": "u", "aud": testResource, "token_type": "DPoP"},
		"gth_at_bound.by_mtls":      {"active": true, "iss": as.issuer, "sub": "u", "aud": testResource, "cnf": map[string]any{"x5t#S256": "abc"}},
	}
	for tok, answer := range bad {
		as.setAnswer(tok, answer)
		if _, err := a.Verify(ctx, tok); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: %v, want invalid", tok, err)
		}
	}
	// Never sent to introspection: other kinds of gatehouse credential.
	hits = as.introspectHits.Load()
	for _, tok := range []string{"gth_rt_refresh.token", "gth_ac_code.value"} {
		if _, err := a.Verify(ctx, tok); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: %v", tok, err)
		}
	}
	if as.introspectHits.Load() != hits {
		t.Fatal("a refresh token or code was introspected")
	}

	// Keys are refused without introspection when API keys are off, and
	// opaque tokens without client credentials.
	jwtOnly := newTestAuthenticator(t, as, clock, func(o *Options) { o.ClientID, o.ClientSecret, o.APIKeys = "", "", false })
	noKeys := newTestAuthenticator(t, as, clock, func(o *Options) { o.APIKeys = false })
	hits = as.introspectHits.Load()
	if _, err := noKeys.Verify(ctx, key); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("key with APIKeys off: %v", err)
	}
	if _, err := jwtOnly.Verify(ctx, opaque); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("opaque without credentials: %v", err)
	}
	if as.introspectHits.Load() != hits {
		t.Fatal("introspected without being allowed to")
	}

	// Wrong client credentials: the server cannot check tokens (503), and
	// nothing is cached.
	wrong := newTestAuthenticator(t, as, clock, func(o *Options) { o.ClientSecret = "wrong" })
	as.setAnswer("gth_at_fine.token", map[string]any{"active": true, "iss": as.issuer, "sub": "u", "aud": testResource})
	if _, err := wrong.Verify(ctx, "gth_at_fine.token"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("wrong credentials: %v", err)
	}
}

// TestMetadataFailureIsNotRetriedAtOnce: while the authorization
// server's metadata cannot be fetched, requests are answered unavailable
// without each fetching it again; after KeysRefreshInterval it is tried
// again and, once back, used.
func TestMetadataFailureIsNotRetriedAtOnce(t *testing.T) {
	as := newTestAS(t)
	as.metadataDown.Store(true)
	clock := newClock()
	a := newTestAuthenticator(t, as, clock, nil)
	const tok = "gth_at_some.token"
	as.setAnswer(tok, map[string]any{"active": true, "iss": as.issuer, "sub": "u", "aud": testResource})
	for range 5 {
		if _, err := a.Verify(context.Background(), tok); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("metadata down: %v", err)
		}
	}
	if n := as.metadataHits.Load(); n != 1 {
		t.Fatalf("metadata fetched %d times while down, want 1", n)
	}
	as.metadataDown.Store(false)
	clock.Add(30 * time.Second)
	if _, err := a.Verify(context.Background(), tok); err != nil {
		t.Fatalf("metadata back: %v", err)
	}
	if n := as.metadataHits.Load(); n != 2 {
		t.Fatalf("metadata fetched %d times, want 2", n)
	}
}

// TestAnswerCacheBounded: the cache never holds more than its size.
func TestAnswerCacheBounded(t *testing.T) {
	as := newTestAS(t)
	clock := newClock()
	a := newTestAuthenticator(t, as, clock, func(o *Options) { o.IntrospectionCacheSize = 5 })
	for i := range 20 {
		tok := "gth_at_t" + strconv.Itoa(i) + ".x"
		as.setAnswer(tok, map[string]any{"active": true, "iss": as.issuer, "sub": "u", "aud": testResource})
		if _, err := a.Verify(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
	a.answers.mu.Lock()
	n := len(a.answers.entries)
	a.answers.mu.Unlock()
	if n > 5 {
		t.Fatalf("%d cached answers, bound 5", n)
	}
}

// TestMiddleware: the answers a client sees, with their challenges.
func TestMiddleware(t *testing.T) {
	as := newTestAS(t)
	as.addKey("k1")
	clock := newClock()
	a := newTestAuthenticator(t, as, clock, nil)
	mux := http.NewServeMux()
	whoami := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := FromContext(r.Context())
		if !ok {
			t.Error("no principal behind the middleware")
			return
		}
		_, _ = io.WriteString(w, p.Subject)
	})
	mux.Handle("/mcp", a.Middleware(whoami))
	mux.Handle("/write", a.Middleware(a.RequireScopes("files:write")(whoami)))
	mux.Handle("/admin", a.Middleware(a.RequireRole("admin")(whoami)))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	do := func(path string, hdr ...string) (int, string, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader("{}"))
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("WWW-Authenticate"), string(body)
	}
	md := a.MetadataURL()
	if md != "http://127.0.0.1:9999/.well-known/oauth-protected-resource/mcp" {
		t.Fatalf("metadata URL %s", md)
	}
	good := "Bearer " + as.sign("k1", "at+jwt", as.claimsAt(clock.Now()))

	st, www, body := do("/mcp")
	if st != 401 || www != `Bearer resource_metadata="`+md+`", scope="mcp:tools"` || strings.Contains(body, `"error":`) {
		t.Fatalf("no token: %d %s %s", st, www, body)
	}
	st, www, body = do("/mcp", "Authorization", "Bearer gth_at_unknown.token")
	if st != 401 || www != `Bearer error="invalid_token", resource_metadata="`+md+`", scope="mcp:tools"` || !strings.Contains(body, `"error":"invalid_token"`) {
		t.Fatalf("bad token: %d %s %s", st, www, body)
	}
	if st, _, body = do("/mcp", "Authorization", good); st != 200 || body != "user-1" {
		t.Fatalf("good token: %d %s", st, body)
	}
	st, www, _ = do("/write", "Authorization", good)
	if st != 403 || www != `Bearer error="insufficient_scope", scope="files:write mcp:tools", resource_metadata="`+md+`"` {
		t.Fatalf("missing scope: %d %s", st, www)
	}
	st, www, body = do("/admin", "Authorization", good)
	if st != 403 || www != "" || !strings.Contains(body, "access_denied") {
		t.Fatalf("missing role: %d %s %s", st, www, body)
	}
	// A token without the resource's required scope.
	c := as.claimsAt(clock.Now())
	c["scope"] = "files:read"
	st, www, _ = do("/mcp", "Authorization", "Bearer "+as.sign("k1", "at+jwt", c))
	if st != 403 || www != `Bearer error="insufficient_scope", scope="mcp:tools", resource_metadata="`+md+`"` {
		t.Fatalf("without the required scope: %d %s", st, www)
	}
	// A token in the query string, or two credentials: 400.
	if st, www, _ = do("/mcp?access_token=x"); st != 400 || !strings.Contains(www, `error="invalid_request"`) {
		t.Fatalf("query token: %d %s", st, www)
	}
	if st, _, _ = do("/mcp", "Authorization", good, "X-API-Key", "gth_ak_x"); st != 400 {
		t.Fatalf("two credentials: %d", st)
	}
	// The authorization server down, a key never seen: 503, nothing
	// internal in the body.
	as.srv.Close()
	clock.Add(time.Hour)
	st, _, body = do("/mcp", "Authorization", "Bearer "+as.sign("k-new", "at+jwt", as.claimsAt(clock.Now())))
	if st != 503 || strings.Contains(body, "127.0.0.1") || strings.Contains(body, "jwks") {
		t.Fatalf("AS down: %d %s", st, body)
	}
}

// TestMetadataHandler: RFC 9728 metadata at the root and path-suffixed
// well-known URLs, nowhere else.
func TestMetadataHandler(t *testing.T) {
	a, err := New(Options{Issuer: "https://id.example.com", Resource: "https://mcp.example.com/tools/mcp",
		ScopesSupported: []string{"mcp:tools", "files:read"}, RequiredScopes: []string{"mcp:tools"},
		ResourceName: "Example tools", ResourceDocumentation: "https://mcp.example.com/docs", DPoPAlgs: []string{"ES256", "EdDSA"}})
	if err != nil {
		t.Fatal(err)
	}
	if a.MetadataURL() != "https://mcp.example.com/.well-known/oauth-protected-resource/tools/mcp" {
		t.Fatalf("metadata URL %s", a.MetadataURL())
	}
	h := a.MetadataHandler()
	for _, path := range []string{"/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/tools/mcp"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" || !strings.Contains(rec.Header().Get("Cache-Control"), "max-age=") {
			t.Fatalf("%s: %d %v", path, rec.Code, rec.Header())
		}
		var m map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		want := `{"authorization_servers":["https://id.example.com"],"bearer_methods_supported":["header"],"dpop_signing_alg_values_supported":["ES256","EdDSA"],"resource":"https://mcp.example.com/tools/mcp","resource_documentation":"https://mcp.example.com/docs","resource_name":"Example tools","scopes_supported":["mcp:tools","files:read"]}`
		if got, _ := json.Marshal(m); string(got) != want {
			t.Fatalf("%s:\n got %s\nwant %s", path, got, want)
		}
	}
	for _, path := range []string{"/.well-known/oauth-protected-resource/other", "/mcp"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != 404 {
			t.Fatalf("%s: %d", path, rec.Code)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, MetadataPath, nil))
	if rec.Code != 405 {
		t.Fatalf("POST: %d", rec.Code)
	}
	for res, want := range map[string]string{
		"https://mcp.example.com":          "https://mcp.example.com/.well-known/oauth-protected-resource",
		"https://mcp.example.com/":         "https://mcp.example.com/.well-known/oauth-protected-resource",
		"https://mcp.example.com:8443/a/b": "https://mcp.example.com:8443/.well-known/oauth-protected-resource/a/b",
	} {
		if got := ResourceMetadataURL(res); got != want {
			t.Errorf("ResourceMetadataURL(%s) = %s", res, got)
		}
	}
	if got := metadataURL("https://id.example.com/tenant"); got != "https://id.example.com/.well-known/oauth-authorization-server/tenant" {
		t.Errorf("metadataURL: %s", got)
	}
}

// TestNewRefusesBadOptions: configuration mistakes are errors at New.
func TestNewRefusesBadOptions(t *testing.T) {
	good := Options{Issuer: "https://id.example.com", Resource: "https://mcp.example.com/mcp"}
	if _, err := New(good); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(*Options){
		"no issuer":              func(o *Options) { o.Issuer = "" },
		"http issuer":            func(o *Options) { o.Issuer = "http://id.example.com" },
		"resource fragment":      func(o *Options) { o.Resource = "https://mcp.example.com/mcp#x" },
		"relative resource":      func(o *Options) { o.Resource = "/mcp" },
		"secret without id":      func(o *Options) { o.ClientSecret = "s" },
		"API keys without creds": func(o *Options) { o.APIKeys = true },
		"bad scope":              func(o *Options) { o.RequiredScopes = []string{`a"b`} },
		"huge leeway":            func(o *Options) { o.Leeway = time.Hour },
		"symmetric DPoP alg":     func(o *Options) { o.DPoPAlgs = []string{"ES256", "HS256"} },
		"DPoP alg none":          func(o *Options) { o.DPoPAlgs = []string{"none"} },
		"API keys with DPoP":     func(o *Options) { o.ClientID, o.ClientSecret, o.APIKeys, o.RequireDPoP = "c", "s", true, true },
	} {
		o := good
		mod(&o)
		if _, err := New(o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestImportsStayLight: the package imports the standard library, go-jose,
// x/sync and provider/dpop (itself standard library and go-jose) only, so
// that a resource server importing it does not pull in the authorization
// server.
func TestImportsStayLight(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	// provider/dpop is allowed as long as it stays as light itself.
	dpopFiles, _ := filepath.Glob("../dpop/*.go")
	for _, f := range append(files, dpopFiles...) {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		parsed, err := parser.ParseFile(token.NewFileSet(), f, src, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range parsed.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			first, _, _ := strings.Cut(path, "/")
			if strings.Contains(first, ".") && !strings.HasPrefix(path, "github.com/go-jose/go-jose/v4") && !strings.HasPrefix(path, "golang.org/x/sync/") &&
				path != "github.com/gatehouse-dev/gatehouse/provider/dpop" {
				t.Errorf("%s imports %s", f, path)
			}
		}
	}
}
