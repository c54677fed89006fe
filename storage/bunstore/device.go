package bunstore

import (
	"context"
	"errors"
	"time"

	"github.com/uptrace/bun"

	"github.com/gatehouse-dev/gatehouse/storage"
)

type deviceAuthorizationModel struct {
	bun.BaseModel `bun:"table:device_authorizations,alias:da"`

	Signature     string    `bun:"signature,pk"`
	UserCode      string    `bun:"user_code"`
	ClientID      string    `bun:"client_id"`
	Scopes        string    `bun:"scopes"`
	Resources     string    `bun:"resources"`
	RequestedAt   time.Time `bun:"requested_at"`
	ExpiresAt     time.Time `bun:"expires_at"`
	IntervalMS    int64     `bun:"interval_ms"`
	LastPolledAt  time.Time `bun:"last_polled_at,nullzero"`
	Polls         int64     `bun:"polls"`
	Status        string    `bun:"status"`
	SessionID     string    `bun:"session_id"`
	UserID        string    `bun:"user_id"`
	GrantedScopes string    `bun:"granted_scopes"`
	AuthTime      time.Time `bun:"auth_time,nullzero"`
	AMR           string    `bun:"amr"`
}

func (m *deviceAuthorizationModel) toDomain() (*storage.DeviceAuthorization, error) {
	d := &storage.DeviceAuthorization{
		Signature: m.Signature, UserCode: m.UserCode, ClientID: m.ClientID,
		RequestedAt: m.RequestedAt.UTC(), ExpiresAt: m.ExpiresAt.UTC(),
		Interval: time.Duration(m.IntervalMS) * time.Millisecond, Polls: m.Polls, Status: m.Status,
		SessionID: m.SessionID, UserID: m.UserID,
	}
	if !m.LastPolledAt.IsZero() {
		d.LastPolledAt = m.LastPolledAt.UTC()
	}
	if !m.AuthTime.IsZero() {
		d.AuthTime = m.AuthTime.UTC()
	}
	if err := decodeLists(
		listField{"scopes", m.Scopes, &d.Scopes},
		listField{"resources", m.Resources, &d.Resources},
		listField{"granted_scopes", m.GrantedScopes, &d.GrantedScopes},
		listField{"amr", m.AMR, &d.AMR},
	); err != nil {
		return nil, err
	}
	return d, nil
}

// CreateDeviceAuthorization inserts a pending device authorization.
func (s *Store) CreateDeviceAuthorization(ctx context.Context, d *storage.DeviceAuthorization) error {
	if d.Signature == "" || d.UserCode == "" {
		return errors.New("create device authorization: empty signature or user code")
	}
	requested := d.RequestedAt
	if requested.IsZero() {
		requested = s.now()
	}
	status := d.Status
	if status == "" {
		status = storage.DeviceStatusPending
	}
	m := &deviceAuthorizationModel{
		Signature: d.Signature, UserCode: d.UserCode, ClientID: d.ClientID,
		Scopes: encodeList(d.Scopes), Resources: encodeList(d.Resources),
		RequestedAt: dbTime(requested), ExpiresAt: dbTime(d.ExpiresAt),
		IntervalMS: d.Interval.Milliseconds(), Status: status,
		GrantedScopes: encodeList(nil), AMR: encodeList(nil),
	}
	_, err := s.db(ctx).NewInsert().Model(m).Exec(ctx)
	return mapErr("create device authorization", err)
}

// DeviceAuthorizationByUserCode finds an unexpired authorization by user code.
func (s *Store) DeviceAuthorizationByUserCode(ctx context.Context, userCode string) (*storage.DeviceAuthorization, error) {
	const op = "device authorization by user code"
	if userCode == "" {
		return nil, notFound(op)
	}
	var m deviceAuthorizationModel
	err := s.reader(ctx).NewSelect().Model(&m).
		Where("da.user_code = ?", userCode).
		Where("da.expires_at > ?", dbTime(s.now())).
		Scan(ctx)
	if err != nil {
		return nil, mapErr(op, err)
	}
	return m.toDomain()
}

