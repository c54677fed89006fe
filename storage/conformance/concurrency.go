package conformance

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ory/fosite"

	"github.com/gatehouse-dev/gatehouse/storage"
)

// The races the token endpoint must win exactly once, run with real
// goroutines against the real database.
func concurrencyTests() []test {
	return []test{
		{"RotateRefreshToken", testConcurrentRotate},
		{"RefreshGrantInTransactions", testConcurrentRefreshGrant},
		{"InvalidateAuthorizeCode", testConcurrentInvalidate},
		{"CodeExchangeLoserSeesWinnerCommitted", testCodeExchangeLoserSeesWinnerCommitted},
		{"DeleteAuthFlow", testConcurrentDeleteAuthFlow},
		{"DeletePushedRequest", testConcurrentDeletePushedRequest},
		{"ConsumeUpstreamState", testConcurrentConsumeUpstreamState},
		{"PromoteSigningKey", testConcurrentPromote},
		{"PromoteSigningKeyAfterCommit", testPromoteWaitsForCommit},
		{"PromoteSigningKeyAfterRollback", testPromoteWaitsForRollback},
		{"CreateSystemKey", testConcurrentCreateSystemKey},
		{"Writers", testConcurrentWriters},
	}
}

func testConcurrentRotate(e *env) {
	c := e.createClient("client")
	req := e.newRequest(c, "alice")
	sig := randomID("rt-")
	e.must(e.s.CreateRefreshTokenSession(e.ctx, sig, "", req), "CreateRefreshTokenSession")

	errs := parallel(20, func(int) error {
		return e.s.RotateRefreshToken(e.ctx, req.ID, sig)
	})
	e.wantOneWinner(errs, "20 concurrent RotateRefreshToken", fosite.ErrNotFound)
}

// Each goroutine runs the refresh grant's storage sequence in its own
// transaction, as fosite's RefreshTokenGrantHandler does: exactly one
// commits a successor pair.
func testConcurrentRefreshGrant(e *env) {
	c := e.createClient("client")
	req := e.newRequest(c, "alice")
	oldRT := randomID("rt-")
	e.must(e.s.CreateRefreshTokenSession(e.ctx, oldRT, "", req), "CreateRefreshTokenSession")

	const n = 10
	newRTs := make([]string, n)
	errs := parallel(n, func(i int) error {
		var at string
		return e.issuePairInTx(req, &at, &newRTs[i], func(ctx context.Context) error {
			return e.s.RotateRefreshToken(ctx, req.ID, oldRT)
		})
	})
	e.wantOneWinner(errs, "10 concurrent refresh grants", fosite.ErrNotFound)
	for i, err := range errs {
		if err == nil {
			_, err := e.s.GetRefreshTokenSession(e.ctx, newRTs[i], newSession())
			e.must(err, "the winner's new refresh token")
		}
	}
}

func testConcurrentInvalidate(e *env) {
	c := e.createClient("client")
	req := e.newRequest(c, "alice")
	sig := randomID("code-")
	e.must(e.s.CreateAuthorizeCodeSession(e.ctx, sig, req), "CreateAuthorizeCodeSession")

	errs := parallel(10, func(int) error {
		return e.s.InvalidateAuthorizeCodeSession(e.ctx, sig)
	})
	e.wantOneWinner(errs, "10 concurrent InvalidateAuthorizeCodeSession", fosite.ErrInvalidatedAuthorizeCode)
}

// Each goroutine runs the code exchange's storage sequence in its own
// transaction, as fosite's AuthorizeExplicitGrantHandler does, and a loser
// revokes the grant after its rollback, as the provider does. A loser
// learns that the code is spent only once the winner's transaction, with
// its tokens, has committed, so the revocation always finds them: the
// winner's tokens are gone, however the transactions interleaved.
func testCodeExchangeLoserSeesWinnerCommitted(e *env) {
	c := e.createClient("client")
	req := e.newRequest(c, "alice")
	code := randomID("code-")
	e.must(e.s.CreateAuthorizeCodeSession(e.ctx, code, req), "CreateAuthorizeCodeSession")

	const n = 10
	ats, rts, revokeErrs := make([]string, n), make([]string, n), make([]error, n)
	errs := parallel(n, func(i int) error {
		err := e.issuePairInTx(req, &ats[i], &rts[i], func(ctx context.Context) error {
			return e.s.InvalidateAuthorizeCodeSession(ctx, code)
		})
		if errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) {
			revokeErrs[i] = errors.Join(e.s.RevokeRefreshToken(e.ctx, req.ID), e.s.RevokeAccessToken(e.ctx, req.ID))
		}
		return err
	})
	e.wantOneWinner(errs, "10 concurrent code exchanges", fosite.ErrInvalidatedAuthorizeCode)
	for i, err := range errs {
		e.must(revokeErrs[i], "revoking the grant after a lost exchange")
		if err == nil {
			_, err := e.s.GetAccessTokenSession(e.ctx, ats[i], newSession())
			e.wantNotFound(err, "the winner's access token after the losers revoked the grant")
			_, err = e.s.GetRefreshTokenSession(e.ctx, rts[i], newSession())
			e.wantNotFound(err, "the winner's refresh token after the losers revoked the grant")
		}
	}
}

