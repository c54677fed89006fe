package audit_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/clocktest"
	"github.com/gatehouse-dev/gatehouse/internal/reqctx"
	"github.com/gatehouse-dev/gatehouse/provider/audit"
	"github.com/gatehouse-dev/gatehouse/storage"
)

func TestRecordLogsAtOnce(t *testing.T) {
	var logs logBuffer
	store := &fakeStore{}
	c := clocktest.New(testStart)
	r := audit.NewRecorder(audit.Options{
		Store: store, Now: c.Now,
		Logger: slog.New(reqctx.LogHandler(slog.NewJSONHandler(&logs, nil))),
	})
	ctx := reqctx.With(context.Background(), reqctx.Request{ID: "req-1"})
	details := map[string]string{"reason": "revoked", "endpoint": "/oauth2/token"}
	r.Record(ctx, audit.Event{
		Type: audit.APIKeyUseFailed, Actor: "anonymous", Subject: "key1", ClientID: "svc", IP: "192.0.2.1",
		Details: details,
	})
	details["reason"] = "changed by the caller afterwards"

	lines := logs.lines(t)
	if len(lines) != 1 {
		t.Fatalf("%d log lines, want 1", len(lines))
	}
	l := lines[0]
	for k, want := range map[string]any{
		"level": "INFO", "msg": "audit event", "audit": true, "type": "apikey.use_failed", "actor": "anonymous",
		"subject": "key1", "client_id": "svc", "ip": "192.0.2.1", "request_id": "req-1",
	} {
		if l[k] != want {
			t.Errorf("log %s = %v, want %v", k, l[k], want)
		}
	}
	if d, _ := l["details"].(map[string]any); d["reason"] != "revoked" || d["endpoint"] != "/oauth2/token" {
		t.Errorf("log details = %v", l["details"])
	}
	if id, _ := l["event_id"].(string); len(id) != 36 {
		t.Errorf("event_id %q is not a UUID", id)
	}
	if n := store.callCount(); n != 0 {
		t.Fatalf("Record wrote to the store itself (%d calls)", n)
	}

	// The queued event is the same one, with its own copy of the details.
	stop := running(t, r)
	stop()
	evs := store.events()
	if len(evs) != 1 {
		t.Fatalf("%d events stored", len(evs))
	}
	ev := evs[0]
	if ev.ID != l["event_id"] || !ev.Time.Equal(c.Now()) || ev.Type != audit.APIKeyUseFailed || ev.Actor != "anonymous" ||
		ev.Subject != "key1" || ev.ClientID != "svc" || ev.IP != "192.0.2.1" || ev.Details["reason"] != "revoked" {
		t.Fatalf("stored %+v", ev)
	}
}

func TestRecordCleansValues(t *testing.T) {
	var logs logBuffer
	store := &fakeStore{}
	r := audit.NewRecorder(audit.Options{Store: store, Logger: logs.logger()})
	long := strings.Repeat("x", 5000)
	r.Record(context.Background(), audit.Event{
		Type:     audit.APIKeyUseFailed,
		Actor:    "anonymous\x00",
		Subject:  "gth_ak_0123456789abcdefghijklmnopqrstuvwxyz",
		ClientID: "bad\xff\xfeutf8",
		IP:       long,
		Details: map[string]string{
			"presented": "Basic svc:gth_ak_abc",
			"token":     "a gth_at_token in a sentence",
			"length_ok": "the length_of gth_ things is fine",
		},
	})
	stop := running(t, r)
	stop()
	ev := store.events()[0]
	want := storage.AuditEvent{
		Actor: "anonymous\uFFFD", Subject: "[redacted]", ClientID: "bad\uFFFDutf8", IP: long[:1024],
		Details: map[string]string{
			"presented": "[redacted]", "token": "[redacted]", "length_ok": "the length_of gth_ things is fine",
		},
	}
	if ev.Actor != want.Actor || ev.Subject != want.Subject || ev.ClientID != want.ClientID || ev.IP != want.IP {
		t.Errorf("stored %q %q %q %d bytes", ev.Actor, ev.Subject, ev.ClientID, len(ev.IP))
	}
	for k, v := range want.Details {
		if ev.Details[k] != v {
			t.Errorf("details[%s] = %q, want %q", k, ev.Details[k], v)
		}
	}
	if strings.Contains(logs.buf.String(), "gth_ak_0") || strings.Contains(logs.buf.String(), "gth_at_") {
		t.Errorf("a secret reached the log: %s", logs.buf.String())
	}
}

