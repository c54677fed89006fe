package admin

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/providertest"
	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage"
)

func TestParseAuditTime(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"1h":                        now.Add(-time.Hour),
		"90m":                       now.Add(-90 * time.Minute),
		" 7d ":                      now.Add(-7 * 24 * time.Hour),
		"0s":                        now,
		"2026-11-27T10:00:00Z":      time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC),
		"2026-11-27T11:00:00+01:00": time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC),
		"2026-11-01":                time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
	} {
		got, err := ParseAuditTime(in, now)
		if err != nil || !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("ParseAuditTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "yesterday", "-1h", "1x", "-3d", "2026-13-01", "99999999999d", string(make([]byte, 100))} {
		if got, err := ParseAuditTime(in, now); err == nil {
			t.Errorf("ParseAuditTime(%q) = %v, want an error", in, got)
		}
	}
}

func TestCheckAuditQuery(t *testing.T) {
	now := time.Now()
	for _, q := range []storage.AuditQuery{
		{}, {Type: "login."}, {Type: "login.failed", Subject: "user:x", Actor: "operator", ClientID: "c", Limit: storage.MaxAuditLimit},
		{Since: now.Add(-time.Hour), Until: now}, {Before: storage.AuditCursor(&storage.AuditEvent{ID: "x", Time: now})},
	} {
		if err := CheckAuditQuery(q); err != nil {
			t.Errorf("CheckAuditQuery(%+v) = %v", q, err)
		}
	}
	for field, q := range map[string]storage.AuditQuery{
		"until":     {Since: now, Until: now},
		"limit":     {Limit: storage.MaxAuditLimit + 1},
		"before":    {Before: "nope"},
		"type":      {Type: "login\n"},
		"subject":   {Subject: string(make([]byte, 201))},
		"client_id": {ClientID: "\xff"},
		"actor":     {Actor: "a\x00"},
	} {
		if err := CheckAuditQuery(q); !isValidation(err, field) {
			t.Errorf("CheckAuditQuery with a bad %s = %v", field, err)
		}
	}
}

// fakeAuditReader serves a fixed trail, newest first, as storage does.
type fakeAuditReader struct {
	events []*storage.AuditEvent // newest first
	calls  int
}

func (f *fakeAuditReader) AuditEvents(_ context.Context, q storage.AuditQuery) ([]*storage.AuditEvent, error) {
	f.calls++
	start := 0
	if q.Before != "" {
		at, id, err := storage.ParseAuditCursor(q.Before)
		if err != nil {
			return nil, err
		}
		for start < len(f.events) && !(f.events[start].Time.Before(at) || (f.events[start].Time.Equal(at) && f.events[start].ID < id)) {
			start++
		}
	}
	limit := min(max(q.Limit, 1), storage.MaxAuditLimit)
	return f.events[start:min(start+limit, len(f.events))], nil
}

func (f *fakeAuditReader) DeleteAuditEventsBefore(context.Context, time.Time, int) (int64, error) {
	return 0, nil
}

func newFakeTrail(n int) *fakeAuditReader {
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	f := &fakeAuditReader{}
	for i := n - 1; i >= 0; i-- {
		f.events = append(f.events, &storage.AuditEvent{ID: fmt.Sprintf("e%05d", i), Time: t0.Add(time.Duration(i) * time.Second)})
	}
	return f
}

// QueryAuditEvents sets next exactly when more events follow, also for a
// page of the largest size (where it cannot ask the storage for one more).
func TestQueryAuditEventsNext(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		trail, limit, wantLen int
		wantNext              bool
	}{
		{0, 0, 0, false},
		{5, 0, 5, false},
		{storage.DefaultAuditLimit, 0, storage.DefaultAuditLimit, false},
		{storage.DefaultAuditLimit + 1, 0, storage.DefaultAuditLimit, true},
		{3, 3, 3, false},
		{4, 3, 3, true},
		{storage.MaxAuditLimit, storage.MaxAuditLimit, storage.MaxAuditLimit, false},
		{storage.MaxAuditLimit + 1, storage.MaxAuditLimit, storage.MaxAuditLimit, true},
	} {
		f := newFakeTrail(tc.trail)
		events, next, err := QueryAuditEvents(ctx, f, storage.AuditQuery{Limit: tc.limit})
		if err != nil || len(events) != tc.wantLen || (next != "") != tc.wantNext {
			t.Errorf("trail %d, limit %d: %d events, next %q, %v", tc.trail, tc.limit, len(events), next, err)
		}
	}
	// Walking with the cursors visits every event once, in order.
	f := newFakeTrail(2*storage.MaxAuditLimit + 3)
	var walked []string
	q := storage.AuditQuery{Limit: storage.MaxAuditLimit}
	for range 10 {
		events, next, err := QueryAuditEvents(ctx, f, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range events {
			walked = append(walked, ev.ID)
		}
		if next == "" {
			break
		}
		q.Before = next
	}
	var want []string
	for _, ev := range f.events {
		want = append(want, ev.ID)
	}
	if !slices.Equal(walked, want) {
		t.Fatalf("walked %d events, want %d", len(walked), len(want))
	}
	if _, _, err := QueryAuditEvents(ctx, f, storage.AuditQuery{Before: "nope"}); !isValidation(err, "before") {
		t.Fatalf("bad cursor: %v", err)
	}
}

func TestClientChanges(t *testing.T) {
	now := time.Now()
	c, _, err := BuildClient(ClientSpec{Name: "A", GrantTypes: []string{provider.GrantClientCredentials}, Scopes: []string{"a"}}, secret.NewHasher(providertest.Ring(t)), now)
	if err != nil {
		t.Fatal(err)
	}
	same := *c
	same.UpdatedAt = now.Add(time.Hour)
	same.SecretHash = "changed"
	if got := ClientChanges(c, &same); len(got) != 0 {
		t.Fatalf("no visible change: %v", got)
	}
	spec := SpecFromClient(c)
	spec.Name, spec.Scopes, spec.OwnerID = "B", []string{"a", "b"}, "u1"
	upd := *c
	if err := UpdateClientFromSpec(&upd, spec, now); err != nil {
		t.Fatal(err)
	}
	if got := ClientChanges(c, &upd); !slices.Equal(got, []string{"client_name", "owner_id", "scope"}) {
		t.Fatalf("changes: %v", got)
	}
}
