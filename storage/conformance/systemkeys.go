package conformance

import (
	"bytes"
	"time"

	"github.com/gatehouse-dev/gatehouse/storage"
)

// gatehouse's own sealed keys (the pepper of the keyed hashes, ...).

func systemKeyTests() []test {
	return []test{
		{"CreateGetReseal", testSystemKeyLifecycle},
		{"Conflict", testSystemKeyConflict},
		{"NotFound", testSystemKeyNotFound},
	}
}

func (e *env) wantSystemKey(got, want *storage.SystemKey, what string) {
	e.t.Helper()
	e.wantEqual(got.Purpose, want.Purpose, what+" Purpose")
	if !bytes.Equal(got.Sealed, want.Sealed) {
		e.t.Errorf("%s Sealed = %q, want %q", what, got.Sealed, want.Sealed)
	}
	e.wantTime(got.CreatedAt, want.CreatedAt, what+" CreatedAt")
	e.wantTime(got.UpdatedAt, want.UpdatedAt, what+" UpdatedAt")
}

func (e *env) wantStoredSystemKey(want *storage.SystemKey, what string) {
	e.t.Helper()
	got, err := e.s.SystemKey(e.ctx, want.Purpose)
	e.must(err, "SystemKey "+want.Purpose)
	e.wantSystemKey(got, want, what)
}

func testSystemKeyLifecycle(e *env) {
	_, err := e.s.SystemKey(e.ctx, "hash-pepper")
	e.wantNotFound(err, "SystemKey before any was created")

	now := e.clock.Now()
	pepper := &storage.SystemKey{Purpose: "hash-pepper", Sealed: []byte("sealed\x00pepper\xff")} // binary-safe
	e.must(e.s.CreateSystemKey(e.ctx, pepper), "CreateSystemKey")
	// The times are set by the store when zero, on the argument too.
	e.wantTime(pepper.CreatedAt, now, "CreatedAt set on the argument")
	e.wantTime(pepper.UpdatedAt, now, "UpdatedAt set on the argument")
	e.wantStoredSystemKey(pepper, "created key")

	// Given times are kept; purposes are independent and match exactly.
	other := &storage.SystemKey{
		Purpose: "Hash-Pepper", Sealed: []byte{0, 1, 2},
		CreatedAt: now.Add(-48 * time.Hour), UpdatedAt: now.Add(-time.Hour),
	}
	e.must(e.s.CreateSystemKey(e.ctx, other), "CreateSystemKey of another purpose")
	e.wantStoredSystemKey(other, "key with given times")
	e.wantStoredSystemKey(pepper, "first key after another was created")

	// Resealing replaces the bytes and moves UpdatedAt to now, and only for
	// that purpose.
	e.clock.Advance(5 * time.Second)
	pepper.Sealed = []byte("resealed\x00pepper\xff")
	e.must(e.s.ResealSystemKey(e.ctx, "hash-pepper", pepper.Sealed), "ResealSystemKey")
	pepper.UpdatedAt = e.clock.Now()
	e.wantStoredSystemKey(pepper, "resealed key")
	e.wantStoredSystemKey(other, "the other key after a reseal")

	// Resealing with the same bytes is not an error; it is still an update.
	e.clock.Advance(time.Second)
	e.must(e.s.ResealSystemKey(e.ctx, "hash-pepper", pepper.Sealed), "ResealSystemKey unchanged")
	pepper.UpdatedAt = e.clock.Now()
	e.wantStoredSystemKey(pepper, "key resealed with the same bytes")
}

// A second key of a purpose is refused and the first one stays, as
// instances starting together need: the losers read the winner's key.
func testSystemKeyConflict(e *env) {
	first := &storage.SystemKey{Purpose: "hash-pepper", Sealed: []byte("first")}
	e.must(e.s.CreateSystemKey(e.ctx, first), "CreateSystemKey")
	e.clock.Advance(time.Second)
	e.wantIs(e.s.CreateSystemKey(e.ctx, &storage.SystemKey{Purpose: "hash-pepper", Sealed: []byte("second")}),
		"second CreateSystemKey", storage.ErrConflict)
	e.wantStoredSystemKey(first, "key after a refused second one")
}

func testSystemKeyNotFound(e *env) {
	e.must(e.s.CreateSystemKey(e.ctx, &storage.SystemKey{Purpose: "hash-pepper", Sealed: []byte("x")}), "CreateSystemKey")
	for _, purpose := range []string{"nope", "", "hash-pepper ", "HASH-PEPPER"} {
		_, err := e.s.SystemKey(e.ctx, purpose)
		e.wantNotFound(err, "SystemKey "+purpose)
		e.wantNotFound(e.s.ResealSystemKey(e.ctx, purpose, []byte("y")), "ResealSystemKey "+purpose)
	}
	got, err := e.s.SystemKey(e.ctx, "hash-pepper")
	e.must(err, "SystemKey")
	e.wantEqual(string(got.Sealed), "x", "Sealed after the refused reseals")
}
