package conformance

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gatehouse-dev/gatehouse/storage"
)

// The audit trail: appending (observed through the conflicts a later
// append meets, and through AuditEvents), querying newest first with
// filters and a keyset cursor, and deleting old events.

func auditTests() []test {
	return []test{
		{"AppendBatch", testAuditAppendBatch},
		{"AppendNothing", testAuditAppendNothing},
		{"DuplicateID", testAuditDuplicateID},
		{"AppendJoinsTransaction", testAuditInTx},
		{"ReadBack", testAuditReadBack},
		{"Filters", testAuditFilters},
		{"TypePrefix", testAuditTypePrefix},
		{"Paging", testAuditPaging},
		{"Limit", testAuditLimit},
		{"DeleteBefore", testAuditDeleteBefore},
	}
}

// NewAuditEvents returns n events with IDs prefix0, prefix1, ..., one
// microsecond apart from start, with details that are awkward to store.
// Backends' own tests use it to read a batch back.
func NewAuditEvents(prefix string, n int, start time.Time) []*storage.AuditEvent {
	events := make([]*storage.AuditEvent, 0, n)
	for i := range n {
		ev := &storage.AuditEvent{
			ID:       fmt.Sprintf("%s%d", prefix, i),
			Time:     start.Add(time.Duration(i) * time.Microsecond),
			Type:     "apikey.used",
			Actor:    fmt.Sprintf("client:c%d", i%3),
			Subject:  fmt.Sprintf("apikey:ak-%d", i),
			ClientID: fmt.Sprintf("c%d", i%3),
			IP:       "2001:db8::1",
		}
		switch i % 4 {
		case 0:
			ev.Details = map[string]string{
				"scope":  "read:things write:things",
				"reason": `O'Brien \ "quoted" ünïcödé 🔑 '); DROP TABLE audit_events; --`,
				"empty":  "",
				"n":      fmt.Sprint(i),
			}
		case 1:
			ev.Details = map[string]string{}
		case 2:
			ev.Type, ev.Actor, ev.IP = "apikey.use_failed", "anonymous", "192.0.2.7"
		}
		events = append(events, ev)
	}
	return events
}

func testAuditAppendBatch(e *env) {
	now := e.clock.Now()
	e.must(e.s.AppendAuditEvents(e.ctx, NewAuditEvents("ev-", 100, now)), "AppendAuditEvents of 100 events")
	// The IDs are taken now: any of them conflicts.
	for _, i := range []int{0, 1, 57, 99} {
		dup := NewAuditEvents("ev-", 100, now)[i]
		e.wantIs(e.s.AppendAuditEvents(e.ctx, []*storage.AuditEvent{dup}), fmt.Sprintf("appending ev-%d again", i), storage.ErrConflict)
	}
	// A second batch, and an event without a time.
	e.must(e.s.AppendAuditEvents(e.ctx, NewAuditEvents("more-", 3, now.Add(time.Minute))), "AppendAuditEvents of another batch")
	untimed := &storage.AuditEvent{ID: "untimed", Type: "operator.login", Actor: "operator"}
	e.must(e.s.AppendAuditEvents(e.ctx, []*storage.AuditEvent{untimed}), "AppendAuditEvents without a time")
}

func testAuditAppendNothing(e *env) {
	e.must(e.s.AppendAuditEvents(e.ctx, nil), "AppendAuditEvents(nil)")
	e.must(e.s.AppendAuditEvents(e.ctx, []*storage.AuditEvent{}), "AppendAuditEvents(empty)")
	err := e.s.InTx(e.ctx, func(ctx context.Context) error {
		return e.s.AppendAuditEvents(ctx, nil)
	})
	e.must(err, "AppendAuditEvents(nil) in a transaction")
}

