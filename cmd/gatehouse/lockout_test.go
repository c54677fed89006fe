package main

// End-to-end tests of sign-in lockout: a brute force through the real
// login form locks the account for unknown browsers (the right password
// then fails like a wrong one); after a lock a new count is needed for the
// next, longer one; `gatehouse users unlock`, the admin API's unlock and
// password reset lift it; and an attacker guessing from many addresses
// never locks out the owner's browser, which carries the account's device
// cookie. The server runs on a clock the test moves, so no test waits for
// a lock to end.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/internal/clocktest"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/provider/login"
	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore/bunstoretest"
)

// loginAuditRow is a login.* row of the audit trail with its details.
type loginAuditRow struct {
	Type, Actor, Subject, IP string
	Details                  map[string]string
}

// readLoginAudit reads the login.* audit events of the database of dsn.
func readLoginAudit(t *testing.T, dsn string) []loginAuditRow {
	t.Helper()
	db := openReadOnly(t, dsn)
	defer db.Close()
	rows, err := db.QueryContext(context.Background(),
		"SELECT type, actor, subject, ip, details FROM audit_events WHERE type LIKE 'login.%' ORDER BY time, id")
	if err != nil {
		t.Fatalf("read audit events: %v", err)
	}
	defer rows.Close()
	var out []loginAuditRow
	for rows.Next() {
		var r loginAuditRow
		var details string
		if err := rows.Scan(&r.Type, &r.Actor, &r.Subject, &r.IP, &details); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(details), &r.Details); err != nil {
			t.Fatalf("details %q: %v", details, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// loginAuditKey is "type reason" (or "type") of an audit row.
func (r loginAuditRow) key() string {
	if reason := r.Details["reason"]; reason != "" {
		return r.Type + " " + reason
	}
	return r.Type
}

// waitLoginAudit waits until the audit trail holds at least want[key]
// rows of each key, for up to 10 s (the server's recorder writes it in the
// background, in batches: testAuditFlush), and returns it.
func waitLoginAudit(t *testing.T, dsn string, want map[string]int) []loginAuditRow {
	t.Helper()
	var rows []loginAuditRow
	var got map[string]int
	var missing []string
	waitFor(10*time.Second, func() bool {
		rows, got, missing = readLoginAudit(t, dsn), map[string]int{}, nil
		for _, r := range rows {
			got[r.key()]++
		}
		for k, n := range want {
			if got[k] < n {
				missing = append(missing, fmt.Sprintf("%s: %d of %d", k, got[k], n))
			}
		}
		return len(missing) == 0
	})
	if len(missing) > 0 {
		t.Fatalf("login audit events missing: %v\nhave: %v", missing, got)
	}
	return rows
}

// lockoutServer starts gatehouse on a fresh database of dsn with a clock
// the test moves (the server's and the database's), the given lockout settings, and a per-IP sign-in limit
// far above what the tests send (the lock, not the limit, is under test).
func lockoutServer(t *testing.T, dsn string, clock *clocktest.Clock, login config.Login, mods ...func(*config.Config)) (*testServer, *bunstore.Store) {
	t.Helper()
	store := openMigrated(t, dsn, bunstore.Options{Now: clock.Now})
	s := startServerWith(t, store, appOptions{now: clock.Now}, append([]func(*config.Config){func(c *config.Config) {
		c.Login.MaxFailures, c.Login.Lockout, c.Login.MaxLockout, c.Login.FailureReset =
			login.MaxFailures, login.Lockout, login.MaxLockout, login.FailureReset
		c.RateLimits.LoginPerIP = config.Limit{Rate: 1000, Burst: 1000, Period: time.Second}
	}}, mods...)...)
	return s, store
}

// accountThrottle returns the account-wide failure record of email.
func accountThrottle(t *testing.T, store *bunstore.Store, email string) *storage.LoginThrottle {
	t.Helper()
	th, err := store.LoginThrottle(context.Background(), storage.LoginThrottleKey{Account: login.Account(email)})
	if err != nil {
		t.Fatalf("login throttle of %s: %v", email, err)
	}
	return th
}

// refusedLogin checks that a sign-in got the generic answer, and returns
// the form to try again on.
func refusedLogin(t *testing.T, p *page, what string) *page {
	t.Helper()
	if p.status != http.StatusUnauthorized || !p.isLoginPage() || !strings.Contains(p.body, "Wrong e-mail or password.") {
		t.Fatalf("%s: got %d, want 401 with the generic message: %.300s", what, p.status, p.body)
	}
	return p
}

// TestLoginLockoutAndUnlock: MaxFailures wrong passwords lock the account
// for unknown browsers; after the lock one failure does not lock it again
// (before the fix it did, for twice as long: a request per lock kept the
// owner out for ever), MaxFailures new ones do, for twice as long; the CLI
// lifts the lock.
func TestLoginLockoutAndUnlock(t *testing.T) {
	bunstoretest.ForEachDialect(t, func(t *testing.T, dialect string) {
		cliEnv(t)
		dsn := bunstoretest.NewMigratedDSN(t, dialect)
		t.Setenv("GATEHOUSE_DSN", dsn)
		// The clock starts two hours back, so that moving it by the locks
		// never takes it past the real time (fosite refuses an auth_time
		// in the future), and the locks are long enough that the second
		// still holds by the real time, by which the CLI judges "was
		// locked".
		clock := clocktest.New(time.Now().Add(-2 * time.Hour).UTC().Truncate(time.Second))
		const lockout = time.Hour
		s, store := lockoutServer(t, dsn, clock, config.Login{
			MaxFailures: 3, Lockout: lockout, MaxLockout: 4 * lockout, FailureReset: 24 * time.Hour,
		})
		alice := s.user("alice@example.com", alicePassword)
		const appRedirect = "http://127.0.0.1:9999/cb"
		c, secret := s.client(admin.ClientSpec{
			Name: "Lockout app", RedirectURIs: []string{appRedirect}, SkipConsent: true, Scopes: []string{"openid"},
		})
		conf := s.oauthConfig(c, secret, "openid")
		b := s.newBrowser()
		p := b.get(s.issuer + "/login")

		// MaxFailures wrong passwords lock the account for Lockout.
		for i := range 3 {
			p = refusedLogin(t, b.login(p, alice.Email, fmt.Sprintf("wrong password %d", i)), "wrong password")
			clock.Advance(time.Second)
		}
		th := accountThrottle(t, store, alice.Email)
		if th.Failures != 3 || th.Locks != 1 || th.LockedUntil.Sub(th.LastFailureAt) != lockout {
			t.Fatalf("after 3 failures: %+v, want a lock of %s", th, lockout)
		}
		// Now even the right password is refused, with the same answer.
		p = refusedLogin(t, b.login(p, alice.Email, alicePassword), "right password while locked")

		// After the lock, one more failure does not lock again.
		clock.Advance(th.LockedUntil.Sub(clock.Now()))
		p = refusedLogin(t, b.login(p, alice.Email, "wrong again"), "wrong password after the lock")
		if th = accountThrottle(t, store, alice.Email); th.Failures != 1 || th.Locked(clock.Now()) {
			t.Fatalf("one failure after the lock: %+v, want 1 failure and no lock", th)
		}
		// MaxFailures new ones do, twice as long.
		for range 2 {
			clock.Advance(time.Second)
			p = refusedLogin(t, b.login(p, alice.Email, "wrong again"), "wrong password after the lock")
		}
		th = accountThrottle(t, store, alice.Email)
		if th.Failures != 3 || th.Locks != 2 || th.LockedUntil.Sub(th.LastFailureAt) != 2*lockout {
			t.Fatalf("after 3 new failures: %+v, want a lock of %s", th, 2*lockout)
		}
		p = refusedLogin(t, b.login(p, alice.Email, alicePassword), "right password during the second lock")

		// The operator unlocks through the CLI, on the same database.
		out, _, err := cli(t, "", "users", "unlock", "--email", "Alice@Example.com", "--json")
		if err != nil {
			t.Fatalf("users unlock: %v", err)
		}
		var res struct {
			UserID      string     `json:"user_id"`
			WasLocked   bool       `json:"was_locked"`
			Failures    int        `json:"failures"`
			LockedUntil *time.Time `json:"locked_until"`
			Devices     *int       `json:"devices"`
		}
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("users unlock --json: %q: %v", out, err)
		}
		if res.UserID != alice.ID || !res.WasLocked || res.Failures != 3 || res.LockedUntil == nil ||
			!res.LockedUntil.Equal(th.LockedUntil) || res.Devices == nil || *res.Devices != 0 {
			t.Fatalf("users unlock: %+v, want locked until %v after 3 failures", res, th.LockedUntil)
		}
		if _, err := store.LoginThrottle(context.Background(), storage.LoginThrottleKey{Account: login.Account(alice.Email)}); err == nil {
			t.Fatal("the unlock left the failures")
		}

		// The right password works again at once, here for an app (a flow
		// started now: one started before the locks would have expired).
		_, challenge := pkce()
		p = b.get(conf.AuthCodeURL(randomString(t, 16), challenge))
		if cb := b.login(p, alice.Email, alicePassword).callback(t); cb.Get("code") == "" {
			t.Fatalf("sign-in after the unlock: %v", cb)
		}
		out, _, err = cli(t, "", "users", "unlock", "--email", alice.Email)
		if err != nil || !strings.Contains(out, "was not locked") {
			t.Fatalf("second unlock: %q, %v", out, err)
		}
		if _, _, err := cli(t, "", "users", "unlock", "--email", "nobody@example.com"); err == nil {
			t.Fatal("unlocking an unknown user succeeded")
		}

		rows := waitLoginAudit(t, dsn, map[string]int{
			"login.failed wrong_password": 6, "login.failed locked": 2, "login.locked": 2,
			"login.unlocked": 2, "login.succeeded": 1,
		})
		subject := "user:" + alice.ID
		var locks []string
		for _, r := range rows {
			if r.Subject != subject {
				t.Errorf("%s subject = %q, want %q", r.key(), r.Subject, subject)
			}
			switch r.Type {
			case "login.unlocked":
				if r.Actor != "operator" {
					t.Errorf("login.unlocked actor = %q, want operator", r.Actor)
				}
			default:
				if r.IP != "127.0.0.1" {
					t.Errorf("%s ip = %q, want 127.0.0.1", r.key(), r.IP)
				}
				if r.Details["device"] != "unknown" {
					t.Errorf("%s device = %q, want unknown", r.key(), r.Details["device"])
				}
			}
			if r.Type == "login.locked" {
				locks = append(locks, r.Details["failures"]+"/"+r.Details["locks"])
				if _, err := time.Parse(time.RFC3339, r.Details["locked_until"]); err != nil {
					t.Errorf("login.locked locked_until %q: %v", r.Details["locked_until"], err)
				}
			}
		}
		if strings.Join(locks, ",") != "3/1,3/2" {
			t.Errorf("login.locked failures/locks = %v, want 3/1 then 3/2", locks)
		}
	})
}

// TestAdminAPIUnlockAndPasswordReset: POST /admin/users/{id}/unlock lifts
// a lock as the CLI does, audited with the admin client as the actor; an
// administrator's password reset (PUT /admin/users/{id}/password) lifts
// one too.
func TestAdminAPIUnlockAndPasswordReset(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		dsn := bunstoretest.NewMigratedDSN(t, dialect)
		clock := clocktest.New(time.Now().UTC().Truncate(time.Second))
		s, store := lockoutServer(t, dsn, clock, config.Login{
			MaxFailures: 2, Lockout: time.Hour, MaxLockout: time.Hour, FailureReset: 24 * time.Hour,
		})
		bob := s.user("bob@example.com", alicePassword)
		robot, robotSecret := s.client(admin.ClientSpec{Name: "robot", Scopes: []string{provider.ScopeAdmin}, FirstParty: true})
		tok, errCode := s.ccToken(t, robot.ID, robotSecret, provider.ScopeAdmin)
		if errCode != "" {
			t.Fatal(errCode)
		}
		b := s.newBrowser()
		p := b.get(s.issuer + "/login")
		lock := func() {
			t.Helper()
			for range 2 {
				p = refusedLogin(t, b.login(p, bob.Email, "wrong password"), "wrong password")
			}
			if th := accountThrottle(t, store, bob.Email); !th.Locked(clock.Now()) {
				t.Fatalf("not locked: %+v", th)
			}
		}
		lock()
		p = refusedLogin(t, b.login(p, bob.Email, alicePassword), "locked account")

		status, got, _ := jsonRequest(t, http.MethodPost, s.admin+"/admin/users/"+bob.ID+"/unlock", tok, "")
		if status != http.StatusOK || got["user_id"] != bob.ID || got["was_locked"] != true || got["failures"] != float64(2) ||
			got["locked_until"] == nil || got["devices"] != float64(0) {
			t.Fatalf("unlock: %d %v", status, got)
		}
		status, body, hdr := jsonRequest(t, http.MethodPost, s.admin+"/admin/users/no-such-user/unlock", tok, "")
		wantAdminProblem(t, "unlock of an unknown user", status, body, hdr, http.StatusNotFound)

		if p = b.login(p, bob.Email, alicePassword); p.status != http.StatusOK || p.isLoginPage() {
			t.Fatalf("sign-in after the unlock: %d %.300s", p.status, p.body)
		}

		// A new browser locks the account again; the password reset lifts it.
		b = s.newBrowser()
		p = b.get(s.issuer + "/login")
		lock()
		const newPassword = "bob's brand new password"
		status, _, _ = jsonRequest(t, http.MethodPut, s.admin+"/admin/users/"+bob.ID+"/password", tok, `{"password":"`+newPassword+`"}`)
		if status != http.StatusNoContent {
			t.Fatalf("set password: %d", status)
		}
		if _, err := store.LoginThrottle(context.Background(), storage.LoginThrottleKey{Account: login.Account(bob.Email)}); err == nil {
			t.Fatal("the password reset left the failures")
		}
		if p = b.login(p, bob.Email, newPassword); p.status != http.StatusOK || p.isLoginPage() {
			t.Fatalf("sign-in after the password reset: %d %.300s", p.status, p.body)
		}

		rows := waitLoginAudit(t, dsn, map[string]int{"login.unlocked": 1, "login.succeeded": 2})
		for _, r := range rows {
			if r.Type == "login.unlocked" && (r.Actor != "client:"+robot.ID || r.Subject != "user:"+bob.ID || r.Details["was_locked"] != "true") {
				t.Errorf("login.unlocked = %+v", r)
			}
		}
	})
}

