package login

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-dev/gatehouse/internal/clocktest"
	"github.com/gatehouse-dev/gatehouse/provider/audit"
	"github.com/gatehouse-dev/gatehouse/provider/providertest"
	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore/bunstoretest"
)

// testSecret is the system secret of the fixture's service.
const testSecret = "login-test-secret-login-test-secret-login-01"

// loginFixture is sign-in with a clock the test moves, small lockout
// settings and an audit log the test can read.
type loginFixture struct {
	s     *Service
	store *bunstore.Store
	ring  *secret.Keyring
	clk   *clocktest.Clock
	log   *providertest.AuditLog
	reg   *prometheus.Registry // the service's metrics
	// lockout is the service's lockout settings.
	lockout LockoutOptions
}

var testLockout = LockoutOptions{MaxFailures: 3, Lockout: time.Minute, MaxLockout: 4 * time.Minute, FailureReset: time.Hour}

func newLoginFixture(t *testing.T, lockout LockoutOptions) *loginFixture {
	t.Helper()
	f := &loginFixture{clk: clocktest.New(time.Now().UTC().Truncate(time.Second)), reg: prometheus.NewRegistry(), lockout: lockout}
	f.store = bunstoretest.Open(t, "sqlite", bunstore.Options{Now: f.clock})
	f.log = providertest.NewAuditLog(t, f.clock)
	f.s = f.newService(t, testSecret, nil, f.reg)
	f.ring = f.s.ring
	return f
}

