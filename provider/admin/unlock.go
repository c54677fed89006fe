package admin

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/reqctx"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/audit"
	"github.com/gatehouse-dev/gatehouse/provider/login"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// LoginUnlock is what unlocking a user's password sign-in found.
type LoginUnlock struct {
	// WasLocked says the account was locked for unknown browsers;
	// LockedUntil is the lock that was lifted (zero when none) and
	// Failures the count that was cleared. Devices is how many known
	// browsers' failure records were cleared too.
	WasLocked   bool
	Failures    int
	LockedUntil time.Time
	Devices     int
}

// LoginUnlockView is an unlock as the CLI (--json) and the admin API
// show it; locked_until is null when the account was not locked.
type LoginUnlockView struct {
	UserID      string     `json:"user_id"`
	Email       string     `json:"email"`
	WasLocked   bool       `json:"was_locked"`
	Failures    int        `json:"failures"`
	LockedUntil *time.Time `json:"locked_until"`
	Devices     int        `json:"devices"`
}

// LoginUnlockViewOf describes the unlock r of u.
func LoginUnlockViewOf(u *storage.User, r *LoginUnlock) LoginUnlockView {
	v := LoginUnlockView{UserID: u.ID, Email: u.Email, WasLocked: r.WasLocked, Failures: r.Failures, Devices: r.Devices}
	if r.WasLocked {
		t := r.LockedUntil.UTC()
		v.LockedUntil = &t
	}
	return v
}

// UnlockLogin lifts the lock of the user id (ErrNotFound for an unknown
// one) for the admin API, as UnlockLogin does for the CLI.
func (a *Admin) UnlockLogin(ctx context.Context, who *provider.Principal, id string) (*storage.User, *LoginUnlock, error) {
	u, err := a.store.UserByID(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	res, ev, err := unlockLogin(ctx, a.store, u, who.Actor(), a.now())
	if err != nil {
		return nil, nil, err
	}
	if who != nil {
		ev.ClientID = who.ClientID
	}
	a.audit.Record(ctx, ev)
	return u, res, nil
}

// unlockLogin clears u's failures and returns what it found, with the
// audit event to record.
func unlockLogin(ctx context.Context, st storage.LoginThrottleStore, u *storage.User, actor string, now time.Time) (*LoginUnlock, audit.Event, error) {
	th, devices, err := st.ClearAccountLoginThrottles(ctx, login.Account(u.Email))
	if err != nil {
		return nil, audit.Event{}, fmt.Errorf("unlock sign-in: %w", err)
	}
	out := &LoginUnlock{Devices: devices}
	if th != nil {
		out.Failures = th.Failures
		out.WasLocked = th.Locked(now)
		if out.WasLocked {
			out.LockedUntil = th.LockedUntil
		}
	}
	ev := audit.Event{
		Type: audit.LoginUnlocked, Actor: actor, Subject: audit.UserSubject(u.ID), IP: reqctx.ClientIP(ctx),
		Details: map[string]string{
			"was_locked": strconv.FormatBool(out.WasLocked), "failures": strconv.Itoa(out.Failures),
			"devices": strconv.Itoa(out.Devices),
		},
	}
	return out, ev, nil
}
