package storage

import (
	"context"
	"time"
)

// LogoutDelivery is a back-channel logout notification waiting to reach a
// client (OpenID Connect Back-Channel Logout 1.0 §2.5): the logout token
// is signed at each attempt (it lives for minutes, the retries for hours),
// from what the row keeps.
type LogoutDelivery struct {
	ID       string
	ClientID string
	// Subject and SID are the sub and sid claims of the logout token (SID
	// empty for a session without one).
	Subject string
	SID     string
	// Attempts counts the deliveries tried so far (claims included).
	Attempts      int
	CreatedAt     time.Time
	NextAttemptAt time.Time
	// LastError says why the last attempt failed ("" before any).
	LastError string
}

// LogoutStore keeps what logout needs: which clients got tokens in which
// login session, and the durable queue of back-channel notifications.
type LogoutStore interface {
	// AddLoginSessionClient records that clientID got an authorization code
	// in the login session sessionID; idempotent. ErrNotFound when the
	// session or the client does not exist.
	AddLoginSessionClient(ctx context.Context, sessionID, clientID string, at time.Time) error
	// LoginSessionClients lists the ids of the clients that got a code in
	// the session, in the order they first did.
	LoginSessionClients(ctx context.Context, sessionID string) ([]string, error)
	// EndLoginSession deletes the session (expired or not) and returns the
	// ids of its clients (as LoginSessionClients) in one step: of callers
	// ending it at once exactly one gets them, every other ErrNotFound, so
	// its clients are told once.
	EndLoginSession(ctx context.Context, id string) ([]string, error)
	// LoginSessionsOfUser lists the user's unexpired sessions, newest
	// first.
	LoginSessionsOfUser(ctx context.Context, userID string) ([]*LoginSession, error)

	// EnqueueLogoutDeliveries stores deliveries (IDs set by the caller).
	EnqueueLogoutDeliveries(ctx context.Context, ds []*LogoutDelivery) error
	// ClaimLogoutDeliveries takes up to limit deliveries due at now
	// (NextAttemptAt <= now) that no one holds, holds them until now+lease
	// and counts the attempt, so of instances claiming at once each
	// delivery goes to one; a holder that dies lets go when its lease
	// ends. Oldest due first.
	ClaimLogoutDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]*LogoutDelivery, error)
	// RescheduleLogoutDelivery releases a claimed delivery for another
	// attempt at next; ErrNotFound when it is gone.
	RescheduleLogoutDelivery(ctx context.Context, id string, next time.Time, lastError string) error
	// DeleteLogoutDelivery removes a delivery (delivered or given up);
	// idempotent.
	DeleteLogoutDelivery(ctx context.Context, id string) error
}
