package bunstore_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"
	"github.com/uptrace/bun"

	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore/bunstoretest"
	"github.com/gatehouse-dev/gatehouse/storage/conformance"
)

func sha256Hex(v string) string {
	sum := sha256.Sum256([]byte(v))
	return hex.EncodeToString(sum[:])
}

// keySession is the session of a token minted with an API key.
type keySession struct {
	openid.DefaultSession
	KeyID string `json:"key_id"`
}

func (s *keySession) GetAPIKeyID() string { return s.KeyID }

// insertCounter counts the INSERT statements that reach the database.
type insertCounter struct {
	mu    sync.Mutex
	table string
	n     int
}

func (c *insertCounter) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context {
	return ctx
}

func (c *insertCounter) AfterQuery(_ context.Context, ev *bun.QueryEvent) {
	if strings.HasPrefix(ev.Query, "INSERT INTO "+c.table) {
		c.mu.Lock()
		c.n++
		c.mu.Unlock()
	}
}

func (c *insertCounter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// A batch of events is one INSERT, and reads back exactly: times in UTC at
// microsecond precision, details as given (empty ones as nil), and a zero
// time set to now.
func TestAuditEventsRoundTrip(t *testing.T) {
	bunstoretest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		ctx := context.Background()
		clock := conformance.NewClock(time.Now())
		s := bunstoretest.Open(t, dialect, bunstore.Options{Now: clock.Now})
		inserts := &insertCounter{table: `"audit_events"`}
		s.WithWriterQueryHook(inserts)

		// Nanoseconds and a zone other than UTC: stored as UTC
		// microseconds.
		start := time.Date(2026, 11, 27, 10, 11, 12, 123456789, time.FixedZone("CET", 3600))
		events := conformance.NewAuditEvents("ev-", 100, start)
		untimed := &storage.AuditEvent{ID: "untimed", Type: "operator.login", Actor: "operator"}
		events = append(events, untimed)
		if err := s.AppendAuditEvents(ctx, events); err != nil {
			t.Fatalf("AppendAuditEvents: %v", err)
		}
		if n := inserts.count(); n != 1 {
			t.Errorf("a batch of %d events took %d INSERT statements, want 1", len(events), n)
		}
		if !untimed.Time.Equal(clock.Now()) {
			t.Errorf("the untimed event's Time = %v, want now (%v)", untimed.Time, clock.Now())
		}
		if err := s.AppendAuditEvents(ctx, nil); err != nil {
			t.Fatalf("AppendAuditEvents(nil): %v", err)
		}
		if n := inserts.count(); n != 1 {
			t.Errorf("an empty batch reached the database (%d INSERTs in all)", n)
		}

		got, err := s.AllAuditEvents(ctx)
		if err != nil {
			t.Fatalf("AuditEvents: %v", err)
		}
		want := map[string]*storage.AuditEvent{}
		for _, ev := range conformance.NewAuditEvents("ev-", 100, start) {
			want[ev.ID] = ev
		}
		want["untimed"] = &storage.AuditEvent{ID: "untimed", Time: clock.Now(), Type: "operator.login", Actor: "operator"}
		if len(got) != len(want) {
			t.Fatalf("read back %d events, want %d", len(got), len(want))
		}
		for _, g := range got {
			w := want[g.ID]
			if w == nil {
				t.Fatalf("read back an unknown event %q", g.ID)
			}
			wantTime := w.Time.UTC().Truncate(time.Microsecond)
			if !g.Time.Equal(wantTime) || g.Time.Location() != time.UTC {
				t.Errorf("%s: Time = %v, want %v in UTC", g.ID, g.Time, wantTime)
			}
			wantDetails := w.Details
			if len(wantDetails) == 0 {
				wantDetails = nil
			}
			if g.Type != w.Type || g.Actor != w.Actor || g.Subject != w.Subject || g.ClientID != w.ClientID ||
				g.IP != w.IP || !reflect.DeepEqual(g.Details, wantDetails) {
				t.Errorf("%s read back as %+v, want %+v", g.ID, g, w)
			}
		}

		// Details are a JSON object; no details are "{}".
		var raw []string
		if err := s.WriterDB().NewRaw("SELECT details FROM audit_events WHERE id IN (?) ORDER BY id",
			bun.List([]string{"ev-1", "ev-3", "untimed"})).Scan(ctx, &raw); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(raw, []string{"{}", "{}", "{}"}) {
			t.Errorf("stored details of events without details = %q, want {}", raw)
		}

		// A failed batch stores nothing.
		before := inserts.count()
		err = s.AppendAuditEvents(ctx, conformance.NewAuditEvents("late-", 2, start))
		if err != nil {
			t.Fatal(err)
		}
		err = s.AppendAuditEvents(ctx, []*storage.AuditEvent{{ID: "new", Type: "x"}, {ID: "late-0", Type: "x"}})
		if !errors.Is(err, storage.ErrConflict) {
			t.Fatalf("batch with a stored ID: %v, want ErrConflict", err)
		}
		if got, err := s.AllAuditEvents(ctx); err != nil || len(got) != len(want)+2 {
			t.Errorf("after a failed batch: %d events, %v; want %d", len(got), err, len(want)+2)
		}
		if n := inserts.count() - before; n != 2 {
			t.Errorf("two batches took %d INSERT statements", n)
		}

		// Invalid input is refused before the database.
		if err := s.AppendAuditEvents(ctx, []*storage.AuditEvent{{ID: "ok"}, nil}); err == nil {
			t.Error("AppendAuditEvents accepted a nil event")
		}
		if err := s.AppendAuditEvents(ctx, []*storage.AuditEvent{{ID: ""}}); err == nil {
			t.Error("AppendAuditEvents accepted an empty ID")
		}
	})
}

// The API key that minted an access token is stored in its own column
// (not only inside the session JSON); other sessions store ”.
func TestAccessTokenRecordsAPIKey(t *testing.T) {
	bunstoretest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		ctx := context.Background()
		s := bunstoretest.Open(t, dialect, bunstore.Options{})
		c := &storage.Client{ID: "c"}
		if err := s.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		mint := func(sig string, sess fosite.Session) {
			t.Helper()
			req := &fosite.Request{ID: "req-" + sig, Client: c, RequestedAt: now, Session: sess}
			if err := s.CreateAccessTokenSession(ctx, sig, req); err != nil {
				t.Fatalf("CreateAccessTokenSession %s: %v", sig, err)
			}
			if err := s.CreateRefreshTokenSession(ctx, "rt-"+sig, sig, req); err != nil {
				t.Fatalf("CreateRefreshTokenSession %s: %v", sig, err)
			}
		}
		mint("by-key", &keySession{KeyID: "ak-1"})
		mint("by-secret", &openid.DefaultSession{})
		mint("empty-key", &keySession{})
		mint("nil-session", (*keySession)(nil))

		rows := map[string]string{}
		var list []struct {
			Signature string `bun:"signature"`
			APIKeyID  string `bun:"api_key_id"`
		}
		if err := s.WriterDB().NewRaw("SELECT signature, api_key_id FROM oauth2_access").Scan(ctx, &list); err != nil {
			t.Fatal(err)
		}
		for _, r := range list {
			rows[r.Signature] = r.APIKeyID
		}
		want := map[string]string{
			sha256Hex("by-key"): "ak-1", sha256Hex("by-secret"): "", sha256Hex("empty-key"): "", sha256Hex("nil-session"): "",
		}
		if !reflect.DeepEqual(rows, want) {
			t.Errorf("oauth2_access api_key_id by signature = %v, want %v", rows, want)
		}
	})
}
