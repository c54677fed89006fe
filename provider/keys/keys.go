// Package keys manages gatehouse's JWS signing keys: it generates them,
// keeps the private halves sealed at rest, publishes the public halves as a
// JWKS, and signs and verifies tokens choosing the key by algorithm and kid.
//
// Today every algorithm has one current key, created on first start. Keys
// are reloaded from storage periodically, so several instances sharing one
// database converge on the same set.
package keys

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
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

// rsaBits is the modulus size of generated RSA keys.
const rsaBits = 2048

// Store is the storage the manager needs.
type Store interface {
	SigningKeys(ctx context.Context) ([]*storage.SigningKey, error)
	CreateSigningKey(ctx context.Context, k *storage.SigningKey) error
}

// Options configure a Manager.
type Options struct {
	Store   Store
	Keyring *secret.Keyring
	Now     func() time.Time
	Logger  *slog.Logger
	// ReloadInterval is how often Run re-reads the key set; default 1 minute.
	ReloadInterval time.Duration
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

	mu      sync.RWMutex
	byKID   map[string]*key
	current map[string]*key // by algorithm
	jwks    []byte
}

// ErrNoKey is returned when no usable key exists for a request.
var ErrNoKey = errors.New("keys: no signing key")

// New loads the key set and creates a current key for every algorithm that
// has none.
func New(ctx context.Context, opts Options) (*Manager, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.ReloadInterval <= 0 {
		opts.ReloadInterval = time.Minute
	}
	m := &Manager{opts: opts}
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
		k, err := m.generate(alg)
		if err != nil {
			return err
		}
		err = m.opts.Store.CreateSigningKey(ctx, k)
		switch {
		case err == nil:
			m.opts.Logger.Info("created signing key", "kid", k.KID, "alg", alg)
		case errors.Is(err, storage.ErrConflict):
			// Another instance won; its key is loaded below.
		default:
			return fmt.Errorf("keys: store %s key: %w", alg, err)
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

func (m *Manager) generate(alg string) (*storage.SigningKey, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case RS256:
		priv, err = rsa.GenerateKey(rand.Reader, rsaBits)
	case ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		return nil, fmt.Errorf("keys: unsupported algorithm %q", alg)
	}
	if err != nil {
		return nil, fmt.Errorf("keys: generate %s: %w", alg, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("keys: encode %s: %w", alg, err)
	}
	sealed, err := m.opts.Keyring.Seal(secret.PurposeSigningKeys, der)
	if err != nil {
		return nil, err
	}
	jwk := josev4.JSONWebKey{Key: priv.Public(), Algorithm: alg, Use: "sig"}
	thumb, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("keys: thumbprint: %w", err)
	}
	// The kid is the RFC 7638 thumbprint: unique per key and checkable by
	// anyone holding the public key.
	jwk.KeyID = base64.RawURLEncoding.EncodeToString(thumb)
	pub, err := json.Marshal(jwk)
	if err != nil {
		return nil, fmt.Errorf("keys: encode public %s: %w", alg, err)
	}
	now := m.opts.Now().UTC()
	return &storage.SigningKey{
		KID: jwk.KeyID, Algorithm: alg, State: storage.KeyStateCurrent,
		PrivateKey: sealed, PublicKey: pub, CreatedAt: now, ActivatedAt: now,
	}, nil
}

// Reload re-reads the key set from storage. A key that cannot be opened
// (wrong secret) fails the reload rather than being skipped silently.
func (m *Manager) Reload(ctx context.Context) error {
	rows, err := m.opts.Store.SigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("keys: load: %w", err)
	}
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
		return fmt.Errorf("keys: encode jwks: %w", err)
	}
	m.mu.Lock()
	m.byKID, m.current, m.jwks = byKID, current, jwks
	m.mu.Unlock()
	return nil
}

func (m *Manager) open(r *storage.SigningKey) (*key, error) {
	der, err := m.opts.Keyring.Open(secret.PurposeSigningKeys, r.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("keys: open private key %s (was GATEHOUSE_SECRET changed without listing the old one in GATEHOUSE_OLD_SECRETS?): %w", r.KID, err)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("keys: parse private key %s: %w", r.KID, err)
	}
	signer, ok := parsed.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("keys: key %s is not a signing key", r.KID)
	}
	switch signer.(type) {
	case *rsa.PrivateKey:
		if r.Algorithm != RS256 {
			return nil, fmt.Errorf("keys: key %s: RSA key stored as %s", r.KID, r.Algorithm)
		}
	case *ecdsa.PrivateKey:
		if r.Algorithm != ES256 {
			return nil, fmt.Errorf("keys: key %s: EC key stored as %s", r.KID, r.Algorithm)
		}
	default:
		return nil, fmt.Errorf("keys: key %s has unsupported type %T", r.KID, signer)
	}
	return &key{kid: r.KID, alg: r.Algorithm, state: r.State, signer: signer, public: signer.Public()}, nil
}

// Run reloads the key set every ReloadInterval until ctx ends. A failed
// reload keeps the previous set and is logged.
func (m *Manager) Run(ctx context.Context) {
	t := time.NewTicker(m.opts.ReloadInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := m.Reload(ctx); err != nil && ctx.Err() == nil {
				m.opts.Logger.Error("reloading signing keys failed; keeping the loaded set", "err", err)
			}
		}
	}
}

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

// Fingerprint is a short digest of the JWKS, handy for ETags.
func (m *Manager) Fingerprint() string {
	sum := sha256.Sum256(m.JWKS())
	return base64.RawURLEncoding.EncodeToString(sum[:12])
}
