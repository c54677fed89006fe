package dpop

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

const tokenURL = "https://id.example.com/oauth2/token"

var t0 = time.Unix(1_900_000_000, 0)

func newECKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newProver(t *testing.T, key crypto.Signer, alg string) *Prover {
	t.Helper()
	p, err := NewProver(key, alg)
	if err != nil {
		t.Fatal(err)
	}
	p.Now = func() time.Time { return t0 }
	return p
}

func newVerifier() *Verifier {
	return &Verifier{Replay: NewMemoryReplayCache(0, func() time.Time { return t0 }), Now: func() time.Time { return t0 }}
}

// sign makes a proof with arbitrary header fields and claims, for the
// malformed cases a Prover never makes.
func sign(t *testing.T, key any, alg jose.SignatureAlgorithm, opts *jose.SignerOptions, claims map[string]any) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(claims)
	jws, err := s.Sign(b)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func goodClaims() map[string]any {
	return map[string]any{"jti": "j-" + rand.Text(), "htm": "POST", "htu": tokenURL, "iat": t0.Unix()}
}

func TestVerifyAcceptsProverProofs(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	for _, tc := range []struct {
		alg string
		key crypto.Signer
	}{{"ES256", newECKey(t)}, {"PS256", rsaKey}, {"RS256", rsaKey}, {"EdDSA", edKey}} {
		t.Run(tc.alg, func(t *testing.T) {
			p := newProver(t, tc.key, tc.alg)
			proof, err := p.Proof("POST", tokenURL+"?x=1#f", "", "")
			if err != nil {
				t.Fatal(err)
			}
			got, err := newVerifier().Verify(context.Background(), Request{Proofs: []string{proof}, Method: "POST", URL: tokenURL})
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got.JKT != p.JKT() || got.JKT == "" || !got.IssuedAt.Equal(t0) {
				t.Errorf("proof %+v, want jkt %s iat %v", got, p.JKT(), t0)
			}
		})
	}
}

