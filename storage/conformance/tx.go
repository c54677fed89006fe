package conformance

import (
	"context"
	"errors"

	"github.com/gatehouse-dev/gatehouse/storage"
)

func txTests() []test {
	return []test{
		{"CommitPersists", testTxCommit},
		{"RollbackDiscards", testTxRollback},
		{"IsolatedUntilCommit", testTxIsolation},
		{"NestedBeginJoinsOuter", testTxNested},
		{"CommitWithoutTxFails", testTxWithoutTx},
		{"InTx", testInTx},
		{"InTxJoinsOuter", testInTxJoins},
		{"RefreshRotationRollback", testTxRotationRollback},
	}
}

func (e *env) userExists(ctx context.Context, id string) bool {
	e.t.Helper()
	_, err := e.s.UserByID(ctx, id)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		e.t.Fatalf("UserByID: %v", err)
	}
	return err == nil
}

func testTxCommit(e *env) {
	ctx, err := e.s.BeginTX(e.ctx)
	e.must(err, "BeginTX")
	e.must(e.s.CreateUser(ctx, &storage.User{ID: "u", Email: "u@example.com"}), "CreateUser in tx")
	e.must(e.s.CreateClient(ctx, newClient("c")), "CreateClient in tx")
	e.must(e.s.Commit(ctx), "Commit")
	if !e.userExists(e.ctx, "u") {
		e.t.Error("user written in a committed transaction is missing")
	}
	_, err = e.s.ClientByID(e.ctx, "c")
	e.must(err, "client written in a committed transaction")
}

func testTxRollback(e *env) {
	ctx, err := e.s.BeginTX(e.ctx)
	e.must(err, "BeginTX")
	e.must(e.s.CreateUser(ctx, &storage.User{ID: "u", Email: "u@example.com"}), "CreateUser in tx")
	e.must(e.s.CreateClient(ctx, newClient("c")), "CreateClient in tx")
	// Reading the client inside the transaction must not leak it into a
	// cache that outlives the rollback.
	_, err = e.s.ClientByID(ctx, "c")
	e.must(err, "ClientByID in tx")
	e.must(e.s.Rollback(ctx), "Rollback")
	if e.userExists(e.ctx, "u") {
		e.t.Error("user written in a rolled-back transaction exists")
	}
	_, err = e.s.ClientByID(e.ctx, "c")
	e.wantNotFound(err, "client written in a rolled-back transaction")
}

func testTxIsolation(e *env) {
	ctx, err := e.s.BeginTX(e.ctx)
	e.must(err, "BeginTX")
	e.must(e.s.CreateUser(ctx, &storage.User{ID: "u", Email: "u@example.com"}), "CreateUser in tx")
	if !e.userExists(ctx, "u") {
		e.t.Error("the transaction does not see its own write")
	}
	if e.userExists(e.ctx, "u") {
		e.t.Error("an uncommitted write is visible outside the transaction")
	}
	e.must(e.s.Commit(ctx), "Commit")
	if !e.userExists(e.ctx, "u") {
		e.t.Error("committed write not visible")
	}
}

// fosite calls BeginTX/Commit inside a transaction gatehouse's handler
// opened: the inner pair must not commit, the outer owner decides.
func testTxNested(e *env) {
	outer, err := e.s.BeginTX(e.ctx)
	e.must(err, "outer BeginTX")
	inner, err := e.s.BeginTX(outer)
	e.must(err, "inner BeginTX")
	e.must(e.s.CreateUser(inner, &storage.User{ID: "inner", Email: "inner@example.com"}), "CreateUser inner")
	e.must(e.s.Commit(inner), "inner Commit")
	e.must(e.s.CreateUser(outer, &storage.User{ID: "outer", Email: "outer@example.com"}), "CreateUser outer (tx still usable)")
	if !e.userExists(outer, "inner") {
		e.t.Error("outer transaction does not see the inner write")
	}
	e.must(e.s.Rollback(outer), "outer Rollback")
	for _, id := range []string{"inner", "outer"} {
		if e.userExists(e.ctx, id) {
			e.t.Errorf("user %q survived the outer rollback", id)
		}
	}

	// An inner Rollback does not end the outer transaction either.
	outer, err = e.s.BeginTX(e.ctx)
	e.must(err, "outer BeginTX 2")
	inner, err = e.s.BeginTX(outer)
	e.must(err, "inner BeginTX 2")
	e.must(e.s.CreateUser(inner, &storage.User{ID: "kept", Email: "kept@example.com"}), "CreateUser inner 2")
	e.must(e.s.Rollback(inner), "inner Rollback")
	e.must(e.s.Commit(outer), "outer Commit")
	if !e.userExists(e.ctx, "kept") {
		e.t.Error("inner Rollback discarded the outer transaction's work")
	}
}

