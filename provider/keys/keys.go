// Package keys manages gatehouse's JWS signing keys: it generates them,
// keeps the private halves sealed at rest, publishes the public halves as a
// JWKS, and signs and verifies tokens choosing the key by algorithm and kid.
//
// Every algorithm (RS256, ES256) has its own life cycle:
//
//	next     published in the JWKS, not yet signing
//	current  signs (exactly one per algorithm)
//	retired  published, verifies, no longer signs
//	removed  deleted once nothing it signed can still be valid
//
// Maintain moves keys along on a schedule (see Options): a next key is
// created JWKSCacheTTL+ReloadInterval ("prepublish") before the current key
// is due for rotation, so every instance and every relying party's cached
// JWKS knows it before it signs anything; it is promoted when the rotation
// is due; a retired key is removed RetireRetention after it stopped signing.
// Every step is a conditional write in storage (a second next key, a stale
// promotion, a second delete are refused), so several instances on one
// database running Maintain together rotate exactly once; each picks up
// the result on its next reload.
//
// The private halves are sealed under the system secret; Reencrypt re-seals
// them (and ReencryptSystemKeys gatehouse's other random keys) after
// GATEHOUSE_SECRET is rotated.
package keys

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	josev4 "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// Supported signing algorithms. RS256 is OpenID Connect's default for
// clients that register nothing else; ES256 is smaller and ~30x cheaper to
// sign.
const (
	RS256 = "RS256"
	ES256 = "ES256"
)

// Algorithms lists what this package can sign with, default first.
var Algorithms = []string{RS256, ES256}

// Defaults of Options.
const (
	DefaultRotationInterval = 30 * 24 * time.Hour
	DefaultJWKSCacheTTL     = time.Hour
	DefaultRetireRetention  = 24 * time.Hour
	DefaultReloadInterval   = time.Minute
	DefaultCheckInterval    = 2 * time.Second
	DefaultRSABits          = 2048
)

// Store is the storage the manager needs (storage.KeyStore).
type Store interface {
	// SigningKeys lists every key, newest first.
	SigningKeys(ctx context.Context) ([]*storage.SigningKey, error)
	// CreateSigningKey refuses a second current or next key of one
	// algorithm with storage.ErrConflict.
	CreateSigningKey(ctx context.Context, k *storage.SigningKey) error
	// PromoteSigningKey retires currentKID and makes nextKID current, or
	// returns storage.ErrConflict if either is no longer in that state.
	PromoteSigningKey(ctx context.Context, alg, currentKID, nextKID string, at time.Time) error
	// DeleteSigningKey removes a retired key (storage.ErrNotFound otherwise).
	DeleteSigningKey(ctx context.Context, kid string) error
	// ResealSigningKey replaces the sealed private key of kid.
	ResealSigningKey(ctx context.Context, kid string, sealed []byte) error
}

// Options configure a Manager. Zero durations take the defaults.
type Options struct {
	Store   Store
	Keyring *secret.Keyring
	Now     func() time.Time
	Logger  *slog.Logger
	// ReloadInterval is how often Run re-reads the key set and runs
	// Maintain; default 1 minute. An instance may keep signing with a key
	// up to this long after another instance retired it.
	ReloadInterval time.Duration
	// CheckInterval is how often Run looks whether the stored key set
	// changed (a rotation by another instance or by `gatehouse keys
	// rotate`) and reloads it if so; default 2 s. It reads only the rows
	// (a few per algorithm) and opens keys only when something changed,
	// so an immediate rotation on one instance is published by every
	// instance's JWKS within seconds rather than a ReloadInterval.
	CheckInterval time.Duration
	// RotationInterval is how long a key signs before the next one takes
	// over; default 30 days. It must exceed the pre-publication period
	// (JWKSCacheTTL + ReloadInterval).
	RotationInterval time.Duration
	// JWKSCacheTTL is how long relying parties may cache the JWKS: the
	// max-age of its Cache-Control (CacheMaxAge); default 1 hour. A next
	// key is published JWKSCacheTTL + ReloadInterval before it signs.
	JWKSCacheTTL time.Duration
	// RetireRetention is how long a retired key stays published. It must
	// cover the longest lifetime of anything the key signed (ID tokens,
	// JWT access tokens) plus a margin for clock skew and for instances
	// that have not reloaded yet (ReloadInterval); default 24 hours.
	RetireRetention time.Duration
	// RSABits is the modulus size of new RSA keys: 2048 (default) or 3072.
	// Changing it affects keys created afterwards; the current key keeps
	// its size until it is rotated.
	RSABits int
	// OnEvent, when set, is told of every change this manager makes to the
	// stored keys (for the audit trail). It runs on the caller's
	// goroutine and must not block.
	OnEvent func(ctx context.Context, e Event)
}

