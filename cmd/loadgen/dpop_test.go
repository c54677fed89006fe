package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"go/build"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-dev/gatehouse/provider/dpop"
)

// decodeProof returns a proof's header and claims.
func decodeProof(t *testing.T, proof string) (header map[string]any, claims dpopClaims, sig []byte) {
	t.Helper()
	parts := strings.Split(proof, ".")
	if len(parts) != 3 {
		t.Fatalf("proof has %d parts, want 3", len(parts))
	}
	h, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	c, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err := errors.Join(err1, err2, err3); err != nil {
		t.Fatalf("proof is not base64url: %v", err)
	}
	if err := json.Unmarshal(h, &header); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(c, &claims); err != nil {
		t.Fatal(err)
	}
	return header, claims, sig
}

// The proofs loadgen makes are accepted by gatehouse's own verifier
// (RFC 9449 §4.3), with a key per worker, a unique jti per proof and htu
// without the token URL's query and fragment.
func TestDPoPProofsPassGatehouseVerifier(t *testing.T) {
	now := func() time.Time { return time.Unix(1_800_000_000, 0) }
	const tokenURL = "http://127.0.0.1:8080/oauth2/token?tenant=a#frag"
	p, err := newDPoPProver(tokenURL, 3, now)
	if err != nil {
		t.Fatal(err)
	}
	v := &dpop.Verifier{Algs: []string{"ES256"}, Replay: dpop.NewMemoryReplayCache(0, now), Now: now}
	jtis := map[string]bool{}
	jkts := map[string]bool{}
	const perWorker = 200 // 1,200 values of r and s: a short one (1 in 256) is padded
	for w := range p.workers {
		wantJKT, err := dpop.Thumbprint(&jose.JSONWebKey{Key: &p.workers[w].key.PublicKey})
		if err != nil {
			t.Fatal(err)
		}
		jkts[wantJKT] = true
		for range perWorker {
			proof, err := p.proof(w)
			if err != nil {
				t.Fatal(err)
			}
			got, err := v.Verify(t.Context(), dpop.Request{Proofs: []string{proof}, Method: http.MethodPost, URL: tokenURL})
			if err != nil {
				t.Fatalf("worker %d: gatehouse refuses loadgen's proof: %v", w, err)
			}
			if got.JKT != wantJKT {
				t.Fatalf("worker %d: proof signed by %s, want the worker's key %s", w, got.JKT, wantJKT)
			}
			header, claims, sig := decodeProof(t, proof)
			if jwk, _ := header["jwk"].(map[string]any); jwk == nil || jwk["d"] != nil || header["typ"] != "dpop+jwt" || header["alg"] != "ES256" {
				t.Fatalf("header %v: want typ dpop+jwt, alg ES256 and a public jwk", header)
			}
			if len(sig) != 64 {
				t.Fatalf("signature of %d bytes, want 64 (R || S)", len(sig))
			}
			if claims.HTU != "http://127.0.0.1:8080/oauth2/token" || claims.HTM != "POST" || claims.IAT != now().Unix() || claims.Nonce != "" {
				t.Fatalf("claims %+v: want htu without query and fragment, htm POST, iat now, no nonce", claims)
			}
			if jtis[claims.JTI] {
				t.Fatalf("jti %q used twice", claims.JTI)
			}
			jtis[claims.JTI] = true
		}
	}
	if len(jkts) != len(p.workers) {
		t.Errorf("%d distinct keys for %d workers", len(jkts), len(p.workers))
	}
}

// RFC 7518 §3.4: R and S keep their 32 bytes each when they are short.
func TestES256SignatureLeftPadsRAndS(t *testing.T) {
	r, s := big.NewInt(1), new(big.Int).Lsh(big.NewInt(1), 255)
	sig := es256Signature(r, s)
	for i, b := range sig {
		want := byte(0)
		switch i {
		case 31:
			want = 1
		case 32:
			want = 0x80
		}
		if b != want {
			t.Fatalf("byte %d = %#x, want %#x (sig %x)", i, b, want, sig)
		}
	}
}

