package conformance

import (
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/storage"
)

func deviceTests() []test {
	return []test{
		{"CreateAndGet", testDeviceCreateAndGet},
		{"UserCodeConflict", testDeviceUserCodeConflict},
		{"ExpiredNotFoundByUserCode", testDeviceExpired},
		{"ApproveOnce", testDeviceApproveOnce},
		{"Deny", testDeviceDeny},
		{"PollCompareAndSet", testDevicePollCAS},
		{"ConcurrentPollsOneWinner", testDeviceConcurrentPolls},
		{"ConsumeOnce", testDeviceConsumeOnce},
		{"DeletedWithClient", testDeviceDeletedWithClient},
		{"DeleteExpired", testDeviceDeleteExpired},
	}
}

func (e *env) createDevice(sig, userCode string) *storage.DeviceAuthorization {
	e.t.Helper()
	c := e.createClient("device-client-" + sig)
	d := &storage.DeviceAuthorization{
		Signature: sig, UserCode: userCode, ClientID: c.ID,
		Scopes: []string{"openid", "offline_access"}, Resources: []string{"https://api.example/"},
		ExpiresAt: e.clock.Now().Add(10 * time.Minute), Interval: 5 * time.Second,
	}
	e.must(e.s.CreateDeviceAuthorization(e.ctx, d), "CreateDeviceAuthorization")
	return d
}

func testDeviceCreateAndGet(e *env) {
	want := e.createDevice("sig-1", "BCDFGHJK")
	for what, get := range map[string]func() (*storage.DeviceAuthorization, error){
		"by user code": func() (*storage.DeviceAuthorization, error) {
			return e.s.DeviceAuthorizationByUserCode(e.ctx, "BCDFGHJK")
		},
		"by signature": func() (*storage.DeviceAuthorization, error) {
			return e.s.DeviceAuthorizationBySignature(e.ctx, "sig-1")
		},
	} {
		got, err := get()
		e.must(err, what)
		e.wantEqual(got.Signature, want.Signature, what+" Signature")
		e.wantEqual(got.UserCode, want.UserCode, what+" UserCode")
		e.wantEqual(got.ClientID, want.ClientID, what+" ClientID")
		e.wantList(got.Scopes, want.Scopes, what+" Scopes")
		e.wantList(got.Resources, want.Resources, what+" Resources")
		e.wantTime(got.RequestedAt, e.clock.Now(), what+" RequestedAt")
		e.wantTime(got.ExpiresAt, want.ExpiresAt, what+" ExpiresAt")
		e.wantEqual(got.Interval, 5*time.Second, what+" Interval")
		e.wantEqual(got.Status, storage.DeviceStatusPending, what+" Status")
		e.wantEqual(got.LastPolledAt.IsZero(), true, what+" never polled")
		e.wantEqual(got.Polls, int64(0), what+" Polls")
	}
	_, err := e.s.DeviceAuthorizationByUserCode(e.ctx, "ZZZZZZZZ")
	e.wantNotFound(err, "unknown user code")
	_, err = e.s.DeviceAuthorizationBySignature(e.ctx, "nope")
	e.wantNotFound(err, "unknown signature")
}

func testDeviceUserCodeConflict(e *env) {
	d := e.createDevice("sig-1", "BCDFGHJK")
	err := e.s.CreateDeviceAuthorization(e.ctx, &storage.DeviceAuthorization{
		Signature: "sig-2", UserCode: "BCDFGHJK", ClientID: d.ClientID, ExpiresAt: d.ExpiresAt, Interval: time.Second,
	})
	e.wantIs(err, "same user code", storage.ErrConflict)
}

func testDeviceExpired(e *env) {
	e.createDevice("sig-1", "BCDFGHJK")
	e.clock.Advance(10*time.Minute + time.Second)
	_, err := e.s.DeviceAuthorizationByUserCode(e.ctx, "BCDFGHJK")
	e.wantNotFound(err, "expired by user code")
	e.wantNotFound(e.s.ApproveDeviceAuthorization(e.ctx, "BCDFGHJK", storage.DeviceApproval{UserID: "u"}), "approve expired")
	got, err := e.s.DeviceAuthorizationBySignature(e.ctx, "sig-1")
	e.must(err, "an expired one is still found by signature (expired_token)")
	e.wantEqual(got.Status, storage.DeviceStatusPending, "Status")
}

