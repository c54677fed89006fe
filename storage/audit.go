package storage

import (
	"context"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Bounds on one page of the audit trail.
const (
	DefaultAuditLimit = 100
	MaxAuditLimit     = 1000
)

// AuditQuery selects audit events. Zero fields do not filter.
type AuditQuery struct {
	// Since (inclusive) and Until (exclusive) bound the events' time.
	Since time.Time
	Until time.Time
	// Type is an exact type ("login.failed"), or a prefix ending in "."
	// ("login.") that matches every type under it.
	Type string
	// Subject, Actor and ClientID match exactly.
	Subject  string
	Actor    string
	ClientID string
	// Limit is the most events returned: DefaultAuditLimit when <= 0, at
	// most MaxAuditLimit (larger values are clamped).
	Limit int
	// Before is a cursor (AuditCursor of the last event of the previous
	// page): only events older than that one are returned. It stays valid
	// when the event it names has been deleted since.
	Before string
}

// AuditReader reads and trims the audit trail.
type AuditReader interface {
	// AuditEvents returns the events q selects, newest first (by time,
	// then by ID). ErrInvalidAuditCursor for a Before that AuditCursor did
	// not make.
	AuditEvents(ctx context.Context, q AuditQuery) ([]*AuditEvent, error)
	// DeleteAuditEventsBefore removes events older than before, at most
	// batch of them (a default when batch <= 0), oldest first, and
	// reports how many went; call it until it reports fewer than batch.
	DeleteAuditEventsBefore(ctx context.Context, before time.Time, batch int) (int64, error)
}

// ErrInvalidAuditCursor: AuditQuery.Before is not a cursor AuditCursor
// made.
var ErrInvalidAuditCursor = errors.New("invalid audit cursor")

// AuditTypePrefix reports whether an AuditQuery.Type is a prefix ("login.")
// rather than an exact type.
func AuditTypePrefix(typ string) bool { return strings.HasSuffix(typ, ".") }

// AuditCursor is the paging cursor that continues after ev: opaque,
// URL-safe, made of the event's time (in microseconds, the precision
// stored) and ID, so that it does not depend on the event still existing.
func AuditCursor(ev *AuditEvent) string {
	raw := strconv.FormatInt(ev.Time.UTC().UnixMicro(), 10) + "/" + ev.ID
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// ParseAuditCursor returns the time and ID an AuditCursor carries, or
// ErrInvalidAuditCursor.
func ParseAuditCursor(cursor string) (time.Time, string, error) {
	if cursor == "" || len(cursor) > 512 {
		return time.Time{}, "", ErrInvalidAuditCursor
	}
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return time.Time{}, "", ErrInvalidAuditCursor
	}
	micros, id, ok := strings.Cut(string(raw), "/")
	if !ok || id == "" {
		return time.Time{}, "", ErrInvalidAuditCursor
	}
	us, err := strconv.ParseInt(micros, 10, 64)
	if err != nil {
		return time.Time{}, "", ErrInvalidAuditCursor
	}
	return time.UnixMicro(us).UTC(), id, nil
}
