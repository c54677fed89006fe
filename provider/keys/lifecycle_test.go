package keys

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	josev4 "github.com/go-jose/go-jose/v4"
	"github.com/ory/fosite/token/jwt"

	"github.com/gatehouse-dev/gatehouse/internal/clocktest"
	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore/bunstoretest"
)

// The schedule the life-cycle tests run: short enough to walk minute by
// minute through several rotations.
const (
	testIssuer     = "https://gatehouse.test"
	testClientID   = "rp"
	testReload     = time.Minute
	testCacheTTL   = 10 * time.Minute
	testPrepublish = testCacheTTL + testReload
	testRotation   = 2 * time.Hour
	testTokenLife  = 20 * time.Minute              // ID tokens
	testRetention  = testTokenLife + 5*time.Minute // + margin
	testStep       = testReload                    // instances tick once a reload interval
)

var testStart = time.Date(2031, 3, 1, 8, 0, 0, 0, time.UTC)

func testRing(t testing.TB) *secret.Keyring {
	t.Helper()
	ring, err := secret.NewKeyring(testSecret, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ring
}

func scheduleOptions(t testing.TB, store Store, clk *clocktest.Clock) Options {
	return Options{
		Store: store, Keyring: testRing(t), Logger: quiet, Now: clk.Now,
		ReloadInterval: testReload, JWKSCacheTTL: testCacheTTL,
		RotationInterval: testRotation, RetireRetention: testRetention,
	}
}

// newScheduledOn is newScheduled on a new store of the dialect, with a
// clock of its own.
func newScheduledOn(t testing.TB, dialect string) (*Manager, *clocktest.Clock) {
	t.Helper()
	clk := clocktest.New(testStart)
	return newScheduled(t, bunstoretest.Open(t, dialect, bunstore.Options{}), clk), clk
}

func newScheduled(t testing.TB, store Store, clk *clocktest.Clock) *Manager {
	t.Helper()
	m, err := New(context.Background(), scheduleOptions(t, store, clk))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// parseJWKS parses the published set with go-jose v4, as a relying party
// would: kid -> public key.
func parseJWKS(t testing.TB, raw []byte) map[string]josev4.JSONWebKey {
	t.Helper()
	var set josev4.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		t.Fatalf("JWKS does not parse: %v\n%s", err, raw)
	}
	out := make(map[string]josev4.JSONWebKey, len(set.Keys))
	for _, k := range set.Keys {
		if !k.IsPublic() || !k.Valid() {
			t.Fatalf("JWKS entry %s is not a valid public key", k.KeyID)
		}
		out[k.KeyID] = k
	}
	return out
}

// verifier is go-oidc's ID token verifier over a static key set built
// from a JWKS document.
func verifier(t testing.TB, jwks map[string]josev4.JSONWebKey, now time.Time, skipExpiry bool) *oidc.IDTokenVerifier {
	t.Helper()
	ks := &oidc.StaticKeySet{}
	for _, k := range jwks {
		ks.PublicKeys = append(ks.PublicKeys, crypto.PublicKey(k.Key))
	}
	return oidc.NewVerifier(testIssuer, ks, &oidc.Config{
		ClientID: testClientID, SupportedSigningAlgs: Algorithms,
		Now: func() time.Time { return now }, SkipExpiryCheck: skipExpiry,
	})
}

// verifyToken checks a token as a kid-respecting relying party holding
// jwks: the kid must be in the set with the token's alg, and go-oidc must
// accept the token.
func verifyToken(t testing.TB, jwks map[string]josev4.JSONWebKey, raw string, now time.Time, skipExpiry bool) error {
	t.Helper()
	kid, alg := tokenHeader(t, raw)
	k, ok := jwks[kid]
	if !ok {
		return fmt.Errorf("kid %s is not in the JWKS", kid)
	}
	if k.Algorithm != alg {
		return fmt.Errorf("kid %s is published for %s, token says %s", kid, k.Algorithm, alg)
	}
	_, err := verifier(t, jwks, now, skipExpiry).Verify(context.Background(), raw)
	return err
}

func tokenHeader(t testing.TB, raw string) (kid, alg string) {
	t.Helper()
	jws, err := josev4.ParseSigned(raw, []josev4.SignatureAlgorithm{josev4.RS256, josev4.ES256})
	if err != nil {
		t.Fatalf("token does not parse: %v", err)
	}
	h := jws.Signatures[0].Header
	return h.KeyID, h.Algorithm
}

// signIDToken signs an ID-token-like JWT the way the provider does: the
// header names a kid of the client's algorithm, the Signer picks that
// algorithm's current key.
func signIDToken(t testing.TB, m *Manager, alg string, now time.Time, sub string) (raw, kid string) {
	t.Helper()
	want, err := m.CurrentKID(alg)
	if err != nil {
		t.Fatal(err)
	}
	claims := jwt.MapClaims{
		"iss": testIssuer, "sub": sub, "aud": testClientID, "nonce": "n-0S6_WzA2Mj",
		"iat": now.Unix(), "auth_time": now.Unix(), "exp": now.Add(testTokenLife).Unix(),
	}
	raw, _, err = m.Signer().Generate(context.Background(), claims, &jwt.Headers{Extra: map[string]interface{}{"kid": want}})
	if err != nil {
		t.Fatal(err)
	}
	kid, gotAlg := tokenHeader(t, raw)
	if kid != want || gotAlg != alg {
		t.Fatalf("signed with %s/%s, want the current %s key %s", gotAlg, kid, alg, want)
	}
	return raw, kid
}

// cachingRP is a relying party that caches the JWKS for the cache TTL and
// never refetches early (not even for an unknown kid): the strictest
// client the pre-publication period must serve.
type cachingRP struct {
	next time.Time // next fetch
	keys map[string]josev4.JSONWebKey
}

func (rp *cachingRP) refresh(t testing.TB, now time.Time, jwks []byte) {
	if now.Before(rp.next) {
		return
	}
	rp.keys = parseJWKS(t, jwks)
	rp.next = rp.next.Add(testCacheTTL)
}

type issuedToken struct {
	raw, kid, alg string
	iat, exp      time.Time
}

// observed records when each kid was first seen in each state.
type observed struct {
	inJWKS      map[string]time.Time // first time in the manager's JWKS
	signed      map[string]time.Time // first token signed
	state       map[string]map[string]time.Time
	removed     map[string]time.Time
	alg         map[string]string
	initialKIDs []string
}

func newObserved() *observed {
	return &observed{inJWKS: map[string]time.Time{}, signed: map[string]time.Time{},
		state: map[string]map[string]time.Time{}, removed: map[string]time.Time{}, alg: map[string]string{}}
}

// snapshot records the stored key set at now and checks the invariants:
// one current key and at most one next key per algorithm, states only move
// forward, removed keys stay removed.
func (o *observed) snapshot(t testing.TB, m *Manager, now time.Time) []KeyInfo {
	t.Helper()
	infos, err := m.Keys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	present := map[string]bool{}
	for _, ki := range infos {
		count[ki.Algorithm+"/"+ki.State]++
		present[ki.KID] = true
		o.alg[ki.KID] = ki.Algorithm
		if _, gone := o.removed[ki.KID]; gone {
			t.Fatalf("%s: key %s came back after removal", now, ki.KID)
		}
		if o.state[ki.KID] == nil {
			o.state[ki.KID] = map[string]time.Time{}
		}
		if _, ok := o.state[ki.KID][ki.State]; !ok {
			o.state[ki.KID][ki.State] = now
		}
		order := []string{storage.KeyStateNext, storage.KeyStateCurrent, storage.KeyStateRetired}
		for s := range o.state[ki.KID] {
			if slices.Index(order, s) > slices.Index(order, ki.State) {
				t.Fatalf("%s: key %s went back from %s to %s", now, ki.KID, s, ki.State)
			}
		}
	}
	for _, alg := range Algorithms {
		if count[alg+"/current"] != 1 || count[alg+"/next"] > 1 {
			t.Fatalf("%s: %s has %d current and %d next keys", now, alg, count[alg+"/current"], count[alg+"/next"])
		}
	}
	for kid := range o.state {
		if _, gone := o.removed[kid]; !gone && !present[kid] {
			o.removed[kid] = now
		}
	}
	return infos
}

func (o *observed) sawJWKS(jwks map[string]josev4.JSONWebKey, now time.Time) {
	for kid := range jwks {
		if _, ok := o.inJWKS[kid]; !ok {
			o.inJWKS[kid] = now
		}
	}
}

// checkPrepublished asserts that every key that signed, except the ones
// created on first start, was in the JWKS at least min before its first
// signature.
func (o *observed) checkPrepublished(t testing.TB, min time.Duration) {
	t.Helper()
	n := 0
	for kid, signed := range o.signed {
		if slices.Contains(o.initialKIDs, kid) {
			continue
		}
		seen, ok := o.inJWKS[kid]
		if !ok {
			t.Fatalf("key %s signed at %s but was never in the JWKS", kid, signed)
		}
		if signed.Sub(seen) < min {
			t.Errorf("key %s was published at %s and signed at %s: only %s before, want >= %s", kid, seen, signed, signed.Sub(seen), min)
		}
		n++
	}
	if n == 0 {
		t.Fatal("no rotated key ever signed")
	}
}

// TestLifecycleWalk drives both algorithms minute by minute through
// next -> current -> retired -> removed with an injected clock. At every
// step it signs ID tokens with each algorithm's current key and checks,
// with go-oidc and the JWKS as a relying party sees it, that
//
//   - a fresh token verifies for relying parties holding a JWKS cached up
//     to the cache TTL earlier (the key was pre-published);
//   - every token signed earlier still verifies until it expires, and a
//     token whose key was removed no longer does;
//   - the JWKS held each key at least prepublish before its first
//     signature.
//
// ES256 is rotated by hand early on, so the two algorithms run on
// different schedules.
func TestLifecycleWalk(t *testing.T) {
	bunstoretest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		ctx := context.Background()
		m, clk := newScheduledOn(t, dialect)
		obs := newObserved()
		for _, alg := range Algorithms {
			obs.initialKIDs = append(obs.initialKIDs, mustKID(t, m, alg))
		}
		// Relying parties whose caches expire at every minute of the TTL.
		var rps []*cachingRP
		for off := time.Duration(0); off < testCacheTTL; off += testStep {
			rps = append(rps, &cachingRP{next: testStart.Add(off)})
		}
		// Every relying party fetched the JWKS at start.
		for _, rp := range rps {
			rp.keys = parseJWKS(t, m.JWKS())
		}

		var tokens []issuedToken
		end := testStart.Add(5*time.Hour + 10*time.Minute)
		var esManual string
		for now := clk.Now(); now.Before(end); clk.Advance(testStep) {
			now = clk.Now()
			// Worst case: relying parties refetch just before this
			// tick's changes are published.
			for _, rp := range rps {
				rp.refresh(t, now, m.JWKS())
			}
			switch now.Sub(testStart) {
			case 30 * time.Minute:
				res, err := m.Rotate(ctx, ES256, false)
				if err != nil {
					t.Fatal(err)
				}
				if res.Action != RotateCreated || !res.CreatedNext || !res.PromotableAt.Equal(now.Add(testPrepublish)) ||
					!res.ScheduledAt.Equal(res.PromotableAt) {
					t.Fatalf("manual ES256 rotation: %+v", res)
				}
				esManual = res.NextKID
			case 30*time.Minute + testPrepublish:
				res, err := m.Rotate(ctx, ES256, false)
				if err != nil {
					t.Fatal(err)
				}
				if res.Action != RotatePromoted || res.CurrentKID != esManual || res.SkippedPrepublish {
					t.Fatalf("promoting the manual ES256 key: %+v", res)
				}
			}
			if err := m.Maintain(ctx); err != nil {
				t.Fatalf("%s: Maintain: %v", now, err)
			}
			jwks := parseJWKS(t, m.JWKS())
			obs.sawJWKS(jwks, now)
			obs.snapshot(t, m, now)

			for _, alg := range Algorithms {
				raw, kid := signIDToken(t, m, alg, now, "alice")
				if _, ok := obs.signed[kid]; !ok {
					obs.signed[kid] = now
				}
				tokens = append(tokens, issuedToken{raw: raw, kid: kid, alg: alg, iat: now, exp: now.Add(testTokenLife)})
				for i, rp := range rps {
					if err := verifyToken(t, rp.keys, raw, now, false); err != nil {
						t.Fatalf("%s: relying party %d (JWKS cached at most %s ago) rejects a fresh %s token: %v", now, i, testCacheTTL, alg, err)
					}
				}
			}

			// Every earlier token: valid until it expires, and its key
			// is not removed before then.
			kept := tokens[:0]
			for _, tok := range tokens {
				_, published := jwks[tok.kid]
				switch {
				case now.Before(tok.exp):
					if err := verifyToken(t, jwks, tok.raw, now, false); err != nil {
						t.Fatalf("%s: a %s token signed at %s (key %s) no longer verifies before it expires: %v", now, tok.alg, tok.iat, tok.kid, err)
					}
					if err := providerVerifies(m, tok.raw); err != nil {
						t.Fatalf("%s: the provider no longer accepts its own token signed at %s: %v", now, tok.iat, err)
					}
				case !published:
					// Its key is gone: invalid even ignoring expiry.
					if err := verifyToken(t, jwks, tok.raw, now, true); err == nil {
						t.Fatalf("%s: a token signed by the removed key %s still verifies", now, tok.kid)
					}
					if _, err := verifier(t, jwks, now, true).Verify(ctx, tok.raw); err == nil {
						t.Fatalf("%s: go-oidc accepts a token of the removed key %s", now, tok.kid)
					}
					if err := providerVerifies(m, tok.raw); err == nil {
						t.Fatalf("%s: the provider accepts a token of the removed key %s: %v", now, tok.kid, err)
					}
					continue // checked once; drop it
				}
				kept = append(kept, tok)
			}
			tokens = kept
		}

		obs.checkPrepublished(t, testPrepublish)
		// Every key but the newest of each algorithm went all the way
		// (the first ones started as current).
		full := map[string]int{}
		for kid, st := range obs.state {
			_, wasNext := st[storage.KeyStateNext]
			_, wasCurrent := st[storage.KeyStateCurrent]
			_, wasRetired := st[storage.KeyStateRetired]
			_, removed := obs.removed[kid]
			if wasNext && wasCurrent && wasRetired && removed {
				full[obs.alg[kid]]++
				// The schedule: published prepublish before it
				// signed; removed a retention after it stopped.
				if got := st[storage.KeyStateCurrent].Sub(st[storage.KeyStateNext]); got < testPrepublish || got >= testPrepublish+testStep {
					t.Errorf("key %s was next for %s, want %s", kid, got, testPrepublish)
				}
				if got := obs.removed[kid].Sub(st[storage.KeyStateRetired]); got < testRetention || got >= testRetention+testStep {
					t.Errorf("key %s stayed retired for %s, want %s", kid, got, testRetention)
				}
			}
		}
		if full[RS256] < 1 || full[ES256] < 1 {
			t.Fatalf("keys that went next -> current -> retired -> removed: %v", full)
		}
		// RS256 rotated on schedule at +2h and +4h; ES256 by hand at
		// +41m, then at +2h41m and +4h41m.
		kidsPerAlg := map[string]int{}
		for _, alg := range obs.alg {
			kidsPerAlg[alg]++
		}
		if kidsPerAlg[RS256] != 3 || kidsPerAlg[ES256] != 4 {
			t.Fatalf("keys per algorithm: %v, want RS256 3, ES256 4", kidsPerAlg)
		}
		if first := obs.state[obs.initialKIDs[0]][storage.KeyStateRetired]; !first.Equal(testStart.Add(testRotation)) {
			t.Fatalf("the first RS256 key retired at %s, want %s", first, testStart.Add(testRotation))
		}
	})
}