// guessFrom submits one password guess from a fresh browser (no cookies:
// a stranger's), with X-Forwarded-For xff ("" to come from the socket
// address), and checks the generic answer.
func (s *testServer) guessFrom(t *testing.T, xff, email, password string) {
	t.Helper()
	b := s.newBrowser()
	withXFF := func(req *http.Request) *page {
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		return b.do(req)
	}
	req, _ := http.NewRequest(http.MethodGet, s.issuer+"/login", nil)
	form := withXFF(req)
	if !form.isLoginPage() {
		t.Fatalf("login page from %q: %d %.300s", xff, form.status, form.body)
	}
	v := form.formValues()
	v.Set("email", email)
	v.Set("password", password)
	req, _ = http.NewRequest(http.MethodPost, s.issuer+"/login", strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	refusedLogin(t, withXFF(req), "guess from "+xff)
}

// TestLockoutCannotKeepTheOwnerOut is the attack of a lockout turned into
// a weapon: one wrong password a second for 60 s, from rotating
// X-Forwarded-For addresses through a trusted proxy and from the socket
// address, while the owner's browser (which has signed in before) signs in
// every 5 s. Every one of the owner's sign-ins succeeds; the attacker's
// guesses are throttled (most are refused unchecked); the audit trail
// shows both, the owner's as a known browser and the attacker's as
// unknown ones. Before device cookies the owner's second sign-in was
// already refused.
func TestLockoutCannotKeepTheOwnerOut(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		dsn := bunstoretest.NewMigratedDSN(t, dialect)
		clock := clocktest.New(time.Now().UTC().Truncate(time.Second))
		login := config.Login{MaxFailures: 3, Lockout: 5 * time.Second, MaxLockout: 20 * time.Second, FailureReset: time.Minute}
		s, store := lockoutServer(t, dsn, clock, login, func(c *config.Config) {
			c.TrustedProxies = []string{"127.0.0.1"}
		})
		owner := s.user("owner@example.com", alicePassword)
		browser := s.newBrowser()
		signIn := func(what string) {
			t.Helper()
			p := browser.login(browser.get(s.issuer+"/login"), owner.Email, alicePassword)
			if p.status != http.StatusOK || p.isLoginPage() || p.url.Path != provider.PathAccount {
				t.Fatalf("%s: the owner's sign-in got %d at %s: %.300s", what, p.status, p.url, p.body)
			}
		}
		signIn("before the attack")

		const seconds = 60
		for i := range seconds {
			if i%5 == 0 {
				signIn(fmt.Sprintf("at %ds", i))
			}
			xff := ""
			if i%2 == 0 {
				xff = fmt.Sprintf("203.0.113.%d", i+1)
			}
			s.guessFrom(t, xff, owner.Email, fmt.Sprintf("guess %d", i))
			clock.Advance(time.Second)
		}
		// The attacker's lock is in force: the owner's sign-ins did not
		// clear it, and the owner on a browser the account does not know
		// is refused like the attacker.
		if th := accountThrottle(t, store, owner.Email); !th.Locked(clock.Now()) {
			t.Fatalf("the account-wide record after the attack: %+v, want locked", th)
		}
		const ownerNewBrowser = "198.51.100.7"
		s.guessFrom(t, ownerNewBrowser, owner.Email, alicePassword)

		// With 3 failures a lock, starting at 5 s and doubling up to 20 s:
		// checked at 0-2 s (lock to 7), 7-9 (to 19), 19-21 (to 41), 41-43
		// (to 63); the other 48 guesses are refused unchecked.
		const checked, refused = 12, seconds - 12
		rows := waitLoginAudit(t, dsn, map[string]int{
			"login.succeeded": 1 + seconds/5, "login.failed wrong_password": checked, "login.failed locked": refused + 1,
		})
		type tally struct{ succeeded, checked, refused, locks int }
		var known, unknown tally
		attackerIPs := map[string]bool{}
		for _, r := range rows {
			if r.IP == ownerNewBrowser {
				if r.key() != "login.failed locked" || r.Details["device"] != "unknown" {
					t.Errorf("the owner's new browser: %s device %q, want refused as unknown", r.key(), r.Details["device"])
				}
				continue
			}
			tl := map[string]*tally{"known": &known, "unknown": &unknown}[r.Details["device"]]
			if tl == nil {
				t.Fatalf("%s without a device detail: %v", r.key(), r.Details)
			}
			switch r.key() {
			case "login.succeeded":
				tl.succeeded++
			case "login.failed wrong_password":
				tl.checked++
				attackerIPs[r.IP] = true
			case "login.failed locked":
				tl.refused++
				attackerIPs[r.IP] = true
			case "login.locked":
				tl.locks++
			}
		}
		if want := (tally{succeeded: seconds / 5}); known != want {
			t.Errorf("the owner's browser: %+v, want %+v", known, want)
		}
		// Unknown: the attacker's browsers, and the owner's first sign-in,
		// before which the browser was not known yet.
		if want := (tally{succeeded: 1, checked: checked, refused: refused, locks: 4}); unknown != want {
			t.Errorf("the attacker: %+v, want %+v", unknown, want)
		}
		if !attackerIPs["127.0.0.1"] || !attackerIPs["203.0.113.1"] || !attackerIPs["203.0.113.59"] || len(attackerIPs) != 1+seconds/2 {
			t.Errorf("the attacker's guesses came from %d addresses, want the socket's and %d forwarded ones", len(attackerIPs), seconds/2)
		}
	})
}
