// DPoP proofs (RFC 9449) for cc_token with -dpop: one P-256 key per
// worker, a fresh ES256 proof on every request, and the server nonces the
// token endpoint asks for (§8), all with the standard library only.

package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"time"
)

// RFC 9449 names loadgen uses.
const (
	dpopHeader      = "DPoP"           // the proof on a request (§4.1)
	dpopNonceHeader = "DPoP-Nonce"     // a server nonce on an answer (§8)
	dpopUseNonce    = "use_dpop_nonce" // the error asking for one (§8)
)

// needleDPoPTokenType: a token response of a DPoP-bound access token
// (RFC 9449 §5), as encoding/json writes it and with a space after the
// colon.
var (
	needleDPoPTokenType  = []byte(`"token_type":"DPoP"`)
	needleDPoPTokenType2 = []byte(`"token_type": "DPoP"`)
)

// dpopProver makes the proofs of every worker of a run. Worker w's state
// is touched only by worker w's goroutine (and drive's runs follow one
// another), so it needs no lock.
type dpopProver struct {
	htu     string
	now     func() time.Time
	workers []dpopWorker
}

type dpopWorker struct {
	key *ecdsa.PrivateKey
	// header is the proof's protected header, base64url: the same for
	// every proof of the worker, so it is encoded once.
	header string
	// nonce is the newest nonce the server gave this worker; sent is the
	// one its last proof carried; challenged is the nonce of the last
	// use_dpop_nonce answer, until a success.
	nonce, sent, challenged string
}

// newDPoPProver makes one P-256 key per worker for proofs of POST to
// tokenURL; htu is the URL without query and fragment (RFC 9449 §4.2).
func newDPoPProver(tokenURL string, workers int, now func() time.Time) (*dpopProver, error) {
	u, err := url.Parse(tokenURL)
	if err != nil {
		return nil, fmt.Errorf("dpop: %w", err)
	}
	u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = "", false, "", ""
	if now == nil {
		now = time.Now
	}
	p := &dpopProver{htu: u.String(), now: now, workers: make([]dpopWorker, workers)}
	for i := range p.workers {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("dpop: %w", err)
		}
		header, err := dpopHeaderB64(key)
		if err != nil {
			return nil, err
		}
		p.workers[i] = dpopWorker{key: key, header: header}
	}
	return p, nil
}

// dpopHeaderB64 is the protected header of key's proofs (RFC 9449 §4.2):
// typ dpop+jwt, alg ES256 and the public key as a JWK (RFC 7518 §6.2.1:
// x and y of 32 bytes each).
func dpopHeaderB64(key *ecdsa.PrivateKey) (string, error) {
	pt, err := key.PublicKey.Bytes() // 0x04 || x || y
	if err != nil || len(pt) != 65 {
		return "", fmt.Errorf("dpop: encoding the public key: %v", err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	h, err := json.Marshal(struct {
		Typ string            `json:"typ"`
		Alg string            `json:"alg"`
		JWK map[string]string `json:"jwk"`
	}{"dpop+jwt", "ES256", map[string]string{"kty": "EC", "crv": "P-256", "x": b64(pt[1:33]), "y": b64(pt[33:])}})
	if err != nil {
		return "", err
	}
	return b64(h), nil
}

type dpopClaims struct {
	JTI   string `json:"jti"`
	HTM   string `json:"htm"`
	HTU   string `json:"htu"`
	IAT   int64  `json:"iat"`
	Nonce string `json:"nonce,omitempty"`
}

// proof makes worker w's next proof: a random jti (RFC 9449 §4.2: "a
// unique identifier"), POST, the token URL, now, and the worker's newest
// server nonce if it has one (§8).
func (p *dpopProver) proof(w int) (string, error) {
	wk := &p.workers[w]
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", err
	}
	claims, err := json.Marshal(dpopClaims{
		JTI: base64.RawURLEncoding.EncodeToString(jti[:]), HTM: http.MethodPost, HTU: p.htu,
		IAT: p.now().Unix(), Nonce: wk.nonce,
	})
	if err != nil {
		return "", err
	}
	input := wk.header + "." + base64.RawURLEncoding.EncodeToString(claims)
	digest := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, wk.key, digest[:])
	if err != nil {
		return "", fmt.Errorf("dpop: signing: %w", err)
	}
	sig := es256Signature(r, s)
	wk.sent = wk.nonce
	return input + "." + base64.RawURLEncoding.EncodeToString(sig[:]), nil
}

// es256Signature is the JWS form of an ES256 signature (RFC 7518 §3.4):
// R || S, each 32 bytes big-endian, left-padded with zeros (not ASN.1
// DER, which drops leading zeros).
func es256Signature(r, s *big.Int) [64]byte {
	var sig [64]byte
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return sig
}

// prepare adds worker w's proof to req: part of the request build, which
// loadgen does not time (its CPU is in loadgen_cpu_pct).
func (p *dpopProver) prepare(w int, req *http.Request) error {
	proof, err := p.proof(w)
	if err != nil {
		return err
	}
	req.Header.Set(dpopHeader, proof)
	return nil
}

// errRepeatedNonceChallenge: the server asked again for a nonce although
// the proof carried the one it had just given.
var errRepeatedNonceChallenge = errors.New("use_dpop_nonce again with the nonce the server gave")

// answer takes in worker w's answer (status, headers, body). It keeps any
// DPoP-Nonce the server sends (§8: also on a success, to rotate it) and
// reports whether the answer is a nonce challenge the worker has taken up:
// 400 use_dpop_nonce with a new nonce, which is neither a success nor an
// error, and is not timed. A challenge is counted as an error (taken=false,
// with err saying why) when it has no nonce, or when it repeats although
// the proof carried the nonce of the challenge before (or the very nonce
// it gives): the server refuses its own nonce and the worker would loop.
func (p *dpopProver) answer(w, status int, h http.Header, body []byte) (taken bool, err error) {
	wk := &p.workers[w]
	nonce := h.Get(dpopNonceHeader)
	if status >= 200 && status <= 299 {
		wk.challenged = ""
		if nonce != "" {
			wk.nonce = nonce
		}
		return false, nil
	}
	if status != http.StatusBadRequest || !isUseDPoPNonce(body) {
		return false, nil
	}
	if nonce == "" {
		return false, errors.New("use_dpop_nonce without a DPoP-Nonce header")
	}
	repeated := wk.sent != "" && (wk.sent == nonce || wk.sent == wk.challenged)
	wk.nonce, wk.challenged = nonce, nonce
	if repeated {
		return false, errRepeatedNonceChallenge
	}
	return true, nil
}

// isUseDPoPNonce reports whether body is an RFC 6749 §5.2 error
// use_dpop_nonce.
func isUseDPoPNonce(body []byte) bool {
	if !bytes.Contains(body, []byte(dpopUseNonce)) {
		return false
	}
	var e struct {
		Error string `json:"error"`
	}
	return json.Unmarshal(body, &e) == nil && e.Error == dpopUseNonce
}
