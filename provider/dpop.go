package provider

import (
	"errors"
	"time"

	"github.com/gatehouse-dev/gatehouse/provider/dpop"
	"github.com/gatehouse-dev/gatehouse/provider/secret"
)

// DPoPOptions configure the checking of DPoP proofs (RFC 9449); zero
// values take the defaults below.
type DPoPOptions struct {
	// Algorithms are the proof algorithms accepted and advertised
	// (dpop_signing_alg_values_supported); empty: dpop.DefaultAlgs.
	Algorithms []string
	// ProofLifetime is how old a proof may be; 0: DefaultDPoPProofLifetime.
	ProofLifetime time.Duration
	// RequireNonce makes every proof carry a server nonce (§8).
	RequireNonce bool
	// NonceLifetime is how long a nonce is accepted; 0:
	// DefaultDPoPNonceLifetime.
	NonceLifetime time.Duration
	// Replay remembers the proofs used, shared by every instance (§11.1);
	// nil: the database (Store's dpop_proofs). cmd gives a
	// RedisReplayCache when Redis is configured.
	Replay dpop.ReplayCache
}

// Defaults of DPoPOptions (the configuration's).
const (
	DefaultDPoPProofLifetime = time.Minute
	DefaultDPoPNonceLifetime = 5 * time.Minute
)

// newDPoPVerifier makes the one Verifier of the provider. Its nonces are
// keyed by a key derived from the system secret, so every instance
// accepts every instance's nonce and none is stored.
func newDPoPVerifier(o DPoPOptions, ring *secret.Keyring, store Store, now func() time.Time) (*dpop.Verifier, error) {
	if err := dpop.CheckAlgorithms(o.Algorithms); err != nil {
		return nil, err
	}
	if o.ProofLifetime <= 0 {
		o.ProofLifetime = DefaultDPoPProofLifetime
	}
	if o.NonceLifetime <= 0 {
		o.NonceLifetime = DefaultDPoPNonceLifetime
	}
	nonces, err := dpop.NewNonces(ring.Key(secret.PurposeDPoPNonce), o.NonceLifetime)
	if err != nil {
		return nil, err
	}
	replay := o.Replay
	if replay == nil {
		if store == nil {
			return nil, errors.New("provider: no DPoP replay cache")
		}
		replay = storeReplayCache{store: store}
	}
	return &dpop.Verifier{
		Algs:         o.Algorithms,
		Lifetime:     o.ProofLifetime,
		Replay:       replay,
		Nonces:       nonces,
		RequireNonce: o.RequireNonce,
		Now:          now,
	}, nil
}

// DPoPVerifier is the provider's verifier of DPoP proofs, with its replay
// cache and nonces, for the endpoints beyond the token endpoint that
// accept DPoP-bound tokens (userinfo, the admin API): one set of rules
// and one replay cache for every proof the server sees.
func (p *Provider) DPoPVerifier() *dpop.Verifier { return p.dpop }
