package admin

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/audit"
	"github.com/gatehouse-dev/gatehouse/provider/login"
	"github.com/gatehouse-dev/gatehouse/provider/providertest"
	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore/bunstoretest"
)

var testLockout = login.LockoutOptions{MaxFailures: 3, Lockout: time.Minute, MaxLockout: 4 * time.Minute, FailureReset: time.Hour}

func newLockoutFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureOn(t, bunstoretest.Open(t, "sqlite", bunstore.Options{}), func(o *login.Options) { o.Lockout = testLockout })
}

func TestUnlockLogin(t *testing.T) {
	ctx := context.Background()
	f := newLockoutFixture(t)
	const email, password = "alice@example.com", "correct horse battery"
	u := f.user(t, email)
	operator := &provider.Principal{ClientID: "ops"}

	_, res, err := f.a.UnlockLogin(ctx, operator, u.ID)
	if err != nil || res.WasLocked || res.Failures != 0 {
		t.Fatalf("unlocking an account without failures: %+v, %v", res, err)
	}
	for range 3 {
		_, _ = f.signIn.Authenticate(ctx, email, "wrong password", "")
	}
	if _, err := f.signIn.Authenticate(ctx, email, password, ""); !errors.Is(err, login.ErrInvalidCredentials) {
		t.Fatalf("locked account signed in: %v", err)
	}
	_, res, err = f.a.UnlockLogin(ctx, operator, u.ID)
	if err != nil || !res.WasLocked || res.Failures != 3 || !res.LockedUntil.Equal(f.Clock.Now().Add(time.Minute)) {
		t.Fatalf("unlock: %+v, %v", res, err)
	}
	if got, err := f.signIn.Authenticate(ctx, email, password, ""); err != nil || got.ID != u.ID {
		t.Fatalf("after unlock: %v, %v", got, err)
	}
	if _, _, err := f.a.UnlockLogin(ctx, operator, "no-such-user"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("unlocking an unknown user: %v", err)
	}
	var events []storage.AuditEvent
	for _, e := range f.log.Events() {
		if strings.HasPrefix(e.Type, "login.") {
			events = append(events, e)
		}
	}
	providertest.WantEvents(t, events, "login.unlocked",
		"login.failed wrong_password", "login.failed wrong_password", "login.failed wrong_password", "login.locked",
		"login.failed locked", "login.unlocked", "login.succeeded")
	unlocked := events[6]
	if unlocked.Actor != "client:ops" || unlocked.ClientID != "ops" || unlocked.Subject != "user:"+u.ID || unlocked.Details["was_locked"] != "true" {
		t.Fatalf("login.unlocked = %+v", unlocked)
	}
}

// Unlocking and a new password clear the account's lock and the failures
// of every browser that knew it.
func TestUnlockAndPasswordResetClearKnownDevices(t *testing.T) {
	ctx := context.Background()
	f := newLockoutFixture(t)
	const email = "alice@example.com"
	u := f.user(t, email)
	var browsers []string
	for range 2 {
		cookie, err := f.signIn.RememberDevice("", u)
		if err != nil {
			t.Fatal(err)
		}
		browsers = append(browsers, cookie)
	}
	fail := func() {
		t.Helper()
		for _, cookie := range append([]string{"", "", ""}, browsers...) {
			if _, err := f.signIn.Authenticate(ctx, email, "wrong password", cookie); !errors.Is(err, login.ErrInvalidCredentials) {
				t.Fatal(err)
			}
		}
	}

	fail()
	_, res, err := f.a.UnlockLogin(ctx, nil, u.ID)
	if err != nil || !res.WasLocked || res.Failures != 3 || res.Devices != 2 {
		t.Fatalf("unlock: %+v, %v; want a lock of 3 failures and 2 browsers", res, err)
	}
	if _, res, _ = f.a.UnlockLogin(ctx, nil, u.ID); res.Failures != 0 || res.Devices != 0 {
		t.Fatalf("the unlock left %+v", res)
	}

	fail()
	if _, err := f.a.SetUserPassword(ctx, nil, u.ID, "a new long password"); err != nil {
		t.Fatal(err)
	}
	if _, res, _ = f.a.UnlockLogin(ctx, nil, u.ID); res.Failures != 0 || res.Devices != 0 {
		t.Fatalf("the password reset left %+v", res)
	}
	if _, err := f.signIn.Authenticate(ctx, email, "a new long password", ""); err != nil {
		t.Fatalf("the new password from an unknown browser: %v", err)
	}
	for _, e := range f.log.Events() {
		if e.Type == audit.LoginUnlocked && e.Details["devices"] != "2" && e.Details["was_locked"] == "true" {
			t.Errorf("login.unlocked details = %v, want devices 2", e.Details)
		}
	}
}
