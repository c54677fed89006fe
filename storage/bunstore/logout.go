package bunstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/uptrace/bun"
	bundialect "github.com/uptrace/bun/dialect"

	"github.com/gatehouse-dev/gatehouse/storage"
)

// This file holds what logout needs: the clients that got tokens in each
// login session (login_session_clients) and the durable queue of
// back-channel logout notifications (logout_deliveries).

type loginSessionClientModel struct {
	bun.BaseModel `bun:"table:login_session_clients,alias:lsc"`

	SessionID string    `bun:"session_id,pk"`
	ClientID  string    `bun:"client_id,pk"`
	CreatedAt time.Time `bun:"created_at"`
}

type logoutDeliveryModel struct {
	bun.BaseModel `bun:"table:logout_deliveries,alias:ld"`

	ID            string    `bun:"id,pk"`
	ClientID      string    `bun:"client_id"`
	Subject       string    `bun:"subject"`
	SID           string    `bun:"sid"`
	Attempts      int       `bun:"attempts"`
	CreatedAt     time.Time `bun:"created_at"`
	NextAttemptAt time.Time `bun:"next_attempt_at"`
	LeaseUntil    time.Time `bun:"lease_until,nullzero"`
	LastError     string    `bun:"last_error"`
}

func (m *logoutDeliveryModel) toDomain() *storage.LogoutDelivery {
	return &storage.LogoutDelivery{
		ID: m.ID, ClientID: m.ClientID, Subject: m.Subject, SID: m.SID, Attempts: m.Attempts,
		CreatedAt: m.CreatedAt.UTC(), NextAttemptAt: m.NextAttemptAt.UTC(), LastError: m.LastError,
	}
}

// logoutDeliveryColumns are the columns RETURNING gives back.
const logoutDeliveryColumns = "id, client_id, subject, sid, attempts, created_at, next_attempt_at, lease_until, last_error"

// maxLastErrorLen bounds the stored reason of a failed attempt: it may
// quote what a client's server answered.
const maxLastErrorLen = 500

var errEmptyDeliveryID = errors.New("enqueue logout delivery: empty ID")

// AddLoginSessionClient inserts the pair unless it is there already (the
// same SQL in both dialects); the foreign keys turn an unknown session or
// client into ErrNotFound.
func (s *Store) AddLoginSessionClient(ctx context.Context, sessionID, clientID string, at time.Time) error {
	const op = "add login session client"
	if namesNoRow(sessionID) || namesNoRow(clientID) {
		return notFound(op)
	}
	if at.IsZero() {
		at = s.now()
	}
	m := &loginSessionClientModel{SessionID: sessionID, ClientID: clientID, CreatedAt: dbTime(at)}
	if _, err := s.db(ctx).NewInsert().Model(m).On("CONFLICT (session_id, client_id) DO NOTHING").Exec(ctx); err != nil {
		return mapErr(op, err)
	}
	return nil
}

// LoginSessionClients lists the session's clients by the time they first
// got a code (then by id).
func (s *Store) LoginSessionClients(ctx context.Context, sessionID string) ([]string, error) {
	if namesNoRow(sessionID) {
		return nil, nil
	}
	var ids []string
	err := s.reader(ctx).NewSelect().Model((*loginSessionClientModel)(nil)).
		Column("client_id").
		Where("session_id = ?", sessionID).
		OrderExpr("created_at ASC, client_id ASC").
		Scan(ctx, &ids)
	if err != nil {
		return nil, mapErr("list login session clients", err)
	}
	return ids, nil
}