// A worker takes up a use_dpop_nonce answer once and sends the nonce from
// then on; the challenge is an error only when it repeats although the
// proof carried the server's nonce.
func TestDPoPAnswerNonces(t *testing.T) {
	useNonce := []byte(`{"error":"use_dpop_nonce","error_description":"a nonce is required"}`)
	withNonce := func(n string) http.Header {
		h := http.Header{}
		if n != "" {
			h.Set(dpopNonceHeader, n)
		}
		return h
	}
	type step struct {
		status    int
		nonce     string // the answer's DPoP-Nonce
		body      []byte
		wantTaken bool
		wantErr   bool
		wantNext  string // the nonce the next proof carries
	}
	ok := []byte(`{"access_token":"x","token_type":"DPoP"}`)
	tests := []struct {
		name  string
		steps []step
	}{
		{"a challenge, then successes with its nonce", []step{
			{400, "n1", useNonce, true, false, "n1"},
			{200, "", ok, false, false, "n1"},
			{200, "", ok, false, false, "n1"},
		}},
		{"the nonce expires after a success: a new challenge is no error", []step{
			{400, "n1", useNonce, true, false, "n1"},
			{200, "", ok, false, false, "n1"},
			{400, "n2", useNonce, true, false, "n2"},
			{200, "", ok, false, false, "n2"},
		}},
		{"the server refuses the nonce it gave", []step{
			{400, "n1", useNonce, true, false, "n1"},
			{400, "n1", useNonce, false, true, "n1"},
		}},
		{"the server asks again at once with another nonce", []step{
			{400, "n1", useNonce, true, false, "n1"},
			{400, "n2", useNonce, false, true, "n2"},
			{200, "", ok, false, false, "n2"},
		}},
		{"a challenge without a nonce", []step{
			{400, "", useNonce, false, true, ""},
		}},
		{"a success rotates the nonce (RFC 9449 §8)", []step{
			{200, "n3", ok, false, false, "n3"},
			{200, "", ok, false, false, "n3"},
		}},
		{"another error is left to the status check", []step{
			{400, "", []byte(`{"error":"invalid_dpop_proof"}`), false, false, ""},
			{401, "", []byte(`{"error":"invalid_client"}`), false, false, ""},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := newDPoPProver("http://127.0.0.1:1/token", 1, nil)
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range tt.steps {
				if _, err := p.proof(0); err != nil {
					t.Fatal(err)
				}
				taken, err := p.answer(0, s.status, withNonce(s.nonce), s.body)
				if taken != s.wantTaken || (err != nil) != s.wantErr {
					t.Fatalf("step %d: answer = %v, %v; want taken %v, error %v", i, taken, err, s.wantTaken, s.wantErr)
				}
				proof, err := p.proof(0)
				if err != nil {
					t.Fatal(err)
				}
				if _, claims, _ := decodeProof(t, proof); claims.Nonce != s.wantNext {
					t.Fatalf("step %d: the next proof carries nonce %q, want %q", i, claims.Nonce, s.wantNext)
				}
			}
		})
	}
}

// tokenServer is a token endpoint on loopback that checks DPoP proofs with
// gatehouse's verifier and asks for a server nonce (RFC 9449 §8). With
// serverRefusesNonces it answers use_dpop_nonce to every proof, as a server
// that does not accept its own nonces would; with serverWithoutDPoP it
// ignores proofs and issues bearer tokens.
type tokenServer struct {
	*httptest.Server
	nonces *dpop.Nonces

	mu                            sync.Mutex
	withoutNonce, issued, refused int
	nonceSeen                     map[string]int
}

type tokenServerKind int

const (
	serverDPoP tokenServerKind = iota
	serverRefusesNonces
	serverWithoutDPoP
)