// issuePairInTx runs spend (the conditional update that wins or loses a
// race) and stores a new token pair for req in one transaction, rolled
// back on error, as fosite's grant handlers do; at and rt receive the
// pair's signatures.
func (e *env) issuePairInTx(req *fosite.Request, at, rt *string, spend func(ctx context.Context) error) (err error) {
	ctx, err := e.s.BeginTX(e.ctx)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = e.s.Rollback(ctx)
		}
	}()
	if err := spend(ctx); err != nil {
		return err
	}
	*at, *rt = randomID("at-"), randomID("rt-")
	if err := e.s.CreateAccessTokenSession(ctx, *at, req); err != nil {
		return fmt.Errorf("CreateAccessTokenSession: %w", err)
	}
	if err := e.s.CreateRefreshTokenSession(ctx, *rt, *at, req); err != nil {
		return fmt.Errorf("CreateRefreshTokenSession: %w", err)
	}
	return e.s.Commit(ctx)
}

func testConcurrentDeleteAuthFlow(e *env) {
	f := e.createFlow(10 * time.Minute)
	errs := parallel(10, func(int) error {
		return e.s.DeleteAuthFlow(e.ctx, f.ID)
	})
	e.wantOneWinner(errs, "10 concurrent DeleteAuthFlow", storage.ErrNotFound)
}

func testConcurrentDeletePushedRequest(e *env) {
	r := e.createPushedRequest("client-1", time.Minute)
	errs := parallel(10, func(int) error {
		return e.s.DeletePushedRequest(e.ctx, r.ID)
	})
	e.wantOneWinner(errs, "10 concurrent DeletePushedRequest", storage.ErrNotFound)
	_, err := e.s.PushedRequest(e.ctx, r.ID)
	e.wantNotFound(err, "PushedRequest after the race")
}

// Exactly one of concurrent callbacks with one state gets it, whole.
func testConcurrentConsumeUpstreamState(e *env) {
	st := e.createUpstreamState("google", 10*time.Minute)
	const n = 10
	got := make([]*storage.UpstreamState, n)
	errs := parallel(n, func(i int) error {
		var err error
		got[i], err = e.s.ConsumeUpstreamState(e.ctx, st.ID)
		return err
	})
	e.wantOneWinner(errs, "10 concurrent ConsumeUpstreamState", storage.ErrNotFound)
	for i, err := range errs {
		if err == nil {
			e.wantUpstreamState(got[i], st, "the winner's state")
		} else if got[i] != nil {
			e.t.Errorf("a loser got a state: %+v", got[i])
		}
	}
	_, err := e.s.ConsumeUpstreamState(e.ctx, st.ID)
	e.wantNotFound(err, "ConsumeUpstreamState after the race")
}

// Many concurrent writers, some in transactions, all succeed: a backend
// must queue them rather than fail (SQLite's SQLITE_BUSY).
func testConcurrentWriters(e *env) {
	c := e.createClient("client")
	const n = 64
	errs := parallel(n, func(i int) error {
		req := e.newRequest(c, fmt.Sprintf("user-%d", i))
		if i%2 == 0 {
			return e.s.CreateAccessTokenSession(e.ctx, randomID("at-"), req)
		}
		ctx, err := e.s.BeginTX(e.ctx)
		if err != nil {
			return err
		}
		at := randomID("at-")
		if err := e.s.CreateAccessTokenSession(ctx, at, req); err != nil {
			_ = e.s.Rollback(ctx)
			return err
		}
		if err := e.s.CreateRefreshTokenSession(ctx, randomID("rt-"), at, req); err != nil {
			_ = e.s.Rollback(ctx)
			return err
		}
		return e.s.Commit(ctx)
	})
	for i, err := range errs {
		if err != nil {
			e.t.Errorf("writer %d: %v", i, err)
		}
	}
}