func testDeviceApproveOnce(e *env) {
	e.createDevice("sig-1", "BCDFGHJK")
	auth := e.clock.Now().Add(-time.Minute)
	a := storage.DeviceApproval{SessionID: "sess", UserID: "user-1", GrantedScopes: []string{"openid"}, AuthTime: auth, AMR: []string{"pwd"}}
	e.must(e.s.ApproveDeviceAuthorization(e.ctx, "BCDFGHJK", a), "approve")
	e.wantNotFound(e.s.ApproveDeviceAuthorization(e.ctx, "BCDFGHJK", storage.DeviceApproval{UserID: "user-2"}), "second approval")
	e.wantNotFound(e.s.DenyDeviceAuthorization(e.ctx, "BCDFGHJK"), "deny after approval")
	got, err := e.s.DeviceAuthorizationBySignature(e.ctx, "sig-1")
	e.must(err, "get")
	e.wantEqual(got.Status, storage.DeviceStatusApproved, "Status")
	e.wantEqual(got.SessionID, "sess", "SessionID")
	e.wantEqual(got.UserID, "user-1", "UserID (the first approval)")
	e.wantList(got.GrantedScopes, []string{"openid"}, "GrantedScopes")
	e.wantList(got.AMR, []string{"pwd"}, "AMR")
	e.wantTime(got.AuthTime, auth, "AuthTime")
}

func testDeviceDeny(e *env) {
	e.createDevice("sig-1", "BCDFGHJK")
	e.must(e.s.DenyDeviceAuthorization(e.ctx, "BCDFGHJK"), "deny")
	e.wantNotFound(e.s.ApproveDeviceAuthorization(e.ctx, "BCDFGHJK", storage.DeviceApproval{UserID: "u"}), "approve after denial")
	got, err := e.s.DeviceAuthorizationBySignature(e.ctx, "sig-1")
	e.must(err, "get")
	e.wantEqual(got.Status, storage.DeviceStatusDenied, "Status")
}

func testDevicePollCAS(e *env) {
	e.createDevice("sig-1", "BCDFGHJK")
	now := e.clock.Now().Add(6 * time.Second)
	e.must(e.s.RecordDevicePoll(e.ctx, "sig-1", 0, now, 10*time.Second), "first poll")
	e.wantNotFound(e.s.RecordDevicePoll(e.ctx, "sig-1", 0, now, 5*time.Second), "a poll on a stale count")
	got, err := e.s.DeviceAuthorizationBySignature(e.ctx, "sig-1")
	e.must(err, "get")
	e.wantEqual(got.Polls, int64(1), "Polls")
	e.wantTime(got.LastPolledAt, now, "LastPolledAt")
	e.wantEqual(got.Interval, 10*time.Second, "Interval")
	e.must(e.s.RecordDevicePoll(e.ctx, "sig-1", 1, now.Add(10*time.Second), 10*time.Second), "second poll")
}

func testDeviceConcurrentPolls(e *env) {
	e.createDevice("sig-1", "BCDFGHJK")
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { errs[i] = e.s.RecordDevicePoll(e.ctx, "sig-1", 0, e.clock.Now(), 5*time.Second) })
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		if err == nil {
			won++
		}
	}
	e.wantEqual(won, 1, "polls accepted on one count")
}

func testDeviceConsumeOnce(e *env) {
	e.createDevice("sig-1", "BCDFGHJK")
	e.wantNotFound(e.s.ConsumeDeviceAuthorization(e.ctx, "sig-1"), "consume pending")
	e.must(e.s.ApproveDeviceAuthorization(e.ctx, "BCDFGHJK", storage.DeviceApproval{UserID: "u"}), "approve")
	e.must(e.s.ConsumeDeviceAuthorization(e.ctx, "sig-1"), "consume")
	e.wantNotFound(e.s.ConsumeDeviceAuthorization(e.ctx, "sig-1"), "consume twice")
}

func testDeviceDeletedWithClient(e *env) {
	d := e.createDevice("sig-1", "BCDFGHJK")
	e.must(e.s.DeleteClient(e.ctx, d.ClientID), "DeleteClient")
	_, err := e.s.DeviceAuthorizationBySignature(e.ctx, "sig-1")
	e.wantNotFound(err, "after the client went")
}

func testDeviceDeleteExpired(e *env) {
	e.createDevice("sig-1", "BCDFGHJK")
	e.clock.Advance(9 * time.Minute)
	_, err := e.s.DeleteExpired(e.ctx, e.clock.Now(), 0)
	e.must(err, "DeleteExpired before expiry")
	_, err = e.s.DeviceAuthorizationBySignature(e.ctx, "sig-1")
	e.must(err, "kept before expiry")
	e.clock.Advance(2 * time.Minute)
	_, err = e.s.DeleteExpired(e.ctx, e.clock.Now(), 0)
	e.must(err, "DeleteExpired")
	_, err = e.s.DeviceAuthorizationBySignature(e.ctx, "sig-1")
	e.wantNotFound(err, "expired row deleted")
}