// A duplicate ID is ErrConflict, and the batch it came in is stored whole
// or not at all (one statement).
func testAuditDuplicateID(e *env) {
	now := e.clock.Now()
	ev := func(id string) *storage.AuditEvent {
		return &storage.AuditEvent{ID: id, Time: now, Type: "test.event", Details: map[string]string{"id": id}}
	}
	e.must(e.s.AppendAuditEvents(e.ctx, []*storage.AuditEvent{ev("a")}), "AppendAuditEvents a")
	e.wantIs(e.s.AppendAuditEvents(e.ctx, []*storage.AuditEvent{ev("a")}), "appending a again", storage.ErrConflict)

	// With a stored ID in the batch, none of it is stored.
	e.wantIs(e.s.AppendAuditEvents(e.ctx, []*storage.AuditEvent{ev("b"), ev("c"), ev("a")}),
		"a batch with a stored ID", storage.ErrConflict)
	// Nor with an ID repeated within the batch.
	e.wantIs(e.s.AppendAuditEvents(e.ctx, []*storage.AuditEvent{ev("d"), ev("d")}),
		"a batch repeating an ID", storage.ErrConflict)
	// b, c and d are free: those batches stored nothing.
	e.must(e.s.AppendAuditEvents(e.ctx, []*storage.AuditEvent{ev("b"), ev("c"), ev("d")}), "AppendAuditEvents b, c, d")
}

// AppendAuditEvents joins the transaction in ctx: rolled back with it.
func testAuditInTx(e *env) {
	events := NewAuditEvents("tx-", 5, e.clock.Now())
	abort := errors.New("abort")
	err := e.s.InTx(e.ctx, func(ctx context.Context) error {
		if err := e.s.AppendAuditEvents(ctx, events); err != nil {
			return err
		}
		return abort
	})
	if !errors.Is(err, abort) {
		e.t.Fatalf("InTx = %v, want the abort error", err)
	}
	e.must(e.s.AppendAuditEvents(e.ctx, events), "AppendAuditEvents after the rollback")
}

// auditIDs queries and returns the IDs in the order given.
func (e *env) auditIDs(q storage.AuditQuery) []string {
	e.t.Helper()
	evs, err := e.s.AuditEvents(e.ctx, q)
	e.must(err, fmt.Sprintf("AuditEvents(%+v)", q))
	ids := make([]string, 0, len(evs))
	for _, ev := range evs {
		ids = append(ids, ev.ID)
	}
	return ids
}

// Every field comes back as stored, details included, newest first.
func testAuditReadBack(e *env) {
	start := e.clock.Now()
	events := NewAuditEvents("ev-", 8, start)
	e.must(e.s.AppendAuditEvents(e.ctx, events), "AppendAuditEvents")
	got, err := e.s.AuditEvents(e.ctx, storage.AuditQuery{})
	e.must(err, "AuditEvents")
	if len(got) != len(events) {
		e.t.Fatalf("AuditEvents returned %d events, want %d", len(got), len(events))
	}
	for i, ev := range got {
		want := NewAuditEvents("ev-", 8, start)[len(events)-1-i]
		if len(want.Details) == 0 {
			want.Details = nil
		}
		if len(ev.Details) == 0 {
			ev.Details = nil
		}
		e.wantTime(ev.Time, want.Time, "event "+want.ID+" time")
		ev.Time, want.Time = time.Time{}, time.Time{}
		e.wantEqual(ev, want, fmt.Sprintf("event %d (newest first)", i))
	}
	// Nothing matches: an empty result, not an error.
	if ids := e.auditIDs(storage.AuditQuery{Subject: "nobody"}); len(ids) != 0 {
		e.t.Fatalf("query for an unknown subject = %q", ids)
	}
}