func newTokenServer(t *testing.T, kind tokenServerKind) *tokenServer {
	t.Helper()
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		t.Fatal(err)
	}
	// An hour: the nonce handed out does not change during the test.
	nonces, err := dpop.NewNonces(secret, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	v := &dpop.Verifier{Algs: []string{"ES256"}, Replay: dpop.NewMemoryReplayCache(0, nil), Nonces: nonces, RequireNonce: true}
	ts := &tokenServer{nonces: nonces, nonceSeen: map[string]int{}}
	ts.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/oauth2/token" || r.Method != http.MethodPost || r.FormValue("grant_type") != "client_credentials" {
			http.Error(w, "unexpected request", http.StatusBadRequest)
			return
		}
		proof, err := v.Verify(r.Context(), dpop.Request{Proofs: r.Header.Values(dpop.HeaderName), Method: r.Method,
			URL: "http://" + r.Host + r.URL.RequestURI()})
		ts.mu.Lock()
		defer ts.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if kind == serverWithoutDPoP {
			fmt.Fprint(w, `{"access_token":"gth_at_x","token_type":"bearer","expires_in":3600}`)
			return
		}
		if err == nil && kind == serverRefusesNonces {
			err = &dpop.Error{Code: dpop.CodeUseNonce, Reason: "refused"}
		}
		var de *dpop.Error
		switch {
		case errors.As(err, &de) && de.Code == dpop.CodeUseNonce:
			if strings.Contains(de.Reason, "required") {
				ts.withoutNonce++
			}
			ts.refused++
			w.Header().Set(dpop.NonceHeader, nonces.Current(time.Now()))
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"error":%q}`, dpop.CodeUseNonce)
		case err != nil:
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"error":%q,"error_description":%q}`, dpop.CodeInvalidProof, err.Error())
		default:
			ts.issued++
			ts.nonceSeen[proof.Nonce]++
			fmt.Fprint(w, `{"access_token":"gth_at_x","token_type":"DPoP","expires_in":3600}`)
		}
	}))
	t.Cleanup(ts.Close)
	return ts
}

func dpopConfig(tokenURL string, conns int) config {
	return config{tokenURL: tokenURL, clientID: "bench", clientSecret: "s", authMethod: "basic",
		dpop: true, scenarios: []string{"cc_token"}, conns: []int{conns}, reqTimeout: 5 * time.Second}
}

// cc_token -dpop against a server that asks for a nonce: the check before
// the runs (worker 0) and each other worker are challenged once, carry the
// nonce from then on, and every token is a success.
func TestDPoPScenarioCarriesServerNonce(t *testing.T) {
	ts := newTokenServer(t, serverDPoP)
	const conns = 3
	scs, err := buildScenarios(dpopConfig(ts.URL+"/oauth2/token?ignored=1", conns))
	if err != nil {
		t.Fatal(err)
	}
	client := newClient(conns, 5*time.Second)
	defer client.CloseIdleConnections()
	var ct counters
	lats, _ := drive(scs[0], client, conns, 150*time.Millisecond, &ct)

	if e := ct.errStatus.Load() + ct.errBody.Load() + ct.errTransport.Load(); e != 0 {
		t.Errorf("%d errors, want none", e)
	}
	if n := ct.nonceAnswers.Load(); n != conns-1 {
		t.Errorf("%d use_dpop_nonce answers taken up in the run, want one per worker but worker 0 (%d)", n, conns-1)
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.withoutNonce != conns || ts.refused != conns {
		t.Errorf("server refused %d proofs, %d without a nonce; want %d, each without one", ts.refused, ts.withoutNonce, conns)
	}
	current := ts.nonces.Current(time.Now())
	// One token more than timed: the check's.
	if len(lats) == 0 || ts.issued != len(lats)+1 || ts.nonceSeen[current] != ts.issued {
		t.Errorf("%d successes timed, server issued %d tokens, %d with its nonce; want timed+1 = issued = with nonce, > 1",
			len(lats), ts.issued, ts.nonceSeen[current])
	}
}

// The check before the runs fails with the reason when the server does not
// bind the token or keeps refusing its own nonce, and when nothing listens.
func TestDPoPScenarioCheckFailsEarly(t *testing.T) {
	tests := []struct {
		name    string
		url     string
		wantErr string
	}{
		{"a server without DPoP", newTokenServer(t, serverWithoutDPoP).URL + "/oauth2/token", `token_type "bearer", not DPoP`},
		{"a server refusing its own nonce", newTokenServer(t, serverRefusesNonces).URL + "/oauth2/token", "use_dpop_nonce again"},
		{"nothing listening", "http://127.0.0.1:1/oauth2/token", "connect"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := buildScenarios(dpopConfig(tt.url, 1))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "cc_token -dpop") {
				t.Errorf("error %v, want one containing %q", err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "gth_at_") {
				t.Errorf("the error shows the token: %v", err)
			}
		})
	}
}

