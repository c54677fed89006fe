package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/internal/clocktest"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
)

// TestAuditTokenEvents: issuing tokens (each grant, and a replayed
// refresh), revoking one, and reusing a refresh token after its retry
// window each leave their audit event, with the client and subject and
// never a token. Machine tokens are summarized: one event with a count.
func TestAuditTokenEvents(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		const window = 300 * time.Millisecond
		// The retry window runs on the server's clock, which the test moves.
		clock := clocktest.New(time.Now())
		s, dsn := startServerAt(t, dialect, clock, func(c *config.Config) {
			c.RefreshRetryWindow = window
			c.Audit.SummaryInterval = 200 * time.Millisecond
		})
		u := s.user("grace@example.com", alicePassword)
		app, appSecret := s.client(admin.ClientSpec{Name: "Web app", RedirectURIs: []string{appRedirect}, SkipConsent: true})
		conf := s.oauthConfig(app, appSecret, "openid", "offline_access")
		tok := s.signIn(t, conf, "grace@example.com", alicePassword)

		machine, machineSecret := s.client(admin.ClientSpec{Name: "Cron", GrantTypes: []string{"client_credentials"}, Scopes: []string{"api"}})
		var cc string
		for range 3 {
			tok, code := s.ccToken(t, machine.ID, machineSecret, "api")
			if tok == "" {
				t.Fatalf("client credentials: %s", code)
			}
			cc = tok
		}

		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}
		for range 2 { // the second is a retry within the window: replayed
			if st, body, _ := postForm(t, s.issuer+provider.PathToken, form, app.ID, appSecret); st != http.StatusOK {
				t.Fatalf("refresh: %d %v", st, body)
			}
		}
		clock.Advance(window + 100*time.Millisecond)
		if _, err := conf.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); oauthErrorCode(err) != "invalid_grant" {
			t.Fatalf("reuse after the window: %v", err)
		}
		if st, _, _ := postForm(t, s.issuer+provider.PathRevoke, url.Values{"token": {cc}}, machine.ID, machineSecret); st != http.StatusOK {
			t.Fatalf("revoke: %d", st)
		}

		user := "user:" + u.ID
		waitAuditEvents(t, dsn,
			auditRow{"token.issued", "client:" + app.ID, user, app.ID},
			auditRow{"token.issued", "client:" + machine.ID, "client:" + machine.ID, machine.ID},
			auditRow{"refresh.reuse_detected", "client:" + app.ID, user, app.ID},
			auditRow{"token.revoked", "client:" + machine.ID, "", machine.ID},
		)
		db := openReadOnly(t, dsn)
		defer db.Close()
		var grants, replays int
		query := "SELECT details FROM audit_events WHERE type = 'token.issued' AND client_id = $1"
		if dialect == "sqlite" {
			query = strings.Replace(query, "$1", "?", 1)
		}
		rows, err := db.Query(query, app.ID)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var details string
			if err := rows.Scan(&details); err != nil {
				t.Fatal(err)
			}
			grants++
			if containsAll(details, `"replayed":"true"`, `"grant_type":"refresh_token"`) {
				replays++
			}
			for _, secret := range []string{tok.AccessToken, tok.RefreshToken, cc, "gth_at_", "gth_rt_"} {
				if containsAll(details, secret) {
					t.Fatalf("a token in the audit trail: %s", details)
				}
			}
		}
		// Code exchange, refresh, replayed refresh.
		if grants != 3 || replays != 1 {
			t.Fatalf("token.issued events of the app: %d (replayed %d), want 3 (1)", grants, replays)
		}
		// The three machine tokens: summarized, one event per summary
		// interval, so they may straddle two flushes; the counts add up.
		mrows, err := db.Query(query, machine.ID)
		if err != nil {
			t.Fatal(err)
		}
		defer mrows.Close()
		var summaries []string
		total := 0
		for mrows.Next() {
			var details string
			if err := mrows.Scan(&details); err != nil {
				t.Fatal(err)
			}
			summaries = append(summaries, details)
			var d struct {
				Count string `json:"count"`
			}
			if err := json.Unmarshal([]byte(details), &d); err != nil {
				t.Fatalf("summary details: %v: %s", err, details)
			}
			n, err := strconv.Atoi(d.Count)
			if err != nil || !containsAll(details, `"grant_type":"client_credentials"`, `"scope":"api"`, `"first":`, `"last":`) {
				t.Fatalf("machine token summary: %s", details)
			}
			total += n
		}
		if err := mrows.Err(); err != nil {
			t.Fatal(err)
		}
		if total != 3 || len(summaries) == 0 || len(summaries) > 3 {
			t.Fatalf("machine token summaries: %d tokens in %v, want 3", total, summaries)
		}
	})
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
