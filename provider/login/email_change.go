package login

import (
	"context"
	"errors"
	"net/url"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse-dev/gatehouse/internal/reqctx"
	"github.com/gatehouse-dev/gatehouse/provider/audit"
	gmail "github.com/gatehouse-dev/gatehouse/provider/mail"
	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// A person changes their own address: a link goes to the new address, and
// the address changes only when that link is confirmed (so nobody can
// take an address they cannot read, and a typo cannot lock a person out);
// until then the current address stays in use for sign-in and claims.
// The link is an e-mail verification link carrying the previous address
// (storage.EmailVerification.PreviousEmail); it replaces a pending
// verification of the current address. Confirming it ends every other
// session of the person: a session someone else holds must not outlive
// the owner's change of address, which is a change of the identifier
// they sign in with (OWASP ASVS 4.0 V3.3.3 asks the same after a
// password change; a password reset here does it too). Asking for an
// address another account has tells that account's owner, at most once a
// day per address.

// claimNoticeEvery is how often at most the owner of an address is told
// that someone asked to change their account to it, and maxClaimNotices
// how many addresses the gate remembers: each request for an address of
// another account queues a notice, and without the gate a signed-in
// account (held to 3 requests per 15 minutes) or many of them could fill
// a stranger's mailbox with them.
const (
	claimNoticeEvery = 24 * time.Hour
	maxClaimNotices  = 10000
)

// RequestChange queues a change link to newEmail for u. The caller has
// re-authenticated the person. An address of another account gets no
// link and the same nil answer (no enumeration), audited as such; its
// owner is told instead (composeClaimed), so that the work done is one
// deferred message either way.
func (v *EmailVerification) RequestChange(ctx context.Context, u *storage.User, newEmail string) error {
	email := normalEmail(newEmail)
	if email == "" {
		return ErrBadEmail
	}
	if email == u.Email {
		return ErrSameEmail
	}
	outcome := "sent"
	other, err := v.o.Store.UserByEmail(ctx, email)
	switch {
	case err == nil && other.ID != u.ID:
		outcome = "taken"
	case err != nil && !errors.Is(err, storage.ErrNotFound):
		return err
	}
	if outcome == "sent" {
		if _, err := v.o.Mail.Defer(ctx, MailKindChangeEmail, email, "Confirm your new e-mail address",
			map[string]string{"user_id": u.ID, "previous_email": u.Email}); err != nil {
			return err
		}
	} else {
		// Nothing about the asker goes in: the notice must not tell the
		// owner who asked (nor the asker anything about the owner). The
		// nonce tells a retry of this message from another one (noticeGate).
		if _, err := v.o.Mail.Defer(ctx, MailKindAddressClaimed, email, "Someone asked to use your e-mail address",
			map[string]string{"user_id": other.ID, "n": uuid.NewString()}); err != nil {
			return err
		}
	}
	v.o.Audit.Record(ctx, audit.Event{
		Type: audit.EmailChangeRequested, Actor: audit.UserSubject(u.ID), Subject: audit.UserSubject(u.ID), IP: reqctx.ClientIP(ctx),
		Details: map[string]string{"outcome": outcome},
	})
	return nil
}

// composeChange makes the change link when the outbox sends it; dropped
// when the person is gone or disabled, changed address since asking, or
// the new address went to another account meanwhile.
func (v *EmailVerification) composeChange(ctx context.Context, to string, data map[string]string) (gmail.Message, bool, error) {
	u, err := v.o.Store.UserByID(ctx, data["user_id"])
	if errors.Is(err, storage.ErrNotFound) {
		return gmail.Message{}, false, nil
	} else if err != nil {
		return gmail.Message{}, false, err
	}
	if u.Disabled || u.Email != data["previous_email"] || u.Email == to {
		return gmail.Message{}, false, nil
	}
	if other, err := v.o.Store.UserByEmail(ctx, to); err == nil && other.ID != u.ID {
		return gmail.Message{}, false, nil
	} else if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return gmail.Message{}, false, err
	}
	token, err := secret.NewHandle()
	if err != nil {
		return gmail.Message{}, false, err
	}
	now := v.o.Now()
	if err := v.o.Store.PutEmailVerification(ctx, &storage.EmailVerification{
		UserID: u.ID, TokenHash: secret.HashHandle(token), Email: to, PreviousEmail: u.Email,
		CreatedAt: now, ExpiresAt: now.Add(EmailVerificationLifespan),
	}); err != nil {
		return gmail.Message{}, false, err
	}
	link := v.o.Issuer + PathVerifyEmail + "?" + url.Values{"token": {token}}.Encode()
	m, err := v.o.Templates.Render(gmail.VerifyEmail, to, gmail.Data{Email: to, Link: link, Expires: "24 hours"})
	if err != nil {
		return gmail.Message{}, false, err
	}
	v.o.Audit.Record(ctx, audit.Event{Type: audit.EmailVerificationSent, Actor: audit.ActorSystem, Subject: audit.UserSubject(u.ID)})
	return m, true, nil
}

