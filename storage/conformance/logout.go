package conformance

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/storage"
)

func logoutTests() []test {
	return []test{
		{"SessionKeepsSIDAndBrowser", testLoginSessionSID},
		{"SessionClients", testLoginSessionClients},
		{"SessionClientsGoWithSessionAndClient", testLoginSessionClientsCascade},
		{"SessionsOfUser", testLoginSessionsOfUser},
		{"EndSessionOnce", testEndLoginSession},
		{"DeliveriesClaimRescheduleDelete", testLogoutDeliveries},
		{"DeliveryLeaseRunsOut", testLogoutDeliveryLease},
		{"ConcurrentClaimsTakeEachDeliveryOnce", testLogoutDeliveryConcurrentClaims},
		{"DeliveriesGoWithTheirClient", testLogoutDeliveriesCascade},
	}
}

func (e *env) createSession(id, user, sid string, created time.Time) *storage.LoginSession {
	e.t.Helper()
	ls := &storage.LoginSession{
		ID: id, UserID: user, SID: sid, AuthTime: created, CreatedAt: created, ExpiresAt: created.Add(time.Hour),
	}
	e.must(e.s.CreateLoginSession(e.ctx, ls), "CreateLoginSession "+id)
	return ls
}

// The sid, user agent and IP come back as stored; a second session with
// the same sid is a conflict, while any number of sessions have none.
func testLoginSessionSID(e *env) {
	e.createUser("u")
	now := e.clock.Now()
	ls := &storage.LoginSession{
		ID: "ls-1", UserID: "u", AuthTime: now, ExpiresAt: now.Add(time.Hour),
		SID: "sid-1", UserAgent: "Mozilla/5.0 (X11; Linux x86_64) \"quoted\" ünïcode", IP: "2001:db8::1",
	}
	e.must(e.s.CreateLoginSession(e.ctx, ls), "CreateLoginSession")
	got, err := e.s.LoginSession(e.ctx, "ls-1")
	e.must(err, "LoginSession")
	e.wantEqual(got.SID, ls.SID, "SID")
	e.wantEqual(got.UserAgent, ls.UserAgent, "UserAgent")
	e.wantEqual(got.IP, ls.IP, "IP")

	dup := *ls
	dup.ID = "ls-2"
	e.wantIs(e.s.CreateLoginSession(e.ctx, &dup), "a second session with the same sid", storage.ErrConflict)
	e.createSession("ls-3", "u", "", now)
	e.createSession("ls-4", "u", "", now)
	got, err = e.s.LoginSession(e.ctx, "ls-4")
	e.must(err, "LoginSession without a sid")
	e.wantEqual(got.SID, "", "SID of a session without one")
}

func testLoginSessionClients(e *env) {
	e.createUser("u")
	e.createClient("c1")
	e.createClient("c2")
	now := e.clock.Now()
	e.createSession("ls", "u", "sid", now)
	e.createSession("other", "u", "sid-other", now)

	ids, err := e.s.LoginSessionClients(e.ctx, "ls")
	e.must(err, "LoginSessionClients of a session without clients")
	e.wantList(ids, nil, "clients of a session without any")

	e.must(e.s.AddLoginSessionClient(e.ctx, "ls", "c2", now), "AddLoginSessionClient c2")
	e.must(e.s.AddLoginSessionClient(e.ctx, "ls", "c1", now.Add(time.Second)), "AddLoginSessionClient c1")
	// Again, later: idempotent, and the first time stays.
	e.must(e.s.AddLoginSessionClient(e.ctx, "ls", "c2", now.Add(time.Minute)), "AddLoginSessionClient c2 again")
	e.must(e.s.AddLoginSessionClient(e.ctx, "other", "c1", now), "AddLoginSessionClient other")
	ids, err = e.s.LoginSessionClients(e.ctx, "ls")
	e.must(err, "LoginSessionClients")
	e.wantList(ids, []string{"c2", "c1"}, "clients of the session, first first")

	e.wantNotFound(e.s.AddLoginSessionClient(e.ctx, "ghost", "c1", now), "AddLoginSessionClient of an unknown session")
	e.wantNotFound(e.s.AddLoginSessionClient(e.ctx, "ls", "ghost", now), "AddLoginSessionClient of an unknown client")
	e.wantNotFound(e.s.AddLoginSessionClient(e.ctx, "ls\x00", "c1", now), "AddLoginSessionClient of an impossible id")
	ids, err = e.s.LoginSessionClients(e.ctx, "ghost")
	e.must(err, "LoginSessionClients of an unknown session")
	e.wantList(ids, nil, "clients of an unknown session")
}

