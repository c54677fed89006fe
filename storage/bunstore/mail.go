package bunstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/uptrace/bun"

	"github.com/gatehouse-dev/gatehouse/storage"
)

// The outbox of e-mail (mail_outbox): the same queue shape as
// logout_deliveries, plus dead letters kept for the administrator.

type mailMessageModel struct {
	bun.BaseModel `bun:"table:mail_outbox,alias:mo"`

	ID            string    `bun:"id,pk"`
	Recipient     string    `bun:"recipient"`
	Subject       string    `bun:"subject"`
	Body          []byte    `bun:"body"`
	Attempts      int       `bun:"attempts"`
	CreatedAt     time.Time `bun:"created_at"`
	NextAttemptAt time.Time `bun:"next_attempt_at"`
	LeaseUntil    time.Time `bun:"lease_until,nullzero"`
	LastError     string    `bun:"last_error"`
	DeadAt        time.Time `bun:"dead_at,nullzero"`
}

func (m *mailMessageModel) toDomain() *storage.MailMessage {
	out := &storage.MailMessage{
		ID: m.ID, To: m.Recipient, Subject: m.Subject, Body: m.Body, Attempts: m.Attempts,
		CreatedAt: m.CreatedAt.UTC(), NextAttemptAt: m.NextAttemptAt.UTC(), LastError: m.LastError,
	}
	if !m.DeadAt.IsZero() {
		out.DeadAt = m.DeadAt.UTC()
	}
	return out
}

const mailMessageColumns = "id, recipient, subject, body, attempts, created_at, next_attempt_at, lease_until, last_error, dead_at"

var errEmptyMailID = errors.New("enqueue mail: empty ID")

// EnqueueMail inserts the message.
func (s *Store) EnqueueMail(ctx context.Context, msg *storage.MailMessage) error {
	if msg.ID == "" {
		return errEmptyMailID
	}
	created, next := msg.CreatedAt, msg.NextAttemptAt
	if created.IsZero() {
		created = s.now()
	}
	if next.IsZero() {
		next = created
	}
	m := &mailMessageModel{
		ID: msg.ID, Recipient: msg.To, Subject: msg.Subject, Body: msg.Body, Attempts: msg.Attempts,
		CreatedAt: dbTime(created), NextAttemptAt: dbTime(next), LastError: clipError(msg.LastError),
	}
	if _, err := s.db(ctx).NewInsert().Model(m).Exec(ctx); err != nil {
		return mapErr("enqueue mail", err)
	}
	return nil
}

// ClaimMail leases due rows that are not dead letters (claimDue).
func (s *Store) ClaimMail(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]*storage.MailMessage, error) {
	var ms []mailMessageModel
	if err := s.claimDue(ctx, "claim mail", "mail_outbox", "dead_at IS NULL", mailMessageColumns, now, lease, limit, &ms); err != nil {
		return nil, err
	}
	out := make([]*storage.MailMessage, 0, len(ms))
	for i := range ms {
		out = append(out, ms[i].toDomain())
	}
	return out, nil
}

// RescheduleMail releases a living row for another attempt at next.
func (s *Store) RescheduleMail(ctx context.Context, id string, next time.Time, lastError string) error {
	const op = "reschedule mail"
	if namesNoRow(id) {
		return notFound(op)
	}
	res, err := s.db(ctx).NewUpdate().Model((*mailMessageModel)(nil)).
		Set("next_attempt_at = ?", dbTime(next)).
		Set("lease_until = NULL").
		Set("last_error = ?", clipError(lastError)).
		Where("id = ?", id).
		Where("dead_at IS NULL").
		Exec(ctx)
	if err != nil {
		return mapErr(op, err)
	}
	return requireRow(op, res)
}