// EndLoginSession reads the session's clients and deletes it in one
// transaction; the DELETE's row count picks the one caller that ended it
// (on PostgreSQL a concurrent DELETE waits for the first to commit and
// then finds no row).
func (s *Store) EndLoginSession(ctx context.Context, id string) ([]string, error) {
	const op = "end login session"
	if namesNoRow(id) {
		return nil, notFound(op)
	}
	var ids []string
	err := s.InTx(ctx, func(ctx context.Context) error {
		var err error
		if ids, err = s.LoginSessionClients(ctx, id); err != nil {
			return err
		}
		res, err := s.db(ctx).NewDelete().Model((*loginSessionModel)(nil)).Where("id = ?", id).Exec(ctx)
		if err != nil {
			return mapErr(op, err)
		}
		return requireRow(op, res)
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// LoginSessionsOfUser lists the user's unexpired sessions, newest first
// (by id among equal times), through the index on user_id.
func (s *Store) LoginSessionsOfUser(ctx context.Context, userID string) ([]*storage.LoginSession, error) {
	if namesNoRow(userID) {
		return nil, nil
	}
	var ms []loginSessionModel
	err := s.reader(ctx).NewSelect().Model(&ms).
		Where("ls.user_id = ?", userID).
		Where("ls.expires_at > ?", s.now()).
		OrderExpr("ls.created_at DESC, ls.id ASC").
		Scan(ctx)
	if err != nil {
		return nil, mapErr("list login sessions of user", err)
	}
	out := make([]*storage.LoginSession, 0, len(ms))
	for i := range ms {
		ls, err := ms[i].toDomain()
		if err != nil {
			return nil, err
		}
		out = append(out, ls)
	}
	return out, nil
}

// EnqueueLogoutDeliveries inserts the deliveries in one statement.
func (s *Store) EnqueueLogoutDeliveries(ctx context.Context, ds []*storage.LogoutDelivery) error {
	if len(ds) == 0 {
		return nil
	}
	now := s.now()
	ms := make([]logoutDeliveryModel, 0, len(ds))
	for _, d := range ds {
		if d.ID == "" {
			return errEmptyDeliveryID
		}
		created, next := d.CreatedAt, d.NextAttemptAt
		if created.IsZero() {
			created = now
		}
		if next.IsZero() {
			next = created
		}
		ms = append(ms, logoutDeliveryModel{
			ID: d.ID, ClientID: d.ClientID, Subject: d.Subject, SID: d.SID, Attempts: d.Attempts,
			CreatedAt: dbTime(created), NextAttemptAt: dbTime(next), LastError: clipError(d.LastError),
		})
	}
	if _, err := s.db(ctx).NewInsert().Model(&ms).Exec(ctx); err != nil {
		return mapErr("enqueue logout deliveries", err)
	}
	return nil
}

// ClaimLogoutDeliveries leases due rows (claimDue).
func (s *Store) ClaimLogoutDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]*storage.LogoutDelivery, error) {
	var ms []logoutDeliveryModel
	if err := s.claimDue(ctx, "claim logout deliveries", "logout_deliveries", "", logoutDeliveryColumns, now, lease, limit, &ms); err != nil {
		return nil, err
	}
	out := make([]*storage.LogoutDelivery, 0, len(ms))
	for i := range ms {
		out = append(out, ms[i].toDomain())
	}
	return out, nil
}

// claimDue leases up to limit rows of a delivery queue (table, with the
// columns id, next_attempt_at, lease_until and attempts) that are due at
// now and not held, for lease, counting an attempt, in one UPDATE ...
// RETURNING of columns into dest; alive, when set, is a further condition
// a row must meet. On PostgreSQL the sub-select locks the rows it picks
// and skips those another instance's claim holds (FOR UPDATE SKIP LOCKED),
// so concurrent claims take different rows instead of queueing; the lease
// condition is repeated in the outer WHERE so that a row re-checked after
// a concurrent claim committed is not taken twice. SQLite has one writer
// at a time, which makes the UPDATE atomic on its own.
func (s *Store) claimDue(ctx context.Context, op, table, alive, columns string, now time.Time, lease time.Duration, limit int, dest any) error {
	if limit <= 0 {
		return nil
	}
	at := dbTime(now)
	until := dbTime(now.Add(lease))
	lock := ""
	if s.wdb.Dialect().Name() == bundialect.PG {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	cond := "next_attempt_at <= ? AND (lease_until IS NULL OR lease_until <= ?)"
	if alive != "" {
		cond = alive + " AND " + cond
	}
	err := s.db(ctx).NewRaw(`UPDATE `+table+` SET lease_until = ?, attempts = attempts + 1
WHERE id IN (
	SELECT id FROM `+table+`
	WHERE `+cond+`
	ORDER BY next_attempt_at, id
	LIMIT ?`+lock+`)
AND (lease_until IS NULL OR lease_until <= ?)`+andAlive(alive)+`
RETURNING `+columns,
		until, at, at, limit, at,
	).Scan(ctx, dest)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return mapErr(op, err)
	}
	return nil
}

func andAlive(alive string) string {
	if alive == "" {
		return ""
	}
	return " AND " + alive
}

// RescheduleLogoutDelivery releases the row for another attempt at next.
func (s *Store) RescheduleLogoutDelivery(ctx context.Context, id string, next time.Time, lastError string) error {
	const op = "reschedule logout delivery"
	if namesNoRow(id) {
		return notFound(op)
	}
	res, err := s.db(ctx).NewUpdate().Model((*logoutDeliveryModel)(nil)).
		Set("next_attempt_at = ?", dbTime(next)).
		Set("lease_until = NULL").
		Set("last_error = ?", clipError(lastError)).
		Where("id = ?", id).
		Exec(ctx)
	if err != nil {
		return mapErr(op, err)
	}
	return requireRow(op, res)
}

// DeleteLogoutDelivery is idempotent.
func (s *Store) DeleteLogoutDelivery(ctx context.Context, id string) error {
	if namesNoRow(id) {
		return nil
	}
	if _, err := s.db(ctx).NewDelete().Model((*logoutDeliveryModel)(nil)).Where("id = ?", id).Exec(ctx); err != nil {
		return mapErr("delete logout delivery", err)
	}
	return nil
}

// clipError bounds a stored failure reason, cutting at a rune boundary.
func clipError(s string) string {
	if len(s) <= maxLastErrorLen {
		return s
	}
	cut := maxLastErrorLen
	for cut > 0 && s[cut]&0xc0 == 0x80 {
		cut--
	}
	return s[:cut]
}