// newService is another service (another instance) on the fixture's
// database, clock and audit log, with the system secret current and the
// old ones; metrics go to reg.
func (f *loginFixture) newService(t *testing.T, current string, old []string, reg *prometheus.Registry) *Service {
	t.Helper()
	ring, err := secret.NewKeyring(current, old)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{
		Store: f.store, Keyring: ring, SessionLifespan: time.Hour, FlowLifespan: time.Minute,
		Audit: f.log.Recorder, Lockout: f.lockout, Now: f.clock, Logger: slog.New(slog.DiscardHandler), Metrics: reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (f *loginFixture) clock() time.Time { return f.clk.Now() }

func (f *loginFixture) advance(d time.Duration) { f.clk.Advance(d) }

func (f *loginFixture) user(t *testing.T, email, password string, mod func(*storage.User)) *storage.User {
	t.Helper()
	u := &storage.User{ID: uuid.NewString(), Email: email, Roles: []string{}, CreatedAt: f.clock(), UpdatedAt: f.clock()}
	if password != "" {
		var err error
		if u.PasswordHash, err = secret.HashPassword(password); err != nil {
			t.Fatal(err)
		}
	}
	if mod != nil {
		mod(u)
	}
	if err := f.store.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u
}

// events stops the audit log and returns what it recorded.
func (f *loginFixture) events() []storage.AuditEvent { return f.log.Events() }

// throttle returns the account-wide failure record of email, nil when it
// has none.
func (f *loginFixture) throttle(t *testing.T, email string) *storage.LoginThrottle {
	t.Helper()
	return f.throttleOf(t, storage.LoginThrottleKey{Account: Account(email)})
}

func (f *loginFixture) throttleOf(t *testing.T, key storage.LoginThrottleKey) *storage.LoginThrottle {
	t.Helper()
	th, err := f.store.LoginThrottle(context.Background(), key)
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return th
}

func TestAuthenticate(t *testing.T) {
	f := newLoginFixture(t, testLockout)
	ctx := context.Background()
	u := f.user(t, "bob@example.com", "bobs password", nil)
	if got, err := f.s.Authenticate(ctx, " BOB@example.com ", "bobs password", ""); err != nil || got.ID != u.ID {
		t.Fatalf("right password: %v", err)
	}
	for _, tc := range [][2]string{{"bob@example.com", "wrong"}, {"nobody@example.com", "bobs password"}, {"", ""}, {"bob@example.com", strings.Repeat("x", 2000)}} {
		if _, err := f.s.Authenticate(ctx, tc[0], tc[1], ""); !errors.Is(err, ErrInvalidCredentials) {
			t.Errorf("%q: %v", tc[0], err)
		}
	}
}

func TestAccount(t *testing.T) {
	a := Account("alice@example.com")
	if len(a) != 64 || strings.Trim(a, "0123456789abcdef") != "" {
		t.Fatalf("Account = %q, want 64 hex digits", a)
	}
	if Account("  Alice@Example.COM\t") != a {
		t.Fatal("Account depends on case or surrounding space")
	}
	if Account("bob@example.com") == a {
		t.Fatal("two e-mails share an account key")
	}
}

func TestLoginLockoutDefaults(t *testing.T) {
	f := newLoginFixture(t, LockoutOptions{})
	if got, want := f.s.lockout, DefaultLockout(); got != want {
		t.Fatalf("zero options became %+v, want %+v", got, want)
	}
	f = newLoginFixture(t, LockoutOptions{Lockout: 2 * time.Hour})
	if got := f.s.lockout; got.MaxLockout != 2*time.Hour || got.MaxFailures != 5 {
		t.Fatalf("a long Lockout without MaxLockout became %+v", got)
	}
}

func TestAuthenticateLocksWithBackOff(t *testing.T) {
	ctx := context.Background()
	f := newLoginFixture(t, testLockout)
	const email, password = "alice@example.com", "correct horse battery"
	u := f.user(t, email, password, nil)
	wrong := func(what string) {
		t.Helper()
		if _, err := f.s.Authenticate(ctx, email, "wrong password", ""); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("%s: err = %v, want ErrInvalidCredentials", what, err)
		}
	}
	right := func(what string, wantOK bool) {
		t.Helper()
		got, err := f.s.Authenticate(ctx, " Alice@Example.com ", password, "")
		switch {
		case wantOK && (err != nil || got == nil || got.ID != u.ID):
			t.Fatalf("%s: Authenticate = %v, %v; want the user", what, got, err)
		case !wantOK && !errors.Is(err, ErrInvalidCredentials):
			t.Fatalf("%s: err = %v, want ErrInvalidCredentials", what, err)
		}
	}

	// Failures below the limit, then a success, which clears them.
	wrong("1st failure")
	wrong("2nd failure")
	if th := f.throttle(t, email); th == nil || th.Failures != 2 || !th.LockedUntil.IsZero() {
		t.Fatalf("after 2 failures: %+v", th)
	}
	right("success below the limit", true)
	if th := f.throttle(t, email); th != nil {
		t.Fatalf("a success left %+v", th)
	}

	// MaxFailures in a row lock the account: the right password fails.
	wrong("1st failure")
	wrong("2nd failure")
	wrong("3rd failure")
	lockStart := f.clock()
	th := f.throttle(t, email)
	if th == nil || th.Failures != 3 || !th.LockedUntil.Equal(lockStart.Add(time.Minute)) {
		t.Fatalf("after 3 failures: %+v, want locked until %v", th, lockStart.Add(time.Minute))
	}
	right("right password while locked", false)
	// Attempts during the lock are not counted and do not extend it.
	f.advance(30 * time.Second)
	wrong("failure during the lock")
	if th := f.throttle(t, email); th.Failures != 3 || !th.LockedUntil.Equal(lockStart.Add(time.Minute)) {
		t.Fatalf("a failure during the lock changed it: %+v", th)
	}

	// After the lock one failure does not lock again: the count starts
	// over, and only MaxFailures new failures lock, twice as long.
	f.advance(30 * time.Second)
	wrong("1st failure after the lock")
	if th := f.throttle(t, email); th.Failures != 1 || th.Locks != 1 || th.Locked(f.clock()) {
		t.Fatalf("one failure after the lock: %+v, want 1 failure, not locked", th)
	}
	wrong("2nd failure after the lock")
	wrong("3rd failure after the lock")
	if th := f.throttle(t, email); th.Failures != 3 || th.Locks != 2 || !th.LockedUntil.Equal(f.clock().Add(2*time.Minute)) {
		t.Fatalf("second lock: %+v, want locked until %v", th, f.clock().Add(2*time.Minute))
	}
	f.advance(2*time.Minute - time.Second)
	right("one second before the second lock ends", false)
	f.advance(time.Second)
	right("after the second lock", true)
	if th := f.throttle(t, email); th != nil {
		t.Fatalf("a success left %+v", th)
	}

	events := f.events()
	providertest.WantEvents(t, events,
		"login.failed wrong_password", "login.failed wrong_password", "login.succeeded",
		"login.failed wrong_password", "login.failed wrong_password", "login.failed wrong_password", "login.locked",
		"login.failed locked", "login.failed locked",
		"login.failed wrong_password", "login.failed wrong_password", "login.failed wrong_password", "login.locked",
		"login.failed locked", "login.succeeded",
	)
	for _, e := range events {
		if e.Subject != "user:"+u.ID {
			t.Errorf("%s subject = %q, want user:%s", e.Type, e.Subject, u.ID)
		}
		if e.Details["device"] != audit.LoginDeviceUnknown {
			t.Errorf("%s device = %q, want unknown", e.Type, e.Details["device"])
		}
		if e.Type == audit.LoginLocked && (e.Details["locked_until"] == "" || e.Details["failures"] != "3") {
			t.Errorf("login.locked details = %v", e.Details)
		}
	}
	if got := events[6].Details["locks"]; got != "1" {
		t.Errorf("first login.locked locks = %q, want 1", got)
	}
	if got := events[12].Details["locks"]; got != "2" {
		t.Errorf("second login.locked locks = %q, want 2", got)
	}
}

// An e-mail of no account fails, counts and locks exactly like one of an
// account, and its events never carry what was typed.
func TestAuthenticateUnknownAccountIsThrottledAlike(t *testing.T) {
	ctx := context.Background()
	f := newLoginFixture(t, testLockout)
	const email = "nobody@example.com"
	for range 4 {
		if _, err := f.s.Authenticate(ctx, email, "some password", ""); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("err = %v, want ErrInvalidCredentials", err)
		}
	}
	if th := f.throttle(t, email); th == nil || th.Failures != 3 || !th.Locked(f.clock()) {
		t.Fatalf("unknown account after 4 failures: %+v", th)
	}
	events := f.events()
	providertest.WantEvents(t, events,
		"login.failed unknown_account", "login.failed unknown_account", "login.failed unknown_account", "login.locked",
		"login.failed locked")
	wantSubject := "account:" + Account(email)[:16]
	for _, e := range events {
		if e.Subject != wantSubject || e.Actor != "anonymous" {
			t.Errorf("%s actor %q subject %q, want anonymous and %q", e.Type, e.Actor, e.Subject, wantSubject)
		}
		for k, v := range e.Details {
			if strings.Contains(v, "nobody") {
				t.Errorf("%s detail %s carries the typed e-mail: %q", e.Type, k, v)
			}
		}
	}
}