// composeChanged is the notice to the previous address, naming the new
// one: if someone else changed it, the owner learns of it where they
// still read mail.
func (v *EmailVerification) composeChanged(_ context.Context, to string, data map[string]string) (gmail.Message, bool, error) {
	m, err := v.o.Templates.Render(gmail.EmailChanged, to, gmail.Data{Email: data["email"]})
	return m, err == nil, err
}

// change makes email u's verified address within Confirm's transaction,
// queues the notice to the previous address and ends every session of
// u but keep in it too (all or nothing: an address changed with an
// attacker's session left alive is what this prevents), and returns how
// many sessions ended. Ending a session queues its apps' back-channel
// logout in the same transaction (Sessions.end), as a password reset
// does. An address another account has sets *taken and returns nil, so
// that the link is used up all the same; a unique violation from a
// concurrent taker (which aborts a PostgreSQL transaction) is
// ErrEmailTaken with the link kept.
func (v *EmailVerification) change(ctx context.Context, u *storage.User, email, keep string, taken *bool) (int, error) {
	if other, err := v.o.Store.UserByEmail(ctx, email); err == nil && other.ID != u.ID {
		*taken = true
		return 0, nil
	} else if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return 0, err
	}
	previous := u.Email
	u.Email, u.EmailVerified = email, true
	u.UpdatedAt = v.o.Now().UTC()
	if err := v.o.Store.UpdateUser(ctx, u); errors.Is(err, storage.ErrConflict) {
		return 0, ErrEmailTaken
	} else if err != nil {
		return 0, err
	}
	if _, err := v.o.Mail.Defer(ctx, MailKindEmailChanged, previous, "Your e-mail address was changed",
		map[string]string{"user_id": u.ID, "email": email}); err != nil {
		return 0, err
	}
	// Last, so that nothing after it in here can fail: the sessions are
	// audited as ended as soon as they are (as in PasswordReset.Complete).
	ended, err := v.o.Sessions.EndOthers(ctx, u.ID, keep, audit.UserSubject(u.ID), audit.SessionEndedByEmailChange)
	return len(ended), err
}

// composeClaimed tells the owner of an address that someone asked to
// change another account to it: nothing changed, there is nothing to do
// (no link: a notice that asks for no action cannot be used to phish).
// It names neither the other account nor its address. Dropped when the
// owner is gone or disabled, no longer has the address, or was told
// within claimNoticeEvery.
func (v *EmailVerification) composeClaimed(ctx context.Context, to string, data map[string]string) (gmail.Message, bool, error) {
	u, err := v.o.Store.UserByID(ctx, data["user_id"])
	if errors.Is(err, storage.ErrNotFound) {
		return gmail.Message{}, false, nil
	} else if err != nil {
		return gmail.Message{}, false, err
	}
	if u.Disabled || u.Email != to {
		return gmail.Message{}, false, nil
	}
	if !v.claimed.allow(to, data["n"], v.o.Now()) {
		v.o.Logger.DebugContext(ctx, "a notice of a claimed address was dropped: one went to the address lately", "user_id", u.ID)
		return gmail.Message{}, false, nil
	}
	m, err := v.o.Templates.Render(gmail.AddressClaimed, to, gmail.Data{Email: to})
	if err != nil {
		return gmail.Message{}, false, err
	}
	v.o.Audit.Record(ctx, audit.Event{Type: audit.EmailClaimNoticeSent, Actor: audit.ActorSystem, Subject: audit.UserSubject(u.ID)})
	return m, true, nil
}

// noticeGate lets one message per address through per period. It lives
// in the process: the outbox composes in each instance, so with N
// instances an address gets at most N notices a period (and one more
// after a restart) — a bound, which is what mail-bombing needs; the
// per-person limit of change requests (handlers) bounds the requests
// themselves. A message is known by a nonce in its data, so that a retry
// of the notice that got through (the mail server failed) goes through
// again. When it remembers max addresses within the period it lets no
// new one through: a flood loses courtesy notices, never memory.
type noticeGate struct {
	mu    sync.Mutex
	every time.Duration
	max   int
	sent  map[string]noticeSent
}

type noticeSent struct {
	nonce string
	at    time.Time
}

func newNoticeGate(every time.Duration, max int) *noticeGate {
	return &noticeGate{every: every, max: max, sent: map[string]noticeSent{}}
}

// allow says whether the message nonce to addr may go out at now, and
// remembers it when it may.
func (g *noticeGate) allow(addr, nonce string, now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if s, ok := g.sent[addr]; ok && now.Sub(s.at) < g.every {
		return nonce != "" && s.nonce == nonce
	}
	if len(g.sent) >= g.max {
		for a, s := range g.sent {
			if now.Sub(s.at) >= g.every {
				delete(g.sent, a)
			}
		}
		if len(g.sent) >= g.max {
			return false
		}
	}
	g.sent[addr] = noticeSent{nonce: nonce, at: now}
	return true
}
