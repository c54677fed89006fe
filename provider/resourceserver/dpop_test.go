package resourceserver

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/provider/dpop"
)

// testOrigin is where clients reach testResource: the htu of their
// proofs is testOrigin + the path (the test server itself listens on
// another loopback port, as a server behind a proxy does).
const testOrigin = "http://127.0.0.1:9999"

// dpopFixture is a resource server behind Middleware on loopback, its
// test authorization server, and a client holding a DPoP key.
type dpopFixture struct {
	t      *testing.T
	as     *testAS
	clock  *testClock
	a      *Authenticator
	srv    *httptest.Server
	client *dpop.Prover // the key the tokens are bound to
	logs   *bytes.Buffer
}

func newDPoPFixture(t *testing.T, mod func(*Options, *testClock)) *dpopFixture {
	t.Helper()
	f := &dpopFixture{t: t, as: newTestAS(t), clock: newClock(), logs: &bytes.Buffer{}}
	f.as.addKey("k1")
	f.a = newTestAuthenticator(t, f.as, f.clock, func(o *Options) {
		o.Logger = slog.New(slog.NewTextHandler(f.logs, nil))
		if mod != nil {
			mod(o, f.clock)
		}
	})
	f.client = f.newProver()
	whoami := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := FromContext(r.Context())
		writeTestJSON(w, map[string]string{"sub": p.Subject, "jkt": p.JKT, "via": p.Via})
	})
	mux := http.NewServeMux()
	mux.Handle("/mcp", f.a.Middleware(whoami))
	mux.Handle("/write", f.a.Middleware(f.a.RequireScopes("files:write")(whoami)))
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

// newProver makes a DPoP key (ES256) whose proofs are dated by the test
// clock.
func (f *dpopFixture) newProver() *dpop.Prover {
	f.t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.t.Fatal(err)
	}
	p, err := dpop.NewProver(k, "ES256")
	if err != nil {
		f.t.Fatal(err)
	}
	p.Now = f.clock.Now
	return p
}

// proof is a proof by p for method on testOrigin+path presenting token.
func (f *dpopFixture) proof(p *dpop.Prover, method, path, token, nonce string) string {
	f.t.Helper()
	proof, err := p.Proof(method, testOrigin+path, token, nonce)
	if err != nil {
		f.t.Fatal(err)
	}
	return proof
}

// boundJWT is a JWT access token bound to the client's key.
func (f *dpopFixture) boundJWT() string {
	return f.as.sign("k1", "at+jwt", f.as.boundClaimsAt(f.clock.Now(), f.client.JKT()))
}

type dpopResponse struct {
	status     int
	challenges []string
	errCode    string
	body       map[string]string
	nonce      string
	retryAfter string
}