func testAuditFilters(e *env) {
	t0 := e.clock.Now()
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	e.must(e.s.AppendAuditEvents(e.ctx, []*storage.AuditEvent{
		{ID: "a", Time: at(0), Type: "login.failed", Actor: "anonymous", Subject: "user:u1", IP: "192.0.2.1"},
		{ID: "b", Time: at(time.Minute), Type: "login.succeeded", Actor: "user:u1", Subject: "user:u1", ClientID: "web"},
		{ID: "c", Time: at(2 * time.Minute), Type: "consent.given", Actor: "user:u1", Subject: "user:u1", ClientID: "web",
			Details: map[string]string{"scopes": "openid email"}},
		{ID: "d", Time: at(3 * time.Minute), Type: "client.updated", Actor: "operator", Subject: "client:web", ClientID: "web"},
		{ID: "e", Time: at(4 * time.Minute), Type: "login.failed", Actor: "anonymous", Subject: "user:u2"},
		{ID: "f", Time: at(5 * time.Minute), Type: "token.issued", Actor: "client:api", Subject: "client:api", ClientID: "api"},
	}), "AppendAuditEvents")

	for _, c := range []struct {
		q    storage.AuditQuery
		want []string
	}{
		{storage.AuditQuery{}, []string{"f", "e", "d", "c", "b", "a"}},
		{storage.AuditQuery{Since: at(2 * time.Minute)}, []string{"f", "e", "d", "c"}},
		{storage.AuditQuery{Until: at(2 * time.Minute)}, []string{"b", "a"}},
		{storage.AuditQuery{Since: at(time.Minute), Until: at(4 * time.Minute)}, []string{"d", "c", "b"}},
		{storage.AuditQuery{Since: at(time.Minute + time.Second), Until: at(time.Minute + 2*time.Second)}, nil},
		{storage.AuditQuery{Type: "login.failed"}, []string{"e", "a"}},
		{storage.AuditQuery{Type: "login."}, []string{"e", "b", "a"}},
		{storage.AuditQuery{Type: "login"}, nil},
		{storage.AuditQuery{Type: "consent.given"}, []string{"c"}},
		{storage.AuditQuery{Subject: "user:u1"}, []string{"c", "b", "a"}},
		{storage.AuditQuery{Subject: "user:u1", Type: "login."}, []string{"b", "a"}},
		{storage.AuditQuery{Actor: "anonymous"}, []string{"e", "a"}},
		{storage.AuditQuery{ClientID: "web"}, []string{"d", "c", "b"}},
		{storage.AuditQuery{ClientID: "web", Since: at(3 * time.Minute)}, []string{"d"}},
		{storage.AuditQuery{Subject: "user:u1", ClientID: "web", Type: "consent.", Actor: "user:u1", Since: at(0), Until: at(time.Hour)}, []string{"c"}},
		// Exact matches: no pattern or case folding.
		{storage.AuditQuery{Subject: "user:%"}, nil},
		{storage.AuditQuery{Subject: "USER:U1"}, nil},
		{storage.AuditQuery{ClientID: "WEB"}, nil},
	} {
		e.wantList(e.auditIDs(c.q), c.want, fmt.Sprintf("AuditEvents(%+v)", c.q))
	}
}

// A type prefix matches what starts with it, character for character:
// "_" and "%" are not wildcards and case matters.
func testAuditTypePrefix(e *env) {
	now := e.clock.Now()
	var evs []*storage.AuditEvent
	for i, typ := range []string{"a_b.x", "axb.y", "a_b.", "a_bc.z", "A_B.q", "a%b.w", "a_b.x.y", "ü.x", "ü.y.z", "üx.y"} {
		evs = append(evs, &storage.AuditEvent{ID: typ, Time: now.Add(time.Duration(i) * time.Second), Type: typ})
	}
	e.must(e.s.AppendAuditEvents(e.ctx, evs), "AppendAuditEvents")
	e.wantList(e.auditIDs(storage.AuditQuery{Type: "a_b."}), []string{"a_b.x.y", "a_b.", "a_b.x"}, `type prefix "a_b."`)
	e.wantList(e.auditIDs(storage.AuditQuery{Type: "a%b."}), []string{"a%b.w"}, `type prefix "a%b."`)
	e.wantList(e.auditIDs(storage.AuditQuery{Type: "a_b.x."}), []string{"a_b.x.y"}, `type prefix "a_b.x."`)
	e.wantList(e.auditIDs(storage.AuditQuery{Type: "a_b"}), nil, `exact type "a_b"`)
	// Characters, not bytes.
	e.wantList(e.auditIDs(storage.AuditQuery{Type: "ü."}), []string{"ü.y.z", "ü.x"}, `type prefix "ü."`)
}

