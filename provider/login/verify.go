package login

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"strconv"
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

// MailKindChangeEmail names the deferred link that changes an address
// (sent to the new address); MailKindEmailChanged the notice to the
// previous address once it changed; MailKindAddressClaimed the notice to
// the owner of an address someone asked to change their own account to.
const (
	MailKindChangeEmail    = "change_email"
	MailKindEmailChanged   = "email_changed"
	MailKindAddressClaimed = "address_claimed"
)

var (
	// ErrVerifyLink: the verification link is unknown, used, replaced,
	// expired, or the address changed since.
	ErrVerifyLink = errors.New("login: the e-mail verification link is not valid")
	// ErrBadEmail: the new address is not a bare address of at most 320
	// bytes.
	ErrBadEmail = errors.New("login: not an e-mail address")
	// ErrSameEmail: the new address is the person's address already.
	ErrSameEmail = errors.New("login: that is the address already")
	// ErrEmailTaken: a change link was confirmed for an address another
	// account took since the link was sent. The link is used up.
	ErrEmailTaken = errors.New("login: the new e-mail address belongs to another account")
)

// VerifyStore is the storage e-mail verification needs.
type VerifyStore interface {
	UserByID(ctx context.Context, id string) (*storage.User, error)
	UserByEmail(ctx context.Context, email string) (*storage.User, error)
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
	// Sessions ends the person's other sessions when a change of address
	// is confirmed (their apps get back-channel logout).
	Sessions *Sessions
	Audit    *audit.Recorder
	Now      func() time.Time
	Logger   *slog.Logger
}

// EmailVerification sends and checks verification links. Safe for
// concurrent use.
type EmailVerification struct {
	o EmailVerificationOptions
	// claimed holds the notices to owners of claimed addresses to one per
	// address per claimNoticeEvery.
	claimed *noticeGate
}

// NewEmailVerification returns e-mail verification as o configures it,
// and registers its message with the outbox.
func NewEmailVerification(o EmailVerificationOptions) (*EmailVerification, error) {
	if o.Store == nil || o.Mail == nil || o.Templates == nil || o.Issuer == "" || o.Sessions == nil {
		return nil, errors.New("login: e-mail verification needs Store, Mail, Templates, Issuer and Sessions")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	v := &EmailVerification{o: o, claimed: newNoticeGate(claimNoticeEvery, maxClaimNotices)}
	o.Mail.Register(MailKindVerifyEmail, v.compose)
	o.Mail.Register(MailKindChangeEmail, v.composeChange)
	o.Mail.Register(MailKindEmailChanged, v.composeChanged)
	o.Mail.Register(MailKindAddressClaimed, v.composeClaimed)
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
	if errors.Is(err, storage.ErrNotFound) || err == nil && !linkFits(u, ev) {
		return ErrVerifyLink
	}
	return err
}

// linkFits: the person still has the address the link was made for: the
// address it verifies, or for a change the address they had when asking
// (an address changed since, by an administrator or another change,
// makes the link worthless).
func linkFits(u *storage.User, ev *storage.EmailVerification) bool {
	if ev.PreviousEmail != "" {
		return u.Email == ev.PreviousEmail
	}
	return u.Email == ev.Email
}

// Confirm marks the link's address verified and uses the link up; a
// change link makes its address the person's (verified), tells the
// previous address and ends every other session of the person: keep is
// the login session (storage.LoginSession.ID) of the browser confirming,
// "" when it is signed in as nobody, and stays only when it is the
// person's. ErrEmailTaken when another account has the new address by
// now.
func (v *EmailVerification) Confirm(ctx context.Context, token, keep string) (*storage.User, error) {
	if token == "" || len(token) > 100 {
		return nil, ErrVerifyLink
	}
	var (
		u        *storage.User
		previous string // the address before a change
		taken    bool   // a change to an address another account has
		ended    int    // sessions the change ended
	)
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
		if !linkFits(u, ev) {
			return ErrVerifyLink
		}
		if ev.PreviousEmail != "" {
			previous = ev.PreviousEmail
			ended, err = v.change(ctx, u, ev.Email, keep, &taken)
			return err
		}
		u.EmailVerified = true
		u.UpdatedAt = v.o.Now().UTC()
		return v.o.Store.UpdateUser(ctx, u)
	})
	if taken {
		// The link was used up (the transaction committed); the address
		// stays as it was.
		v.o.Audit.Record(ctx, audit.Event{
			Type: audit.EmailChangeRequested, Actor: audit.UserSubject(u.ID), Subject: audit.UserSubject(u.ID), IP: reqctx.ClientIP(ctx),
			Details: map[string]string{"outcome": "taken_meanwhile"},
		})
		return nil, ErrEmailTaken
	}
	if err != nil {
		return nil, err
	}
	if previous != "" {
		v.o.Audit.Record(ctx, audit.Event{
			Type: audit.EmailChanged, Actor: audit.UserSubject(u.ID), Subject: audit.UserSubject(u.ID), IP: reqctx.ClientIP(ctx),
			Details: map[string]string{"previous_email": previous, "email": u.Email, "sessions_ended": strconv.Itoa(ended)},
		})
		return u, nil
	}
	v.o.Audit.Record(ctx, audit.Event{
		Type: audit.EmailVerified, Actor: audit.UserSubject(u.ID), Subject: audit.UserSubject(u.ID), IP: reqctx.ClientIP(ctx),
		Details: map[string]string{"email": u.Email},
	})
	return u, nil
}
