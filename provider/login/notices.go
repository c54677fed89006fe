package login

import (
	"context"
	"errors"
	"log/slog"

	gmail "github.com/gatehouse-dev/gatehouse/provider/mail"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// Security notices: a person is told by e-mail when a way to sign in to
// their account changes — an authenticator app or a passkey added or
// removed, recovery codes replaced — so that a change they did not make
// (someone with their session or password) does not go unseen (OWASP
// Authentication Cheat Sheet, "notify the user"; NIST SP 800-63B §6.1.2.2
// asks for a notification when an authenticator is bound). Only to a
// verified address: an unverified one may be somebody else's.

// MailKindSecurityNotice names the deferred notice.
const MailKindSecurityNotice = "security_notice"

// The changes a notice tells of.
const (
	NoticeAuthenticatorAdded   = "authenticator_added"
	NoticeAuthenticatorRemoved = "authenticator_removed"
	NoticeRecoveryCodesNew     = "recovery_codes_new"
	NoticePasskeyAdded         = "passkey_added"
	NoticePasskeyRemoved       = "passkey_removed"
)

// noticeText is what each notice says, in plain words (fixed texts: no
// value a person or client chose goes into the message).
var noticeText = map[string]string{
	NoticeAuthenticatorAdded:   "An authenticator app was set up as a second sign-in step.",
	NoticeAuthenticatorRemoved: "The authenticator app was removed, with its recovery codes.",
	NoticeRecoveryCodesNew:     "New recovery codes were made; the old ones no longer work.",
	NoticePasskeyAdded:         "A passkey was added.",
	NoticePasskeyRemoved:       "A passkey was removed.",
}

// SecurityNoticeStore is what composing a notice reads.
type SecurityNoticeStore interface {
	UserByID(ctx context.Context, id string) (*storage.User, error)
}

// SecurityNoticeOptions configure NewSecurityNotices; Store, Mail and
// Templates are required.
type SecurityNoticeOptions struct {
	Store     SecurityNoticeStore
	Mail      Mailer
	Templates *gmail.Templates
	Logger    *slog.Logger
}

// SecurityNotices queues the notices.
type SecurityNotices struct {
	o SecurityNoticeOptions
}

// NewSecurityNotices registers the notice's composer with the outbox.
func NewSecurityNotices(o SecurityNoticeOptions) (*SecurityNotices, error) {
	if o.Store == nil || o.Mail == nil || o.Templates == nil {
		return nil, errors.New("login: security notices need Store, Mail and Templates")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	n := &SecurityNotices{o: o}
	o.Mail.Register(MailKindSecurityNotice, n.compose)
	return n, nil
}

// Notify queues the notice of what for u (one of the Notice* names). The
// change has happened by then: a failure to queue is logged, not
// returned, so the person's request is not answered as failed.
func (n *SecurityNotices) Notify(ctx context.Context, u *storage.User, what string) {
	if _, ok := noticeText[what]; !ok || u.Email == "" || !u.EmailVerified {
		return
	}
	if _, err := n.o.Mail.Defer(ctx, MailKindSecurityNotice, u.Email, "A change to how you sign in",
		map[string]string{"user_id": u.ID, "what": what}); err != nil {
		n.o.Logger.ErrorContext(ctx, "a security notice could not be queued", "user_id", u.ID, "what", what, "err", err)
	}
}

// compose makes the notice when the outbox sends it; dropped when the
// person is gone or no longer has that verified address.
func (n *SecurityNotices) compose(ctx context.Context, to string, data map[string]string) (gmail.Message, bool, error) {
	text, ok := noticeText[data["what"]]
	if !ok {
		return gmail.Message{}, false, nil
	}
	u, err := n.o.Store.UserByID(ctx, data["user_id"])
	if errors.Is(err, storage.ErrNotFound) {
		return gmail.Message{}, false, nil
	} else if err != nil {
		return gmail.Message{}, false, err
	}
	if u.Email != to || !u.EmailVerified {
		return gmail.Message{}, false, nil
	}
	m, err := n.o.Templates.Render(gmail.SecurityNotice, to, gmail.Data{Email: to, Event: text})
	return m, err == nil, err
}