// Paging newest first by (time, id): events of one instant are ordered by
// ID, a cursor continues where the previous page ended, also when the
// event it names has been deleted, and new events do not shift pages.
func testAuditPaging(e *env) {
	t0 := e.clock.Now()
	var evs []*storage.AuditEvent
	for i, it := range []struct {
		id string
		d  time.Duration
	}{
		{"p3", 0}, {"p1", time.Second}, {"p7", 2 * time.Second}, {"p0", time.Second},
		{"p5", -5 * time.Second}, {"p2", time.Second}, {"p6", 1500 * time.Millisecond},
		{"p4", 1500*time.Millisecond + time.Microsecond},
	} {
		evs = append(evs, &storage.AuditEvent{ID: it.id, Time: t0.Add(it.d), Type: "test.paging", Subject: fmt.Sprint(i % 2)})
	}
	e.must(e.s.AppendAuditEvents(e.ctx, evs), "AppendAuditEvents")
	want := []string{"p7", "p4", "p6", "p2", "p1", "p0", "p3", "p5"}
	e.wantList(e.auditIDs(storage.AuditQuery{}), want, "all events")

	walk := func(q storage.AuditQuery) []string {
		var all []string
		for range 20 {
			page, err := e.s.AuditEvents(e.ctx, q)
			e.must(err, fmt.Sprintf("AuditEvents(%+v)", q))
			if len(page) > q.Limit {
				e.t.Fatalf("a page of %d events with limit %d", len(page), q.Limit)
			}
			if len(page) == 0 {
				return all
			}
			for _, ev := range page {
				all = append(all, ev.ID)
			}
			q.Before = storage.AuditCursor(page[len(page)-1])
		}
		e.t.Fatal("paging did not end after 20 pages")
		return nil
	}
	for _, limit := range []int{1, 2, 3, 7, 8} {
		e.wantList(walk(storage.AuditQuery{Limit: limit}), want, fmt.Sprintf("paged by %d", limit))
	}
	// Filters and the cursor together.
	e.wantList(walk(storage.AuditQuery{Limit: 2, Since: t0}), want[:len(want)-1], "paged by 2 since t0")

	byID := map[string]*storage.AuditEvent{}
	for _, ev := range evs {
		byID[ev.ID] = ev
	}
	for i, id := range want {
		e.wantList(e.auditIDs(storage.AuditQuery{Before: storage.AuditCursor(byID[id])}), want[i+1:],
			"events before "+id)
	}

	// A newer event does not shift a page; the named event's deletion
	// does not break its cursor.
	cursor := storage.AuditCursor(byID["p6"])
	e.must(e.s.AppendAuditEvents(e.ctx, []*storage.AuditEvent{{ID: "p8", Time: t0.Add(time.Hour), Type: "test.paging"}}), "append p8")
	n, err := e.s.DeleteAuditEventsBefore(e.ctx, t0.Add(1500*time.Millisecond+time.Microsecond), 100)
	e.must(err, "DeleteAuditEventsBefore")
	if n != 6 {
		e.t.Fatalf("deleted %d events, want 6", n)
	}
	e.wantList(e.auditIDs(storage.AuditQuery{Before: cursor}), nil, "events before the deleted p6")
	e.wantList(e.auditIDs(storage.AuditQuery{Before: storage.AuditCursor(&storage.AuditEvent{ID: "p4", Time: t0.Add(2 * time.Second)})}),
		[]string{"p4"}, "events before a made-up cursor")

	for _, bad := range []string{"nope", "!!", storage.AuditCursor(&storage.AuditEvent{Time: t0})[:3]} {
		_, err := e.s.AuditEvents(e.ctx, storage.AuditQuery{Before: bad})
		e.wantIs(err, fmt.Sprintf("AuditEvents with cursor %q", bad), storage.ErrInvalidAuditCursor)
	}
}

