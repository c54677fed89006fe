package storage

import (
	"context"
	"time"
)

// MailMessage is an e-mail in the outbox: waiting to be sent, or given up
// on (a dead letter, DeadAt set).
type MailMessage struct {
	ID string
	// To is the recipient's address and Subject the message's subject:
	// readable, so that an administrator can see what was not delivered.
	To      string
	Subject string
	// Body is the message sealed by the sender (it carries single-use
	// links); the store keeps it as bytes and drops it when the message
	// dies.
	Body []byte
	// Attempts counts the deliveries tried so far (claims included).
	Attempts      int
	CreatedAt     time.Time
	NextAttemptAt time.Time
	// LastError says why the last attempt failed ("" before any).
	LastError string
	// DeadAt is when delivery was given up (zero while the message waits).
	DeadAt time.Time
}

// MailOutboxStore is the durable queue of outgoing e-mail.
type MailOutboxStore interface {
	// EnqueueMail stores a message (ID set by the caller).
	EnqueueMail(ctx context.Context, m *MailMessage) error
	// ClaimMail takes up to limit living messages due at now
	// (NextAttemptAt <= now) that no one holds, holds them until
	// now+lease and counts the attempt, so of instances claiming at once
	// each message goes to one; a holder that dies lets go when its lease
	// ends. Oldest due first.
	ClaimMail(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]*MailMessage, error)
	// RescheduleMail releases a claimed message for another attempt at
	// next; ErrNotFound when it is gone.
	RescheduleMail(ctx context.Context, id string, next time.Time, lastError string) error
	// BuryMail gives up on a message at at: it becomes a dead letter,
	// without its body, that ClaimMail never returns; ErrNotFound when it
	// is gone.
	BuryMail(ctx context.Context, id string, at time.Time, lastError string) error
	// DeleteMail removes a message, sent or dead; idempotent.
	DeleteMail(ctx context.Context, id string) error
	// DeadMail lists up to limit dead letters, most recently given up
	// first (bodies nil).
	DeadMail(ctx context.Context, limit int) ([]*MailMessage, error)
	// DeleteDeadMailBefore removes up to batch dead letters given up
	// before before (the janitor's retention) and reports how many went.
	DeleteDeadMailBefore(ctx context.Context, before time.Time, batch int) (int64, error)
}

// PasswordReset is a password reset link waiting to be used: at most one
// per person.
type PasswordReset struct {
	UserID string
	// TokenHash is the keyed hash of the link's token (never the token).
	TokenHash string
	// PasswordMAC is a MAC of the person's password hash when the link was
	// made: a password changed since (by any path) makes the link useless.
	PasswordMAC []byte
	CreatedAt   time.Time
	ExpiresAt   time.Time
}

// PasswordResetStore keeps the password reset links.
type PasswordResetStore interface {
	// PutPasswordReset stores r, replacing the person's earlier link (a
	// newer link invalidates the older). ErrNotFound for an unknown user.
	PutPasswordReset(ctx context.Context, r *PasswordReset) error
	// PasswordResetByHash returns the unexpired link with that token
	// hash; ErrNotFound otherwise.
	PasswordResetByHash(ctx context.Context, tokenHash string) (*PasswordReset, error)
	// TakePasswordReset deletes and returns the unexpired link with that
	// token hash in one step: of callers taking it at once exactly one
	// gets it, every other ErrNotFound.
	TakePasswordReset(ctx context.Context, tokenHash string) (*PasswordReset, error)
	// DeletePasswordResets removes the user's link, if any.
	DeletePasswordResets(ctx context.Context, userID string) error
}

// EmailVerification is an e-mail verification link waiting to be used: at
// most one per person.
type EmailVerification struct {
	UserID string
	// TokenHash is the keyed hash of the link's token (never the token).
	TokenHash string
	// Email is the address the link was sent to; it verifies only that.
	Email string
	// PreviousEmail, when set, makes the link a change of address: the
	// person's address when they asked to change it to Email. Confirming
	// it changes that address only (an address changed since makes the
	// link worthless). Empty for a link verifying the current address.
	PreviousEmail string
	CreatedAt     time.Time
	ExpiresAt     time.Time
}

// EmailVerificationStore keeps the e-mail verification links.
type EmailVerificationStore interface {
	// PutEmailVerification stores v, replacing the person's earlier link.
	// ErrNotFound for an unknown user.
	PutEmailVerification(ctx context.Context, v *EmailVerification) error
	// EmailVerificationByHash returns the unexpired link with that token
	// hash; ErrNotFound otherwise.
	EmailVerificationByHash(ctx context.Context, tokenHash string) (*EmailVerification, error)
	// TakeEmailVerification deletes and returns the unexpired link with
	// that token hash in one step (one caller gets it, every other
	// ErrNotFound).
	TakeEmailVerification(ctx context.Context, tokenHash string) (*EmailVerification, error)
}

// Signup is a self-service sign-up waiting for its e-mailed link.
type Signup struct {
	TokenHash    string
	Email        string
	Name         string
	PasswordHash string
	// Flow is the authorization flow the person came from ("" for none).
	Flow      string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// SignupStore keeps the pending sign-ups.
type SignupStore interface {
	// PutSignup stores s.
	PutSignup(ctx context.Context, s *Signup) error
	// SignupByHash returns the unexpired sign-up with that token hash;
	// ErrNotFound otherwise.
	SignupByHash(ctx context.Context, tokenHash string) (*Signup, error)
	// TakeSignup deletes and returns it in one step (one caller gets it).
	TakeSignup(ctx context.Context, tokenHash string) (*Signup, error)
}
