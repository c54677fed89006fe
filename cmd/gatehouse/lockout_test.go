package main

// End-to-end test of the per-account lockout: a brute force through the
// real login form locks the account (the right password then fails like a
// wrong one), the lock doubles, `gatehouse users unlock` on the same
// database lifts it, and every step leaves its audit event.

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/provider"
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

// waitLoginAudit polls the audit trail (the server writes it in batches
// about once a second) until it holds at least want[key] rows of each
// key, for up to 10 s, and returns it.
func waitLoginAudit(t *testing.T, dsn string, want map[string]int) []loginAuditRow {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		rows := readLoginAudit(t, dsn)
		got := map[string]int{}
		for _, r := range rows {
			got[r.key()]++
		}
		missing := []string{}
		for k, n := range want {
			if got[k] < n {
				missing = append(missing, fmt.Sprintf("%s: %d of %d", k, got[k], n))
			}
		}
		if len(missing) == 0 {
			return rows
		}
		if time.Now().After(deadline) {
			t.Fatalf("login audit events missing: %v\nhave: %v", missing, got)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestLoginLockoutAndUnlock(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		cliEnv(t)
		dsn := bunstoretest.NewDSN(t, dialect)
		t.Setenv("GATEHOUSE_DSN", dsn)
		store := openMigrated(t, dsn, bunstore.Options{})
		const lockout = 2 * time.Second
		s := startServerOn(t, store, func(c *config.Config) {
			c.Login.MaxFailures = 3
			c.Login.Lockout = lockout
			c.Login.MaxLockout = 8 * time.Second
			c.Login.FailureReset = time.Minute
			// The per-IP limit must not be what stops this brute force.
			c.RateLimits.LoginPerIP = config.Limit{Rate: 1000, Burst: 1000, Period: time.Second}
		})
		alice := s.user("alice@example.com", alicePassword)
		const appRedirect = "http://127.0.0.1:9999/cb"
		c, secret := s.client(provider.ClientSpec{
			Name: "Lockout app", RedirectURIs: []string{appRedirect}, SkipConsent: true, Scopes: []string{"openid"},
		})
		conf := s.oauthConfig(c, secret, "openid")
		b := s.newBrowser()
		_, challenge := pkce()
		p := b.get(conf.AuthCodeURL(randomString(t, 16), challenge))

		// refused checks that an attempt got the generic answer, and
		// returns the form to try again on.
		refused := func(p *page, what string) *page {
			t.Helper()
			if p.status != http.StatusUnauthorized || !p.isLoginPage() || !strings.Contains(p.body, "Wrong e-mail or password.") {
				t.Fatalf("%s: got %d, want 401 with the generic message: %.300s", what, p.status, p.body)
			}
			return p
		}
		throttle := func() *storage.LoginThrottle {
			t.Helper()
			th, err := store.LoginThrottle(ctx, provider.LoginAccount(alice.Email))
			if err != nil {
				t.Fatalf("login throttle: %v", err)
			}
			return th
		}

		// MaxFailures wrong passwords lock the account for Lockout.
		for i := range 3 {
			p = refused(b.login(p, alice.Email, fmt.Sprintf("wrong password %d", i)), "wrong password")
		}
		th := throttle()
		if th.Failures != 3 || th.LockedUntil.Sub(th.LastFailureAt) != lockout {
			t.Fatalf("after 3 failures: %+v, want a lock of %s", th, lockout)
		}
		// Now even the right password is refused, with the same answer.
		p = refused(b.login(p, alice.Email, alicePassword), "right password while locked")

		// After the lock, one more failure locks again, twice as long.
		time.Sleep(time.Until(th.LockedUntil) + 100*time.Millisecond)
		p = refused(b.login(p, alice.Email, "wrong again"), "wrong password after the lock")
		th = throttle()
		if th.Failures != 4 || th.LockedUntil.Sub(th.LastFailureAt) != 2*lockout {
			t.Fatalf("after 4 failures: %+v, want a lock of %s", th, 2*lockout)
		}
		p = refused(b.login(p, alice.Email, alicePassword), "right password during the second lock")

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
		}
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("users unlock --json: %q: %v", out, err)
		}
		if res.UserID != alice.ID || !res.WasLocked || res.Failures != 4 || res.LockedUntil == nil || !res.LockedUntil.Equal(th.LockedUntil) {
			t.Fatalf("users unlock: %+v, want locked until %v after 4 failures", res, th.LockedUntil)
		}
		if _, err := store.LoginThrottle(ctx, provider.LoginAccount(alice.Email)); err == nil {
			t.Fatal("the unlock left the failures")
		}

		// The right password works again at once.
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
			"login.failed wrong_password": 4, "login.failed locked": 2, "login.locked": 2,
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
			}
			if r.Type == "login.locked" {
				locks = append(locks, r.Details["failures"])
				if _, err := time.Parse(time.RFC3339, r.Details["locked_until"]); err != nil {
					t.Errorf("login.locked locked_until %q: %v", r.Details["locked_until"], err)
				}
			}
		}
		if strings.Join(locks, ",") != "3,4" {
			t.Errorf("login.locked failures = %v, want 3 then 4", locks)
		}
	})
}

