package conformance

import (
	"context"
	"errors"
	"time"

	"github.com/ory/fosite"

	"github.com/gatehouse-dev/gatehouse/storage"
)

func maintenanceTests() []test {
	return []test{
		{"DeleteExpired", testDeleteExpired},
		{"DeleteExpiredInBatches", testDeleteExpiredBatches},
		{"DeleteExpiredPushedRequestsInBatches", testDeleteExpiredPushedRequestBatches},
		{"DeleteExpiredUpstreamStatesInBatches", testDeleteExpiredUpstreamStateBatches},
		{"RotatedRefreshTokensStayUntilExpiry", testDeleteExpiredKeepsRotated},
		{"Ping", func(e *env) { e.must(e.s.Ping(e.ctx), "Ping") }},
		{"JanitorLock", testJanitorLock},
	}
}

func testDeleteExpired(e *env) {
	c := e.createClient("client")
	e.createUser("u")
	now := e.clock.Now()
	past, future := now.Add(-time.Minute), now.Add(time.Hour)

	type tokenRows struct{ code, access, refresh, pkce, oidc string }
	mk := func(exp time.Time) tokenRows {
		req := e.newRequest(c, "alice")
		expireAt(req, exp)
		r := tokenRows{randomID("code-"), randomID("at-"), randomID("rt-"), randomID("pkce-"), randomID("raw-")}
		e.must(e.s.CreateAuthorizeCodeSession(e.ctx, r.code, req), "CreateAuthorizeCodeSession")
		e.must(e.s.CreateAccessTokenSession(e.ctx, r.access, req), "CreateAccessTokenSession")
		e.must(e.s.CreateRefreshTokenSession(e.ctx, r.refresh, r.access, req), "CreateRefreshTokenSession")
		e.must(e.s.CreatePKCERequestSession(e.ctx, r.pkce, req), "CreatePKCERequestSession")
		e.must(e.s.CreateOpenIDConnectSession(e.ctx, r.oidc, req), "CreateOpenIDConnectSession")
		return r
	}
	expired, live := mk(past), mk(future)

	// A refresh token without an expiry (unlimited lifespan) never goes.
	forever := e.newRequest(c, "alice")
	forever.Session.SetExpiresAt(fosite.RefreshToken, time.Time{})
	foreverRT := randomID("rt-")
	e.must(e.s.CreateRefreshTokenSession(e.ctx, foreverRT, "", forever), "CreateRefreshTokenSession without expiry")

	for _, ls := range []*storage.LoginSession{
		{ID: "ls-expired", UserID: "u", AuthTime: past, ExpiresAt: past},
		{ID: "ls-live", UserID: "u", AuthTime: past, ExpiresAt: future},
	} {
		e.must(e.s.CreateLoginSession(e.ctx, ls), "CreateLoginSession")
	}
	for _, f := range []*storage.AuthFlow{
		{ID: "flow-expired", ClientID: c.ID, RequestedAt: past, ExpiresAt: past},
		{ID: "flow-live", ClientID: c.ID, RequestedAt: past, ExpiresAt: future},
	} {
		e.must(e.s.CreateAuthFlow(e.ctx, f), "CreateAuthFlow")
	}
	for _, r := range []*storage.PushedRequest{
		{ID: "par-expired", ClientID: c.ID, CreatedAt: past, ExpiresAt: past},
		{ID: "par-live", ClientID: c.ID, CreatedAt: past, ExpiresAt: future},
	} {
		e.must(e.s.CreatePushedRequest(e.ctx, r), "CreatePushedRequest")
	}
	stExpired, stLive := e.newUpstreamState("google", -time.Minute), e.newUpstreamState("google", time.Hour)
	stExpired.CreatedAt = past.Add(-time.Minute)
	for _, st := range []*storage.UpstreamState{stExpired, stLive} {
		e.must(e.s.CreateUpstreamState(e.ctx, st), "CreateUpstreamState")
	}
	// The expired jti last: SetClientAssertionJWT may clear expired ones.
	e.must(e.s.SetClientAssertionJWT(e.ctx, "jti-live", future), "SetClientAssertionJWT live")
	e.must(e.s.SetClientAssertionJWT(e.ctx, "jti-expired", past), "SetClientAssertionJWT expired")

	n, err := e.s.DeleteExpired(e.ctx, now, 100)
	e.must(err, "DeleteExpired")
	// One expired row in each of: code, access, refresh, pkce, oidc, login
	// session, flow, pushed request, upstream state, jti.
	if n != 10 {
		e.t.Errorf("DeleteExpired removed %d rows, want 10", n)
	}

	_, err = e.s.GetAuthorizeCodeSession(e.ctx, expired.code, newSession())
	e.wantNotFound(err, "expired code")
	_, err = e.s.GetAccessTokenSession(e.ctx, expired.access, newSession())
	e.wantNotFound(err, "expired access token")
	_, err = e.s.GetRefreshTokenSession(e.ctx, expired.refresh, newSession())
	e.wantNotFound(err, "expired refresh token")
	_, err = e.s.GetPKCERequestSession(e.ctx, expired.pkce, newSession())
	e.wantNotFound(err, "expired pkce")
	_, err = e.s.GetOpenIDConnectSession(e.ctx, expired.oidc, &fosite.Request{Session: newSession()})
	e.wantNotFound(err, "expired oidc")

	_, err = e.s.GetAuthorizeCodeSession(e.ctx, live.code, newSession())
	e.must(err, "live code")
	_, err = e.s.GetAccessTokenSession(e.ctx, live.access, newSession())
	e.must(err, "live access token")
	_, err = e.s.GetRefreshTokenSession(e.ctx, live.refresh, newSession())
	e.must(err, "live refresh token")
	_, err = e.s.GetPKCERequestSession(e.ctx, live.pkce, newSession())
	e.must(err, "live pkce")
	_, err = e.s.GetOpenIDConnectSession(e.ctx, live.oidc, &fosite.Request{Session: newSession()})
	e.must(err, "live oidc")
	_, err = e.s.LoginSession(e.ctx, "ls-live")
	e.must(err, "live login session")
	_, err = e.s.AuthFlow(e.ctx, "flow-live")
	e.must(err, "live flow")
	_, err = e.s.PushedRequest(e.ctx, "par-live")
	e.must(err, "live pushed request")
	// The expired row is gone, not merely hidden: it can be created again.
	e.must(e.s.CreatePushedRequest(e.ctx, &storage.PushedRequest{ID: "par-expired", ClientID: c.ID, ExpiresAt: future}),
		"CreatePushedRequest with the purged ID")
	e.wantIs(e.s.ClientAssertionJWTValid(e.ctx, "jti-live"), "live jti", fosite.ErrJTIKnown)
	// The expired state is gone too; the live one is still there (and
	// consuming it is the last look at it).
	stExpired.ExpiresAt = future
	e.must(e.s.CreateUpstreamState(e.ctx, stExpired), "CreateUpstreamState with the purged ID")
	got, err := e.s.ConsumeUpstreamState(e.ctx, stLive.ID)
	e.must(err, "live upstream state")
	e.wantUpstreamState(got, stLive, "live upstream state")

	n, err = e.s.DeleteExpired(e.ctx, now, 100)
	e.must(err, "DeleteExpired again")
	if n != 0 {
		e.t.Errorf("second DeleteExpired removed %d rows, want 0", n)
	}

	// Far in the future everything with an expiry goes, the rest stays.
	_, err = e.s.DeleteExpired(e.ctx, now.Add(100*365*24*time.Hour), 100)
	e.must(err, "DeleteExpired far future")
	_, err = e.s.GetRefreshTokenSession(e.ctx, foreverRT, newSession())
	e.must(err, "refresh token without expiry")
}