// providerVerifies reports whether the manager's own Signer (which picks
// the key by kid) accepts the token's signature. fosite checks iat and exp
// against the real clock, not the injected one, so time errors are ignored.
func providerVerifies(m *Manager, raw string) error {
	_, err := m.Signer().Decode(context.Background(), raw)
	var ve *jwt.ValidationError
	if errors.As(err, &ve) && ve.Errors&^(jwt.ValidationErrorExpired|jwt.ValidationErrorIssuedAt|jwt.ValidationErrorNotValidYet) == 0 {
		return nil
	}
	return err
}

// countingStore counts the outcome of every write and can hold instances
// at a rendezvous right after they read the key set, so that they decide
// on the same snapshot and race for the same writes.
type countingStore struct {
	Store
	counts *counts
	// meet, when set, is joined once by the next SigningKeys call.
	meet chan *rendezvous
}

type counts struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counts) add(key string, err error) {
	outcome := "ok"
	switch {
	case errors.Is(err, storage.ErrConflict):
		outcome = "conflict"
	case errors.Is(err, storage.ErrNotFound):
		outcome = "notfound"
	case err != nil:
		outcome = "error"
	}
	c.mu.Lock()
	c.n[key+" "+outcome]++
	c.mu.Unlock()
}

func (c *counts) get(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[key]
}