// The checks of RFC 9449 §4.3, one by one.
func TestVerifyRefusals(t *testing.T) {
	key := newECKey(t)
	other := newECKey(t)
	p := newProver(t, key, "ES256")
	typ := (&jose.SignerOptions{EmbedJWK: true}).WithType(ProofType)
	hs := make([]byte, 32)
	mustProof := func(method, u, token, nonce string) string {
		s, err := p.Proof(method, u, token, nonce)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	withClaim := func(k string, v any) string {
		c := goodClaims()
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return sign(t, key, jose.ES256, typ, c)
	}
	// A private key in the header: go-jose embeds only public keys, so
	// the header is written by hand.
	privJWK, _ := json.Marshal(jose.JSONWebKey{Key: key})
	privHeader := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"ES256","typ":"dpop+jwt","jwk":` + string(privJWK) + `}`))
	goodPayload := base64.RawURLEncoding.EncodeToString(func() []byte { b, _ := json.Marshal(goodClaims()); return b }())
	unsignedNone := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"dpop+jwt"}`)) + "." + goodPayload + "."
	// A signature by another key than the header's.
	good := mustProof("POST", tokenURL, "", "")
	parts := strings.Split(good, ".")
	foreign := strings.Split(sign(t, other, jose.ES256, typ, goodClaims()), ".")
	badSig := parts[0] + "." + parts[1] + "." + foreign[2]

	tests := []struct {
		name   string
		req    Request
		reason string
	}{
		{"no header", Request{Method: "POST", URL: tokenURL}, "exactly one"},
		{"two headers", Request{Proofs: []string{good, good}, Method: "POST", URL: tokenURL}, "exactly one"},
		{"not a JWT", Request{Proofs: []string{"abc"}, Method: "POST", URL: tokenURL}, "compact JWS"},
		{"alg none", Request{Proofs: []string{unsignedNone}, Method: "POST", URL: tokenURL}, "compact JWS"},
		{"HS256", Request{Proofs: []string{sign(t, hs, jose.HS256, (&jose.SignerOptions{}).WithType(ProofType), goodClaims())}, Method: "POST", URL: tokenURL}, "compact JWS"},
		{"typ JWT", Request{Proofs: []string{sign(t, key, jose.ES256, (&jose.SignerOptions{EmbedJWK: true}).WithType("JWT"), goodClaims())}, Method: "POST", URL: tokenURL}, "typ"},
		{"no jwk", Request{Proofs: []string{sign(t, key, jose.ES256, (&jose.SignerOptions{}).WithType(ProofType), goodClaims())}, Method: "POST", URL: tokenURL}, "jwk"},
		{"private jwk", Request{Proofs: []string{privHeader + "." + goodPayload + "." + parts[2]}, Method: "POST", URL: tokenURL}, "private key parameters"},
		{"bad signature", Request{Proofs: []string{badSig}, Method: "POST", URL: tokenURL}, "signature"},
		{"no jti", Request{Proofs: []string{withClaim("jti", nil)}, Method: "POST", URL: tokenURL}, "required"},
		{"no iat", Request{Proofs: []string{withClaim("iat", nil)}, Method: "POST", URL: tokenURL}, "required"},
		{"wrong htm", Request{Proofs: []string{mustProof("GET", tokenURL, "", "")}, Method: "POST", URL: tokenURL}, "htm"},
		{"wrong htu", Request{Proofs: []string{mustProof("POST", "https://id.example.com/oauth2/par", "", "")}, Method: "POST", URL: tokenURL}, "htu"},
		{"other host", Request{Proofs: []string{mustProof("POST", "https://evil.example.com/oauth2/token", "", "")}, Method: "POST", URL: tokenURL}, "htu"},
		{"old iat", Request{Proofs: []string{withClaim("iat", t0.Add(-61*time.Second).Unix())}, Method: "POST", URL: tokenURL}, "too old"},
		{"future iat", Request{Proofs: []string{withClaim("iat", t0.Add(6*time.Second).Unix())}, Method: "POST", URL: tokenURL}, "future"},
		{"missing ath", Request{Proofs: []string{mustProof("POST", tokenURL, "", "")}, Method: "POST", URL: tokenURL, AccessToken: "tok"}, "ath"},
		{"wrong ath", Request{Proofs: []string{mustProof("POST", tokenURL, "other", "")}, Method: "POST", URL: tokenURL, AccessToken: "tok"}, "ath"},
		{"another key", Request{Proofs: []string{mustProof("POST", tokenURL, "tok", "")}, Method: "POST", URL: tokenURL, AccessToken: "tok", JKT: newProver(t, other, "ES256").JKT()}, "bound"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newVerifier().Verify(context.Background(), tt.req)
			var de *Error
			if !errors.As(err, &de) || de.Code != CodeInvalidProof || !errors.Is(err, ErrInvalidProof) {
				t.Fatalf("err = %v, want invalid_dpop_proof", err)
			}
			if !strings.Contains(de.Reason, tt.reason) {
				t.Errorf("reason %q, want it to mention %q", de.Reason, tt.reason)
			}
		})
	}
}

func TestVerifyHTUNormalized(t *testing.T) {
	p := newProver(t, newECKey(t), "ES256")
	for _, u := range []string{"HTTPS://ID.example.com:443/oauth2/token", "https://id.example.com/oauth2/token?a=b", "https://id.example.com/oauth2/token#frag"} {
		proof, _ := p.Proof("POST", u, "", "")
		if _, err := newVerifier().Verify(context.Background(), Request{Proofs: []string{proof}, Method: "POST", URL: tokenURL}); err != nil {
			t.Errorf("htu %s: %v", u, err)
		}
	}
}