// Kinds of Event.
const (
	// EventCreated: a key was generated and stored (Event.State says
	// whether it signs at once or is published as the next key).
	EventCreated = "created"
	// EventRotated: KID signs from now on; RetiredKID stopped signing.
	EventRotated = "rotated"
	// EventDeleted: a retired key was removed from the JWKS and storage.
	EventDeleted = "deleted"
	// EventResealed: KID's private key was re-encrypted under the current
	// secret.
	EventResealed = "resealed"
)

// Event is one change of the stored signing keys.
type Event struct {
	Kind      string
	KID       string
	Algorithm string
	// State is the state of a created key (storage.KeyStateCurrent or
	// KeyStateNext).
	State string
	// RetiredKID is the key a rotation retired.
	RetiredKID string
}

// emit tells OnEvent of e.
func (m *Manager) emit(ctx context.Context, e Event) {
	if m.opts.OnEvent != nil {
		m.opts.OnEvent(ctx, e)
	}
}

// withDefaults fills in zero values and checks the rest.
func (o Options) withDefaults() (Options, error) {
	if o.Store == nil {
		return o, errors.New("signing keys: Options.Store is required")
	}
	if o.Keyring == nil {
		return o, errors.New("signing keys: Options.Keyring is required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"ReloadInterval", &o.ReloadInterval, DefaultReloadInterval},
		{"CheckInterval", &o.CheckInterval, DefaultCheckInterval},
		{"RotationInterval", &o.RotationInterval, DefaultRotationInterval},
		{"JWKSCacheTTL", &o.JWKSCacheTTL, DefaultJWKSCacheTTL},
		{"RetireRetention", &o.RetireRetention, DefaultRetireRetention},
	} {
		switch {
		case *d.v < 0:
			return o, fmt.Errorf("signing keys: %s must not be negative (got %s)", d.name, *d.v)
		case *d.v == 0:
			*d.v = d.def
		}
	}
	switch o.RSABits {
	case 0:
		o.RSABits = DefaultRSABits
	case 2048, 3072:
	default:
		return o, fmt.Errorf("signing keys: RSA key size must be 2048 or 3072 bits, got %d", o.RSABits)
	}
	if pre := o.JWKSCacheTTL + o.ReloadInterval; o.RotationInterval <= pre {
		return o, fmt.Errorf("signing keys: the rotation interval (%s) must be longer than the JWKS cache TTL plus the reload interval (%s), "+
			"or a key would be replaced before relying parties could learn about it", o.RotationInterval, pre)
	}
	return o, nil
}

// key is one loaded signing key.
type key struct {
	kid    string
	alg    string
	state  string
	signer crypto.Signer // *rsa.PrivateKey or *ecdsa.PrivateKey
	public crypto.PublicKey
}

// Manager holds the loaded key set. Safe for concurrent use.
type Manager struct {
	opts Options

	// prepublish is how long a next key is published before it signs:
	// JWKSCacheTTL + ReloadInterval.
	prepublish time.Duration

	mu      sync.RWMutex
	byKID   map[string]*key
	current map[string]*key // by algorithm
	jwks    []byte
	// loaded identifies the stored rows the set was loaded from (see
	// rowsVersion), so the change check can tell a new set from the same.
	loaded string
}

// ErrNoKey is returned when no usable key exists for a request.
var ErrNoKey = errors.New("no signing key")

// New checks the options, loads the key set and creates a current key for
// every algorithm that has none. It does not rotate: Run (or Maintain) does.
func New(ctx context.Context, opts Options) (*Manager, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	m := &Manager{opts: opts, prepublish: opts.JWKSCacheTTL + opts.ReloadInterval}
	if err := m.ensure(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

// ensure loads keys and generates a current key for each algorithm lacking
// one. Two instances racing here both try to insert; the storage refuses the
// second current key of an algorithm (ErrConflict) and the loser reloads.
func (m *Manager) ensure(ctx context.Context) error {
	if err := m.Reload(ctx); err != nil {
		return err
	}
	for _, alg := range Algorithms {
		m.mu.RLock()
		_, ok := m.current[alg]
		m.mu.RUnlock()
		if ok {
			continue
		}
		// On a conflict another instance won; its key is loaded below.
		if _, err := m.create(ctx, alg, storage.KeyStateCurrent); err != nil {
			return err
		}
	}
	if err := m.Reload(ctx); err != nil {
		return err
	}
	for _, alg := range Algorithms {
		if _, err := m.currentKey(alg); err != nil {
			return err
		}
	}
	return nil
}

// create generates a key of alg in state (current or next) and stores it.
// It returns nil and no error when storage refuses it as a second key of
// that state (another instance made one at the same time).
func (m *Manager) create(ctx context.Context, alg, state string) (*storage.SigningKey, error) {
	k, err := m.generate(alg, state)
	if err != nil {
		return nil, err
	}
	err = m.opts.Store.CreateSigningKey(ctx, k)
	switch {
	case err == nil:
		m.opts.Logger.Info("created signing key", "kid", k.KID, "alg", alg, "state", state)
		m.emit(ctx, Event{Kind: EventCreated, KID: k.KID, Algorithm: alg, State: state})
		return k, nil
	case errors.Is(err, storage.ErrConflict):
		m.opts.Logger.Debug("another instance created the signing key first", "alg", alg, "state", state)
		return nil, nil
	default:
		return nil, fmt.Errorf("store the %s %s signing key: %w", state, alg, err)
	}
}

// generate makes a new key pair of alg in state (current or next), sealed
// under the keyring's current secret.
func (m *Manager) generate(alg, state string) (*storage.SigningKey, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case RS256:
		priv, err = rsa.GenerateKey(rand.Reader, m.opts.RSABits)
	case ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		return nil, fmt.Errorf("unsupported signing algorithm %q", alg)
	}
	if err != nil {
		return nil, fmt.Errorf("generate a %s signing key: %w", alg, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("signing keys: encode %s: %w", alg, err)
	}
	sealed, err := m.opts.Keyring.Seal(secret.PurposeSigningKeys, der)
	if err != nil {
		return nil, err
	}
	jwk := josev4.JSONWebKey{Key: priv.Public(), Algorithm: alg, Use: "sig"}
	thumb, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("signing keys: thumbprint: %w", err)
	}
	// The kid is the RFC 7638 thumbprint: unique per key and checkable by
	// anyone holding the public key.
	jwk.KeyID = base64.RawURLEncoding.EncodeToString(thumb)
	pub, err := json.Marshal(jwk)
	if err != nil {
		return nil, fmt.Errorf("signing keys: encode public %s: %w", alg, err)
	}
	now := m.now()
	k := &storage.SigningKey{
		KID: jwk.KeyID, Algorithm: alg, State: state,
		PrivateKey: sealed, PublicKey: pub, CreatedAt: now,
	}
	if state == storage.KeyStateCurrent {
		k.ActivatedAt = now
	}
	return k, nil
}

// now is the injected clock, in UTC, at the microsecond precision storage
// keeps (so reported times match what is stored).
func (m *Manager) now() time.Time { return m.opts.Now().UTC().Truncate(time.Microsecond) }

// Reload re-reads the key set from storage. A key that cannot be opened
// (wrong secret) fails the reload rather than being skipped silently.
func (m *Manager) Reload(ctx context.Context) error {
	rows, err := m.opts.Store.SigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("load the signing keys: %w", err)
	}
	return m.load(rows)
}

// CheckForChanges reloads the key set if the stored rows differ from the
// loaded ones; it reports whether they did.
func (m *Manager) CheckForChanges(ctx context.Context) (bool, error) {
	rows, err := m.opts.Store.SigningKeys(ctx)
	if err != nil {
		return false, fmt.Errorf("load the signing keys: %w", err)
	}
	m.mu.RLock()
	same := m.loaded == rowsVersion(rows)
	m.mu.RUnlock()
	if same {
		return false, nil
	}
	return true, m.load(rows)
}

// rowsVersion identifies a stored key set by what the loaded set is built
// from: every key's id and state (a re-sealed private key is the same key).
func rowsVersion(rows []*storage.SigningKey) string {
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.KID + "/" + r.State
	}
	slices.Sort(ids)
	return strings.Join(ids, ",")
}