type rendezvous struct {
	wg sync.WaitGroup
}

func newRendezvous(parties int) *rendezvous {
	r := &rendezvous{}
	r.wg.Add(parties)
	return r
}

func (r *rendezvous) arrive() {
	r.wg.Done()
	r.wg.Wait()
}

func (s *countingStore) SigningKeys(ctx context.Context) ([]*storage.SigningKey, error) {
	rows, err := s.Store.SigningKeys(ctx)
	select {
	case r := <-s.meet:
		r.arrive()
	default:
	}
	return rows, err
}

func (s *countingStore) CreateSigningKey(ctx context.Context, k *storage.SigningKey) error {
	err := s.Store.CreateSigningKey(ctx, k)
	s.counts.add("create "+k.State+" "+k.Algorithm, err)
	return err
}

func (s *countingStore) PromoteSigningKey(ctx context.Context, alg, currentKID, nextKID string, at time.Time) error {
	err := s.Store.PromoteSigningKey(ctx, alg, currentKID, nextKID, at)
	s.counts.add("promote "+alg, err)
	return err
}

func (s *countingStore) DeleteSigningKey(ctx context.Context, kid string) error {
	err := s.Store.DeleteSigningKey(ctx, kid)
	s.counts.add("delete", err)
	return err
}

// TestTwoInstancesRotateOnce runs two managers ("instances") on one
// database with the same clock. Every minute both run Maintain at the
// same moment, held together right after reading the key set so that
// both see the same state and both try the same writes: exactly one wins
// each create, promotion and removal, the other's write is refused, and
// both end every minute with the same signing keys. Then one instance
// rotates alone and the other signs with the old key until its reload
// (the old key stays published), and with the new one after.
func TestTwoInstancesRotateOnce(t *testing.T) {
	bunstoretest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		ctx := context.Background()
		store := bunstoretest.Open(t, dialect, bunstore.Options{})
		clk := clocktest.New(testStart)
		c := &counts{n: map[string]int{}}
		sa := &countingStore{Store: store, counts: c, meet: make(chan *rendezvous, 1)}
		sb := &countingStore{Store: store, counts: c, meet: make(chan *rendezvous, 1)}
		a, b := newScheduled(t, sa, clk), newScheduled(t, sb, clk)
		obs := newObserved()

		end := testStart.Add(5*time.Hour + 10*time.Minute)
		for now := clk.Now(); now.Before(end); clk.Advance(testStep) {
			now = clk.Now()
			r := newRendezvous(2)
			sa.meet <- r
			sb.meet <- r
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for i, m := range []*Manager{a, b} {
				wg.Go(func() { errs[i] = m.Maintain(ctx) })
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatalf("%s: Maintain: %v", now, err)
			}
			obs.snapshot(t, a, now)
			for _, alg := range Algorithms {
				if ka, kb := mustKID(t, a, alg), mustKID(t, b, alg); ka != kb {
					t.Fatalf("%s: instances sign %s with %s and %s", now, alg, ka, kb)
				}
			}
			if string(a.JWKS()) != string(b.JWKS()) {
				t.Fatalf("%s: instances publish different key sets", now)
			}
		}
		// Due by +5h10m, per algorithm: next keys at +1h49m and
		// +3h49m, promotions at +2h and +4h, removals at +2h25m and
		// +4h25m. Each happened once; each time the other instance's
		// identical attempt was refused.
		for _, alg := range Algorithms {
			for key, want := range map[string]int{
				"create next " + alg + " ok": 2, "create next " + alg + " conflict": 2,
				"promote " + alg + " ok": 2, "promote " + alg + " conflict": 2,
			} {
				if got := c.get(key); got != want {
					t.Errorf("%s: %d, want %d (all: %v)", key, got, want, c.n)
				}
			}
		}
		if c.get("delete ok") != 4 || c.get("delete notfound") != 4 || c.get("create current RS256 ok")+c.get("create current ES256 ok") != 2 {
			t.Errorf("counts: %v", c.n)
		}
		if c.get("create next RS256 error")+c.get("promote RS256 error")+c.get("delete error") != 0 {
			t.Fatalf("unexpected storage errors: %v", c.n)
		}
		nKIDs := map[string]int{}
		for _, alg := range obs.alg {
			nKIDs[alg]++
		}
		if nKIDs[RS256] != 3 || nKIDs[ES256] != 3 {
			t.Fatalf("keys per algorithm: %v", nKIDs)
		}

		// Run to the next rotation (+6h: next key at +5h49m) with the
		// instances ticking one after the other.
		for clk.Now().Before(testStart.Add(6 * time.Hour)) {
			for _, m := range []*Manager{a, b} {
				if err := m.Maintain(ctx); err != nil {
					t.Fatal(err)
				}
			}
			clk.Advance(testStep)
		}
		old := mustKID(t, b, RS256)
		if err := a.Maintain(ctx); err != nil {
			t.Fatal(err)
		}
		fresh := mustKID(t, a, RS256)
		if fresh == old {
			t.Fatal("instance a did not rotate at +6h")
		}
		// b has not reloaded: it still signs with the old key, which
		// a still publishes (retired).
		now := clk.Now()
		raw, kid := signIDToken(t, b, RS256, now, "bob")
		if kid != old {
			t.Fatalf("b signed with %s before reloading, want the old %s", kid, old)
		}
		if err := verifyToken(t, parseJWKS(t, a.JWKS()), raw, now, false); err != nil {
			t.Fatalf("a token b signed with the just-retired key does not verify against a's JWKS: %v", err)
		}
		promotions := c.get("promote RS256 ok") + c.get("promote RS256 conflict")
		if err := b.Maintain(ctx); err != nil {
			t.Fatal(err)
		}
		if got := mustKID(t, b, RS256); got != fresh {
			t.Fatalf("after its reload b signs with %s, want %s", got, fresh)
		}
		if got := c.get("promote RS256 ok") + c.get("promote RS256 conflict"); got != promotions {
			t.Fatal("b tried to rotate again after a had rotated")
		}
		if c.get("promote RS256 ok") != 3 {
			t.Fatalf("RS256 promotions: %d, want 3", c.get("promote RS256 ok"))
		}
	})
}

