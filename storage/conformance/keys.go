package conformance

import (
	"bytes"
	"time"

	"github.com/gatehouse-dev/gatehouse/storage"
)

func keyTests() []test {
	return []test{
		{"NewestFirst", testKeysNewestFirst},
		{"Conflicts", testKeyConflicts},
	}
}

func (e *env) newKey(kid, alg, state string, created time.Time) *storage.SigningKey {
	k := &storage.SigningKey{
		KID:        kid,
		Algorithm:  alg,
		State:      state,
		PrivateKey: []byte("sealed\x00private\xffkey " + kid), // binary-safe
		PublicKey:  []byte(`{"kty":"EC","crv":"P-256","kid":"` + kid + `","x":"x","y":"y"}`),
		CreatedAt:  created,
	}
	if state != storage.KeyStateNext {
		k.ActivatedAt = created.Add(time.Minute)
	}
	if state == storage.KeyStateRetired {
		k.RetiredAt = created.Add(time.Hour)
	}
	return k
}

func (e *env) wantKey(got, want *storage.SigningKey) {
	e.t.Helper()
	what := "key " + want.KID
	e.wantEqual(got.KID, want.KID, what+" KID")
	e.wantEqual(got.Algorithm, want.Algorithm, what+" Algorithm")
	e.wantEqual(got.State, want.State, what+" State")
	if !bytes.Equal(got.PrivateKey, want.PrivateKey) {
		e.t.Errorf("%s PrivateKey = %q, want %q", what, got.PrivateKey, want.PrivateKey)
	}
	if !bytes.Equal(got.PublicKey, want.PublicKey) {
		e.t.Errorf("%s PublicKey = %s, want %s", what, got.PublicKey, want.PublicKey)
	}
	e.wantTime(got.CreatedAt, want.CreatedAt, what+" CreatedAt")
	e.wantTime(got.ActivatedAt, want.ActivatedAt, what+" ActivatedAt")
	e.wantTime(got.RetiredAt, want.RetiredAt, what+" RetiredAt")
}

func testKeysNewestFirst(e *env) {
	keys, err := e.s.SigningKeys(e.ctx)
	e.must(err, "SigningKeys empty")
	if len(keys) != 0 {
		e.t.Fatalf("empty store has %d keys", len(keys))
	}
	now := e.clock.Now()
	oldest := e.newKey("k1", "RS256", storage.KeyStateRetired, now.Add(-48*time.Hour))
	middle := e.newKey("k2", "RS256", storage.KeyStateCurrent, now.Add(-24*time.Hour))
	newest := e.newKey("k3", "RS256", storage.KeyStateNext, now)
	// Inserted out of order on purpose.
	for _, k := range []*storage.SigningKey{middle, newest, oldest} {
		e.must(e.s.CreateSigningKey(e.ctx, k), "CreateSigningKey "+k.KID)
	}
	keys, err = e.s.SigningKeys(e.ctx)
	e.must(err, "SigningKeys")
	want := []*storage.SigningKey{newest, middle, oldest}
	if len(keys) != len(want) {
		e.t.Fatalf("SigningKeys returned %d keys, want %d", len(keys), len(want))
	}
	for i := range want {
		e.wantKey(keys[i], want[i])
	}
}

func testKeyConflicts(e *env) {
	now := e.clock.Now()
	e.must(e.s.CreateSigningKey(e.ctx, e.newKey("rs-1", "RS256", storage.KeyStateCurrent, now)), "first current RS256")

	e.wantIs(e.s.CreateSigningKey(e.ctx, e.newKey("rs-1", "RS256", storage.KeyStateNext, now)), "duplicate kid", storage.ErrConflict)
	e.wantIs(e.s.CreateSigningKey(e.ctx, e.newKey("rs-2", "RS256", storage.KeyStateCurrent, now)), "second current RS256", storage.ErrConflict)

	// Other algorithms and other states are fine.
	e.must(e.s.CreateSigningKey(e.ctx, e.newKey("es-1", "ES256", storage.KeyStateCurrent, now)), "current ES256")
	e.must(e.s.CreateSigningKey(e.ctx, e.newKey("rs-3", "RS256", storage.KeyStateNext, now)), "next RS256")
	e.must(e.s.CreateSigningKey(e.ctx, e.newKey("rs-4", "RS256", storage.KeyStateRetired, now)), "retired RS256")

	keys, err := e.s.SigningKeys(e.ctx)
	e.must(err, "SigningKeys")
	if len(keys) != 4 {
		e.t.Fatalf("SigningKeys returned %d keys, want 4", len(keys))
	}
}