// Ending a session forgets its clients; deleting a client removes it from
// every session.
func testLoginSessionClientsCascade(e *env) {
	e.createUser("u")
	e.createClient("c1")
	e.createClient("c2")
	now := e.clock.Now()
	e.createSession("ls", "u", "sid", now)
	for _, c := range []string{"c1", "c2"} {
		e.must(e.s.AddLoginSessionClient(e.ctx, "ls", c, now), "AddLoginSessionClient "+c)
	}
	e.must(e.s.DeleteClient(e.ctx, "c1"), "DeleteClient")
	ids, err := e.s.LoginSessionClients(e.ctx, "ls")
	e.must(err, "LoginSessionClients after DeleteClient")
	e.wantList(ids, []string{"c2"}, "clients after one was deleted")

	e.must(e.s.DeleteLoginSession(e.ctx, "ls"), "DeleteLoginSession")
	// A new session with the same id (impossible in practice) starts empty.
	e.createSession("ls", "u", "sid-2", now)
	ids, err = e.s.LoginSessionClients(e.ctx, "ls")
	e.must(err, "LoginSessionClients after the session ended")
	e.wantList(ids, nil, "clients of an ended session")
}

func testLoginSessionsOfUser(e *env) {
	e.createUser("u")
	e.createUser("v")
	now := e.clock.Now()
	e.createSession("old", "u", "s-old", now.Add(-2*time.Minute))
	e.createSession("new", "u", "s-new", now)
	e.createSession("mid", "u", "", now.Add(-time.Minute))
	e.createSession("v1", "v", "s-v1", now)
	expired := &storage.LoginSession{ID: "gone", UserID: "u", AuthTime: now, CreatedAt: now.Add(time.Minute), ExpiresAt: now.Add(time.Second)}
	e.must(e.s.CreateLoginSession(e.ctx, expired), "CreateLoginSession expiring")
	e.clock.Advance(2 * time.Second)

	list, err := e.s.LoginSessionsOfUser(e.ctx, "u")
	e.must(err, "LoginSessionsOfUser")
	var ids []string
	for _, ls := range list {
		ids = append(ids, ls.ID)
		e.wantEqual(ls.UserID, "u", "UserID of "+ls.ID)
	}
	e.wantList(ids, []string{"new", "mid", "old"}, "sessions of u, newest first, expired left out")
	if len(list) == 3 {
		e.wantEqual(list[0].SID, "s-new", "SID of the newest")
		e.wantTime(list[0].CreatedAt, now, "CreatedAt of the newest")
	}
	list, err = e.s.LoginSessionsOfUser(e.ctx, "nobody")
	e.must(err, "LoginSessionsOfUser of an unknown user")
	if len(list) != 0 {
		e.t.Errorf("sessions of an unknown user = %d, want 0", len(list))
	}
}

func deliveryIDs(ds []*storage.LogoutDelivery) []string {
	out := make([]string, 0, len(ds))
	for _, d := range ds {
		out = append(out, d.ID)
	}
	return out
}

