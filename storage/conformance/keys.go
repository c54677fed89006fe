package conformance

import (
	"bytes"
	"context"
	"errors"
	"time"

	"github.com/gatehouse-dev/gatehouse/storage"
)

func keyTests() []test {
	return []test{
		{"NewestFirst", testKeysNewestFirst},
		{"Conflicts", testKeyConflicts},
		{"Promote", testKeyPromote},
		{"PromoteConflicts", testKeyPromoteConflicts},
		{"PromoteInCallersTransaction", testKeyPromoteInTx},
		{"DeleteOnlyRetired", testKeyDelete},
		{"Reseal", testKeyReseal},
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

// One current and one next key per algorithm; any number of retired ones.
func testKeyConflicts(e *env) {
	now := e.clock.Now()
	e.must(e.s.CreateSigningKey(e.ctx, e.newKey("rs-1", "RS256", storage.KeyStateCurrent, now)), "first current RS256")
	e.must(e.s.CreateSigningKey(e.ctx, e.newKey("rs-2", "RS256", storage.KeyStateNext, now)), "first next RS256")

	e.wantIs(e.s.CreateSigningKey(e.ctx, e.newKey("rs-1", "RS256", storage.KeyStateRetired, now)), "duplicate kid", storage.ErrConflict)
	e.wantIs(e.s.CreateSigningKey(e.ctx, e.newKey("rs-2", "ES256", storage.KeyStateRetired, now)), "duplicate kid of another algorithm", storage.ErrConflict)
	e.wantIs(e.s.CreateSigningKey(e.ctx, e.newKey("rs-x", "RS256", storage.KeyStateCurrent, now)), "second current RS256", storage.ErrConflict)
	e.wantIs(e.s.CreateSigningKey(e.ctx, e.newKey("rs-y", "RS256", storage.KeyStateNext, now)), "second next RS256", storage.ErrConflict)

	// Other algorithms and retired keys are fine.
	e.must(e.s.CreateSigningKey(e.ctx, e.newKey("es-1", "ES256", storage.KeyStateCurrent, now)), "current ES256")
	e.must(e.s.CreateSigningKey(e.ctx, e.newKey("es-2", "ES256", storage.KeyStateNext, now)), "next ES256")
	e.must(e.s.CreateSigningKey(e.ctx, e.newKey("rs-3", "RS256", storage.KeyStateRetired, now)), "retired RS256")
	e.must(e.s.CreateSigningKey(e.ctx, e.newKey("rs-4", "RS256", storage.KeyStateRetired, now)), "second retired RS256")
	e.must(e.s.CreateSigningKey(e.ctx, e.newKey("es-3", "ES256", storage.KeyStateRetired, now)), "retired ES256")
	e.wantIs(e.s.CreateSigningKey(e.ctx, e.newKey("es-x", "ES256", storage.KeyStateCurrent, now)), "second current ES256", storage.ErrConflict)
	e.wantIs(e.s.CreateSigningKey(e.ctx, e.newKey("es-y", "ES256", storage.KeyStateNext, now)), "second next ES256", storage.ErrConflict)

	got := e.keysByKID()
	e.wantEqual(len(got), 7, "number of keys")
	for _, kid := range []string{"rs-1", "rs-2", "rs-3", "rs-4", "es-1", "es-2", "es-3"} {
		if _, ok := got[kid]; !ok {
			e.t.Errorf("key %s is missing", kid)
		}
	}
}

// keysByKID reads every key.
func (e *env) keysByKID() map[string]*storage.SigningKey {
	e.t.Helper()
	keys, err := e.s.SigningKeys(e.ctx)
	e.must(err, "SigningKeys")
	out := make(map[string]*storage.SigningKey, len(keys))
	for _, k := range keys {
		out[k.KID] = k
	}
	return out
}

// wantKeys checks that the store holds exactly want, each unchanged.
func (e *env) wantKeys(want []*storage.SigningKey, what string) {
	e.t.Helper()
	got := e.keysByKID()
	if len(got) != len(want) {
		e.t.Errorf("%s: %d keys, want %d", what, len(got), len(want))
	}
	for _, w := range want {
		g, ok := got[w.KID]
		if !ok {
			e.t.Errorf("%s: key %s is missing", what, w.KID)
			continue
		}
		e.wantKey(g, w)
	}
}

// rotationKeys creates, for both algorithms, a retired, a current and a
// next key (created in that order, days apart; each ES256 key a minute
// after its RS256 counterpart), and returns them in that order, RS256
// first.
func (e *env) rotationKeys() []*storage.SigningKey {
	e.t.Helper()
	now := e.clock.Now()
	var keys []*storage.SigningKey
	for a, alg := range []string{"RS256", "ES256"} {
		for i, state := range []string{storage.KeyStateRetired, storage.KeyStateCurrent, storage.KeyStateNext} {
			created := now.Add(time.Duration(i-3)*24*time.Hour + time.Duration(a)*time.Minute)
			k := e.newKey(alg+"-"+state, alg, state, created)
			e.must(e.s.CreateSigningKey(e.ctx, k), "CreateSigningKey "+k.KID)
			keys = append(keys, k)
		}
	}
	return keys
}

func testKeyPromote(e *env) {
	keys := e.rotationKeys()
	rsRetired, rsCurrent, rsNext := keys[0], keys[1], keys[2]
	esKeys := keys[3:]

	e.clock.Advance(time.Hour)
	at := e.clock.Now().Add(90 * time.Second) // not the store's clock: at is used
	e.must(e.s.PromoteSigningKey(e.ctx, "RS256", rsCurrent.KID, rsNext.KID, at), "PromoteSigningKey RS256")

	// The old current key is retired at at, the next one current from at;
	// nothing else changed.
	rsCurrent.State, rsCurrent.RetiredAt = storage.KeyStateRetired, at
	rsNext.State, rsNext.ActivatedAt = storage.KeyStateCurrent, at
	e.wantKeys(keys, "after the RS256 promotion")
	// Still newest first by creation, whatever the states.
	list, err := e.s.SigningKeys(e.ctx)
	e.must(err, "SigningKeys")
	var kids []string
	for _, k := range list {
		kids = append(kids, k.KID)
	}
	e.wantEqual(kids, []string{"ES256-next", "RS256-next", "ES256-current", "RS256-current", "ES256-retired", "RS256-retired"}, "SigningKeys order")

	// The promoted key is the one current key; the slot for a next key is
	// free again, once.
	e.wantIs(e.s.CreateSigningKey(e.ctx, e.newKey("rs-x", "RS256", storage.KeyStateCurrent, at)), "second current RS256 after the promotion", storage.ErrConflict)
	rsNewer := e.newKey("RS256-newer", "RS256", storage.KeyStateNext, at)
	e.must(e.s.CreateSigningKey(e.ctx, rsNewer), "new next RS256 after the promotion")
	e.wantIs(e.s.CreateSigningKey(e.ctx, e.newKey("rs-y", "RS256", storage.KeyStateNext, at)), "second next RS256", storage.ErrConflict)

	// A second rotation; a zero time means now.
	e.clock.Advance(time.Hour)
	e.must(e.s.PromoteSigningKey(e.ctx, "RS256", rsNext.KID, rsNewer.KID, time.Time{}), "second PromoteSigningKey RS256")
	rsNext.State, rsNext.RetiredAt = storage.KeyStateRetired, e.clock.Now()
	rsNewer.State, rsNewer.ActivatedAt = storage.KeyStateCurrent, e.clock.Now()
	e.wantKeys(append([]*storage.SigningKey{rsRetired, rsCurrent, rsNext, rsNewer}, esKeys...), "after the second RS256 promotion")
	// The same pair again is a conflict: it was rotated already.
	e.wantIs(e.s.PromoteSigningKey(e.ctx, "RS256", rsNext.KID, rsNewer.KID, e.clock.Now()), "repeated PromoteSigningKey", storage.ErrConflict)
	e.wantKeys(append([]*storage.SigningKey{rsRetired, rsCurrent, rsNext, rsNewer}, esKeys...), "after the repeated promotion")
}

// A promotion whose current or next key is not (or no longer) in that
// state, or of another algorithm, changes nothing.
func testKeyPromoteConflicts(e *env) {
	keys := e.rotationKeys()
	at := e.clock.Now().Add(time.Minute)
	for _, tc := range []struct{ what, alg, current, next string }{
		{"unknown current kid", "RS256", "nope", "RS256-next"},
		{"unknown next kid", "RS256", "RS256-current", "nope"},
		{"current kid is retired", "RS256", "RS256-retired", "RS256-next"},
		{"current kid is the next key", "RS256", "RS256-next", "RS256-next"},
		{"next kid is the current key", "RS256", "RS256-current", "RS256-current"},
		{"next kid is retired", "RS256", "RS256-current", "RS256-retired"},
		{"current and next swapped", "RS256", "RS256-next", "RS256-current"},
		{"other algorithm", "ES256", "RS256-current", "RS256-next"},
		{"next key of another algorithm", "RS256", "RS256-current", "ES256-next"},
		{"current key of another algorithm", "RS256", "ES256-current", "RS256-next"},
		{"unknown algorithm", "PS256", "RS256-current", "RS256-next"},
		{"empty", "", "", ""},
	} {
		err := e.s.PromoteSigningKey(e.ctx, tc.alg, tc.current, tc.next, at)
		e.wantIs(err, "PromoteSigningKey: "+tc.what, storage.ErrConflict)
		e.wantKeys(keys, "after PromoteSigningKey: "+tc.what)
	}
	// The keys still rotate.
	e.must(e.s.PromoteSigningKey(e.ctx, "ES256", "ES256-current", "ES256-next", at), "PromoteSigningKey ES256")
}

// Inside a transaction of the caller's the promotion commits or rolls back
// with it, and a failed one changes nothing even if the caller commits.
func testKeyPromoteInTx(e *env) {
	keys := e.rotationKeys()
	at := e.clock.Now().Add(time.Minute)

	err := e.s.InTx(e.ctx, func(ctx context.Context) error {
		// The first UPDATE (retiring RS256-current) matches, the second
		// does not.
		err := e.s.PromoteSigningKey(ctx, "RS256", "RS256-current", "nope", at)
		e.wantIs(err, "PromoteSigningKey to an unknown key in a transaction", storage.ErrConflict)
		// The caller carries on, as one that reloads after a lost race
		// would.
		return nil
	})
	e.must(err, "InTx after a failed promotion")
	e.wantKeys(keys, "after a failed promotion in a committed transaction")

	errAbort := errors.New("abort")
	err = e.s.InTx(e.ctx, func(ctx context.Context) error {
		e.must(e.s.PromoteSigningKey(ctx, "RS256", "RS256-current", "RS256-next", at), "PromoteSigningKey in a transaction")
		return errAbort
	})
	if !errors.Is(err, errAbort) {
		e.t.Fatalf("InTx = %v, want the abort", err)
	}
	e.wantKeys(keys, "after a promotion in a rolled-back transaction")

	ctx, err := e.s.BeginTX(e.ctx)
	e.must(err, "BeginTX")
	e.must(e.s.PromoteSigningKey(ctx, "RS256", "RS256-current", "RS256-next", at), "PromoteSigningKey in a transaction")
	e.must(e.s.CreateSigningKey(ctx, e.newKey("RS256-newer", "RS256", storage.KeyStateNext, at)), "CreateSigningKey next in the same transaction")
	e.must(e.s.Commit(ctx), "Commit")
	got := e.keysByKID()
	e.wantEqual(got["RS256-current"].State, storage.KeyStateRetired, "state of the old current key")
	e.wantEqual(got["RS256-next"].State, storage.KeyStateCurrent, "state of the promoted key")
	e.wantEqual(got["RS256-newer"].State, storage.KeyStateNext, "state of the new next key")
}

func testKeyDelete(e *env) {
	keys := e.rotationKeys()
	for _, kid := range []string{"RS256-current", "RS256-next", "ES256-current", "ES256-next", "nope", ""} {
		e.wantNotFound(e.s.DeleteSigningKey(e.ctx, kid), "DeleteSigningKey "+kid)
	}
	e.wantKeys(keys, "after refused deletions")

	e.must(e.s.DeleteSigningKey(e.ctx, "RS256-retired"), "DeleteSigningKey of a retired key")
	e.wantNotFound(e.s.DeleteSigningKey(e.ctx, "RS256-retired"), "second DeleteSigningKey")
	e.wantKeys(keys[1:], "after deleting RS256-retired")

	// A key retired by a promotion can go; its kid is free again.
	e.must(e.s.PromoteSigningKey(e.ctx, "RS256", "RS256-current", "RS256-next", e.clock.Now()), "PromoteSigningKey")
	e.must(e.s.DeleteSigningKey(e.ctx, "RS256-current"), "DeleteSigningKey of the key retired by the promotion")
	if _, ok := e.keysByKID()["RS256-current"]; ok {
		e.t.Error("RS256-current survived its deletion")
	}
	e.must(e.s.CreateSigningKey(e.ctx, e.newKey("RS256-current", "RS256", storage.KeyStateRetired, e.clock.Now())), "CreateSigningKey with a deleted kid")
}

func testKeyReseal(e *env) {
	keys := e.rotationKeys()
	for i, k := range keys {
		// Every state; binary-safe.
		k.PrivateKey = []byte{0, 0xff, byte(i), 'r', 'e', 's', 'e', 'a', 'l', 'e', 'd', 0}
		e.must(e.s.ResealSigningKey(e.ctx, k.KID, k.PrivateKey), "ResealSigningKey "+k.KID)
		// Only that key changed.
		e.wantKeys(keys, "after resealing "+k.KID)
	}
	// Resealing with the same bytes again is not an error.
	e.must(e.s.ResealSigningKey(e.ctx, keys[0].KID, keys[0].PrivateKey), "ResealSigningKey unchanged")
	e.wantNotFound(e.s.ResealSigningKey(e.ctx, "nope", []byte("x")), "ResealSigningKey unknown")
	e.wantNotFound(e.s.ResealSigningKey(e.ctx, "", []byte("x")), "ResealSigningKey empty kid")
	e.wantKeys(keys, "after the refused reseals")
}