// BuryMail turns a living row into a dead letter and drops its body: what
// is no longer going to be sent need not keep its links.
func (s *Store) BuryMail(ctx context.Context, id string, at time.Time, lastError string) error {
	const op = "bury mail"
	if namesNoRow(id) {
		return notFound(op)
	}
	res, err := s.db(ctx).NewUpdate().Model((*mailMessageModel)(nil)).
		Set("dead_at = ?", dbTime(at)).
		Set("body = NULL").
		Set("lease_until = NULL").
		Set("last_error = ?", clipError(lastError)).
		Where("id = ?", id).
		Where("dead_at IS NULL").
		Exec(ctx)
	if err != nil {
		return mapErr(op, err)
	}
	return requireRow(op, res)
}

// DeleteMail is idempotent.
func (s *Store) DeleteMail(ctx context.Context, id string) error {
	if namesNoRow(id) {
		return nil
	}
	if _, err := s.db(ctx).NewDelete().Model((*mailMessageModel)(nil)).Where("id = ?", id).Exec(ctx); err != nil {
		return mapErr("delete mail", err)
	}
	return nil
}

// DeleteDeadMailBefore deletes dead letters that died before before, at
// most batch (a sub-select on the key: DELETE ... LIMIT is not portable).
func (s *Store) DeleteDeadMailBefore(ctx context.Context, before time.Time, batch int) (int64, error) {
	if batch <= 0 {
		batch = defaultDeleteBatch
	}
	res, err := s.db(ctx).NewRaw(
		"DELETE FROM mail_outbox WHERE id IN (SELECT id FROM mail_outbox WHERE dead_at IS NOT NULL AND dead_at < ? LIMIT ?)",
		dbTime(before), batch,
	).Exec(ctx)
	if err != nil {
		return 0, mapErr("delete dead mail", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, mapErr("delete dead mail", err)
	}
	return n, nil
}

// DeadMail lists dead letters, newest death first (then by id).
func (s *Store) DeadMail(ctx context.Context, limit int) ([]*storage.MailMessage, error) {
	if limit <= 0 {
		return nil, nil
	}
	var ms []mailMessageModel
	err := s.reader(ctx).NewSelect().Model(&ms).
		Where("mo.dead_at IS NOT NULL").
		OrderExpr("mo.dead_at DESC, mo.id ASC").
		Limit(int64(limit)).
		Scan(ctx)
	if err != nil {
		return nil, mapErr("list dead mail", err)
	}
	out := make([]*storage.MailMessage, 0, len(ms))
	for i := range ms {
		out = append(out, ms[i].toDomain())
	}
	return out, nil
}

type passwordResetModel struct {
	bun.BaseModel `bun:"table:password_resets,alias:pr"`

	UserID      string    `bun:"user_id,pk"`
	TokenHash   string    `bun:"token_hash"`
	PasswordMAC []byte    `bun:"password_mac"`
	CreatedAt   time.Time `bun:"created_at"`
	ExpiresAt   time.Time `bun:"expires_at"`
}

func (m *passwordResetModel) toDomain() *storage.PasswordReset {
	return &storage.PasswordReset{
		UserID: m.UserID, TokenHash: m.TokenHash, PasswordMAC: m.PasswordMAC,
		CreatedAt: m.CreatedAt.UTC(), ExpiresAt: m.ExpiresAt.UTC(),
	}
}

// PutPasswordReset upserts the user's one row (the same SQL in both
// dialects); the foreign key turns an unknown user into ErrNotFound.
func (s *Store) PutPasswordReset(ctx context.Context, r *storage.PasswordReset) error {
	const op = "put password reset"
	if namesNoRow(r.UserID) || r.TokenHash == "" {
		return notFound(op)
	}
	created := r.CreatedAt
	if created.IsZero() {
		created = s.now()
	}
	m := &passwordResetModel{
		UserID: r.UserID, TokenHash: r.TokenHash, PasswordMAC: r.PasswordMAC,
		CreatedAt: dbTime(created), ExpiresAt: dbTime(r.ExpiresAt),
	}
	_, err := s.db(ctx).NewInsert().Model(m).
		On("CONFLICT (user_id) DO UPDATE").
		Set("token_hash = EXCLUDED.token_hash").
		Set("password_mac = EXCLUDED.password_mac").
		Set("created_at = EXCLUDED.created_at").
		Set("expires_at = EXCLUDED.expires_at").
		Exec(ctx)
	return mapErr(op, err)
}

// PasswordResetByHash finds an unexpired link by the unique token hash.
func (s *Store) PasswordResetByHash(ctx context.Context, tokenHash string) (*storage.PasswordReset, error) {
	const op = "password reset"
	if tokenHash == "" {
		return nil, notFound(op)
	}
	var m passwordResetModel
	err := s.reader(ctx).NewSelect().Model(&m).
		Where("pr.token_hash = ?", tokenHash).
		Where("pr.expires_at > ?", dbTime(s.now())).
		Scan(ctx)
	if err != nil {
		return nil, mapErr(op, err)
	}
	return m.toDomain(), nil
}

// TakePasswordReset deletes the row and returns it (DELETE ... RETURNING in
// both dialects): the row count picks the one caller that used the link.
func (s *Store) TakePasswordReset(ctx context.Context, tokenHash string) (*storage.PasswordReset, error) {
	const op = "take password reset"
	if tokenHash == "" {
		return nil, notFound(op)
	}
	var ms []passwordResetModel
	err := s.db(ctx).NewDelete().Model(&ms).
		Where("token_hash = ?", tokenHash).
		Where("expires_at > ?", dbTime(s.now())).
		Returning("user_id, token_hash, password_mac, created_at, expires_at").
		Scan(ctx)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, mapErr(op, err)
	}
	if len(ms) == 0 {
		return nil, notFound(op)
	}
	return ms[0].toDomain(), nil
}

