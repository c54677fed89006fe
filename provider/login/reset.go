package login

import (
	"context"
	"crypto/hmac"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/reqctx"
	"github.com/gatehouse-dev/gatehouse/provider/audit"
	gmail "github.com/gatehouse-dev/gatehouse/provider/mail"
	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// Password reset ("forgot password"): a person asks for a link by e-mail
// address; the answer never says whether the address has an account
// (OWASP ASVS 5 V6.4.1, "Forgot Password Cheat Sheet"). The link carries a
// random token (256 bits) stored only as its keyed hash, lives
// PasswordResetLifespan, and stops working when used, when a newer link is
// made and when the password changes by any path (PasswordMAC). Setting a
// new password through it follows the same rules as an administrator's,
// ends every session of the person (apps get back-channel logout) and
// clears their sign-in failures, as an administrator's reset does.

// PasswordResetLifespan is how long a reset link works.
const PasswordResetLifespan = 30 * time.Minute

// MinPasswordLen is the shortest password accepted, on every path (NIST
// SP 800-63B §3.1.1.2); admin.MinPasswordLen is this.
const MinPasswordLen = 8

// PathPasswordReset is the page a reset link opens (token in the query).
const PathPasswordReset = "/password/reset"

// MailKindPasswordReset names the deferred reset message in the outbox.
const MailKindPasswordReset = "password_reset"

// purposePasswordMAC keys the MAC of the password hash kept with a link.
const purposePasswordMAC = "password-reset-binding"

// ErrResetLink: the link is unknown, used, replaced, expired, or the
// password changed since it was made. One error for all: the page says
// "ask for a new link".
var ErrResetLink = errors.New("login: the password reset link is not valid")

// PasswordError is a new password that breaks the rules; its message is
// fit to show.
type PasswordError struct{ Msg string }

func (e *PasswordError) Error() string { return e.Msg }

// CheckPasswordRules returns a *PasswordError when password is not
// acceptable as a new password.
func CheckPasswordRules(password string) error {
	if len(password) < MinPasswordLen || len(password) > secret.MaxPasswordLen {
		return &PasswordError{Msg: fmt.Sprintf("The password must be %d to %d characters.", MinPasswordLen, secret.MaxPasswordLen)}
	}
	return nil
}

// Mailer is the e-mail outbox (mail.Outbox).
type Mailer interface {
	Defer(ctx context.Context, kind, to, subject string, data map[string]string) (string, error)
	Register(kind string, c gmail.Composer)
}

// ResetStore is the storage password reset needs.
type ResetStore interface {
	UserByID(ctx context.Context, id string) (*storage.User, error)
	UserByEmail(ctx context.Context, email string) (*storage.User, error)
	UpdateUser(ctx context.Context, u *storage.User) error
	ClearAccountLoginThrottles(ctx context.Context, account string) (*storage.LoginThrottle, int, error)
	storage.PasswordResetStore
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
}

// PasswordResetOptions configure password reset; every field but Audit,
// Now and Logger is required.
type PasswordResetOptions struct {
	Store     ResetStore
	Keyring   *secret.Keyring
	Mail      Mailer
	Templates *gmail.Templates
	// Issuer is the public base URL the links start with.
	Issuer   string
	Sessions *Sessions
	Audit    *audit.Recorder
	Now      func() time.Time
	Logger   *slog.Logger
}

// PasswordReset runs the "forgot password" flow. Safe for concurrent use.
type PasswordReset struct {
	o PasswordResetOptions
}

// NewPasswordReset returns password reset as o configures it, and
// registers its message with the outbox.
func NewPasswordReset(o PasswordResetOptions) (*PasswordReset, error) {
	if o.Store == nil || o.Keyring == nil || o.Mail == nil || o.Templates == nil || o.Issuer == "" || o.Sessions == nil {
		return nil, errors.New("login: password reset needs Store, Keyring, Mail, Templates, Issuer and Sessions")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	r := &PasswordReset{o: o}
	o.Mail.Register(MailKindPasswordReset, r.compose)
	return r, nil
}

// Request asks for a reset link for email. It does the same work for
// every syntactically valid address: one INSERT into the outbox of a
// deferred message. Whether the address has an account is found out
// later, by the outbox (compose), away from the request — so the
// response, its status and its timing are the same for an address with
// an account and one without (timing equalised by construction: the
// request path never reads the users table). An address that is not one
// at all is not queued; that says nothing about accounts.
func (r *PasswordReset) Request(ctx context.Context, email string) error {
	addr := normalEmail(email)
	if addr == "" {
		return nil
	}
	_, err := r.o.Mail.Defer(ctx, MailKindPasswordReset, addr, "Reset your password", nil)
	return err
}

// normalEmail is email trimmed and lower-cased when it is a bare address
// of at most 320 bytes, else "".
func normalEmail(email string) string {
	email = strings.TrimSpace(email)
	if email == "" || len(email) > 320 {
		return ""
	}
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email {
		return ""
	}
	return strings.ToLower(email)
}

// compose builds the reset message when the outbox sends it: no account
// (or a disabled one) drops it; otherwise a new link replaces any earlier
// one. A retry composes again, so only the link last sent works.
func (r *PasswordReset) compose(ctx context.Context, to string, _ map[string]string) (gmail.Message, bool, error) {
	u, err := r.o.Store.UserByEmail(ctx, to)
	if errors.Is(err, storage.ErrNotFound) {
		return gmail.Message{}, false, nil
	} else if err != nil {
		return gmail.Message{}, false, err
	}
	if u.Disabled {
		return gmail.Message{}, false, nil
	}
	token, err := secret.NewHandle()
	if err != nil {
		return gmail.Message{}, false, err
	}
	now := r.o.Now()
	err = r.o.Store.PutPasswordReset(ctx, &storage.PasswordReset{
		UserID: u.ID, TokenHash: secret.HashHandle(token), PasswordMAC: r.passwordMAC(u),
		CreatedAt: now, ExpiresAt: now.Add(PasswordResetLifespan),
	})
	if err != nil {
		return gmail.Message{}, false, err
	}
	link := r.o.Issuer + PathPasswordReset + "?" + url.Values{"token": {token}}.Encode()
	m, err := r.o.Templates.Render(gmail.PasswordReset, u.Email, gmail.Data{Email: u.Email, Link: link, Expires: "30 minutes"})
	if err != nil {
		return gmail.Message{}, false, err
	}
	r.o.Audit.Record(ctx, audit.Event{Type: audit.PasswordResetSent, Actor: audit.ActorSystem, Subject: audit.UserSubject(u.ID)})
	return m, true, nil
}

// passwordMAC binds a link to the password and the address the person had
// when it was made: a password changed since, or an address changed since
// (the link went to the old one, which may no longer be theirs), makes it
// useless, whatever path changed them.
func (r *PasswordReset) passwordMAC(u *storage.User) []byte {
	return r.o.Keyring.MAC(purposePasswordMAC, []byte(u.ID+"\x00"+u.PasswordHash+"\x00"+u.Email))
}

// Check says whether token is a working link (the page that asks for the
// new password); ErrResetLink when not.
func (r *PasswordReset) Check(ctx context.Context, token string) error {
	_, _, err := r.find(ctx, token)
	return err
}

func (r *PasswordReset) find(ctx context.Context, token string) (*storage.PasswordReset, *storage.User, error) {
	if token == "" || len(token) > 100 {
		return nil, nil, ErrResetLink
	}
	pr, err := r.o.Store.PasswordResetByHash(ctx, secret.HashHandle(token))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil, ErrResetLink
	} else if err != nil {
		return nil, nil, err
	}
	u, err := r.o.Store.UserByID(ctx, pr.UserID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil, ErrResetLink
	} else if err != nil {
		return nil, nil, err
	}
	if u.Disabled || !hmac.Equal(pr.PasswordMAC, r.passwordMAC(u)) {
		return nil, nil, ErrResetLink
	}
	return pr, u, nil
}

// Complete sets password as the new password of the link's person: the
// link is used up, every session of theirs ends (their apps get
// back-channel logout), their sign-in failures are cleared, and the
// change is audited. ErrResetLink for a link that does not work (also
// when another request used it first), *PasswordError for a password
// that breaks the rules (the link still works then).
func (r *PasswordReset) Complete(ctx context.Context, token, password string) (*storage.User, error) {
	if err := CheckPasswordRules(password); err != nil {
		return nil, err
	}
	if _, _, err := r.find(ctx, token); err != nil {
		return nil, err
	}
	// argon2id outside the transaction: it takes tens of milliseconds.
	hash, err := secret.HashPassword(password)
	if err != nil {
		return nil, err
	}
	var u *storage.User
	var ended []*EndedSession
	err = r.o.Store.InTx(ctx, func(ctx context.Context) error {
		pr, err := r.o.Store.TakePasswordReset(ctx, secret.HashHandle(token))
		if errors.Is(err, storage.ErrNotFound) {
			return ErrResetLink
		} else if err != nil {
			return err
		}
		if u, err = r.o.Store.UserByID(ctx, pr.UserID); err != nil {
			return err
		}
		// The password may have changed between find and here.
		if u.Disabled || !hmac.Equal(pr.PasswordMAC, r.passwordMAC(u)) {
			return ErrResetLink
		}
		u.PasswordHash = hash
		// The link came to this address: it is the person's.
		u.EmailVerified = true
		u.UpdatedAt = r.o.Now().UTC()
		if err := r.o.Store.UpdateUser(ctx, u); err != nil {
			return err
		}
		if _, _, err := r.o.Store.ClearAccountLoginThrottles(ctx, Account(u.Email)); err != nil {
			return err
		}
		ended, err = r.o.Sessions.EndAll(ctx, u.ID, audit.UserSubject(u.ID), audit.SessionEndedByPasswordReset)
		return err
	})
	if err != nil {
		return nil, err
	}
	r.o.Audit.Record(ctx, audit.Event{
		Type: audit.PasswordResetCompleted, Actor: audit.UserSubject(u.ID), Subject: audit.UserSubject(u.ID),
		IP: reqctx.ClientIP(ctx), Details: map[string]string{"sessions_ended": fmt.Sprint(len(ended))},
	})
	return u, nil
}
