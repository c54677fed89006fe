package provider

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/ory/fosite"

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

// requestProof verifies the DPoP proof of a request to the endpoint at
// path (the token endpoint, PAR; RFC 9449 §4.3, §5, §10.1), before
// anything of the request is looked at or spent: nil when the request
// carries no DPoP header. htu is the endpoint's URL from the configured
// issuer, never from the Host header, which a client chooses.
func (p *Provider) requestProof(ctx context.Context, r *http.Request, path string) (*dpop.Proof, error) {
	proofs := r.Header.Values(dpop.HeaderName)
	if len(proofs) == 0 {
		return nil, nil
	}
	proof, err := p.dpop.Verify(ctx, dpop.Request{Proofs: proofs, Method: r.Method, URL: p.opts.Issuer + path})
	if err != nil {
		return nil, replayFailure(err)
	}
	return proof, nil
}

// refuseProof is an invalid_dpop_proof refusal saying why.
func refuseProof(reason string) error {
	return &dpop.Error{Code: dpop.CodeInvalidProof, Reason: reason}
}

// bindDPoP decides what the access token of ar is bound to, once the
// client is authenticated and the grant is loaded: the key of proof
// (nil: none, a Bearer token). Sess.JKT holds, on entry, the key the
// grant is bound to already: a refresh token's, an authorization code's
// (dpop_jkt, §10), or an identity assertion's (its cnf jkt).
//
//   - A client registered with dpop_bound_access_tokens needs a proof
//     (§5.2).
//   - A public client's refresh token is bound to the key of the grant's
//     first DPoP token request: it is refused without a proof of that key
//     (§5). A confidential client authenticates anyway; it may rebind to
//     a new key, or go back to Bearer (§5: "MAY").
//   - An authorization code bound by dpop_jkt needs a proof of that key
//     (§10), as does an identity assertion (ID-JAG) bound by cnf.
func bindDPoP(ar fosite.AccessRequester, proof *dpop.Proof) error {
	sess, ok := ar.GetSession().(*Session)
	if !ok {
		return fosite.ErrServerError.WithDebug("unexpected session type")
	}
	grants := ar.GetGrantTypes()
	bound := sess.JKT
	mustKeep := bound != "" &&
		(grants.ExactOne(GrantAuthorizationCode) || grants.ExactOne(GrantJWTBearer) ||
			(grants.ExactOne(GrantRefreshToken) && ar.GetClient().IsPublic()))
	if proof == nil {
		if c, ok := StorageClient(ar.GetClient()); ok && c.DPoPBoundAccessTokens {
			return refuseProof("a DPoP proof is required: the client is registered with dpop_bound_access_tokens")
		}
		if mustKeep {
			switch {
			case grants.ExactOne(GrantAuthorizationCode):
				return refuseProof("a DPoP proof is required: the authorization code is bound to a key (dpop_jkt)")
			case grants.ExactOne(GrantJWTBearer):
				return refuseProof("a DPoP proof is required: the assertion is bound to a key (cnf)")
			}
			return refuseProof("a DPoP proof is required: the refresh token is bound to a key")
		}
		sess.JKT = ""
		return nil
	}
	if mustKeep && proof.JKT != bound {
		switch {
		case grants.ExactOne(GrantAuthorizationCode):
			return refuseProof("the proof is not signed with the key the authorization code is bound to (dpop_jkt)")
		case grants.ExactOne(GrantJWTBearer):
			return refuseProof("the proof is not signed with the key the assertion is bound to (cnf)")
		}
		return refuseProof("the proof is not signed with the key the refresh token is bound to")
	}
	sess.JKT = proof.JKT
	return nil
}

// dpopBound reports whether the access token of ar is bound to a DPoP key.
func dpopBound(ar fosite.Requester) bool {
	s, ok := ar.GetSession().(*Session)
	return ok && s.JKT != ""
}

// writeDPoPNonce gives the client the nonce to put in its next proof
// (RFC 9449 §8): with a use_dpop_nonce error always, and with every
// token response when nonces are required (§8.2: a fresh one before the
// one it holds expires).
func (p *Provider) writeDPoPNonce(w http.ResponseWriter, err error) {
	if p.dpop.Nonces == nil {
		return
	}
	if p.dpop.RequireNonce || errors.Is(err, dpop.ErrUseNonce) {
		w.Header().Set(dpop.NonceHeader, p.dpop.Nonces.Current(p.now()))
	}
}