// dpopScenario is cc_token -dpop without the check before the runs.
func dpopScenario(t *testing.T, c config) scenario {
	t.Helper()
	body, authz := tokenForm(c)
	sc := scenario{name: "cc_token", build: postForm(c.tokenURL, body, authz)}
	if err := withDPoP(&sc, c); err != nil {
		t.Fatal(err)
	}
	return sc
}

// A server that keeps answering use_dpop_nonce although the proof carries
// its nonce: the first challenge of each worker is taken up, the others
// are errors.
func TestDPoPScenarioRepeatedChallengeIsAnError(t *testing.T) {
	ts := newTokenServer(t, serverRefusesNonces)
	sc := dpopScenario(t, dpopConfig(ts.URL+"/oauth2/token", 1))
	client := newClient(1, 5*time.Second)
	defer client.CloseIdleConnections()
	var ct counters
	lats, _ := drive(sc, client, 1, 50*time.Millisecond, &ct)
	ts.mu.Lock()
	refused := ts.refused
	ts.mu.Unlock()
	if len(lats) != 0 || ct.nonceAnswers.Load() != 1 || ct.errStatus.Load() != int64(refused-1) || refused < 2 {
		t.Errorf("successes %d, challenges taken %d, status errors %d of %d refusals; want 0, 1 and all but the first",
			len(lats), ct.nonceAnswers.Load(), ct.errStatus.Load(), refused)
	}
}

// A bearer token is not what -dpop measures: 200 without token_type DPoP
// is a body error.
func TestDPoPScenarioWantsDPoPTokenType(t *testing.T) {
	sc := dpopScenario(t, dpopConfig("http://127.0.0.1:1/oauth2/token", 1))
	for body, want := range map[string]bool{
		`{"access_token":"a","token_type":"bearer"}`: false,
		`{"access_token":"a","token_type":"DPoP"}`:   true,
		`{"access_token":"a", "token_type": "DPoP"}`: true,
	} {
		if got := sc.check(200, []byte(body)); got != want {
			t.Errorf("check(200, %s) = %v, want %v", body, got, want)
		}
	}
}

func TestParseFlagsDPoP(t *testing.T) {
	const tok = "-token-url=http://127.0.0.1:1/t"
	if c, err := parseArgs(tok, "-dpop"); err != nil || !c.dpop {
		t.Errorf("-dpop: dpop %v, error %v; want true, none", c.dpop, err)
	}
	if _, err := parseArgs(tok, "-dpop", "-scenarios", "introspect"); err == nil || !strings.Contains(err.Error(), "cc_token") {
		t.Errorf("-dpop without cc_token: error %v, want one naming cc_token", err)
	}
}

// The loadgen binary builds offline from the standard library alone (its
// tests may import more, gatehouse's dpop package included).
func TestLoadgenImportsStandardLibraryOnly(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		first, _, _ := strings.Cut(imp, "/")
		if strings.Contains(first, ".") && !strings.HasPrefix(imp, "github.com/gatehouse-dev/gatehouse/cmd/loadgen/internal/") {
			t.Errorf("loadgen imports %s", imp)
		}
	}
}

// The client's cost of a proof (a P-256 signature, JSON and base64), which
// loadgen_cpu_pct carries.
func BenchmarkDPoPProof(b *testing.B) {
	p, err := newDPoPProver("http://127.0.0.1:8080/oauth2/token", 1, nil)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := p.proof(0); err != nil {
			b.Fatal(err)
		}
	}
}
