package bunstore

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/uptrace/bun"

	"github.com/gatehouse-dev/gatehouse/storage"
)

// This file holds the audit trail: appending, querying newest first, and
// deleting what is older than the retention.

var errNilAuditEvent = errors.New("append audit events: nil event")

// AppendAuditEvents stores events in one multi-row INSERT, so a batch is
// stored whole or not at all; an empty batch does nothing. ErrConflict for
// an ID that is already stored or repeated in the batch. The caller sets
// the IDs; a zero Time is set to now (on the event as well). Details are
// stored as a JSON object.
func (s *Store) AppendAuditEvents(ctx context.Context, events []*storage.AuditEvent) error {
	const op = "append audit events"
	if len(events) == 0 {
		return nil
	}
	for i, ev := range events {
		switch {
		case ev == nil:
			return errNilAuditEvent
		case ev.ID == "":
			return fmt.Errorf("%s: event %d has an empty ID", op, i)
		}
	}
	now := s.now()
	ms := make([]auditEventModel, 0, len(events))
	for _, ev := range events {
		if ev.Time.IsZero() {
			ev.Time = now
		}
		ms = append(ms, auditEventModel{
			ID:       ev.ID,
			Time:     dbTime(ev.Time),
			Type:     ev.Type,
			Actor:    ev.Actor,
			Subject:  ev.Subject,
			ClientID: ev.ClientID,
			IP:       ev.IP,
			Details:  encodeDetails(ev.Details),
		})
	}
	if _, err := s.db(ctx).NewInsert().Model(&ms).Exec(ctx); err != nil {
		return mapErr(op, err)
	}
	return nil
}

// AuditEvents returns the events q selects, newest first by (time, id).
// Paging is by keyset on (time, id) from the cursor, which the indexes on
// time and on (subject, time) serve; an offset would skip or repeat
// events as new ones arrive between pages.
func (s *Store) AuditEvents(ctx context.Context, q storage.AuditQuery) ([]*storage.AuditEvent, error) {
	const op = "list audit events"
	limit := q.Limit
	switch {
	case limit <= 0:
		limit = storage.DefaultAuditLimit
	case limit > storage.MaxAuditLimit:
		limit = storage.MaxAuditLimit
	}
	var ms []auditEventModel
	sel := s.reader(ctx).NewSelect().Model(&ms).
		OrderExpr("ae.time DESC, ae.id DESC").
		Limit(int64(limit))
	if !q.Since.IsZero() {
		sel = sel.Where("ae.time >= ?", dbTime(q.Since))
	}
	if !q.Until.IsZero() {
		sel = sel.Where("ae.time < ?", dbTime(q.Until))
	}
	switch {
	case q.Type == "":
	case storage.AuditTypePrefix(q.Type):
		// substr rather than LIKE: no wildcard in the prefix ("_" is
		// common in types) needs escaping, and the match is
		// case-sensitive on both databases. Both count characters.
		sel = sel.Where("substr(ae.type, 1, ?) = ?", utf8.RuneCountInString(q.Type), q.Type)
	default:
		sel = sel.Where("ae.type = ?", q.Type)
	}
	if q.Subject != "" {
		sel = sel.Where("ae.subject = ?", q.Subject)
	}
	if q.Actor != "" {
		sel = sel.Where("ae.actor = ?", q.Actor)
	}
	if q.ClientID != "" {
		sel = sel.Where("ae.client_id = ?", q.ClientID)
	}
	if q.Before != "" {
		at, id, err := storage.ParseAuditCursor(q.Before)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		// Spelled out rather than a row-value comparison, which older
		// SQLite builds lack; the first term lets the time index bound
		// the scan.
		at = dbTime(at)
		sel = sel.Where("ae.time <= ?", at).
			Where("(ae.time < ? OR ae.id < ?)", at, id)
	}
	if err := sel.Scan(ctx); err != nil {
		return nil, mapErr(op, err)
	}
	out := make([]*storage.AuditEvent, 0, len(ms))
	for i := range ms {
		ev, err := ms[i].toDomain()
		if err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	return out, nil
}

// DeleteAuditEventsBefore removes at most batch events older than before,
// oldest first, in one statement (the writer is held briefly; the janitor
// calls it again while it reports a full batch).
func (s *Store) DeleteAuditEventsBefore(ctx context.Context, before time.Time, batch int) (int64, error) {
	const op = "delete old audit events"
	if batch <= 0 {
		batch = defaultDeleteBatch
	}
	// DELETE ... LIMIT is not portable; a sub-select on the primary key
	// is (as in DeleteExpired).
	res, err := s.db(ctx).NewRaw(
		"DELETE FROM ? WHERE id IN (SELECT id FROM ? WHERE time < ? ORDER BY time LIMIT ?)",
		bun.Ident("audit_events"), bun.Ident("audit_events"), dbTime(before), batch,
	).Exec(ctx)
	if err != nil {
		return 0, mapErr(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, mapErr(op, err)
	}
	return n, nil
}