// load builds the key set from the stored rows and makes it the loaded one.
func (m *Manager) load(rows []*storage.SigningKey) error {
	byKID := make(map[string]*key, len(rows))
	current := map[string]*key{}
	set := josev4.JSONWebKeySet{Keys: []josev4.JSONWebKey{}}
	for _, r := range rows {
		k, err := m.open(r)
		if err != nil {
			return err
		}
		byKID[k.kid] = k
		if k.state == storage.KeyStateCurrent {
			if _, dup := current[k.alg]; !dup { // newest first: the newest current wins
				current[k.alg] = k
			}
		}
		set.Keys = append(set.Keys, josev4.JSONWebKey{Key: k.public, KeyID: k.kid, Algorithm: k.alg, Use: "sig"})
	}
	// Stable order for caches and diffing: current keys first, then by kid.
	slices.SortStableFunc(set.Keys, func(a, b josev4.JSONWebKey) int {
		ac, bc := current[a.Algorithm] != nil && current[a.Algorithm].kid == a.KeyID, current[b.Algorithm] != nil && current[b.Algorithm].kid == b.KeyID
		switch {
		case ac && !bc:
			return -1
		case bc && !ac:
			return 1
		}
		return 0
	})
	jwks, err := json.Marshal(set)
	if err != nil {
		return fmt.Errorf("encode the JWKS: %w", err)
	}
	m.mu.Lock()
	m.byKID, m.current, m.jwks, m.loaded = byKID, current, jwks, rowsVersion(rows)
	m.mu.Unlock()
	return nil
}