func TestVerifyReplay(t *testing.T) {
	p := newProver(t, newECKey(t), "ES256")
	v := newVerifier()
	proof, _ := p.Proof("POST", tokenURL, "", "")
	req := Request{Proofs: []string{proof}, Method: "POST", URL: tokenURL}
	if _, err := v.Verify(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	_, err := v.Verify(context.Background(), req)
	if !errors.Is(err, ErrInvalidProof) || !strings.Contains(err.Error(), "used before") {
		t.Fatalf("second use: %v, want invalid_dpop_proof (used before)", err)
	}
}

func TestVerifyNonces(t *testing.T) {
	now := t0
	clock := func() time.Time { return now }
	nonces, err := NewNonces([]byte(strings.Repeat("k", 32)), 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	v := &Verifier{Replay: NewMemoryReplayCache(0, clock), Now: clock, Nonces: nonces, RequireNonce: true}
	p := newProver(t, newECKey(t), "ES256")
	p.Now = clock
	verify := func(nonce string) error {
		proof, _ := p.Proof("POST", tokenURL, "", nonce)
		_, err := v.Verify(context.Background(), Request{Proofs: []string{proof}, Method: "POST", URL: tokenURL})
		return err
	}
	if err := verify(""); !errors.Is(err, ErrUseNonce) {
		t.Fatalf("no nonce: %v, want use_dpop_nonce", err)
	}
	n := nonces.Current(now)
	if err := verify(n); err != nil {
		t.Fatalf("current nonce: %v", err)
	}
	other, _ := NewNonces([]byte(strings.Repeat("x", 32)), 5*time.Minute)
	if err := verify(other.Current(now)); !errors.Is(err, ErrUseNonce) {
		t.Fatalf("another secret's nonce: %v, want use_dpop_nonce", err)
	}
	if err := verify("not-a-nonce"); !errors.Is(err, ErrUseNonce) {
		t.Fatalf("garbage nonce: %v, want use_dpop_nonce", err)
	}
	// The newest nonce is at most half a lifetime old: it stays good
	// for at least the other half.
	now = now.Add(2*time.Minute + 30*time.Second)
	if err := verify(n); err != nil {
		t.Fatalf("nonce 150 s later: %v", err)
	}
	if nonces.Current(now) == n {
		t.Error("the nonce handed out did not rotate after half its lifetime")
	}
	now = now.Add(5 * time.Minute)
	if err := verify(n); !errors.Is(err, ErrUseNonce) {
		t.Fatalf("expired nonce: %v, want use_dpop_nonce", err)
	}
	// Not required: a proof without a nonce passes, a bad one does not.
	v.RequireNonce = false
	if err := verify(""); err != nil {
		t.Fatalf("no nonce, not required: %v", err)
	}
	if err := verify(n); !errors.Is(err, ErrUseNonce) {
		t.Fatalf("expired nonce, not required: %v, want use_dpop_nonce", err)
	}
}

func TestMemoryReplayCacheBoundedAndExpiring(t *testing.T) {
	now := t0
	c := NewMemoryReplayCache(2, func() time.Time { return now })
	ctx := context.Background()
	use := func(k string, exp time.Duration) (bool, error) { return c.Use(ctx, k, now.Add(exp)) }
	if ok, err := use("a", time.Minute); !ok || err != nil {
		t.Fatalf("a: %v %v", ok, err)
	}
	if ok, _ := use("a", time.Minute); ok {
		t.Fatal("a accepted twice")
	}
	if ok, err := use("b", 2*time.Minute); !ok || err != nil {
		t.Fatalf("b: %v %v", ok, err)
	}
	if _, err := use("c", time.Minute); !errors.Is(err, ErrReplayCacheFull) {
		t.Fatalf("third entry: %v, want ErrReplayCacheFull", err)
	}
	now = now.Add(61 * time.Second) // a has expired
	if ok, err := use("c", time.Minute); !ok || err != nil {
		t.Fatalf("c after a expired: %v %v", ok, err)
	}
	if ok, _ := use("b", time.Minute); ok {
		t.Fatal("b accepted again before it expired")
	}
	if c.Len() != 2 {
		t.Errorf("Len = %d, want 2", c.Len())
	}
}

func TestCheckAlgorithms(t *testing.T) {
	if err := CheckAlgorithms([]string{"ES256", "EdDSA"}); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{"none", "HS256", "es256"} {
		if err := CheckAlgorithms([]string{bad}); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func FuzzVerify(f *testing.F) {
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, proof string) {
		_, err := newVerifier().Verify(context.Background(), Request{Proofs: []string{proof}, Method: "POST", URL: tokenURL})
		if err == nil {
			t.Fatalf("accepted %q", proof)
		}
	})
}