// TestRotateByHand covers the operator's paths: publish a next key, find
// it pending, promote it once it has been published long enough, and
// promote at once (--now) with and without a pending key.
func TestRotateByHand(t *testing.T) {
	bunstoretest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		ctx := context.Background()
		m, clk := newScheduledOn(t, dialect)
		rs0 := mustKID(t, m, RS256)
		early, _ := signIDToken(t, m, RS256, clk.Now(), "alice")

		// No next key: one is created and published, nothing else.
		res, err := m.Rotate(ctx, RS256, false)
		if err != nil {
			t.Fatal(err)
		}
		now := clk.Now()
		if res.Action != RotateCreated || !res.CreatedNext || res.CurrentKID != rs0 || res.NextKID == "" || res.NextKID == rs0 ||
			!res.PublishedAt.Equal(now) || !res.PromotableAt.Equal(now.Add(testPrepublish)) ||
			!res.ScheduledAt.Equal(res.PromotableAt) || res.RetiredKID != "" {
			t.Fatalf("create: %+v", res)
		}
		next := res.NextKID
		if _, ok := parseJWKS(t, m.JWKS())[next]; !ok {
			t.Fatal("the new next key is not published by this instance")
		}
		if mustKID(t, m, RS256) != rs0 {
			t.Fatal("a next key signs before it was published long enough")
		}
		info := findKey(t, m, next)
		if info.State != storage.KeyStateNext || !info.PromotableAt.Equal(res.PromotableAt) || !info.PlannedActivation.Equal(res.ScheduledAt) || !info.ActivatedAt.IsZero() {
			t.Fatalf("keys list of the next key: %+v", info)
		}
		if cur := findKey(t, m, rs0); !cur.PlannedRetirement.Equal(res.ScheduledAt) {
			t.Fatalf("keys list of the current key: %+v", cur)
		}

		// Not published long enough yet: pending, nothing changes.
		clk.Advance(testPrepublish - time.Second)
		res, err = m.Rotate(ctx, RS256, false)
		if err != nil {
			t.Fatal(err)
		}
		if res.Action != RotatePending || res.CreatedNext || res.NextKID != next || res.CurrentKID != rs0 {
			t.Fatalf("pending: %+v", res)
		}

		// Published long enough: promoted.
		clk.Advance(time.Second)
		now = clk.Now()
		res, err = m.Rotate(ctx, RS256, false)
		if err != nil {
			t.Fatal(err)
		}
		if res.Action != RotatePromoted || res.CurrentKID != next || res.RetiredKID != rs0 || res.SkippedPrepublish ||
			!res.ActivatedAt.Equal(now) || !res.RetiredRemovalAt.Equal(now.Add(testRetention)) {
			t.Fatalf("promote: %+v", res)
		}
		if mustKID(t, m, RS256) != next {
			t.Fatal("the promoted key does not sign on this instance")
		}
		if err := providerVerifies(m, early); err != nil {
			t.Fatalf("a token of the retired key no longer verifies: %v", err)
		}
		if old := findKey(t, m, rs0); old.State != storage.KeyStateRetired || !old.RetiredAt.Equal(now) || !old.PlannedRemoval.Equal(now.Add(testRetention)) {
			t.Fatalf("keys list of the retired key: %+v", old)
		}
		// The schedule restarts from the promotion.
		if cur := findKey(t, m, next); !cur.ActivatedAt.Equal(now) || !cur.PlannedRetirement.Equal(now.Add(testRotation)) {
			t.Fatalf("keys list of the new current key: %+v", cur)
		}
		if err := m.Maintain(ctx); err != nil {
			t.Fatal(err)
		}
		if nextKeys(t, m, RS256) != 0 {
			t.Fatal("Maintain published a next key right after a manual rotation")
		}

		// --now without a next key: created and promoted at once.
		es0 := mustKID(t, m, ES256)
		res, err = m.Rotate(ctx, ES256, true)
		if err != nil {
			t.Fatal(err)
		}
		if res.Action != RotatePromoted || !res.CreatedNext || !res.SkippedPrepublish || res.RetiredKID != es0 || mustKID(t, m, ES256) != res.CurrentKID {
			t.Fatalf("--now: %+v", res)
		}
		// --now with a pending next key: that one is promoted.
		clk.Advance(time.Minute)
		res, err = m.Rotate(ctx, ES256, false)
		if err != nil || res.Action != RotateCreated {
			t.Fatalf("create: %+v %v", res, err)
		}
		pending := res.NextKID
		res, err = m.Rotate(ctx, ES256, true)
		if err != nil {
			t.Fatal(err)
		}
		if res.Action != RotatePromoted || res.CreatedNext || res.CurrentKID != pending || !res.SkippedPrepublish {
			t.Fatalf("--now with a pending key: %+v", res)
		}

		if _, err := m.Rotate(ctx, "HS256", false); !errors.Is(err, ErrUnknownAlgorithm) {
			t.Fatalf("unknown algorithm: %v", err)
		}
	})
}