func testTxWithoutTx(e *env) {
	if err := e.s.Commit(e.ctx); err == nil {
		e.t.Error("Commit without a transaction succeeded")
	}
	if err := e.s.Rollback(e.ctx); err == nil {
		e.t.Error("Rollback without a transaction succeeded")
	}
}

func testInTx(e *env) {
	e.must(e.s.InTx(e.ctx, func(ctx context.Context) error {
		return e.s.CreateUser(ctx, &storage.User{ID: "ok", Email: "ok@example.com"})
	}), "InTx commit")
	if !e.userExists(e.ctx, "ok") {
		e.t.Error("InTx did not commit")
	}

	boom := errors.New("boom")
	err := e.s.InTx(e.ctx, func(ctx context.Context) error {
		e.must(e.s.CreateUser(ctx, &storage.User{ID: "failed", Email: "failed@example.com"}), "CreateUser")
		return boom
	})
	e.wantIs(err, "InTx error", boom)
	if e.userExists(e.ctx, "failed") {
		e.t.Error("InTx kept the work of a failed function")
	}

	func() {
		defer func() {
			if r := recover(); r != "panic in tx" {
				e.t.Errorf("recovered %v, want the function's panic", r)
			}
		}()
		_ = e.s.InTx(e.ctx, func(ctx context.Context) error {
			e.must(e.s.CreateUser(ctx, &storage.User{ID: "panicked", Email: "panicked@example.com"}), "CreateUser")
			panic("panic in tx")
		})
		e.t.Error("InTx swallowed the panic")
	}()
	if e.userExists(e.ctx, "panicked") {
		e.t.Error("InTx kept the work of a panicking function")
	}
	// The store is still usable (the transaction was released).
	e.must(e.s.CreateUser(e.ctx, &storage.User{ID: "after", Email: "after@example.com"}), "CreateUser after panic")
}

func testInTxJoins(e *env) {
	outer, err := e.s.BeginTX(e.ctx)
	e.must(err, "BeginTX")
	e.must(e.s.InTx(outer, func(ctx context.Context) error {
		return e.s.CreateUser(ctx, &storage.User{ID: "joined", Email: "joined@example.com"})
	}), "InTx inside a transaction")
	e.must(e.s.Rollback(outer), "outer Rollback")
	if e.userExists(e.ctx, "joined") {
		e.t.Error("InTx committed on its own inside an outer transaction")
	}
}

// The refresh grant's storage sequence, rolled back: the old token must
// still be active.
func testTxRotationRollback(e *env) {
	c := e.createClient("client")
	req := e.newRequest(c, "alice")
	oldRT := randomID("rt-")
	e.must(e.s.CreateRefreshTokenSession(e.ctx, oldRT, "", req), "CreateRefreshTokenSession")

	ctx, err := e.s.BeginTX(e.ctx)
	e.must(err, "BeginTX")
	e.must(e.s.RotateRefreshToken(ctx, req.ID, oldRT), "RotateRefreshToken")
	newAT, newRT := randomID("at-"), randomID("rt-")
	e.must(e.s.CreateAccessTokenSession(ctx, newAT, req), "CreateAccessTokenSession")
	e.must(e.s.CreateRefreshTokenSession(ctx, newRT, newAT, req), "CreateRefreshTokenSession")
	e.must(e.s.Rollback(ctx), "Rollback")

	_, err = e.s.GetRefreshTokenSession(e.ctx, oldRT, newSession())
	e.must(err, "old refresh token after rollback")
	_, err = e.s.GetRefreshTokenSession(e.ctx, newRT, newSession())
	e.wantNotFound(err, "new refresh token after rollback")
	_, err = e.s.GetAccessTokenSession(e.ctx, newAT, newSession())
	e.wantNotFound(err, "new access token after rollback")
}
