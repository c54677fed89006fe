package admin

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/storage"
)

// This file is reading the audit trail, for `gatehouse audit` and the
// admin API's GET /admin/audit.

// maxAuditFilterLen bounds each text filter of an audit query (types,
// subjects and client ids are far shorter).
const maxAuditFilterLen = 200

// AuditEventView is an audit event as the CLI and the admin API show it.
type AuditEventView struct {
	ID       string            `json:"id"`
	Time     time.Time         `json:"time"`
	Type     string            `json:"type"`
	Actor    string            `json:"actor"`
	Subject  string            `json:"subject"`
	ClientID string            `json:"client_id"`
	IP       string            `json:"ip"`
	Details  map[string]string `json:"details"`
}

// AuditEventViewOf describes ev (details {} rather than null).
func AuditEventViewOf(ev *storage.AuditEvent) AuditEventView {
	d := ev.Details
	if d == nil {
		d = map[string]string{}
	}
	return AuditEventView{
		ID: ev.ID, Time: ev.Time.UTC(), Type: ev.Type, Actor: ev.Actor, Subject: ev.Subject,
		ClientID: ev.ClientID, IP: ev.IP, Details: d,
	}
}

// AuditEventViews describes events, in their order.
func AuditEventViews(events []*storage.AuditEvent) []AuditEventView {
	out := make([]AuditEventView, 0, len(events))
	for _, ev := range events {
		out = append(out, AuditEventViewOf(ev))
	}
	return out
}

// ParseAuditTime reads a point in time as the audit query takes it: a
// duration before now ("90m", "1h", "7d" — d is 24 hours) or an RFC 3339
// time ("2026-11-27T10:00:00Z") or date ("2026-11-27", midnight UTC).
func ParseAuditTime(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 64 {
		return time.Time{}, errors.New("give a duration such as 1h or 7d, or an RFC 3339 time")
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n >= 0 && n <= 100*366 {
			return now.Add(-time.Duration(n) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, errors.New("a duration must not be negative")
		}
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%q is neither a duration (1h, 7d) nor an RFC 3339 time", clip(s))
}

// CheckAuditQuery reports every problem of q at once, as a
// *ValidationError naming the fields as the admin API does (since, until,
// type, subject, actor, client_id, limit, before).
func CheckAuditQuery(q storage.AuditQuery) error {
	ve := &ValidationError{}
	if !q.Since.IsZero() && !q.Until.IsZero() && !q.Since.Before(q.Until) {
		ve.Add("until", "must be after since")
	}
	for _, f := range []struct{ field, value string }{
		{"type", q.Type}, {"subject", q.Subject}, {"actor", q.Actor}, {"client_id", q.ClientID},
	} {
		if len(f.value) > maxAuditFilterLen || !printable(f.value) {
			ve.Add(f.field, "at most %d printable characters", maxAuditFilterLen)
		}
	}
	if q.Limit < 0 || q.Limit > storage.MaxAuditLimit {
		ve.Add("limit", "must be a whole number from 1 to %d", storage.MaxAuditLimit)
	}
	if q.Before != "" {
		if _, _, err := storage.ParseAuditCursor(q.Before); err != nil {
			ve.Add("before", "is not a cursor this listing returned")
		}
	}
	return ve.err()
}

// QueryAuditEvents returns one page of the events q selects, newest first
// (storage.DefaultAuditLimit of them unless q.Limit says), and the cursor
// that continues the listing as q.Before ("" after the last page). Bad
// queries are a *ValidationError (CheckAuditQuery).
func QueryAuditEvents(ctx context.Context, r storage.AuditReader, q storage.AuditQuery) ([]*storage.AuditEvent, string, error) {
	if err := CheckAuditQuery(q); err != nil {
		return nil, "", err
	}
	want := q.Limit
	if want == 0 {
		want = storage.DefaultAuditLimit
	}
	// One more than wanted tells whether another page follows, within
	// the storage's bound.
	q.Limit = min(want+1, storage.MaxAuditLimit)
	events, err := r.AuditEvents(ctx, q)
	if err != nil {
		if errors.Is(err, storage.ErrInvalidAuditCursor) {
			return nil, "", invalid("before", "is not a cursor this listing returned")
		}
		return nil, "", err
	}
	if len(events) < q.Limit {
		return events, "", nil
	}
	events = events[:want]
	next := storage.AuditCursor(events[want-1])
	if q.Limit == want {
		// A page of the largest size: ask whether anything is left.
		q.Before, q.Limit = next, 1
		more, err := r.AuditEvents(ctx, q)
		if err != nil {
			return nil, "", err
		}
		if len(more) == 0 {
			next = ""
		}
	}
	return events, next, nil
}

// errNoAuditReader means the store cannot read the audit trail back.
var errNoAuditReader = errors.New("the database cannot be queried for the audit trail")

// AuditEvents returns one page of the audit trail (QueryAuditEvents).
func (a *Admin) AuditEvents(ctx context.Context, q storage.AuditQuery) ([]*storage.AuditEvent, string, error) {
	// Asserted rather than required of every Store: the query serves only
	// this listing, and the test fakes of the provider's Store need not
	// grow it.
	r, ok := a.store.(storage.AuditReader)
	if !ok {
		return nil, "", errNoAuditReader
	}
	return QueryAuditEvents(ctx, r, q)
}