func TestBatchesBySize(t *testing.T) {
	store := &fakeStore{}
	r := audit.NewRecorder(audit.Options{Store: store, BatchSize: 3, FlushInterval: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	stop := running(t, r)
	record(r, 7)
	waitFor(t, "two full batches", func() bool { return len(store.sizes()) == 2 })
	if got := store.sizes(); !slices.Equal(got, []int{3, 3}) {
		t.Fatalf("batches %v, want [3 3] before the interval", got)
	}
	stop() // the seventh waits for the interval, or for shutdown
	if got := store.sizes(); !slices.Equal(got, []int{3, 3, 1}) {
		t.Fatalf("batches %v, want [3 3 1]", got)
	}
	var subjects []string
	for _, ev := range store.events() {
		subjects = append(subjects, ev.Subject)
	}
	if got := strings.Join(subjects, ""); got != "abcdefg" {
		t.Fatalf("events stored in order %q", got)
	}
}

func TestBatchesByInterval(t *testing.T) {
	store := &fakeStore{}
	r := audit.NewRecorder(audit.Options{Store: store, BatchSize: 100, FlushInterval: 20 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	running(t, r)
	record(r, 2)
	waitFor(t, "a batch after the interval", func() bool { return len(store.events()) == 2 })
	record(r, 1)
	waitFor(t, "a second batch", func() bool { return len(store.events()) == 3 })
	if got := store.sizes(); !slices.Equal(got, []int{2, 1}) {
		t.Fatalf("batches %v", got)
	}
}

func TestFullQueueDropsAndWarnsRarely(t *testing.T) {
	var logs logBuffer
	store := &fakeStore{}
	c := clocktest.New(testStart)
	r := audit.NewRecorder(audit.Options{Store: store, QueueSize: 2, Now: c.Now, Logger: logs.logger()})
	// Run is not started: nothing empties the queue, and Record must not
	// block.
	record(r, 5)
	if got := audit.Dropped(r); got != 3 {
		t.Fatalf("Dropped() = %d, want 3", got)
	}
	const warning = "audit events dropped from the database trail (they are still logged)"
	if n := logs.count(t, warning); n != 1 {
		t.Fatalf("%d warnings for 3 drops, want 1", n)
	}
	if n := logs.count(t, "audit event"); n != 5 {
		t.Fatalf("%d events logged, want all 5", n)
	}
	c.Advance(9 * time.Second)
	record(r, 1)
	if n := logs.count(t, warning); n != 1 {
		t.Fatalf("warned again within 10s")
	}
	c.Advance(time.Second)
	record(r, 1)
	if n := logs.count(t, warning); n != 2 {
		t.Fatalf("%d warnings after 10s, want 2", n)
	}
	if got := audit.Dropped(r); got != 5 {
		t.Fatalf("Dropped() = %d, want 5", got)
	}
	stop := running(t, r)
	stop()
	if got := len(store.events()); got != 2 {
		t.Fatalf("%d events stored, want the 2 queued", got)
	}
}

func TestRetriesThenWrites(t *testing.T) {
	var logs logBuffer
	store := &fakeStore{fail: func(call int) error {
		if call <= 2 {
			return errDown
		}
		return nil
	}}
	r := audit.NewRecorder(audit.Options{Store: store, BatchSize: 4, Logger: logs.logger()})
	audit.SetTimings(r, time.Second, time.Second, time.Millisecond)
	running(t, r)
	record(r, 4)
	waitFor(t, "the batch written on the third attempt", func() bool { return len(store.events()) == 4 })
	if audit.Dropped(r) != 0 || store.callCount() != 3 {
		t.Fatalf("dropped %d, %d calls", audit.Dropped(r), store.callCount())
	}
	if n := logs.count(t, "writing audit events failed; retrying"); n != 2 {
		t.Fatalf("%d retry warnings, want 2", n)
	}
}

func TestGivesUpOnABatchAndGoesOn(t *testing.T) {
	var logs logBuffer
	store := &fakeStore{fail: func(call int) error {
		if call <= 3 {
			return errDown
		}
		return nil
	}}
	r := audit.NewRecorder(audit.Options{Store: store, BatchSize: 2, Logger: logs.logger()})
	audit.SetTimings(r, time.Second, time.Second, time.Millisecond)
	running(t, r)
	record(r, 2)
	waitFor(t, "the first batch dropped", func() bool { return audit.Dropped(r) == 2 })
	if n := logs.count(t, "writing audit events failed; dropped them (they are still in the log)"); n != 1 {
		t.Fatalf("%d errors logged, want 1", n)
	}
	record(r, 2)
	waitFor(t, "the next batch written", func() bool { return len(store.events()) == 2 })
	if store.callCount() != 4 {
		t.Fatalf("%d calls, want 3 attempts + 1", store.callCount())
	}
}

func TestConflictAfterAFailedAttemptMeansWritten(t *testing.T) {
	// The first attempt commits but its answer is lost (a timeout after
	// COMMIT); the retry then meets its own IDs.
	store := &fakeStore{}
	store.fail = func(call int) error {
		if call == 1 {
			return fmt.Errorf("commit answer lost: %w", storage.ErrUnavailable)
		}
		return fmt.Errorf("append audit events: %w", storage.ErrConflict)
	}
	r := audit.NewRecorder(audit.Options{Store: store, BatchSize: 1, Logger: slog.New(slog.DiscardHandler)})
	audit.SetTimings(r, time.Second, time.Second, time.Millisecond)
	running(t, r)
	record(r, 1)
	waitFor(t, "two attempts", func() bool { return store.callCount() == 2 })
	record(r, 1) // a conflict on a first attempt is a real duplicate: dropped
	waitFor(t, "the duplicate dropped", func() bool { return audit.Dropped(r) == 1 })
	if store.callCount() != 3 {
		t.Fatalf("%d calls: a first-attempt conflict was retried", store.callCount())
	}
}

// TestShutdownAfterACommittedWrite: Run's context ends while a batch is
// being written and the write had already committed; the final flush
// meets the batch's own IDs and must count it as written, not dropped.
func TestShutdownAfterACommittedWrite(t *testing.T) {
	store := &fakeStore{commitThenBlock: true}
	var logs logBuffer
	r := audit.NewRecorder(audit.Options{Store: store, BatchSize: 2, Logger: logs.logger()})
	audit.SetTimings(r, time.Second, 5*time.Second, time.Millisecond)
	stop := running(t, r)
	record(r, 2)
	waitFor(t, "the first write", func() bool { return store.callCount() == 1 })
	stop()
	if audit.Dropped(r) != 0 || store.callCount() != 2 || len(store.events()) != 2 {
		t.Fatalf("dropped %d, %d calls, %d events stored: %s", audit.Dropped(r), store.callCount(), len(store.events()), logs.buf.String())
	}
}

func TestShutdownFlushesEverything(t *testing.T) {
	store := &fakeStore{}
	r := audit.NewRecorder(audit.Options{Store: store, BatchSize: 10, FlushInterval: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	record(r, 25)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r.Run(ctx) // returns after the final flush
	if got := store.sizes(); !slices.Equal(got, []int{10, 10, 5}) {
		t.Fatalf("batches %v, want [10 10 5]", got)
	}
	// Later events are dropped and counted, not stranded in the queue.
	record(r, 1)
	if audit.Dropped(r) != 1 {
		t.Fatalf("Dropped() = %d after Run stopped, want 1", audit.Dropped(r))
	}
}

func TestShutdownIsBounded(t *testing.T) {
	var logs logBuffer
	store := &fakeStore{block: true}
	r := audit.NewRecorder(audit.Options{Store: store, BatchSize: 5, FlushInterval: time.Hour, Logger: logs.logger()})
	audit.SetTimings(r, 50*time.Millisecond, time.Minute, time.Millisecond)
	record(r, 12)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	r.Run(ctx)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("shutdown took %v with a hung database", d)
	}
	if audit.Dropped(r) != 12 {
		t.Fatalf("Dropped() = %d, want 12", audit.Dropped(r))
	}
	if n := logs.count(t, "audit events not written before shutdown; dropped"); n != 1 {
		t.Fatalf("%d shutdown errors logged", n)
	}
}

func TestNilRecorder(t *testing.T) {
	var r *audit.Recorder
	r.Record(context.Background(), audit.Event{Type: audit.APIKeyCreated})
	if audit.Dropped(r) != 0 {
		t.Fatal("nil recorder dropped events")
	}
	done := make(chan struct{})
	go func() { r.Run(context.Background()); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run of a nil recorder blocks")
	}
}

func TestNewRecorderNeedsAStore(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	audit.NewRecorder(audit.Options{})
}

// TestRecordDoesNotWaitForTheDatabase: with the database hung, recording
// stays fast (the queue absorbs, then drops).
func TestRecordDoesNotWaitForTheDatabase(t *testing.T) {
	store := &fakeStore{block: true}
	r := audit.NewRecorder(audit.Options{Store: store, QueueSize: 8, BatchSize: 2, Logger: slog.New(slog.DiscardHandler)})
	audit.SetTimings(r, 10*time.Millisecond, time.Hour, time.Millisecond)
	running(t, r)
	done := make(chan struct{})
	go func() { record(r, 1000); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Record blocked on a hung database")
	}
	if audit.Dropped(r) < 1000-8-2 {
		t.Fatalf("Dropped() = %d", audit.Dropped(r))
	}
}