func testLogoutDeliveries(e *env) {
	e.createClient("c")
	now := e.clock.Now()
	e.must(e.s.EnqueueLogoutDeliveries(e.ctx, nil), "EnqueueLogoutDeliveries of nothing")
	e.must(e.s.EnqueueLogoutDeliveries(e.ctx, []*storage.LogoutDelivery{
		{ID: "d1", ClientID: "c", Subject: "user-1", SID: "sid-1"},
		{ID: "d2", ClientID: "c", Subject: "user-2", NextAttemptAt: now.Add(time.Second)},
		{ID: "d3", ClientID: "c", Subject: "user-3", NextAttemptAt: now.Add(time.Hour)},
	}), "EnqueueLogoutDeliveries")
	e.wantIs(e.s.EnqueueLogoutDeliveries(e.ctx, []*storage.LogoutDelivery{{ID: "d1", ClientID: "c", Subject: "x"}}),
		"a duplicate delivery", storage.ErrConflict)
	e.wantNotFound(e.s.EnqueueLogoutDeliveries(e.ctx, []*storage.LogoutDelivery{{ID: "d9", ClientID: "ghost", Subject: "x"}}),
		"a delivery to an unknown client")

	got, err := e.s.ClaimLogoutDeliveries(e.ctx, now, time.Minute, 10)
	e.must(err, "ClaimLogoutDeliveries")
	e.wantList(deliveryIDs(got), []string{"d1"}, "due deliveries")
	if len(got) == 1 {
		d := got[0]
		e.wantEqual(d.ClientID, "c", "ClientID")
		e.wantEqual(d.Subject, "user-1", "Subject")
		e.wantEqual(d.SID, "sid-1", "SID")
		e.wantEqual(d.Attempts, 1, "Attempts after the first claim")
		e.wantTime(d.CreatedAt, now, "CreatedAt")
		e.wantTime(d.NextAttemptAt, now, "NextAttemptAt of a delivery enqueued without one")
	}
	// Held: not claimed again, while d2 has become due.
	got, err = e.s.ClaimLogoutDeliveries(e.ctx, now.Add(2*time.Second), time.Minute, 10)
	e.must(err, "ClaimLogoutDeliveries while d1 is held")
	e.wantList(deliveryIDs(got), []string{"d2"}, "due deliveries while d1 is held")

	e.must(e.s.RescheduleLogoutDelivery(e.ctx, "d1", now.Add(10*time.Second), "503 Service Unavailable"), "RescheduleLogoutDelivery")
	got, err = e.s.ClaimLogoutDeliveries(e.ctx, now.Add(5*time.Second), time.Minute, 10)
	e.must(err, "ClaimLogoutDeliveries before d1 is due again")
	e.wantList(deliveryIDs(got), nil, "deliveries before d1 is due again")
	got, err = e.s.ClaimLogoutDeliveries(e.ctx, now.Add(10*time.Second), time.Minute, 10)
	e.must(err, "ClaimLogoutDeliveries when d1 is due again")
	e.wantList(deliveryIDs(got), []string{"d1"}, "deliveries when d1 is due again")
	if len(got) == 1 {
		e.wantEqual(got[0].Attempts, 2, "Attempts after the second claim")
		e.wantEqual(got[0].LastError, "503 Service Unavailable", "LastError")
	}
	e.must(e.s.RescheduleLogoutDelivery(e.ctx, "d1", now, strings1000()), "RescheduleLogoutDelivery with a long reason")

	e.must(e.s.DeleteLogoutDelivery(e.ctx, "d1"), "DeleteLogoutDelivery")
	e.must(e.s.DeleteLogoutDelivery(e.ctx, "d1"), "DeleteLogoutDelivery again")
	e.wantNotFound(e.s.RescheduleLogoutDelivery(e.ctx, "d1", now, ""), "RescheduleLogoutDelivery of a deleted delivery")
	got, err = e.s.ClaimLogoutDeliveries(e.ctx, now.Add(2*time.Hour), time.Minute, 0)
	e.must(err, "ClaimLogoutDeliveries with limit 0")
	e.wantList(deliveryIDs(got), nil, "deliveries with limit 0")
}

func strings1000() string {
	b := make([]byte, 0, 1001)
	for len(b) < 999 {
		b = append(b, 'x')
	}
	return string(append(b, "é"...))
}

// A delivery whose holder never came back is taken again once its lease
// has run out; the attempt is counted each time.
func testLogoutDeliveryLease(e *env) {
	e.createClient("c")
	now := e.clock.Now()
	e.must(e.s.EnqueueLogoutDeliveries(e.ctx, []*storage.LogoutDelivery{{ID: "d", ClientID: "c", Subject: "u"}}), "Enqueue")
	got, err := e.s.ClaimLogoutDeliveries(e.ctx, now, time.Minute, 1)
	e.must(err, "first claim")
	e.wantList(deliveryIDs(got), []string{"d"}, "first claim")
	got, err = e.s.ClaimLogoutDeliveries(e.ctx, now.Add(59*time.Second), time.Minute, 1)
	e.must(err, "claim within the lease")
	e.wantList(deliveryIDs(got), nil, "claim within the lease")
	got, err = e.s.ClaimLogoutDeliveries(e.ctx, now.Add(time.Minute), time.Minute, 1)
	e.must(err, "claim after the lease")
	e.wantList(deliveryIDs(got), []string{"d"}, "claim after the lease")
	if len(got) == 1 {
		e.wantEqual(got[0].Attempts, 2, "Attempts after the lease ran out")
	}
}

