package login

import (
	"context"
	"errors"
	"net/url"

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
// verification of the current address.

// RequestChange queues a change link to newEmail for u. The caller has
// re-authenticated the person. An address of another account gets no
// link and the same nil answer (no enumeration), audited as such.
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

// change makes email u's verified address within Confirm's transaction
// and queues the notice to the previous address in it too (both or
// neither). An address another account has sets *taken and returns nil,
// so that the link is used up all the same; a unique violation from a
// concurrent taker (which aborts a PostgreSQL transaction) is
// ErrEmailTaken with the link kept.
func (v *EmailVerification) change(ctx context.Context, u *storage.User, email string, taken *bool) error {
	if other, err := v.o.Store.UserByEmail(ctx, email); err == nil && other.ID != u.ID {
		*taken = true
		return nil
	} else if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	previous := u.Email
	u.Email, u.EmailVerified = email, true
	u.UpdatedAt = v.o.Now().UTC()
	if err := v.o.Store.UpdateUser(ctx, u); errors.Is(err, storage.ErrConflict) {
		return ErrEmailTaken
	} else if err != nil {
		return err
	}
	_, err := v.o.Mail.Defer(ctx, MailKindEmailChanged, previous, "Your e-mail address was changed",
		map[string]string{"user_id": u.ID, "email": email})
	return err
}
