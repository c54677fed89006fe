package bunstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/gatehouse-dev/gatehouse/storage"
)

// This file holds the audit trail. Events are only appended for now;
// querying and retention come later.

var errNilAuditEvent = errors.New("bunstore: append audit events: nil event")

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
			return fmt.Errorf("bunstore: %s: event %d has an empty ID", op, i)
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
