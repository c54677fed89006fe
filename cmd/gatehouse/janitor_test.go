package main

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/internal/clocktest"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore/bunstoretest"
)

// TestJanitor: `gatehouse janitor` deletes expired tokens and audit events
// past the retention, and nothing that is still live: under a steady load
// the tables stay bounded by what is live.
func TestJanitor(t *testing.T) {
	bunstoretest.ForEachDialect(t, func(t *testing.T, dialect string) {
		const lifespan = time.Second // of access tokens, and of audit events (below)
		s, dsn := startServerDSN(t, dialect, func(c *config.Config) {
			c.Lifespans.AccessToken = lifespan
			c.RateLimits.Enabled = false // a burst of tokens from one client is the point
		})
		c, secret := s.client(admin.ClientSpec{Name: "Batch", GrantTypes: []string{"client_credentials"}, Scopes: []string{"api"}})
		const burst = 30
		for range burst {
			tok, code := s.ccToken(t, c.ID, secret, "api")
			if tok == "" {
				t.Fatalf("token: %s", code)
			}
			// Revocations are audited one by one (machine tokens only in
			// summaries), so these make burst events to age. The token
			// revoked is an unknown one: the real ones must stay, to
			// expire.
			if st, _, _ := postForm(t, s.issuer+provider.PathRevoke, url.Values{"token": {"gth_at_unknown." + tok[len(tok)-8:]}}, c.ID, secret); st != http.StatusOK {
				t.Fatalf("revoke: %d", st)
			}
		}
		db := openReadOnly(t, dsn)
		defer db.Close()
		count := func(table string) int {
			t.Helper()
			var n int
			if err := db.QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		// The recorder writes the events in the background (the report
		// below says if they never came).
		waitFor(10*time.Second, func() bool { return count("audit_events") >= burst })
		if n := count("oauth2_access"); n != burst {
			t.Fatalf("%d access tokens stored, want %d", n, burst)
		}
		// The janitor runs a lifespan on (by its clock): the tokens have
		// expired and the events have aged. A token issued after that
		// point lives on.
		clock := clocktest.New(time.Now().Add(lifespan))
		live, _ := s.ccToken(t, c.ID, secret, "api")

		t.Setenv("GATEHOUSE_DSN", dsn)
		t.Setenv("GATEHOUSE_AUDIT_RETENTION", lifespan.String())
		var rep janitorReport
		cliJSONAt(t, clock.Now, &rep, "", "janitor", "--json")
		if !rep.Ran || rep.Expired < burst || rep.AuditEvents < burst {
			t.Fatalf("janitor report %+v: want >= %d expired rows and audit events", rep, burst)
		}
		if n := count("oauth2_access"); n != 1 {
			t.Fatalf("%d access tokens left, want only the live one", n)
		}
		if !s.active(t, c.ID, secret, live) {
			t.Fatal("the janitor deleted a live token")
		}
		// A second run finds nothing old (newer audit events stay).
		cliJSONAt(t, clock.Now, &rep, "", "janitor", "--json")
		if !rep.Ran || rep.Expired != 0 {
			t.Fatalf("second run %+v: want nothing expired", rep)
		}
	})
}