func TestAuthenticateFailureReasons(t *testing.T) {
	ctx := context.Background()
	f := newLoginFixture(t, testLockout)
	const password = "correct horse battery"
	f.user(t, "disabled@example.com", password, func(u *storage.User) { u.Disabled = true })
	f.user(t, "federated@example.com", "", nil)
	for _, tc := range []struct{ email, password string }{
		{"disabled@example.com", password},
		{"federated@example.com", password},
		{"", password},
		{"someone@example.com", ""},
		{"someone@example.com", strings.Repeat("x", secret.MaxPasswordLen+1)},
	} {
		if u, err := f.s.Authenticate(ctx, tc.email, tc.password, ""); !errors.Is(err, ErrInvalidCredentials) || u != nil {
			t.Fatalf("Authenticate(%q) = %v, %v; want ErrInvalidCredentials", tc.email, u, err)
		}
	}
	// A disabled account's right password counts as a failure too.
	if th := f.throttle(t, "disabled@example.com"); th == nil || th.Failures != 1 {
		t.Fatalf("disabled account: %+v", th)
	}
	// Malformed input is no guess: not counted.
	if th := f.throttle(t, "someone@example.com"); th != nil {
		t.Fatalf("malformed input counted: %+v", th)
	}
	events := f.events()
	providertest.WantEvents(t, events, "login.failed disabled", "login.failed no_password",
		"login.failed invalid_input", "login.failed invalid_input", "login.failed invalid_input")
	if events[2].Subject != "" {
		t.Errorf("empty e-mail subject = %q", events[2].Subject)
	}
}