func (m *Manager) open(r *storage.SigningKey) (*key, error) {
	der, err := m.opts.Keyring.Open(secret.PurposeSigningKeys, r.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("cannot decrypt signing key %s (was GATEHOUSE_SECRET changed without listing the old one in GATEHOUSE_OLD_SECRETS?): %w", r.KID, err)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("parse signing key %s: %w", r.KID, err)
	}
	signer, ok := parsed.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("signing keys: key %s is not a signing key", r.KID)
	}
	switch signer.(type) {
	case *rsa.PrivateKey:
		if r.Algorithm != RS256 {
			return nil, fmt.Errorf("signing keys: key %s: RSA key stored as %s", r.KID, r.Algorithm)
		}
	case *ecdsa.PrivateKey:
		if r.Algorithm != ES256 {
			return nil, fmt.Errorf("signing keys: key %s: EC key stored as %s", r.KID, r.Algorithm)
		}
	default:
		return nil, fmt.Errorf("signing keys: key %s has unsupported type %T", r.KID, signer)
	}
	return &key{kid: r.KID, alg: r.Algorithm, state: r.State, signer: signer, public: signer.Public()}, nil
}

// Run runs Maintain (which ends with a reload) at once and then every
// ReloadInterval until ctx ends, and between those looks for changes made
// elsewhere every CheckInterval. A failed pass keeps the previously loaded
// set and is logged; the next tick tries again.
func (m *Manager) Run(ctx context.Context) {
	maintain := time.NewTicker(m.opts.ReloadInterval)
	defer maintain.Stop()
	check := time.NewTicker(m.opts.CheckInterval)
	defer check.Stop()
	// A failing check (database down) is logged once, not every
	// CheckInterval; Maintain's own failures are logged each time.
	checkFailing := false
	for {
		if err := m.Maintain(ctx); err != nil && ctx.Err() == nil {
			m.opts.Logger.Error("signing key maintenance failed; keeping the loaded set", "err", err)
		}
	wait:
		for {
			select {
			case <-ctx.Done():
				return
			case <-maintain.C:
				break wait
			case <-check.C:
				changed, err := m.CheckForChanges(ctx)
				if err != nil {
					if ctx.Err() == nil && !checkFailing {
						m.opts.Logger.Error("signing key check failed; keeping the loaded set", "err", err)
					}
					checkFailing = true
					continue
				}
				if checkFailing {
					m.opts.Logger.Info("signing key check works again")
					checkFailing = false
				}
				if changed {
					m.opts.Logger.Info("the stored signing keys changed (another instance or the CLI); reloaded them")
				}
			}
		}
	}
}

// CacheMaxAge is how long relying parties may cache the JWKS: serve it as
// "Cache-Control: public, max-age=<seconds>". The rotation schedule
// publishes every key at least this long (plus one reload interval) before
// it signs.
func (m *Manager) CacheMaxAge() time.Duration { return m.opts.JWKSCacheTTL }

// JWKS returns the public key set as JSON.
func (m *Manager) JWKS() []byte {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.jwks
}

// CurrentKID returns the kid of the current key for alg.
func (m *Manager) CurrentKID(alg string) (string, error) {
	k, err := m.currentKey(alg)
	if err != nil {
		return "", err
	}
	return k.kid, nil
}

func (m *Manager) currentKey(alg string) (*key, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	k, ok := m.current[alg]
	if !ok {
		return nil, fmt.Errorf("%w for %s", ErrNoKey, alg)
	}
	return k, nil
}

// publicKey returns the verification key for kid, in any state.
func (m *Manager) publicKey(kid string) (*key, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	k, ok := m.byKID[kid]
	return k, ok
}