// DeletePasswordResets is idempotent.
func (s *Store) DeletePasswordResets(ctx context.Context, userID string) error {
	if namesNoRow(userID) {
		return nil
	}
	_, err := s.db(ctx).NewDelete().Model((*passwordResetModel)(nil)).Where("user_id = ?", userID).Exec(ctx)
	return mapErr("delete password resets", err)
}

type emailVerificationModel struct {
	bun.BaseModel `bun:"table:email_verifications,alias:ev"`

	UserID    string `bun:"user_id,pk"`
	TokenHash string `bun:"token_hash"`
	Email     string `bun:"email"`
	// PreviousEmail: see storage.EmailVerification (NOT NULL, '' for none).
	PreviousEmail string    `bun:"previous_email,notnull"`
	CreatedAt     time.Time `bun:"created_at"`
	ExpiresAt     time.Time `bun:"expires_at"`
}

func (m *emailVerificationModel) toDomain() *storage.EmailVerification {
	return &storage.EmailVerification{
		UserID: m.UserID, TokenHash: m.TokenHash, Email: m.Email, PreviousEmail: m.PreviousEmail,
		CreatedAt: m.CreatedAt.UTC(), ExpiresAt: m.ExpiresAt.UTC(),
	}
}

// PutEmailVerification upserts the user's one row.
func (s *Store) PutEmailVerification(ctx context.Context, v *storage.EmailVerification) error {
	const op = "put email verification"
	if namesNoRow(v.UserID) || v.TokenHash == "" {
		return notFound(op)
	}
	created := v.CreatedAt
	if created.IsZero() {
		created = s.now()
	}
	m := &emailVerificationModel{
		UserID: v.UserID, TokenHash: v.TokenHash, Email: v.Email, PreviousEmail: v.PreviousEmail,
		CreatedAt: dbTime(created), ExpiresAt: dbTime(v.ExpiresAt),
	}
	_, err := s.db(ctx).NewInsert().Model(m).
		On("CONFLICT (user_id) DO UPDATE").
		Set("token_hash = EXCLUDED.token_hash").
		Set("email = EXCLUDED.email").
		Set("previous_email = EXCLUDED.previous_email").
		Set("created_at = EXCLUDED.created_at").
		Set("expires_at = EXCLUDED.expires_at").
		Exec(ctx)
	return mapErr(op, err)
}

