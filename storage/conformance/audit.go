package conformance

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/storage"
)

// The audit trail. The contract has no way to read it back yet, so these
// tests observe what a batch stored through the conflicts a later append
// meets; backends read the rows back in their own tests.

func auditTests() []test {
	return []test{
		{"AppendBatch", testAuditAppendBatch},
		{"AppendNothing", testAuditAppendNothing},
		{"DuplicateID", testAuditDuplicateID},
		{"AppendJoinsTransaction", testAuditInTx},
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