// A long outage does not make a key sign unannounced: after it the next
// key is published first and promoted a pre-publication period later, and
// overdue retired keys are removed.
func TestMaintainCatchesUpAfterDowntime(t *testing.T) {
	ctx := context.Background()
	store := bunstoretest.Open(t, "sqlite", bunstore.Options{})
	clk := clocktest.New(testStart)
	m := newScheduled(t, store, clk)
	rs0 := mustKID(t, m, RS256)
	if _, err := m.Rotate(ctx, RS256, true); err != nil { // rs0 retired now
		t.Fatal(err)
	}
	rs1 := mustKID(t, m, RS256)

	clk.Advance(10 * testRotation)
	if err := m.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	if mustKID(t, m, RS256) != rs1 || nextKeys(t, m, RS256) != 1 {
		t.Fatal("after the outage the overdue rotation must first publish a next key")
	}
	if _, ok := parseJWKS(t, m.JWKS())[rs0]; ok {
		t.Fatal("the long-retired key is still published")
	}
	clk.Advance(testPrepublish - testStep)
	if err := m.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	if mustKID(t, m, RS256) != rs1 {
		t.Fatal("promoted before the pre-publication period ended")
	}
	clk.Advance(testStep)
	if err := m.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	if mustKID(t, m, RS256) == rs1 {
		t.Fatal("not promoted after the pre-publication period")
	}
}

