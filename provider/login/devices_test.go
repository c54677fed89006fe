package login

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-dev/gatehouse/provider/providertest"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// rememberDevice signs u in on a browser that carries cookie and returns
// its new device cookie.
func (f *loginFixture) rememberDevice(t *testing.T, cookie string, u *storage.User) string {
	t.Helper()
	got, err := f.s.RememberDevice(cookie, u)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// The owner's browser, known to the account, signs in while an attacker
// guessing from unknown browsers keeps the account locked; the owner's
// success leaves the attacker's lock in place; the browser's own failures
// lock it alone.
func TestAuthenticateKnownDeviceIgnoresTheAccountLock(t *testing.T) {
	ctx := context.Background()
	f := newLoginFixture(t, testLockout)
	const email, password = "alice@example.com", "correct horse battery"
	u := f.user(t, email, password, nil)
	if _, err := f.s.Authenticate(ctx, email, password, ""); err != nil {
		t.Fatal(err)
	}
	owner := f.rememberDevice(t, "", u)
	attempt := func(cookie, pw string, wantOK bool, what string) {
		t.Helper()
		got, err := f.s.Authenticate(ctx, email, pw, cookie)
		switch {
		case wantOK && (err != nil || got == nil || got.ID != u.ID):
			t.Fatalf("%s: Authenticate = %v, %v; want the user", what, got, err)
		case !wantOK && !errors.Is(err, ErrInvalidCredentials):
			t.Fatalf("%s: err = %v, want ErrInvalidCredentials", what, err)
		}
	}

	for range 3 {
		attempt("", "attacker's guess", false, "attacker")
	}
	accountLock := f.throttle(t, email)
	if !accountLock.Locked(f.clock()) {
		t.Fatalf("the attacker's guesses did not lock the account: %+v", accountLock)
	}
	attempt("", password, false, "the right password from an unknown browser during the lock")
	attempt(owner, password, true, "the owner's browser during the lock")
	if th := f.throttle(t, email); th == nil || th.Failures != 3 || !th.LockedUntil.Equal(accountLock.LockedUntil) {
		t.Fatalf("the owner's sign-in changed the account's record: %+v, want %+v", th, accountLock)
	}

	// The owner's browser is judged by its own failures: they lock it
	// alone, and the right password waits for that lock like anyone's.
	device := storage.LoginThrottleKey{Account: Account(email), Device: f.s.knownDevice(owner, Account(email), f.clock())}
	if device.Device == "" {
		t.Fatal("the owner's cookie does not know the account")
	}
	for range 3 {
		attempt(owner, "typo", false, "the owner's typo")
	}
	if th := f.throttleOf(t, device); th == nil || th.Failures != 3 || !th.Locked(f.clock()) {
		t.Fatalf("the browser's failures: %+v, want its own lock", th)
	}
	attempt(owner, password, false, "the right password from the locked browser")
	f.advance(testLockout.Lockout)
	attempt(owner, password, true, "the owner's browser after its lock")
	if th := f.throttleOf(t, device); th != nil {
		t.Fatalf("the success left the browser's record: %+v", th)
	}

	events := f.events()
	providertest.WantEvents(t, events, "login.succeeded",
		"login.failed wrong_password", "login.failed wrong_password", "login.failed wrong_password", "login.locked",
		"login.failed locked", "login.succeeded",
		"login.failed wrong_password", "login.failed wrong_password", "login.failed wrong_password", "login.locked",
		"login.failed locked", "login.succeeded")
	wantDevice := []string{"unknown", "unknown", "unknown", "unknown", "unknown", "unknown", "known",
		"known", "known", "known", "known", "known", "known"}
	for i, e := range events {
		if e.Details["device"] != wantDevice[i] {
			t.Errorf("event %d (%s): device = %q, want %q", i, e.Type, e.Details["device"], wantDevice[i])
		}
	}
}

// A device cookie knows only the accounts it was given for, only with a
// valid MAC under a configured secret, and only for DeviceCookieLifetime.
func TestDeviceCookieKnowsOnlyItsAccounts(t *testing.T) {
	f := newLoginFixture(t, testLockout)
	alice := f.user(t, "alice@example.com", "alice's password", nil)
	bob := f.user(t, "bob@example.com", "bob's password", nil)
	aliceAccount, bobAccount := Account(alice.Email), Account(bob.Email)
	knows := func(s *Service, cookie, account string) bool {
		return s.knownDevice(cookie, account, f.clock()) != ""
	}

	bobs := f.rememberDevice(t, "", bob)
	if !knows(f.s, bobs, bobAccount) || knows(f.s, bobs, aliceAccount) {
		t.Fatal("bob's cookie: want it to know bob's account only")
	}
	both := f.rememberDevice(t, bobs, alice)
	if !knows(f.s, both, aliceAccount) || !knows(f.s, both, bobAccount) {
		t.Fatal("a browser that signed in to both accounts does not know both")
	}
	if f.s.knownDevice(both, bobAccount, f.clock()) != f.s.knownDevice(bobs, bobAccount, f.clock()) {
		t.Error("signing in to alice changed the browser's device for bob")
	}
	again := f.rememberDevice(t, both, alice)
	if strings.Count(again, ".") != 1 {
		t.Errorf("signing in to alice again: %d entries, want 2", strings.Count(again, ".")+1)
	}
	if f.s.knownDevice(again, aliceAccount, f.clock()) == f.s.knownDevice(both, aliceAccount, f.clock()) {
		t.Error("a new sign-in kept the browser's old device (its nonce must be new)")
	}

	// A changed MAC, account or nonce, or garbage, is an unknown browser.
	tampered := []byte(bobs)
	tampered[len(tampered)-2] ^= 1
	for what, cookie := range map[string]string{
		"a changed MAC": string(tampered), "an empty cookie": "", "dots": "....",
		"not base64": strings.Repeat("!", 118), "too long": strings.Repeat(bobs+".", 10),
		"a short entry": bobs[:50],
	} {
		if knows(f.s, cookie, bobAccount) {
			t.Errorf("a cookie of %s is known", what)
		}
	}

	// Old secrets verify; a secret that was never configured does not.
	rotated := f.newService(t, testSecret+"-rotated", []string{testSecret}, prometheus.NewRegistry())
	if !knows(rotated, bobs, bobAccount) {
		t.Error("a cookie made under the old secret is not known after the rotation")
	}
	stranger := f.newService(t, testSecret+"-rotated", nil, prometheus.NewRegistry())
	if knows(stranger, bobs, bobAccount) {
		t.Error("a cookie is known under a secret it was not made with")
	}

	// At most maxDeviceAccounts accounts, the most recent first.
	cookie := ""
	var users []*storage.User
	for _, name := range []string{"c", "d", "e", "f", "g", "h"} {
		u := f.user(t, name+"@example.com", name+"'s long password", nil)
		users = append(users, u)
		cookie = f.rememberDevice(t, cookie, u)
	}
	if n := strings.Count(cookie, ".") + 1; n != maxDeviceAccounts {
		t.Fatalf("cookie of 6 accounts has %d entries, want %d", n, maxDeviceAccounts)
	}
	if knows(f.s, cookie, Account(users[0].Email)) || !knows(f.s, cookie, Account(users[1].Email)) ||
		!knows(f.s, cookie, Account(users[5].Email)) {
		t.Error("the cookie forgot another account than the oldest")
	}

	// An entry older than DeviceCookieLifetime is not known any more.
	f.advance(DeviceCookieLifetime - time.Second)
	if !knows(f.s, bobs, bobAccount) {
		t.Error("a cookie is forgotten before its lifetime")
	}
	f.advance(2 * time.Second)
	if knows(f.s, bobs, bobAccount) {
		t.Error("a cookie is known after its lifetime")
	}
}
