package storage

import (
	"context"
	"time"
)

// Statuses of a device authorization (RFC 8628): it starts pending, the
// person approves or denies it on the verification page, and an approved
// one is consumed by the one token response it yields.
const (
	DeviceStatusPending  = "pending"
	DeviceStatusApproved = "approved"
	DeviceStatusDenied   = "denied"
	DeviceStatusConsumed = "consumed"
)

// DeviceAuthorization is one device authorization request (RFC 8628
// §3.1-3.2) and its outcome. Everything a poll decides on lives here, in
// the database, so that any instance can answer any poll.
type DeviceAuthorization struct {
	// Signature is the keyed hash of the device code; the code itself is
	// never stored.
	Signature string
	// UserCode is the code the person types, normalised (upper case, no
	// separators); unique among stored authorizations.
	UserCode  string
	ClientID  string
	Scopes    []string
	Resources []string
	// RequestedAt and ExpiresAt bound the authorization (expires_in).
	RequestedAt time.Time
	ExpiresAt   time.Time
	// Interval is the minimum time between polls (RFC 8628 §3.2), raised
	// on slow_down (§3.5).
	Interval time.Duration
	// LastPolledAt is the time of the last poll that was answered (zero:
	// never polled); Polls counts them and is what RecordDevicePoll
	// compares, so that two instances cannot both accept one poll.
	LastPolledAt time.Time
	Polls        int64
	Status       string
	// SessionID, UserID and GrantedScopes are set on approval: the login
	// session that approved it, its user, and the scopes granted.
	SessionID     string
	UserID        string
	GrantedScopes []string
	// AuthTime is when the approving session signed in (the ID token's
	// auth_time); AMR its authentication methods.
	AuthTime time.Time
	AMR      []string
}

// DeviceApproval is what the person decided on the verification page.
type DeviceApproval struct {
	SessionID     string
	UserID        string
	GrantedScopes []string
	AuthTime      time.Time
	AMR           []string
}

// DeviceAuthorizationStore keeps device authorizations.
type DeviceAuthorizationStore interface {
	// CreateDeviceAuthorization inserts d; ErrConflict when its signature
	// or user code is taken (the caller draws another user code).
	CreateDeviceAuthorization(ctx context.Context, d *DeviceAuthorization) error
	// DeviceAuthorizationByUserCode finds an unexpired authorization by its
	// normalised user code; ErrNotFound otherwise.
	DeviceAuthorizationByUserCode(ctx context.Context, userCode string) (*DeviceAuthorization, error)
	// DeviceAuthorizationBySignature finds an authorization by its device
	// code's signature, expired or not (the caller answers expired_token);
	// ErrNotFound otherwise.
	DeviceAuthorizationBySignature(ctx context.Context, signature string) (*DeviceAuthorization, error)
	// ApproveDeviceAuthorization moves a pending, unexpired authorization
	// to approved with a; ErrNotFound when it is not pending any more (a
	// second approval loses).
	ApproveDeviceAuthorization(ctx context.Context, userCode string, a DeviceApproval) error
	// DenyDeviceAuthorization moves a pending, unexpired authorization to
	// denied; ErrNotFound when it is not pending.
	DenyDeviceAuthorization(ctx context.Context, userCode string) error
	// RecordDevicePoll records a poll at now with interval as the new
	// minimum interval, if the authorization's poll count is still polls
	// (compare-and-set); ErrNotFound when another poll came first.
	RecordDevicePoll(ctx context.Context, signature string, polls int64, now time.Time, interval time.Duration) error
	// ConsumeDeviceAuthorization moves an approved authorization to
	// consumed; ErrNotFound when it is not approved (only one token
	// response per authorization).
	ConsumeDeviceAuthorization(ctx context.Context, signature string) error
}