func findKey(t testing.TB, m *Manager, kid string) KeyInfo {
	t.Helper()
	infos, err := m.Keys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, ki := range infos {
		if ki.KID == kid {
			return ki
		}
	}
	t.Fatalf("key %s is not listed", kid)
	return KeyInfo{}
}

func nextKeys(t testing.TB, m *Manager, alg string) int {
	t.Helper()
	infos, err := m.Keys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ki := range infos {
		if ki.Algorithm == alg && ki.State == storage.KeyStateNext {
			n++
		}
	}
	return n
}

// TestRotateThenMaintainPromotes: after `keys rotate` (without --now) the
// operator does not have to come back; the next Maintain pass after the
// pre-publication period promotes the new key, long before the scheduled
// rotation.
func TestRotateThenMaintainPromotes(t *testing.T) {
	bunstoretest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		ctx := context.Background()
		m, clk := newScheduledOn(t, dialect)
		old := mustKID(t, m, RS256)
		res, err := m.Rotate(ctx, RS256, false)
		if err != nil {
			t.Fatal(err)
		}
		clk.Advance(testPrepublish - time.Second)
		if err := m.Maintain(ctx); err != nil {
			t.Fatal(err)
		}
		if mustKID(t, m, RS256) != old {
			t.Fatal("Maintain promoted the new key before it was published long enough")
		}
		clk.Advance(time.Second)
		if err := m.Maintain(ctx); err != nil {
			t.Fatal(err)
		}
		if got := mustKID(t, m, RS256); got != res.NextKID {
			t.Fatalf("after the pre-publication period RS256 signs with %s, want the rotated-in key %s", got, res.NextKID)
		}
		if info := findKey(t, m, old); info.State != storage.KeyStateRetired {
			t.Fatalf("the old key: %+v", info)
		}
	})
}
