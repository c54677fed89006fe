package keys

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/clocktest"
	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore/bunstoretest"
)

// eventLog collects what OnEvent is told.
type eventLog struct {
	mu     sync.Mutex
	events []Event
}

func (l *eventLog) add(_ context.Context, e Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

// take returns the events so far and forgets them.
func (l *eventLog) take() []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.events
	l.events = nil
	return out
}

// TestOnEvent: every change the manager makes to the stored keys is
// reported once — creation at first start and by a rotation, promotion,
// removal of a retired key, re-sealing — and nothing is reported when
// nothing changed.
func TestOnEvent(t *testing.T) {
	ctx := context.Background()
	store := bunstoretest.Open(t, "sqlite", bunstore.Options{})
	clk := clocktest.New(testStart)
	var log eventLog
	opts := scheduleOptions(t, store, clk)
	opts.OnEvent = log.add
	m, err := New(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	rs0, es0 := mustKID(t, m, RS256), mustKID(t, m, ES256)
	want := []Event{
		{Kind: EventCreated, KID: rs0, Algorithm: RS256, State: storage.KeyStateCurrent},
		{Kind: EventCreated, KID: es0, Algorithm: ES256, State: storage.KeyStateCurrent},
	}
	if got := log.take(); !slices.Equal(got, want) {
		t.Fatalf("first start: %+v, want %+v", got, want)
	}

	// A second instance on the same keys creates nothing.
	if _, err := New(ctx, opts); err != nil {
		t.Fatal(err)
	}
	if got := log.take(); len(got) != 0 {
		t.Fatalf("second start reported %+v", got)
	}

	// Rotation by hand: created (next), then promoted at once.
	res, err := m.Rotate(ctx, RS256, true)
	if err != nil {
		t.Fatal(err)
	}
	rs1 := res.CurrentKID
	want = []Event{
		{Kind: EventCreated, KID: rs1, Algorithm: RS256, State: storage.KeyStateNext},
		{Kind: EventRotated, KID: rs1, Algorithm: RS256, RetiredKID: rs0},
	}
	if got := log.take(); !slices.Equal(got, want) {
		t.Fatalf("rotate: %+v, want %+v", got, want)
	}

	// Maintain removes the retired key once its retention has passed.
	clk.Advance(testRetention)
	if err := m.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	if got := log.take(); !slices.Contains(got, Event{Kind: EventDeleted, KID: rs0, Algorithm: RS256}) {
		t.Fatalf("maintain after the retention: %+v", got)
	}

	// Re-sealing reports each key it re-sealed.
	ring, err := secret.NewKeyring("keys-test-new-secret-keys-test-new-secret-01", []string{testSecret})
	if err != nil {
		t.Fatal(err)
	}
	opts.Keyring = ring
	m2, err := New(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	log.take()
	n, err := m2.Reencrypt(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := log.take()
	if len(got) != n || n != 2 {
		t.Fatalf("re-sealed %d keys, events %+v", n, got)
	}
	for _, e := range got {
		if e.Kind != EventResealed || (e.KID != rs1 && e.KID != es0) || e.Algorithm == "" {
			t.Fatalf("reseal event %+v", e)
		}
	}
}