func testDeleteExpiredBatches(e *env) {
	c := e.createClient("client")
	now := e.clock.Now()
	for range 5 {
		req := e.newRequest(c, "alice")
		expireAt(req, now.Add(-time.Second))
		e.must(e.s.CreateAccessTokenSession(e.ctx, randomID("at-"), req), "CreateAccessTokenSession")
	}
	for i, want := range []int64{2, 2, 1, 0} {
		n, err := e.s.DeleteExpired(e.ctx, now, 2)
		e.must(err, "DeleteExpired")
		if n != want {
			e.t.Errorf("DeleteExpired call %d removed %d rows, want %d", i+1, n, want)
		}
	}
}

func testDeleteExpiredKeepsRotated(e *env) {
	c := e.createClient("client")
	req := e.newRequest(c, "alice")
	sig := randomID("rt-")
	e.must(e.s.CreateRefreshTokenSession(e.ctx, sig, "", req), "CreateRefreshTokenSession")
	e.must(e.s.RotateRefreshToken(e.ctx, req.ID, sig), "RotateRefreshToken")

	n, err := e.s.DeleteExpired(e.ctx, e.clock.Now(), 100)
	e.must(err, "DeleteExpired")
	if n != 0 {
		e.t.Errorf("DeleteExpired removed %d rows, want 0", n)
	}
	// Still there, so that reuse is detected.
	_, err = e.s.GetRefreshTokenSession(e.ctx, sig, newSession())
	e.wantIs(err, "rotated refresh token", fosite.ErrInactiveToken)

	n, err = e.s.DeleteExpired(e.ctx, req.Session.GetExpiresAt(fosite.RefreshToken).Add(time.Second), 100)
	e.must(err, "DeleteExpired after expiry")
	if n != 1 {
		e.t.Errorf("DeleteExpired after expiry removed %d rows, want 1", n)
	}
}