// DeviceAuthorizationBySignature finds an authorization by its device
// code's signature, expired or not. It reads the primary (s.db, not the
// reader): a poll must see an approval made on another instance.
func (s *Store) DeviceAuthorizationBySignature(ctx context.Context, signature string) (*storage.DeviceAuthorization, error) {
	const op = "device authorization by signature"
	if signature == "" {
		return nil, notFound(op)
	}
	var m deviceAuthorizationModel
	if err := s.db(ctx).NewSelect().Model(&m).Where("da.signature = ?", signature).Scan(ctx); err != nil {
		return nil, mapErr(op, err)
	}
	return m.toDomain()
}

// ApproveDeviceAuthorization: pending -> approved, once.
func (s *Store) ApproveDeviceAuthorization(ctx context.Context, userCode string, a storage.DeviceApproval) error {
	const op = "approve device authorization"
	q := s.db(ctx).NewUpdate().Model((*deviceAuthorizationModel)(nil)).
		Set("status = ?", storage.DeviceStatusApproved).
		Set("session_id = ?", a.SessionID).
		Set("user_id = ?", a.UserID).
		Set("granted_scopes = ?", encodeList(a.GrantedScopes)).
		Set("amr = ?", encodeList(a.AMR))
	if a.AuthTime.IsZero() {
		q = q.Set("auth_time = NULL")
	} else {
		q = q.Set("auth_time = ?", dbTime(a.AuthTime))
	}
	res, err := q.Where("user_code = ?", userCode).
		Where("status = ?", storage.DeviceStatusPending).
		Where("expires_at > ?", dbTime(s.now())).
		Exec(ctx)
	if err != nil {
		return mapErr(op, err)
	}
	return requireRow(op, res)
}

// DenyDeviceAuthorization: pending -> denied.
func (s *Store) DenyDeviceAuthorization(ctx context.Context, userCode string) error {
	const op = "deny device authorization"
	res, err := s.db(ctx).NewUpdate().Model((*deviceAuthorizationModel)(nil)).
		Set("status = ?", storage.DeviceStatusDenied).
		Where("user_code = ?", userCode).
		Where("status = ?", storage.DeviceStatusPending).
		Where("expires_at > ?", dbTime(s.now())).
		Exec(ctx)
	if err != nil {
		return mapErr(op, err)
	}
	return requireRow(op, res)
}

// RecordDevicePoll records a poll if no other poll was recorded since the
// caller read polls (compare-and-set on the counter, not on a timestamp,
// whose precision differs between the dialects).
func (s *Store) RecordDevicePoll(ctx context.Context, signature string, polls int64, now time.Time, interval time.Duration) error {
	const op = "record device poll"
	res, err := s.db(ctx).NewUpdate().Model((*deviceAuthorizationModel)(nil)).
		Set("polls = polls + 1").
		Set("last_polled_at = ?", dbTime(now)).
		Set("interval_ms = ?", interval.Milliseconds()).
		Where("signature = ?", signature).
		Where("polls = ?", polls).
		Exec(ctx)
	if err != nil {
		return mapErr(op, err)
	}
	return requireRow(op, res)
}

// ConsumeDeviceAuthorization: approved -> consumed, once.
func (s *Store) ConsumeDeviceAuthorization(ctx context.Context, signature string) error {
	const op = "consume device authorization"
	res, err := s.db(ctx).NewUpdate().Model((*deviceAuthorizationModel)(nil)).
		Set("status = ?", storage.DeviceStatusConsumed).
		Where("signature = ?", signature).
		Where("status = ?", storage.DeviceStatusApproved).
		Exec(ctx)
	if err != nil {
		return mapErr(op, err)
	}
	return requireRow(op, res)
}