// EmailVerificationByHash finds an unexpired link by its token hash.
func (s *Store) EmailVerificationByHash(ctx context.Context, tokenHash string) (*storage.EmailVerification, error) {
	const op = "email verification"
	if tokenHash == "" {
		return nil, notFound(op)
	}
	var m emailVerificationModel
	err := s.reader(ctx).NewSelect().Model(&m).
		Where("ev.token_hash = ?", tokenHash).
		Where("ev.expires_at > ?", dbTime(s.now())).
		Scan(ctx)
	if err != nil {
		return nil, mapErr(op, err)
	}
	return m.toDomain(), nil
}

// TakeEmailVerification deletes the row and returns it.
func (s *Store) TakeEmailVerification(ctx context.Context, tokenHash string) (*storage.EmailVerification, error) {
	const op = "take email verification"
	if tokenHash == "" {
		return nil, notFound(op)
	}
	var ms []emailVerificationModel
	err := s.db(ctx).NewDelete().Model(&ms).
		Where("token_hash = ?", tokenHash).
		Where("expires_at > ?", dbTime(s.now())).
		Returning("user_id, token_hash, email, previous_email, created_at, expires_at").
		Scan(ctx)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, mapErr(op, err)
	}
	if len(ms) == 0 {
		return nil, notFound(op)
	}
	return ms[0].toDomain(), nil
}

type signupModel struct {
	bun.BaseModel `bun:"table:signups,alias:su"`

	TokenHash    string    `bun:"token_hash,pk"`
	Email        string    `bun:"email"`
	Name         string    `bun:"name"`
	PasswordHash string    `bun:"password_hash"`
	Flow         string    `bun:"flow"`
	CreatedAt    time.Time `bun:"created_at"`
	ExpiresAt    time.Time `bun:"expires_at"`
}

func (m *signupModel) toDomain() *storage.Signup {
	return &storage.Signup{
		TokenHash: m.TokenHash, Email: m.Email, Name: m.Name, PasswordHash: m.PasswordHash, Flow: m.Flow,
		CreatedAt: m.CreatedAt.UTC(), ExpiresAt: m.ExpiresAt.UTC(),
	}
}

// PutSignup inserts a pending sign-up.
func (s *Store) PutSignup(ctx context.Context, su *storage.Signup) error {
	if su.TokenHash == "" {
		return errors.New("put signup: empty token hash")
	}
	created := su.CreatedAt
	if created.IsZero() {
		created = s.now()
	}
	m := &signupModel{
		TokenHash: su.TokenHash, Email: su.Email, Name: su.Name, PasswordHash: su.PasswordHash, Flow: su.Flow,
		CreatedAt: dbTime(created), ExpiresAt: dbTime(su.ExpiresAt),
	}
	_, err := s.db(ctx).NewInsert().Model(m).Exec(ctx)
	return mapErr("put signup", err)
}

// SignupByHash finds an unexpired sign-up.
func (s *Store) SignupByHash(ctx context.Context, tokenHash string) (*storage.Signup, error) {
	const op = "signup"
	if tokenHash == "" {
		return nil, notFound(op)
	}
	var m signupModel
	err := s.reader(ctx).NewSelect().Model(&m).
		Where("su.token_hash = ?", tokenHash).
		Where("su.expires_at > ?", dbTime(s.now())).
		Scan(ctx)
	if err != nil {
		return nil, mapErr(op, err)
	}
	return m.toDomain(), nil
}

// TakeSignup deletes the row and returns it.
func (s *Store) TakeSignup(ctx context.Context, tokenHash string) (*storage.Signup, error) {
	const op = "take signup"
	if tokenHash == "" {
		return nil, notFound(op)
	}
	var ms []signupModel
	err := s.db(ctx).NewDelete().Model(&ms).
		Where("token_hash = ?", tokenHash).
		Where("expires_at > ?", dbTime(s.now())).
		Returning("token_hash, email, name, password_hash, flow, created_at, expires_at").
		Scan(ctx)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, mapErr(op, err)
	}
	if len(ms) == 0 {
		return nil, notFound(op)
	}
	return ms[0].toDomain(), nil
}
