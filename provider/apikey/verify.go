package apikey

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// ErrInvalid is matched (errors.Is) by every verification failure that is
// the presenter's fault. Callers answer all of them the same way
// (invalid_client); the *Failure inside says why, for the audit log only.
var ErrInvalid = errors.New("apikey: invalid key")

// Failure reasons, for audit logs. Never tell a client which one applied.
const (
	ReasonMalformed   = "malformed"    // Parse refused it; no lookup was made
	ReasonUnknown     = "unknown_key"  // no key has this id
	ReasonWrongSecret = "wrong_secret" // the id exists, the secret does not match
	ReasonOtherClient = "other_client" // the key belongs to another client
	ReasonRevoked     = "revoked"
	ReasonExpired     = "expired"
)

// Failure is the error Verify returns for a key that must be refused. It
// matches ErrInvalid, and also ErrMalformed when Reason is ReasonMalformed.
type Failure struct {
	Reason string
	// KeyID is the id embedded in the presented key (empty when it was
	// malformed). An id is not a credential, so it may be logged.
	KeyID string
	// ClientID is the client the key belongs to, when the key exists.
	ClientID string
}

func (f *Failure) Error() string {
	if f.KeyID == "" {
		return "apikey: invalid key: " + f.Reason
	}
	return "apikey: invalid key " + f.KeyID + ": " + f.Reason
}

// Is makes errors.Is(err, ErrInvalid) hold for every failure.
func (f *Failure) Is(target error) bool {
	return target == ErrInvalid || target == ErrMalformed && f.Reason == ReasonMalformed
}

// Store is the storage the verifier needs (storage.APIKeyStore has it).
type Store interface {
	// APIKey returns storage.ErrNotFound for an unknown id, and revoked or
	// expired keys as they are.
	APIKey(ctx context.Context, id string) (*storage.APIKey, error)
	// TouchAPIKey moves LastUsedAt forward to at.
	TouchAPIKey(ctx context.Context, id string, at time.Time) error
	// APIKeysRevokedSince lists keys revoked at or after since.
	APIKeysRevokedSince(ctx context.Context, since time.Time) ([]string, error)
	// RevokeAPIKey keeps the first revocation time and deletes the key's
	// access tokens.
	RevokeAPIKey(ctx context.Context, id string, at time.Time) error
}

var _ Store = storage.APIKeyStore(nil)

