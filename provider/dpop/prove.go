package dpop

import (
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Prover makes proofs with one key: the client side of RFC 9449 (§4.2),
// for gatehouse's command line, its tests and Go clients.
type Prover struct {
	signer jose.Signer
	jkt    string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// NewProver makes a Prover signing with key (an *ecdsa.PrivateKey,
// *rsa.PrivateKey or ed25519.PrivateKey) and alg.
func NewProver(key crypto.Signer, alg string) (*Prover, error) {
	jwk := jose.JSONWebKey{Key: key, Algorithm: alg}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: jwk},
		(&jose.SignerOptions{EmbedJWK: true}).WithType(ProofType))
	if err != nil {
		return nil, fmt.Errorf("dpop: %w", err)
	}
	pub := jose.JSONWebKey{Key: key.Public()}
	jkt, err := Thumbprint(&pub)
	if err != nil {
		return nil, fmt.Errorf("dpop: %w", err)
	}
	return &Prover{signer: s, jkt: jkt}, nil
}

// JKT is the thumbprint of the Prover's key: the dpop_jkt of an
// authorization request (§10) and the cnf.jkt of the tokens bound to it.
func (p *Prover) JKT() string { return p.jkt }

// Proof makes a proof for a request of method to rawURL (its query and
// fragment are left out of htu), presenting accessToken when not empty
// (ath) and carrying nonce when not empty.
func (p *Prover) Proof(method, rawURL, accessToken, nonce string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("dpop: %w", err)
	}
	u.RawQuery, u.Fragment, u.RawFragment = "", "", ""
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", err
	}
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	c := map[string]any{
		"jti": base64.RawURLEncoding.EncodeToString(jti),
		"htm": method,
		"htu": u.String(),
		"iat": now().Unix(),
	}
	if accessToken != "" {
		c["ath"] = AccessTokenHash(accessToken)
	}
	if nonce != "" {
		c["nonce"] = nonce
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	jws, err := p.signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("dpop: %w", err)
	}
	return jws.CompactSerialize()
}