func testDeleteExpiredPushedRequestBatches(e *env) {
	for range 3 {
		e.createPushedRequest("client-1", time.Minute)
	}
	live := e.createPushedRequest("client-1", time.Hour)
	now := e.clock.Now().Add(2 * time.Minute)
	for i, want := range []int64{2, 1, 0} {
		n, err := e.s.DeleteExpired(e.ctx, now, 2)
		e.must(err, "DeleteExpired")
		if n != want {
			e.t.Errorf("DeleteExpired call %d removed %d rows, want %d", i+1, n, want)
		}
	}
	e.clock.Advance(2 * time.Minute)
	_, err := e.s.PushedRequest(e.ctx, live.ID)
	e.must(err, "live pushed request")
}

func testDeleteExpiredUpstreamStateBatches(e *env) {
	for range 3 {
		e.createUpstreamState("google", time.Minute)
	}
	live := e.createUpstreamState("google", time.Hour)
	now := e.clock.Now().Add(2 * time.Minute)
	for i, want := range []int64{2, 1, 0} {
		n, err := e.s.DeleteExpired(e.ctx, now, 2)
		e.must(err, "DeleteExpired")
		if n != want {
			e.t.Errorf("DeleteExpired call %d removed %d rows, want %d", i+1, n, want)
		}
	}
	e.clock.Advance(2 * time.Minute)
	got, err := e.s.ConsumeUpstreamState(e.ctx, live.ID)
	e.must(err, "live upstream state")
	e.wantUpstreamState(got, live, "live upstream state")
}

// testJanitorLock: fn runs under the lock, and while one caller holds it a
// second one is told at once that a janitor is running (ran false) instead
// of running alongside or queueing.
func testJanitorLock(e *env) {
	ran, err := e.s.WithJanitorLock(e.ctx, func(context.Context) error { return nil })
	e.must(err, "WithJanitorLock")
	if !ran {
		e.t.Fatal("WithJanitorLock did not run fn with nobody holding the lock")
	}
	boom := errors.New("boom")
	if _, err := e.s.WithJanitorLock(e.ctx, func(context.Context) error { return boom }); !errors.Is(err, boom) {
		e.t.Errorf("WithJanitorLock error = %v, want fn's", err)
	}

	_, err = e.s.WithJanitorLock(e.ctx, func(ctx context.Context) error {
		second := make(chan bool, 1)
		go func() {
			ran, err := e.s.WithJanitorLock(ctx, func(context.Context) error { return nil })
			if err != nil {
				e.t.Errorf("second WithJanitorLock: %v", err)
			}
			second <- ran
		}()
		select {
		case ran := <-second:
			if ran {
				e.t.Error("a second janitor ran while the first held the lock")
			}
		case <-time.After(10 * time.Second):
			e.t.Error("the second WithJanitorLock waited instead of returning")
		}
		return nil
	})
	e.must(err, "first WithJanitorLock")
	ran, err = e.s.WithJanitorLock(e.ctx, func(context.Context) error { return nil })
	e.must(err, "WithJanitorLock after release")
	if !ran {
		e.t.Error("the lock was not released")
	}
}