// Instances rotating together promote the same pair: exactly one rotates,
// the others get ErrConflict, and the keys end in the winner's state.
func testConcurrentPromote(e *env) {
	keys := e.rotationKeys()
	const n = 10
	ats := make([]time.Time, n)
	for i := range ats {
		ats[i] = e.clock.Now().Add(time.Duration(i+1) * time.Minute)
	}
	errs := parallel(n, func(i int) error {
		return e.s.PromoteSigningKey(e.ctx, "RS256", "RS256-current", "RS256-next", ats[i])
	})
	e.wantOneWinner(errs, "10 concurrent PromoteSigningKey", storage.ErrConflict)
	winner := -1
	for i, err := range errs {
		if err == nil {
			winner = i
		}
	}
	if winner < 0 {
		return
	}
	keys[1].State, keys[1].RetiredAt = storage.KeyStateRetired, ats[winner]
	keys[2].State, keys[2].ActivatedAt = storage.KeyStateCurrent, ats[winner]
	e.wantKeys(keys, "after the concurrent promotions")
}

// promoteWhileInTx promotes RS256 in a transaction and, while it is open,
// starts the same promotion outside it; it ends the transaction with end
// and returns the other promotion's result, checking that it did not
// succeed while the transaction was open.
func (e *env) promoteWhileInTx(at, otherAt time.Time, end func(ctx context.Context) error) error {
	e.t.Helper()
	ctx, err := e.s.BeginTX(e.ctx)
	e.must(err, "BeginTX")
	e.must(e.s.PromoteSigningKey(ctx, "RS256", "RS256-current", "RS256-next", at), "PromoteSigningKey in a transaction")
	other := make(chan error, 1)
	go func() {
		other <- e.s.PromoteSigningKey(e.ctx, "RS256", "RS256-current", "RS256-next", otherAt)
	}()
	// Give the other promotion time to reach the database (and wait there).
	select {
	case err := <-other:
		// Refusing right away is acceptable; succeeding is not: the
		// transaction holds the rotation.
		if err == nil {
			e.t.Error("a promotion succeeded while another one's transaction was open")
		}
		e.must(end(ctx), "ending the transaction")
		return err
	case <-time.After(200 * time.Millisecond):
	}
	e.must(end(ctx), "ending the transaction")
	return <-other
}

// A promotion waiting for another one's transaction fails once it commits.
func testPromoteWaitsForCommit(e *env) {
	keys := e.rotationKeys()
	at, otherAt := e.clock.Now().Add(time.Minute), e.clock.Now().Add(2*time.Minute)
	err := e.promoteWhileInTx(at, otherAt, e.s.Commit)
	e.wantIs(err, "PromoteSigningKey after the other transaction committed", storage.ErrConflict)
	keys[1].State, keys[1].RetiredAt = storage.KeyStateRetired, at
	keys[2].State, keys[2].ActivatedAt = storage.KeyStateCurrent, at
	e.wantKeys(keys, "after the committed promotion")
}

// ... and succeeds once it rolls back.
func testPromoteWaitsForRollback(e *env) {
	keys := e.rotationKeys()
	at, otherAt := e.clock.Now().Add(time.Minute), e.clock.Now().Add(2*time.Minute)
	err := e.promoteWhileInTx(at, otherAt, e.s.Rollback)
	if err != nil && !errors.Is(err, storage.ErrConflict) {
		e.t.Fatalf("PromoteSigningKey after the other transaction rolled back: %v", err)
	}
	if err == nil {
		keys[1].State, keys[1].RetiredAt = storage.KeyStateRetired, otherAt
		keys[2].State, keys[2].ActivatedAt = storage.KeyStateCurrent, otherAt
	}
	// Refused early (allowed above), the keys are as they were.
	e.wantKeys(keys, "after the rolled-back promotion and the other one")
}

// Instances starting together each create the system key of a purpose:
// one wins, and everyone then reads the winner's key.
func testConcurrentCreateSystemKey(e *env) {
	const n = 10
	errs := parallel(n, func(i int) error {
		return e.s.CreateSystemKey(e.ctx, &storage.SystemKey{Purpose: "hash-pepper", Sealed: []byte{byte(i)}})
	})
	e.wantOneWinner(errs, "10 concurrent CreateSystemKey", storage.ErrConflict)
	got, err := e.s.SystemKey(e.ctx, "hash-pepper")
	e.must(err, "SystemKey")
	for i, err := range errs {
		if err == nil && (len(got.Sealed) != 1 || got.Sealed[0] != byte(i)) {
			e.t.Errorf("stored key = %v, want the winner's [%d]", got.Sealed, i)
		}
	}
}
