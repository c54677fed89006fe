package admin

import (
	"context"
	"fmt"
	"strconv"

	"github.com/gatehouse-dev/gatehouse/internal/reqctx"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/audit"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// SecondFactorReset is what resetting a person's second factors did.
type SecondFactorReset struct {
	// Removed says they had an authenticator or recovery codes.
	Removed bool
	// SessionsEnded is how many of their login sessions were ended (each
	// one's apps told, as any admin sign-out does).
	SessionsEnded int
}

// SecondFactorResetView is a reset as the CLI (--json) and the admin API
// show it.
type SecondFactorResetView struct {
	UserID        string `json:"user_id"`
	Email         string `json:"email"`
	Removed       bool   `json:"removed"`
	SessionsEnded int    `json:"sessions_ended"`
}

// SecondFactorResetViewOf describes the reset r of u.
func SecondFactorResetViewOf(u *storage.User, r *SecondFactorReset) SecondFactorResetView {
	return SecondFactorResetView{UserID: u.ID, Email: u.Email, Removed: r.Removed, SessionsEnded: r.SessionsEnded}
}

// ResetSecondFactors removes the user's authenticator and recovery codes
// (a person who lost both) and ends all their sessions, so that the next
// sign-in starts from the password alone (and sets up a new authenticator
// where one is required). Audited as mfa.reset; ErrNotFound for an unknown
// user.
func (a *Admin) ResetSecondFactors(ctx context.Context, who *provider.Principal, id string) (*storage.User, *SecondFactorReset, error) {
	u, err := a.store.UserByID(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	removed, err := a.store.DeleteSecondFactors(ctx, u.ID)
	if err != nil {
		return nil, nil, fmt.Errorf("reset second factors: %w", err)
	}
	ended, err := a.EndUserSessions(ctx, who, u.ID)
	res := &SecondFactorReset{Removed: removed, SessionsEnded: len(ended)}
	ev := audit.Event{
		Type: audit.MFAReset, Actor: who.Actor(), Subject: audit.UserSubject(u.ID), IP: reqctx.ClientIP(ctx),
		Details: map[string]string{"removed": strconv.FormatBool(removed), "sessions_ended": strconv.Itoa(len(ended))},
	}
	if who != nil {
		ev.ClientID = who.ClientID
	}
	// Recorded also when ending the sessions failed half-way: the factors
	// are gone.
	a.audit.Record(ctx, ev)
	if err != nil {
		return nil, nil, err
	}
	return u, res, nil
}
