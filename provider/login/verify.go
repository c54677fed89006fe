package login

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/reqctx"
	"github.com/gatehouse-dev/gatehouse/provider/audit"
	gmail "github.com/gatehouse-dev/gatehouse/provider/mail"
	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// E-mail verification: a link sent to a person's address; opening it and
// pressing the button on the page marks that address verified
// (email_verified in ID tokens and userinfo, OpenID Connect Core §5.1).
// The link is single-use, lives EmailVerificationLifespan, is stored as a
// keyed hash, replaced by a newer one, and verifies only the address it
// was sent to. Opening the link does not verify by itself (a GET): mail
// scanners open links; a person presses the button (a POST with CSRF).

// EmailVerificationLifespan is how long a verification link works.
const EmailVerificationLifespan = 24 * time.Hour

// PathVerifyEmail is the page a verification link opens.
const PathVerifyEmail = "/email/verify"

// MailKindVerifyEmail names the deferred verification message.
const MailKindVerifyEmail = "verify_email"

// ErrVerifyLink: the verification link is unknown, used, replaced,
// expired, or the address changed since.
var ErrVerifyLink = errors.New("login: the e-mail verification link is not valid")

// VerifyStore is the storage e-mail verification needs.
type VerifyStore interface {
	UserByID(ctx context.Context, id string) (*storage.User, error)
	UpdateUser(ctx context.Context, u *storage.User) error
	storage.EmailVerificationStore
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
}

// EmailVerificationOptions configure e-mail verification; Audit, Now and
// Logger are optional.
type EmailVerificationOptions struct {
	Store     VerifyStore
	Mail      Mailer
	Templates *gmail.Templates
	Issuer    string
	Audit     *audit.Recorder
	Now       func() time.Time
	Logger    *slog.Logger
}

// EmailVerification sends and checks verification links. Safe for
// concurrent use.
type EmailVerification struct {
	o EmailVerificationOptions
}

// NewEmailVerification returns e-mail verification as o configures it,
// and registers its message with the outbox.
func NewEmailVerification(o EmailVerificationOptions) (*EmailVerification, error) {
	if o.Store == nil || o.Mail == nil || o.Templates == nil || o.Issuer == "" {
		return nil, errors.New("login: e-mail verification needs Store, Mail, Templates and Issuer")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	v := &EmailVerification{o: o}
	o.Mail.Register(MailKindVerifyEmail, v.compose)
	return v, nil
}

// Send queues a verification link for u's current address.
func (v *EmailVerification) Send(ctx context.Context, u *storage.User) error {
	_, err := v.o.Mail.Defer(ctx, MailKindVerifyEmail, u.Email, "Verify your e-mail address", map[string]string{"user_id": u.ID})
	return err
}

// compose makes the link when the outbox sends the message; the message
// is dropped when the person is gone, disabled, already verified, or no
// longer has the address it was queued for.
func (v *EmailVerification) compose(ctx context.Context, to string, data map[string]string) (gmail.Message, bool, error) {
	u, err := v.o.Store.UserByID(ctx, data["user_id"])
	if errors.Is(err, storage.ErrNotFound) {
		return gmail.Message{}, false, nil
	} else if err != nil {
		return gmail.Message{}, false, err
	}
	if u.Disabled || u.EmailVerified || u.Email != to {
		return gmail.Message{}, false, nil
	}
	token, err := secret.NewHandle()
	if err != nil {
		return gmail.Message{}, false, err
	}
	now := v.o.Now()
	if err := v.o.Store.PutEmailVerification(ctx, &storage.EmailVerification{
		UserID: u.ID, TokenHash: secret.HashHandle(token), Email: u.Email, CreatedAt: now, ExpiresAt: now.Add(EmailVerificationLifespan),
	}); err != nil {
		return gmail.Message{}, false, err
	}
	link := v.o.Issuer + PathVerifyEmail + "?" + url.Values{"token": {token}}.Encode()
	m, err := v.o.Templates.Render(gmail.VerifyEmail, u.Email, gmail.Data{Email: u.Email, Link: link, Expires: "24 hours"})
	if err != nil {
		return gmail.Message{}, false, err
	}
	v.o.Audit.Record(ctx, audit.Event{Type: audit.EmailVerificationSent, Actor: audit.ActorSystem, Subject: audit.UserSubject(u.ID)})
	return m, true, nil
}

// Check says whether token is a working link; ErrVerifyLink when not.
func (v *EmailVerification) Check(ctx context.Context, token string) error {
	if token == "" || len(token) > 100 {
		return ErrVerifyLink
	}
	ev, err := v.o.Store.EmailVerificationByHash(ctx, secret.HashHandle(token))
	if errors.Is(err, storage.ErrNotFound) {
		return ErrVerifyLink
	} else if err != nil {
		return err
	}
	u, err := v.o.Store.UserByID(ctx, ev.UserID)
	if errors.Is(err, storage.ErrNotFound) || err == nil && u.Email != ev.Email {
		return ErrVerifyLink
	}
	return err
}

// Confirm marks the link's address verified and uses the link up.
func (v *EmailVerification) Confirm(ctx context.Context, token string) (*storage.User, error) {
	if token == "" || len(token) > 100 {
		return nil, ErrVerifyLink
	}
	var u *storage.User
	err := v.o.Store.InTx(ctx, func(ctx context.Context) error {
		ev, err := v.o.Store.TakeEmailVerification(ctx, secret.HashHandle(token))
		if errors.Is(err, storage.ErrNotFound) {
			return ErrVerifyLink
		} else if err != nil {
			return err
		}
		if u, err = v.o.Store.UserByID(ctx, ev.UserID); errors.Is(err, storage.ErrNotFound) {
			return ErrVerifyLink
		} else if err != nil {
			return err
		}
		if u.Email != ev.Email {
			return ErrVerifyLink
		}
		u.EmailVerified = true
		u.UpdatedAt = v.o.Now().UTC()
		return v.o.Store.UpdateUser(ctx, u)
	})
	if err != nil {
		return nil, err
	}
	v.o.Audit.Record(ctx, audit.Event{
		Type: audit.EmailVerified, Actor: audit.UserSubject(u.ID), Subject: audit.UserSubject(u.ID), IP: reqctx.ClientIP(ctx),
		Details: map[string]string{"email": u.Email},
	})
	return u, nil
}