// do sends method path with the header pairs hdr (added, so a name may
// repeat).
func (f *dpopFixture) do(method, path string, hdr ...string) dpopResponse {
	f.t.Helper()
	r, err := f.send(method, path, hdr...)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

// send is do for any goroutine: it returns its failure.
func (f *dpopFixture) send(method, path string, hdr ...string) (dpopResponse, error) {
	req, err := http.NewRequest(method, f.srv.URL+path, nil)
	if err != nil {
		return dpopResponse{}, err
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return dpopResponse{}, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := dpopResponse{status: resp.StatusCode, challenges: resp.Header.Values("WWW-Authenticate"),
		nonce: resp.Header.Get(dpop.NonceHeader), retryAfter: resp.Header.Get("Retry-After")}
	if err := json.Unmarshal(raw, &r.body); err != nil {
		return r, fmt.Errorf("body %q: %w", raw, err)
	}
	r.errCode = r.body["error"]
	return r, nil
}

// challengesFor are the two challenges of a refusal with errCode on the
// challenge of scheme ("" for none).
func (f *dpopFixture) challengesFor(scheme, errCode string) []string {
	md := f.a.MetadataURL()
	bearer := `Bearer resource_metadata="` + md + `", scope="mcp:tools"`
	dp := `DPoP algs="` + strings.Join(dpop.DefaultAlgs, " ") + `", resource_metadata="` + md + `", scope="mcp:tools"`
	switch scheme {
	case "Bearer":
		bearer = `Bearer error="` + errCode + `", ` + strings.TrimPrefix(bearer, "Bearer ")
	case "DPoP":
		dp = `DPoP error="` + errCode + `", ` + strings.TrimPrefix(dp, "DPoP ")
	}
	return []string{bearer, dp}
}

// TestDPoPBoundTokensAccepted: a DPoP-bound JWT access token (cnf.jkt,
// RFC 9449 §6.1) and a bound opaque token (introspection's cnf.jkt, §6.2)
// pass with the DPoP scheme and a good proof; the principal carries the
// key's thumbprint; the binding is cached with the introspection answer.
func TestDPoPBoundTokensAccepted(t *testing.T) {
	f := newDPoPFixture(t, nil)
	at := f.boundJWT()
	r := f.do("POST", "/mcp", "Authorization", "DPoP "+at, "DPoP", f.proof(f.client, "POST", "/mcp", at, ""))
	if r.status != 200 || r.body["sub"] != "user-1" || r.body["jkt"] != f.client.JKT() || r.body["via"] != ViaJWT {
		t.Fatalf("bound JWT: %+v", r)
	}
	if r.nonce != "" {
		t.Fatalf("a DPoP-Nonce without nonces configured: %q", r.nonce)
	}
	// The scheme is case-insensitive (RFC 9110 §11.1); a query is not
	// part of htu.
	r = f.do("GET", "/mcp?page=2", "Authorization", "dpop "+at, "DPoP", f.proof(f.client, "GET", "/mcp", at, ""))
	if r.status != 200 {
		t.Fatalf("lower-case scheme, query: %+v", r)
	}

	const opaque = "gth_at_bound.opaque"
	f.as.setAnswer(opaque, f.as.boundAnswer(f.clock.Now(), f.client.JKT()))
	for range 2 {
		r = f.do("POST", "/mcp", "Authorization", "DPoP "+opaque, "DPoP", f.proof(f.client, "POST", "/mcp", opaque, ""))
		if r.status != 200 || r.body["sub"] != "user-2" || r.body["jkt"] != f.client.JKT() || r.body["via"] != ViaIntrospection {
			t.Fatalf("bound opaque token: %+v", r)
		}
	}
	if n := f.as.introspectHits.Load(); n != 1 {
		t.Fatalf("%d introspections, want 1 (the answer is cached)", n)
	}
	// From the cache, the token is still bound.
	if r = f.do("POST", "/mcp", "Authorization", "Bearer "+opaque); r.status != 401 || r.errCode != errInvalidToken {
		t.Fatalf("cached bound token as a bearer token: %+v", r)
	}
	// Verify tells the binding (it checks no proof).
	if p, err := f.a.Verify(context.Background(), at); err != nil || p.JKT != f.client.JKT() {
		t.Fatalf("Verify: %+v %v", p, err)
	}

	// A bearer token still passes as one, and says no key.
	bearer := f.as.sign("k1", "at+jwt", f.as.claimsAt(f.clock.Now()))
	if r = f.do("POST", "/mcp", "Authorization", "Bearer "+bearer); r.status != 200 || r.body["jkt"] != "" {
		t.Fatalf("bearer token: %+v", r)
	}
}

// TestDPoPRefusals: each way a DPoP request can be wrong (RFC 9449 §4.3,
// §7) is a 401 with the error on the challenge of the scheme it concerns
// and the other scheme's challenge beside it.
func TestDPoPRefusals(t *testing.T) {
	f := newDPoPFixture(t, nil)
	at := f.boundJWT()
	unbound := f.as.sign("k1", "at+jwt", f.as.claimsAt(f.clock.Now()))
	const opaque = "gth_at_bound.opaque"
	f.as.setAnswer(opaque, f.as.boundAnswer(f.clock.Now(), f.client.JKT()))
	other := f.newProver()
	good := func() string { return f.proof(f.client, "POST", "/mcp", at, "") }
	replayed := good()
	if r := f.do("POST", "/mcp", "Authorization", "DPoP "+at, "DPoP", replayed); r.status != 200 {
		t.Fatalf("first use of a proof: %+v", r)
	}
	for _, tc := range []struct {
		name   string
		hdr    []string
		scheme string // whose challenge carries the error
		code   string
	}{
		// §7.2: a bound token is no bearer token.
		{"bound JWT with Bearer", []string{"Authorization", "Bearer " + at, "DPoP", good()}, "Bearer", errInvalidToken},
		{"bound opaque token with Bearer", []string{"Authorization", "Bearer " + opaque}, "Bearer", errInvalidToken},
		{"unbound token with DPoP", []string{"Authorization", "DPoP " + unbound, "DPoP", f.proof(f.client, "POST", "/mcp", unbound, "")}, "DPoP", errInvalidToken},
		{"no DPoP header", []string{"Authorization", "DPoP " + at}, "DPoP", errInvalidDPoPProof},
		{"two DPoP headers", []string{"Authorization", "DPoP " + at, "DPoP", good(), "DPoP", good()}, "DPoP", errInvalidDPoPProof},
		{"not a JWT", []string{"Authorization", "DPoP " + at, "DPoP", "not.a.proof"}, "DPoP", errInvalidDPoPProof},
		{"wrong htm", []string{"Authorization", "DPoP " + at, "DPoP", f.proof(f.client, "GET", "/mcp", at, "")}, "DPoP", errInvalidDPoPProof},
		{"wrong htu path", []string{"Authorization", "DPoP " + at, "DPoP", f.proof(f.client, "POST", "/other", at, "")}, "DPoP", errInvalidDPoPProof},
		{"htu of the listener, not the resource", []string{"Authorization", "DPoP " + at, "DPoP", mustProof(t, f.client, "POST", f.srv.URL+"/mcp", at)}, "DPoP", errInvalidDPoPProof},
		{"no ath", []string{"Authorization", "DPoP " + at, "DPoP", f.proof(f.client, "POST", "/mcp", "", "")}, "DPoP", errInvalidDPoPProof},
		{"ath of another token", []string{"Authorization", "DPoP " + at, "DPoP", f.proof(f.client, "POST", "/mcp", opaque, "")}, "DPoP", errInvalidDPoPProof},
		{"another key (jkt mismatch)", []string{"Authorization", "DPoP " + at, "DPoP", f.proof(other, "POST", "/mcp", at, "")}, "DPoP", errInvalidDPoPProof},
		{"another key, opaque token", []string{"Authorization", "DPoP " + opaque, "DPoP", f.proof(other, "POST", "/mcp", opaque, "")}, "DPoP", errInvalidDPoPProof},
		{"replayed proof", []string{"Authorization", "DPoP " + at, "DPoP", replayed}, "DPoP", errInvalidDPoPProof},
	} {
		r := f.do("POST", "/mcp", tc.hdr...)
		if r.status != 401 || r.errCode != tc.code || !slices.Equal(r.challenges, f.challengesFor(tc.scheme, tc.code)) {
			t.Errorf("%s: %d %s\n%s\nwant %s", tc.name, r.status, r.errCode, strings.Join(r.challenges, "\n"), strings.Join(f.challengesFor(tc.scheme, tc.code), "\n"))
		}
	}

	// No credential: both challenges, no error (RFC 6750 §3.1).
	if r := f.do("POST", "/mcp"); r.status != 401 || r.errCode != "" || !slices.Equal(r.challenges, f.challengesFor("", "")) {
		t.Errorf("no credential: %+v", r)
	}
	// A bound token without a scope a route needs: 403 on the DPoP
	// challenge.
	md := f.a.MetadataURL()
	r := f.do("POST", "/write", "Authorization", "DPoP "+at, "DPoP", f.proof(f.client, "POST", "/write", at, ""))
	want := []string{
		`Bearer resource_metadata="` + md + `", scope="files:write mcp:tools"`,
		`DPoP error="insufficient_scope", algs="` + strings.Join(dpop.DefaultAlgs, " ") + `", scope="files:write mcp:tools", resource_metadata="` + md + `"`,
	}
	if r.status != 403 || r.errCode != errInsufficientScope || !slices.Equal(r.challenges, want) {
		t.Errorf("insufficient scope: %d %s\n%s", r.status, r.errCode, strings.Join(r.challenges, "\n"))
	}
	// Why is logged, never a token or a proof.
	if logs := f.logs.String(); !strings.Contains(logs, "jti") || strings.Contains(logs, at) || strings.Contains(logs, replayed) {
		t.Errorf("logs: %s", logs)
	}
}

func mustProof(t *testing.T, p *dpop.Prover, method, url, token string) string {
	t.Helper()
	proof, err := p.Proof(method, url, token, "")
	if err != nil {
		t.Fatal(err)
	}
	return proof
}

// TestDPoPOldProof: a proof older than the verifier's window (60 s) is
// refused, however good otherwise (RFC 9449 §4.3, check 11; §11.1).
func TestDPoPOldProof(t *testing.T) {
	f := newDPoPFixture(t, nil)
	at := f.boundJWT()
	proof := f.proof(f.client, "POST", "/mcp", at, "")
	f.clock.Add(61 * time.Second)
	r := f.do("POST", "/mcp", "Authorization", "DPoP "+at, "DPoP", proof)
	if r.status != 401 || r.errCode != errInvalidDPoPProof || !slices.Equal(r.challenges, f.challengesFor("DPoP", errInvalidDPoPProof)) {
		t.Fatalf("old proof: %+v", r)
	}
	// A fresh proof of the same token passes.
	r = f.do("POST", "/mcp", "Authorization", "DPoP "+at, "DPoP", f.proof(f.client, "POST", "/mcp", at, ""))
	if r.status != 200 {
		t.Fatalf("fresh proof: %+v", r)
	}
}

// TestDPoPNonce: with nonces on, a proof without a nonce is answered
// use_dpop_nonce with a DPoP-Nonce (RFC 9449 §9); the client's retry
// with it passes and gets a nonce again; a made-up or expired nonce is
// refused the same way.
func TestDPoPNonce(t *testing.T) {
	var nonces *dpop.Nonces
	f := newDPoPFixture(t, func(o *Options, _ *testClock) {
		var err error
		nonces, err = dpop.NewNonces(bytes.Repeat([]byte("s"), 32), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		o.DPoPNonces = nonces
	})
	at := f.boundJWT()
	r := f.do("POST", "/mcp", "Authorization", "DPoP "+at, "DPoP", f.proof(f.client, "POST", "/mcp", at, ""))
	if r.status != 401 || r.errCode != errUseDPoPNonce || !slices.Equal(r.challenges, f.challengesFor("DPoP", errUseDPoPNonce)) || r.nonce == "" {
		t.Fatalf("no nonce: %+v", r)
	}
	nonce := r.nonce
	r = f.do("POST", "/mcp", "Authorization", "DPoP "+at, "DPoP", f.proof(f.client, "POST", "/mcp", at, nonce))
	if r.status != 200 || r.nonce == "" || r.body["jkt"] != f.client.JKT() {
		t.Fatalf("with the nonce: %+v", r)
	}
	for name, n := range map[string]string{"made-up nonce": "bm90IGEgbm9uY2U", "nonce of another secret": otherNonce(t, f.clock.Now())} {
		r = f.do("POST", "/mcp", "Authorization", "DPoP "+at, "DPoP", f.proof(f.client, "POST", "/mcp", at, n))
		if r.status != 401 || r.errCode != errUseDPoPNonce || r.nonce == "" {
			t.Errorf("%s: %+v", name, r)
		}
	}
	// The nonce expires after its lifetime; the refusal hands out the
	// current one, which works.
	f.clock.Add(2 * time.Minute)
	at = f.boundJWT()
	r = f.do("POST", "/mcp", "Authorization", "DPoP "+at, "DPoP", f.proof(f.client, "POST", "/mcp", at, nonce))
	if r.status != 401 || r.errCode != errUseDPoPNonce || r.nonce == nonce || !nonces.Valid(r.nonce, f.clock.Now()) {
		t.Fatalf("expired nonce: %+v", r)
	}
	r = f.do("POST", "/mcp", "Authorization", "DPoP "+at, "DPoP", f.proof(f.client, "POST", "/mcp", at, r.nonce))
	if r.status != 200 {
		t.Fatalf("with the new nonce: %+v", r)
	}
	// Bearer requests are not handed nonces.
	bearer := f.as.sign("k1", "at+jwt", f.as.claimsAt(f.clock.Now()))
	if r = f.do("POST", "/mcp", "Authorization", "Bearer "+bearer); r.status != 200 || r.nonce != "" {
		t.Fatalf("bearer token: %+v", r)
	}
}

func otherNonce(t *testing.T, now time.Time) string {
	t.Helper()
	n, err := dpop.NewNonces(bytes.Repeat([]byte("o"), 32), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return n.Current(now)
}

// failingReplayCache cannot be reached.
type failingReplayCache struct{}

func (failingReplayCache) Use(context.Context, string, time.Time) (bool, error) {
	return false, errors.New("replay cache unreachable")
}

// TestDPoPReplayCacheFailure: a replay cache that is full (the bounded
// memory cache refuses rather than forget a proof early) or fails answers
// 503 temporarily_unavailable without a challenge, and is logged: the
// proof may well be good, but accepting it unrecorded would allow its
// replay.
func TestDPoPReplayCacheFailure(t *testing.T) {
	for name, cache := range map[string]func(*testClock) dpop.ReplayCache{
		"full":        func(c *testClock) dpop.ReplayCache { return dpop.NewMemoryReplayCache(1, c.Now) },
		"unreachable": func(*testClock) dpop.ReplayCache { return failingReplayCache{} },
	} {
		t.Run(name, func(t *testing.T) {
			f := newDPoPFixture(t, func(o *Options, clock *testClock) { o.DPoPReplay = cache(clock) })
			at := f.boundJWT()
			if name == "full" {
				if r := f.do("POST", "/mcp", "Authorization", "DPoP "+at, "DPoP", f.proof(f.client, "POST", "/mcp", at, "")); r.status != 200 {
					t.Fatalf("first proof: %+v", r)
				}
			}
			r := f.do("POST", "/mcp", "Authorization", "DPoP "+at, "DPoP", f.proof(f.client, "POST", "/mcp", at, ""))
			if r.status != 503 || r.errCode != errTemporarilyUnavailable || len(r.challenges) != 0 || r.retryAfter == "" {
				t.Fatalf("%+v", r)
			}
			if logs := f.logs.String(); !strings.Contains(logs, "level=ERROR") || !strings.Contains(logs, "cannot check a token") {
				t.Fatalf("not logged as an error: %s", logs)
			}
			if name == "full" {
				// Once the first proof's window has passed, its entry
				// expires and the cache takes new proofs again.
				f.clock.Add(2 * time.Minute)
				at = f.boundJWT()
				if r := f.do("POST", "/mcp", "Authorization", "DPoP "+at, "DPoP", f.proof(f.client, "POST", "/mcp", at, "")); r.status != 200 {
					t.Fatalf("after expiry: %+v", r)
				}
			}
		})
	}
}

// TestRequireDPoP: with RequireDPoP only DPoP-bound tokens pass; a bearer
// token is refused before it is introspected, the only challenge is
// DPoP's, and the metadata says so (RFC 9728 §2).
func TestRequireDPoP(t *testing.T) {
	f := newDPoPFixture(t, func(o *Options, _ *testClock) { o.APIKeys, o.RequireDPoP = false, true })
	md := f.a.MetadataURL()
	only := func(errCode string) []string {
		e := ""
		if errCode != "" {
			e = `error="` + errCode + `", `
		}
		return []string{`DPoP ` + e + `algs="` + strings.Join(dpop.DefaultAlgs, " ") + `", resource_metadata="` + md + `", scope="mcp:tools"`}
	}
	if r := f.do("POST", "/mcp"); r.status != 401 || !slices.Equal(r.challenges, only("")) {
		t.Fatalf("no credential: %+v", r)
	}
	const opaque = "gth_at_bearer.opaque"
	f.as.setAnswer(opaque, map[string]any{"active": true, "iss": f.as.issuer, "sub": "u", "aud": testResource, "scope": "mcp:tools"})
	bearer := f.as.sign("k1", "at+jwt", f.as.claimsAt(f.clock.Now()))
	for _, tok := range []string{bearer, opaque} {
		if r := f.do("POST", "/mcp", "Authorization", "Bearer "+tok); r.status != 401 || r.errCode != errInvalidToken || !slices.Equal(r.challenges, only(errInvalidToken)) {
			t.Fatalf("bearer token: %+v", r)
		}
	}
	if n := f.as.introspectHits.Load(); n != 0 {
		t.Fatalf("a bearer token was introspected (%d)", n)
	}
	if r := f.do("POST", "/mcp", "Authorization", "DPoP "+bearer, "DPoP", f.proof(f.client, "POST", "/mcp", bearer, "")); r.status != 401 || r.errCode != errInvalidToken {
		t.Fatalf("unbound token with DPoP: %+v", r)
	}
	at := f.boundJWT()
	if r := f.do("POST", "/mcp", "Authorization", "DPoP "+at, "DPoP", f.proof(f.client, "POST", "/mcp", at, "")); r.status != 200 {
		t.Fatalf("bound token: %+v", r)
	}
	m := f.a.Metadata()
	if !m.DPoPBoundAccessTokensRequired || !slices.Equal(m.DPoPSigningAlgValuesSupported, dpop.DefaultAlgs) {
		t.Fatalf("metadata: %+v", m)
	}
	doc, _ := json.Marshal(m)
	if !strings.Contains(string(doc), `"dpop_bound_access_tokens_required":true`) {
		t.Fatalf("metadata document: %s", doc)
	}
}

// TestDPoPExternalURL: behind a proxy that rewrites the path, htu is what
// ExternalURL says the client used.
func TestDPoPExternalURL(t *testing.T) {
	f := newDPoPFixture(t, func(o *Options, _ *testClock) {
		o.ExternalURL = func(r *http.Request) string { return "https://api.example.com/v1" + r.URL.Path }
	})
	at := f.boundJWT()
	r := f.do("POST", "/mcp", "Authorization", "DPoP "+at, "DPoP", mustProof(t, f.client, "POST", "https://api.example.com/v1/mcp", at))
	if r.status != 200 {
		t.Fatalf("proof for the external URL: %+v", r)
	}
	r = f.do("POST", "/mcp", "Authorization", "DPoP "+at, "DPoP", f.proof(f.client, "POST", "/mcp", at, ""))
	if r.status != 401 || r.errCode != errInvalidDPoPProof {
		t.Fatalf("proof for the resource's own URL: %+v", r)
	}
}

// TestDPoPProofUsedOnceConcurrently: one proof sent by many requests at
// once passes exactly once (RFC 9449 §11.1); the others are refused as
// replays, none with a 5xx.
func TestDPoPProofUsedOnceConcurrently(t *testing.T) {
	f := newDPoPFixture(t, nil)
	at := f.boundJWT()
	proof := f.proof(f.client, "POST", "/mcp", at, "")
	const n = 16
	statuses := make(chan dpopResponse, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			r, err := f.send("POST", "/mcp", "Authorization", "DPoP "+at, "DPoP", proof)
			statuses <- r
			errs <- err
		})
	}
	wg.Wait()
	close(statuses)
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	ok := 0
	for r := range statuses {
		switch {
		case r.status == 200:
			ok++
		case r.status != 401 || r.errCode != errInvalidDPoPProof:
			t.Errorf("a replay answered %d %s", r.status, r.errCode)
		}
	}
	if ok != 1 {
		t.Fatalf("the proof passed %d times, want once", ok)
	}
}