// Many instances claiming at once: every delivery goes to exactly one.
func testLogoutDeliveryConcurrentClaims(e *env) {
	e.createClient("c")
	now := e.clock.Now()
	var ds []*storage.LogoutDelivery
	for i := range 40 {
		ds = append(ds, &storage.LogoutDelivery{ID: fmt.Sprintf("d%02d", i), ClientID: "c", Subject: "u"})
	}
	e.must(e.s.EnqueueLogoutDeliveries(e.ctx, ds), "Enqueue")
	var mu sync.Mutex
	var claimed []string
	errs := parallel(8, func(int) error {
		for {
			got, err := e.s.ClaimLogoutDeliveries(e.ctx, now, time.Minute, 3)
			if err != nil {
				return err
			}
			if len(got) == 0 {
				return nil
			}
			mu.Lock()
			claimed = append(claimed, deliveryIDs(got)...)
			mu.Unlock()
		}
	})
	for _, err := range errs {
		// SQLite may answer a writer queueing too long as busy; that is
		// a retry, never a double claim.
		if err != nil && !errors.Is(err, storage.ErrUnavailable) {
			e.t.Errorf("concurrent claim: %v", err)
		}
	}
	slices.Sort(claimed)
	for i := 1; i < len(claimed); i++ {
		if claimed[i] == claimed[i-1] {
			e.t.Errorf("delivery %s was claimed twice", claimed[i])
		}
	}
	if len(claimed) != len(ds) && !slices.ContainsFunc(errs, func(err error) bool { return err != nil }) {
		e.t.Errorf("%d deliveries claimed, want %d", len(claimed), len(ds))
	}
}

func testLogoutDeliveriesCascade(e *env) {
	e.createClient("c1")
	e.createClient("c2")
	e.must(e.s.EnqueueLogoutDeliveries(e.ctx, []*storage.LogoutDelivery{
		{ID: "d1", ClientID: "c1", Subject: "u"}, {ID: "d2", ClientID: "c2", Subject: "u"},
	}), "Enqueue")
	e.must(e.s.DeleteClient(e.ctx, "c1"), "DeleteClient")
	got, err := e.s.ClaimLogoutDeliveries(e.ctx, e.clock.Now(), time.Minute, 10)
	e.must(err, "ClaimLogoutDeliveries")
	e.wantList(deliveryIDs(got), []string{"d2"}, "deliveries after a client was deleted")
}

// Ending a session returns its clients to exactly one of the callers
// ending it at once; the others, and any later caller, get ErrNotFound.
func testEndLoginSession(e *env) {
	e.createUser("u")
	e.createClient("c1")
	e.createClient("c2")
	now := e.clock.Now()
	e.createSession("ls", "u", "sid", now)
	for _, c := range []string{"c1", "c2"} {
		e.must(e.s.AddLoginSessionClient(e.ctx, "ls", c, now), "AddLoginSessionClient "+c)
	}
	var mu sync.Mutex
	var got [][]string
	errs := parallel(6, func(int) error {
		ids, err := e.s.EndLoginSession(e.ctx, "ls")
		if err == nil {
			mu.Lock()
			got = append(got, ids)
			mu.Unlock()
		}
		return err
	})
	e.wantOneWinner(errs, "concurrent EndLoginSession", storage.ErrNotFound)
	if len(got) == 1 {
		e.wantList(got[0], []string{"c1", "c2"}, "clients of the ended session")
	}
	_, err := e.s.LoginSession(e.ctx, "ls")
	e.wantNotFound(err, "LoginSession after EndLoginSession")
	_, err = e.s.EndLoginSession(e.ctx, "ls")
	e.wantNotFound(err, "EndLoginSession again")
	_, err = e.s.EndLoginSession(e.ctx, "ghost")
	e.wantNotFound(err, "EndLoginSession of an unknown session")

	// A session without clients ends too.
	e.createSession("bare", "u", "sid-bare", now)
	ids, err := e.s.EndLoginSession(e.ctx, "bare")
	e.must(err, "EndLoginSession without clients")
	e.wantList(ids, nil, "clients of a session without any")
}