// Options configure a Verifier. Store and Keyring are required.
type Options struct {
	Store   Store
	Keyring *secret.Keyring
	// CacheTTL bounds how long a key row read from the database is served
	// from this process's memory. Default 10s; negative disables the
	// cache. Revocations by other instances end a cached row sooner: see
	// RevocationCheckInterval.
	CacheTTL time.Duration
	// RevocationCheckInterval is how often Run looks for keys revoked
	// elsewhere (CheckRevocations), and so how long another instance may
	// still accept a key this one revoked. Default 2s.
	RevocationCheckInterval time.Duration
	// TouchInterval is how often at most Run writes a key's last use.
	// Default 1 minute.
	TouchInterval time.Duration
	// Now is the clock for expiry and last use. Default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

const (
	defaultCacheTTL      = 10 * time.Second
	defaultTouchInterval = time.Minute

	defaultRevocationCheckInterval = 2 * time.Second
)

// Verifier checks presented keys. Safe for concurrent use.
type Verifier struct {
	store  Store
	hasher hasher
	// compare is hasher.compare; tests swap it to count comparisons.
	compare       func(stored, secretPart string) bool
	now           func() time.Time
	logger        *slog.Logger
	touchInterval time.Duration
	tick          time.Duration // how often Run looks for uses to write
	cache         *keyCache
	uses          *useTracker
	// revocationCheck is Options.RevocationCheckInterval; revocations is
	// Run's state for CheckRevocations.
	revocationCheck time.Duration
	revocations     revocationWatch
}

// NewVerifier returns a verifier. It panics without a Store or Keyring
// (a wiring mistake, not a run-time condition).
func NewVerifier(o Options) *Verifier {
	if o.Store == nil || o.Keyring == nil {
		panic("apikey: NewVerifier needs a Store and a Keyring")
	}
	if o.CacheTTL == 0 {
		o.CacheTTL = defaultCacheTTL
	}
	if o.TouchInterval <= 0 {
		o.TouchInterval = defaultTouchInterval
	}
	if o.RevocationCheckInterval <= 0 {
		o.RevocationCheckInterval = defaultRevocationCheckInterval
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	v := &Verifier{
		store:         o.Store,
		hasher:        hasher{keys: o.Keyring.Keys(PurposeAPIKey)},
		now:           o.Now,
		logger:        o.Logger,
		touchInterval: o.TouchInterval,
		tick:          min(o.TouchInterval, maxTick),
		cache:         newKeyCache(o.CacheTTL, o.Now),
		uses:          newUseTracker(),

		revocationCheck: o.RevocationCheckInterval,
	}
	v.compare = v.hasher.compare
	return v
}

// Hash returns the value to store as APIKey.SecretHash for secretPart (as
// returned by Mint): "hs256:" + base64url(HMAC-SHA256), under the current
// system secret.
func (v *Verifier) Hash(secretPart string) string { return v.hasher.hash(secretPart) }

// Verify checks a presented key and returns its row (a copy the caller may
// change). clientID is the client the caller authenticates as; empty
// accepts a key of any client (introspection of a key).
//
// A refusal is a *Failure matching ErrInvalid. Any other error comes from
// storage (storage.ErrUnavailable: answer 503) and says nothing about the
// key.
//
// After parsing, every path makes exactly one hash comparison, against a
// dummy hash when the id is unknown, so that unknown, wrong, foreign,
// revoked and expired keys take the same time. (A cached row still answers
// faster than an uncached one; only existing keys are cached, and a key id
// is useless without its secret.)
func (v *Verifier) Verify(ctx context.Context, clientID, presented string) (*storage.APIKey, error) {
	id, secretPart, err := Parse(presented)
	if err != nil {
		return nil, &Failure{Reason: ReasonMalformed}
	}
	k, err := v.lookup(ctx, id)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return nil, err
	}
	stored := dummyHash
	if k != nil {
		stored = k.SecretHash
	}
	secretOK := v.compare(stored, secretPart)

	now := v.now()
	var reason string
	switch {
	case k == nil:
		reason = ReasonUnknown
	case !secretOK:
		reason = ReasonWrongSecret
	case clientID != "" && clientID != k.ClientID:
		reason = ReasonOtherClient
	case !k.RevokedAt.IsZero():
		reason = ReasonRevoked
	case !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt):
		reason = ReasonExpired
	}
	if reason != "" {
		f := &Failure{Reason: reason, KeyID: id}
		if k != nil {
			f.ClientID = k.ClientID
		}
		return nil, f
	}
	v.uses.record(id, now)
	return k, nil
}

// Key returns the row of key id through the same cache as Verify (a copy
// the caller may change); storage.ErrNotFound for an unknown id. It checks
// nothing: use it for a key a request has already been verified with
// (the API key a request authenticated with), never to authenticate.
func (v *Verifier) Key(ctx context.Context, id string) (*storage.APIKey, error) {
	if !ValidID(id) {
		// Not a key id at all: spare the database.
		return nil, storage.ErrNotFound
	}
	return v.lookup(ctx, id)
}

// Invalidate drops a key from this process's cache; call it after revoking
// or changing the key, so that this instance refuses a revoked key at once.
// Other instances notice within CacheTTL.
func (v *Verifier) Invalidate(id string) { v.cache.Invalidate(id) }

// lookup returns the key row, from the cache when it is fresh.
func (v *Verifier) lookup(ctx context.Context, id string) (*storage.APIKey, error) {
	return v.cache.GetOrLoad(id, func() (*storage.APIKey, error) { return v.store.APIKey(ctx, id) })
}