// Limit: DefaultAuditLimit when unset, at most MaxAuditLimit.
func testAuditLimit(e *env) {
	n := storage.MaxAuditLimit + 5
	e.must(e.s.AppendAuditEvents(e.ctx, NewAuditEvents("l-", n, e.clock.Now())), "AppendAuditEvents")
	for _, c := range []struct{ limit, want int }{
		{0, storage.DefaultAuditLimit}, {-1, storage.DefaultAuditLimit}, {1, 1}, {250, 250},
		{storage.MaxAuditLimit, storage.MaxAuditLimit}, {storage.MaxAuditLimit + 1, storage.MaxAuditLimit}, {1 << 30, storage.MaxAuditLimit},
	} {
		ids := e.auditIDs(storage.AuditQuery{Limit: c.limit})
		if len(ids) != c.want {
			e.t.Errorf("limit %d: %d events, want %d", c.limit, len(ids), c.want)
		}
		// Newest first: l-<n-1>, l-<n-2>, ...
		if len(ids) > 0 && ids[0] != fmt.Sprintf("l-%d", n-1) {
			e.t.Errorf("limit %d: first event %s, want the newest", c.limit, ids[0])
		}
	}
}

// DeleteAuditEventsBefore removes only older events, oldest first, at most
// batch per call, and joins the transaction in ctx.
func testAuditDeleteBefore(e *env) {
	t0 := e.clock.Now()
	n, err := e.s.DeleteAuditEventsBefore(e.ctx, t0, 10)
	e.must(err, "DeleteAuditEventsBefore on an empty trail")
	if n != 0 {
		e.t.Fatalf("deleted %d events from an empty trail", n)
	}
	var evs []*storage.AuditEvent
	for i := range 10 {
		evs = append(evs, &storage.AuditEvent{ID: fmt.Sprintf("d%d", i), Time: t0.Add(time.Duration(i) * time.Minute), Type: "test.delete"})
	}
	e.must(e.s.AppendAuditEvents(e.ctx, evs), "AppendAuditEvents")
	cutoff := t0.Add(7 * time.Minute) // d0..d6 are older; d7 is not

	// In a transaction that rolls back, nothing goes.
	abort := errors.New("abort")
	err = e.s.InTx(e.ctx, func(ctx context.Context) error {
		if _, err := e.s.DeleteAuditEventsBefore(ctx, cutoff, 100); err != nil {
			return err
		}
		return abort
	})
	if !errors.Is(err, abort) {
		e.t.Fatalf("InTx = %v, want the abort error", err)
	}
	e.wantList(e.auditIDs(storage.AuditQuery{Limit: 100}), []string{"d9", "d8", "d7", "d6", "d5", "d4", "d3", "d2", "d1", "d0"}, "after the rollback")

	var counts []int64
	for range 5 {
		n, err := e.s.DeleteAuditEventsBefore(e.ctx, cutoff, 3)
		e.must(err, "DeleteAuditEventsBefore")
		counts = append(counts, n)
		if n == 0 {
			break
		}
		if n == 3 {
			// Oldest first: what is left is a suffix.
			left := e.auditIDs(storage.AuditQuery{})
			if !slices.Contains(left, "d6") || slices.Contains(left, "d0") {
				e.t.Fatalf("after a batch: %q", left)
			}
		}
	}
	e.wantEqual(counts, []int64{3, 3, 1, 0}, "batch sizes")
	e.wantList(e.auditIDs(storage.AuditQuery{}), []string{"d9", "d8", "d7"}, "events left")

	// A batch <= 0 still deletes (a default size).
	n, err = e.s.DeleteAuditEventsBefore(e.ctx, t0.Add(time.Hour), 0)
	e.must(err, "DeleteAuditEventsBefore with batch 0")
	if n != 3 {
		e.t.Fatalf("batch 0 deleted %d, want 3", n)
	}
}
