package audit_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/provider/audit"
	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore/bunstoretest"
)

// TestEventsArriveInTheDatabase records events (some with values the
// databases refuse raw: invalid UTF-8, NUL) and checks that each one was
// stored: the contract cannot read the trail back yet, so appending an
// event with the same ID must now conflict.
func TestEventsArriveInTheDatabase(t *testing.T) {
	bunstoretest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		store := bunstoretest.Open(t, dialect, bunstore.Options{})
		var logs logBuffer
		r := audit.NewRecorder(audit.Options{Store: store, BatchSize: 3, Logger: logs.logger()})
		stop := running(t, r)
		ctx := context.Background()
		for i, e := range []audit.Event{
			{Type: audit.APIKeyCreated, Actor: "user:u1", Subject: "k1", ClientID: "svc", IP: "2001:db8::1",
				Details: map[string]string{"name": "ci", "scope": "read write"}},
			{Type: audit.APIKeyRevoked, Actor: "operator", Subject: "k1", ClientID: "svc"},
			{Type: audit.APIKeyUseFailed, Actor: "anonymous", Subject: "k2", ClientID: "bad\xff\x00id",
				Details: map[string]string{"reason": "unknown_key", "raw": "\x00\xfe"}},
			{Type: audit.APIKeyUseFailed, Actor: "anonymous"},
		} {
			e.Details = mergeDetails(e.Details, "n", string(rune('0'+i)))
			r.Record(ctx, e)
		}
		stop()
		if audit.Dropped(r) != 0 {
			t.Fatalf("Dropped() = %d: %s", audit.Dropped(r), logs.buf.String())
		}
		var ids []string
		for _, l := range logs.lines(t) {
			if l["msg"] == "audit event" {
				ids = append(ids, l["event_id"].(string))
			}
		}
		if len(ids) != 4 {
			t.Fatalf("%d events logged", len(ids))
		}
		for _, id := range ids {
			err := store.AppendAuditEvents(ctx, []*storage.AuditEvent{{ID: id, Time: time.Now(), Type: "test.duplicate"}})
			if !errors.Is(err, storage.ErrConflict) {
				t.Errorf("event %s was not stored (appending it again: %v)", id, err)
			}
		}
	})
}

func mergeDetails(d map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for dk, dv := range d {
		out[dk] = dv
	}
	return out
}
