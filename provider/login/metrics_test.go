package login

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/obstest"
	"github.com/gatehouse-dev/gatehouse/provider/audit"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// TestMetricsLoginAttempts: each password sign-in attempt is counted once
// under its outcome, and the counts agree with the audit trail (failed =
// login.failed but for a lock, locked = login.failed of a locked account,
// lockouts = login.locked).
func TestMetricsLoginAttempts(t *testing.T) {
	ctx := context.Background()
	f := newLoginFixture(t, testLockout)
	const email, password = "alice@example.com", "correct horse battery"
	f.user(t, email, password, nil)
	f.user(t, "disabled@example.com", password, func(u *storage.User) { u.Disabled = true })
	attempt := func(email, password string, wantOK bool) {
		t.Helper()
		_, err := f.s.Authenticate(ctx, email, password, "")
		if wantOK != (err == nil) || (err != nil && !errors.Is(err, ErrInvalidCredentials)) {
			t.Fatalf("Authenticate(%q) = %v, want success %v", email, err, wantOK)
		}
	}
	attempts := func(outcome string) float64 {
		return obstest.CounterValue(t, f.reg, "gatehouse_login_attempts_total", map[string]string{"method": methodPassword, "outcome": outcome})
	}
	for _, o := range []string{outcomeSucceeded, outcomeFailed, outcomeLocked} {
		if got := attempts(o); got != 0 {
			t.Fatalf("%s before any attempt: %v, want 0", o, got)
		}
	}

	attempt(email, password, true)
	attempt(email, "wrong", false)
	attempt("disabled@example.com", password, false)
	attempt("", password, false) // invalid input
	attempt(email, "wrong", false)
	attempt(email, "wrong", false) // the third failure locks
	attempt(email, password, false)
	attempt(email, "wrong", false)
	f.advance(time.Minute)
	attempt(email, password, true)

	want := map[string]float64{outcomeSucceeded: 2, outcomeFailed: 5, outcomeLocked: 2}
	for o, n := range want {
		if got := attempts(o); got != n {
			t.Errorf("login attempts %s = %v, want %v", o, got, n)
		}
	}
	if got := obstest.CounterValue(t, f.reg, "gatehouse_login_lockouts_total", nil); got != 1 {
		t.Errorf("lockouts = %v, want 1", got)
	}

	fromAudit := map[string]float64{}
	for _, e := range f.events() {
		switch {
		case e.Type == audit.LoginSucceeded:
			fromAudit[outcomeSucceeded]++
		case e.Type == audit.LoginFailed && e.Details["reason"] == audit.LoginReasonLocked:
			fromAudit[outcomeLocked]++
		case e.Type == audit.LoginFailed:
			fromAudit[outcomeFailed]++
		case e.Type == audit.LoginLocked:
			fromAudit["lockouts"]++
		}
	}
	want["lockouts"] = 1
	for k, n := range want {
		if fromAudit[k] != n {
			t.Errorf("audit trail has %v %s, the metrics %v", fromAudit[k], k, n)
		}
	}
}

// TestMetricsRegistration: the sign-in counters are registered on the
// registry given, every series from the start, and a second service on
// the same registry is an error from New (the two would otherwise count
// apart, one of them unseen), not a panic.
func TestMetricsRegistration(t *testing.T) {
	f := newLoginFixture(t, testLockout)
	mfs, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := map[string]int{}
	for _, mf := range mfs {
		series[mf.GetName()] = len(mf.GetMetric())
	}
	for name, n := range map[string]int{"gatehouse_login_attempts_total": 5, "gatehouse_login_lockouts_total": 1} {
		if series[name] != n {
			t.Errorf("%s has %d series, want %d", name, series[name], n)
		}
	}
	if _, err := New(Options{Store: f.store, Keyring: f.ring, SessionLifespan: time.Hour, FlowLifespan: time.Minute, Metrics: f.reg}); err == nil {
		t.Fatal("a second service registered the same metrics")
	}
}
