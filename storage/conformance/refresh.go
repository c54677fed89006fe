package conformance

import (
	"bytes"
	"time"

	"github.com/gatehouse-dev/gatehouse/storage"
)

// The token responses of recent refresh rotations (the retry window), and
// a client's own window.

func refreshSuccessorTests() []test {
	return []test{
		{"CreateGetExpire", testRefreshSuccessorLifecycle},
		{"ClientWindowUnset", testClientRefreshWindowUnset},
	}
}

func testRefreshSuccessorLifecycle(e *env) {
	_, err := e.s.RefreshSuccessor(e.ctx, "sig-1")
	e.wantNotFound(err, "RefreshSuccessor before any was stored")

	now := e.clock.Now()
	succ := &storage.RefreshSuccessor{
		Signature: "sig-1", ClientID: "client-a", Sealed: []byte("sealed\x00response\xff"),
		ExpiresAt: now.Add(10 * time.Second),
	}
	e.must(e.s.CreateRefreshSuccessor(e.ctx, succ), "CreateRefreshSuccessor")
	e.wantTime(succ.CreatedAt, now, "CreatedAt set on the argument")

	got, err := e.s.RefreshSuccessor(e.ctx, "sig-1")
	e.must(err, "RefreshSuccessor")
	e.wantEqual(got.Signature, "sig-1", "Signature")
	e.wantEqual(got.ClientID, "client-a", "ClientID")
	if !bytes.Equal(got.Sealed, succ.Sealed) {
		e.t.Errorf("Sealed = %q, want %q", got.Sealed, succ.Sealed)
	}
	e.wantTime(got.CreatedAt, now, "CreatedAt")
	e.wantTime(got.ExpiresAt, succ.ExpiresAt, "ExpiresAt")

	// A rotation happens once: a second response for one token is refused
	// and the first one stays.
	dup := &storage.RefreshSuccessor{Signature: "sig-1", ClientID: "client-b", Sealed: []byte("other"), ExpiresAt: now.Add(time.Minute)}
	e.wantIs(e.s.CreateRefreshSuccessor(e.ctx, dup), "second CreateRefreshSuccessor", storage.ErrConflict)
	got, err = e.s.RefreshSuccessor(e.ctx, "sig-1")
	e.must(err, "RefreshSuccessor after the conflict")
	e.wantEqual(got.ClientID, "client-a", "ClientID after the conflict")

	// Expired responses are not returned, and the janitor deletes them.
	e.clock.Advance(10 * time.Second)
	_, err = e.s.RefreshSuccessor(e.ctx, "sig-1")
	e.wantNotFound(err, "RefreshSuccessor at its expiry")
	n, err := e.s.DeleteExpired(e.ctx, e.clock.Now().Add(time.Second), 100)
	e.must(err, "DeleteExpired")
	if n < 1 {
		e.t.Errorf("DeleteExpired deleted %d rows, want the expired successor", n)
	}
	// Deleted, not just hidden: the signature can be stored again.
	again := &storage.RefreshSuccessor{Signature: "sig-1", ClientID: "client-a", Sealed: []byte("x"), ExpiresAt: e.clock.Now().Add(time.Minute)}
	e.must(e.s.CreateRefreshSuccessor(e.ctx, again), "CreateRefreshSuccessor after the janitor")
}

// A client without its own window reads back nil (follows the server), and
// an explicit 0 (no window for this client) stays 0.
func testClientRefreshWindowUnset(e *env) {
	c := newClient("no-window")
	c.RefreshRetryWindow = nil
	e.must(e.s.CreateClient(e.ctx, c), "CreateClient")
	got, err := e.s.ClientByID(e.ctx, c.ID)
	e.must(err, "ClientByID")
	if got.RefreshRetryWindow != nil {
		e.t.Errorf("RefreshRetryWindow = %v, want nil", *got.RefreshRetryWindow)
	}
	c.RefreshRetryWindow = new(time.Duration(0))
	e.must(e.s.UpdateClient(e.ctx, c), "UpdateClient")
	got, err = e.s.ClientByID(e.ctx, c.ID)
	e.must(err, "ClientByID after the update")
	if got.RefreshRetryWindow == nil || *got.RefreshRetryWindow != 0 {
		e.t.Errorf("RefreshRetryWindow = %v, want 0", got.RefreshRetryWindow)
	}
}