// TestAdminAPIUnlock: POST /admin/users/{id}/unlock lifts a lock as the
// CLI does, audited with the admin client as the actor.
func TestAdminAPIUnlock(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		dsn := bunstoretest.NewDSN(t, dialect)
		store, err := bunstore.Open(context.Background(), dsn, bunstore.Options{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { store.Close() })
		if err := store.Migrate(context.Background()); err != nil {
			t.Fatal(err)
		}
		s := startServerOn(t, store, func(c *config.Config) {
			c.Login.MaxFailures = 2
			c.RateLimits.LoginPerIP = config.Limit{Rate: 1000, Burst: 1000, Period: time.Second}
		})
		bob := s.user("bob@example.com", alicePassword)
		robot, robotSecret := s.client(provider.ClientSpec{Name: "robot", Scopes: []string{provider.ScopeAdmin}, FirstParty: true})
		tok, errCode := s.ccToken(t, robot.ID, robotSecret, provider.ScopeAdmin)
		if errCode != "" {
			t.Fatal(errCode)
		}
		b := s.newBrowser()
		p := b.get(s.issuer + "/login")
		for range 3 {
			p = b.login(p, bob.Email, "wrong password")
		}
		if p = b.login(p, bob.Email, alicePassword); p.status != http.StatusUnauthorized {
			t.Fatalf("locked account: %d", p.status)
		}

		status, got, _ := jsonRequest(t, http.MethodPost, s.admin+"/admin/users/"+bob.ID+"/unlock", tok, "")
		if status != http.StatusOK || got["user_id"] != bob.ID || got["was_locked"] != true || got["failures"] != float64(2) || got["locked_until"] == nil {
			t.Fatalf("unlock: %d %v", status, got)
		}
		status, body, hdr := jsonRequest(t, http.MethodPost, s.admin+"/admin/users/no-such-user/unlock", tok, "")
		wantAdminProblem(t, "unlock of an unknown user", status, body, hdr, http.StatusNotFound)

		if p = b.login(p, bob.Email, alicePassword); p.status != http.StatusOK || p.isLoginPage() {
			t.Fatalf("sign-in after the unlock: %d %.300s", p.status, p.body)
		}
		rows := waitLoginAudit(t, dsn, map[string]int{"login.unlocked": 1, "login.succeeded": 1})
		for _, r := range rows {
			if r.Type == "login.unlocked" && (r.Actor != "client:"+robot.ID || r.Subject != "user:"+bob.ID || r.Details["was_locked"] != "true") {
				t.Errorf("login.unlocked = %+v", r)
			}
		}
	})
}
