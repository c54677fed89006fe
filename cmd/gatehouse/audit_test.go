package main

// End-to-end tests of the audit trail: each event type this issue adds,
// made through the real server (pages, admin API, dynamic registration)
// or the CLI, read back through the storage query; `gatehouse audit`; and
// GET /admin/audit.

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/provider/audit"
	"github.com/gatehouse-dev/gatehouse/provider/keys"
	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore/bunstoretest"
)

// wantEvent describes an expected audit event; Details are a subset of
// the event's.
type wantEvent struct {
	Type, Actor, Subject, ClientID string
	Details                        map[string]string
}

func (w wantEvent) matches(ev *storage.AuditEvent) bool {
	if ev.Type != w.Type || ev.Actor != w.Actor || ev.Subject != w.Subject || ev.ClientID != w.ClientID {
		return false
	}
	for k, v := range w.Details {
		if got, ok := ev.Details[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// allAuditEvents reads the whole trail (newest first) through the query.
func allAuditEvents(t *testing.T, r storage.AuditReader) []*storage.AuditEvent {
	t.Helper()
	var all []*storage.AuditEvent
	q := storage.AuditQuery{Limit: storage.MaxAuditLimit}
	for {
		page, err := r.AuditEvents(context.Background(), q)
		if err != nil {
			t.Fatalf("AuditEvents: %v", err)
		}
		all = append(all, page...)
		if len(page) < q.Limit {
			return all
		}
		q.Before = storage.AuditCursor(page[len(page)-1])
	}
}

// findEvents returns, for each wanted event, a matching stored one (nil
// when there is none).
func findEvents(events []*storage.AuditEvent, wants []wantEvent) []*storage.AuditEvent {
	out := make([]*storage.AuditEvent, len(wants))
	for i, w := range wants {
		for _, ev := range events {
			if w.matches(ev) {
				out[i] = ev
				break
			}
		}
	}
	return out
}

// awaitEvents waits until every wanted event is in the trail, for up to
// 10 s (the server's recorder writes it in the background, in batches:
// testAuditFlush), and returns them in the order wanted.
func awaitEvents(t *testing.T, r storage.AuditReader, wants ...wantEvent) []*storage.AuditEvent {
	t.Helper()
	var all, found []*storage.AuditEvent
	if waitFor(10*time.Second, func() bool {
		all = allAuditEvents(t, r)
		found = findEvents(all, wants)
		return !slices.Contains(found, nil)
	}) {
		return found
	}
	var missing []wantEvent
	for i, ev := range found {
		if ev == nil {
			missing = append(missing, wants[i])
		}
	}
	t.Fatalf("audit events missing: %+v\nhave:\n%s", missing, describeEvents(all))
	return nil
}

// haveEvents checks that every wanted event is stored now (the CLI writes
// its events before it exits).
func haveEvents(t *testing.T, r storage.AuditReader, wants ...wantEvent) []*storage.AuditEvent {
	t.Helper()
	all := allAuditEvents(t, r)
	found := findEvents(all, wants)
	for i, ev := range found {
		if ev == nil {
			t.Fatalf("audit event missing: %+v\nhave:\n%s", wants[i], describeEvents(all))
		}
	}
	return found
}

func describeEvents(events []*storage.AuditEvent) string {
	var b strings.Builder
	for _, ev := range events {
		fmt.Fprintf(&b, "  %s %s actor=%s subject=%s client=%s ip=%s %v\n", ev.Time.Format(time.RFC3339Nano), ev.Type, ev.Actor, ev.Subject, ev.ClientID, ev.IP, ev.Details)
	}
	return b.String()
}

// wantNoSecretsInTrail fails if any secret appears in any field of any
// event.
func wantNoSecretsInTrail(t *testing.T, events []*storage.AuditEvent, secrets ...string) {
	t.Helper()
	for _, ev := range events {
		fields := append([]string{ev.Type, ev.Actor, ev.Subject, ev.ClientID, ev.IP}, slices.Collect(maps.Values(ev.Details))...)
		fields = append(fields, slices.Collect(maps.Keys(ev.Details))...)
		for _, f := range fields {
			for _, s := range secrets {
				if s != "" && strings.Contains(f, s) {
					t.Fatalf("a secret is in audit event %s %s: %q", ev.Type, ev.ID, f)
				}
			}
			if strings.Contains(f, "gth_") {
				t.Fatalf("something like a gatehouse secret is in audit event %s: %q", ev.Type, f)
			}
		}
	}
}

// TestAuditConsent: refusing an app on the consent page records
// consent.denied with the scopes it asked for; allowing it records
// consent.given with the scopes; revoking it on the account page records
// consent.revoked. All name the person, the client and the IP.
func TestAuditConsent(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect)
		u := s.user("ana@example.com", alicePassword)
		c, secretValue := s.client(admin.ClientSpec{Name: "Photo Printer", RedirectURIs: []string{appRedirect}})
		user := audit.UserSubject(u.ID)

		conf := s.oauthConfig(c, secretValue, "openid", "profile")
		_, ch := pkce()
		denier := s.newBrowser()
		p := denier.login(denier.get(conf.AuthCodeURL(randomString(t, 16), ch)), "ana@example.com", alicePassword)
		if cb := denier.consent(p, "deny").callback(t); cb.Get("error") != "access_denied" {
			t.Fatalf("deny: %v", cb)
		}
		denied := awaitEvents(t, s.store, wantEvent{Type: audit.ConsentDenied, Actor: user, Subject: user, ClientID: c.ID,
			Details: map[string]string{"scopes": "openid profile"}})[0]
		if denied.IP != "127.0.0.1" {
			t.Fatalf("consent.denied IP %q", denied.IP)
		}

		s.signIn(t, s.oauthConfig(c, secretValue, "openid", "email"), "ana@example.com", alicePassword)
		given := awaitEvents(t, s.store, wantEvent{Type: audit.ConsentGiven, Actor: user, Subject: user, ClientID: c.ID,
			Details: map[string]string{"scopes": "openid email"}})[0]
		if given.IP != "127.0.0.1" {
			t.Fatalf("consent.given IP %q", given.IP)
		}

		b := s.newBrowser()
		p = b.login(b.get(s.issuer+provider.PathAccount), "ana@example.com", alicePassword)
		p = b.post(s.issuer+provider.PathAccount+"/revoke", p.formValues())
		if p.status != http.StatusOK || !strings.Contains(p.body, "was revoked") {
			t.Fatalf("revoke: %d %.300s", p.status, p.body)
		}
		revoked := awaitEvents(t, s.store, wantEvent{Type: audit.ConsentRevoked, Actor: user, Subject: user, ClientID: c.ID})[0]
		if revoked.IP != "127.0.0.1" {
			t.Fatalf("consent.revoked IP %q", revoked.IP)
		}
		wantNoSecretsInTrail(t, allAuditEvents(t, s.store), secretValue, alicePassword)
	})
}

// TestAuditAdminAPIChanges: every client and user change through the
// admin API is recorded with the principal as actor (a client's own token:
// "client:<id>"; an admin's: "user:<id>" via the console client) and the
// request's IP, never with a secret or password.
func TestAuditAdminAPIChanges(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect)
		robot, robotSecret := s.client(admin.ClientSpec{Name: "robot", Scopes: []string{provider.ScopeAdmin}, FirstParty: true})
		tok, errCode := s.ccToken(t, robot.ID, robotSecret, provider.ScopeAdmin)
		if errCode != "" {
			t.Fatal(errCode)
		}
		api := s.admin + "/admin"
		must := func(what string, wantStatus int, method, path, body string) map[string]interface{} {
			t.Helper()
			status, out, _ := jsonRequest(t, method, api+path, tok, body)
			if status != wantStatus {
				t.Fatalf("%s: %d %v", what, status, out)
			}
			return out
		}

		created := must("create client", http.StatusCreated, http.MethodPost, "/clients",
			`{"client_name":"Reporting job","grant_types":["client_credentials"],"scope":"reports:read"}`)
		id, secret1 := created["client_id"].(string), created["client_secret"].(string)
		must("update client", http.StatusOK, http.MethodPut, "/clients/"+id,
			`{"client_name":"Reporting","grant_types":["client_credentials"],"scope":"reports:read reports:write"}`)
		rotated := must("rotate", http.StatusOK, http.MethodPost, "/clients/"+id+"/rotate-secret", "")
		secret2 := rotated["client_secret"].(string)
		must("delete client", http.StatusNoContent, http.MethodDelete, "/clients/"+id, "")

		const password, newPassword = "a long enough password", "another long password"
		cu := must("create user", http.StatusCreated, http.MethodPost, "/users",
			`{"email":"Bob@Example.com","password":"`+password+`","name":"Bob","roles":["editor"]}`)
		uid := cu["id"].(string)
		must("update user", http.StatusOK, http.MethodPut, "/users/"+uid,
			`{"email":"bob@example.com","name":"Robert","roles":["editor"]}`)
		must("disable", http.StatusOK, http.MethodPost, "/users/"+uid+"/disable", "")
		must("enable", http.StatusOK, http.MethodPost, "/users/"+uid+"/enable", "")
		must("password", http.StatusNoContent, http.MethodPut, "/users/"+uid+"/password", `{"password":"`+newPassword+`"}`)
		must("delete user", http.StatusNoContent, http.MethodDelete, "/users/"+uid, "")

		actor, client, user := "client:"+robot.ID, audit.ClientSubject(id), audit.UserSubject(uid)
		found := awaitEvents(t, s.store,
			wantEvent{Type: audit.ClientCreated, Actor: actor, Subject: client, ClientID: id, Details: map[string]string{
				"name": "Reporting job", "grant_types": "client_credentials", "scope": "reports:read", "registered_by": admin.RegisteredByAdmin,
			}},
			wantEvent{Type: audit.ClientUpdated, Actor: actor, Subject: client, ClientID: id, Details: map[string]string{"changed": "client_name scope"}},
			wantEvent{Type: audit.ClientSecretRotated, Actor: actor, Subject: client, ClientID: id},
			wantEvent{Type: audit.ClientDeleted, Actor: actor, Subject: client, ClientID: id},
			wantEvent{Type: audit.UserCreated, Actor: actor, Subject: user, Details: map[string]string{"email": "bob@example.com", "roles": "editor"}},
			wantEvent{Type: audit.UserUpdated, Actor: actor, Subject: user, Details: map[string]string{"changed": "name"}},
			wantEvent{Type: audit.UserDisabled, Actor: actor, Subject: user},
			wantEvent{Type: audit.UserEnabled, Actor: actor, Subject: user},
			wantEvent{Type: audit.UserPasswordSet, Actor: actor, Subject: user},
			wantEvent{Type: audit.UserDeleted, Actor: actor, Subject: user},
		)
		for _, ev := range found {
			if ev.IP != "127.0.0.1" {
				t.Errorf("%s: IP %q", ev.Type, ev.IP)
			}
			if _, ok := ev.Details["via_client"]; ok {
				t.Errorf("%s: via_client on a client's own token: %v", ev.Type, ev.Details)
			}
		}

		// An admin person acts through the console client.
		boss := s.user("boss@example.com", alicePassword, "admin")
		console, consoleSecret := s.client(admin.ClientSpec{Name: "Admin console", RedirectURIs: []string{appRedirect},
			Scopes: []string{"openid", provider.ScopeAdmin}, SkipConsent: true, FirstParty: true})
		bossToken := s.signIn(t, s.oauthConfig(console, consoleSecret, "openid", provider.ScopeAdmin), "boss@example.com", alicePassword)
		status, cu, _ := jsonRequest(t, http.MethodPost, api+"/users", bossToken.AccessToken, `{"email":"carl@example.com","password":"`+password+`"}`)
		if status != http.StatusCreated {
			t.Fatalf("create user as an admin person: %d %v", status, cu)
		}
		awaitEvents(t, s.store, wantEvent{Type: audit.UserCreated, Actor: audit.UserSubject(boss.ID), Subject: audit.UserSubject(cu["id"].(string)),
			Details: map[string]string{"via_client": console.ID, "email": "carl@example.com"}})

		wantNoSecretsInTrail(t, allAuditEvents(t, s.store), secret1, secret2, password, newPassword, alicePassword, robotSecret, consoleSecret, tok, bossToken.AccessToken)
	})
}

// TestAuditRegistration: RFC 7591 registration records client.created by
// "registration" with the initial access token's id; the client's own
// RFC 7592 update and delete record it as the actor.
func TestAuditRegistration(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect)
		rt, iat := s.registrationToken(t, "partners", time.Hour, time.Now())
		endpoint := s.issuer + provider.PathRegister
		status, reg, _ := jsonRequest(t, http.MethodPost, endpoint, iat, `{"client_name":"Photo Printer","redirect_uris":["`+appRedirect+`"]}`)
		if status != http.StatusCreated {
			t.Fatalf("register: %d %v", status, reg)
		}
		id, rat, clientSecret := reg["client_id"].(string), reg["registration_access_token"].(string), reg["client_secret"].(string)
		status, upd, _ := jsonRequest(t, http.MethodPut, endpoint+"/"+id, rat,
			`{"client_id":"`+id+`","client_name":"Photo Printer 2","redirect_uris":["`+appRedirect+`"]}`)
		if status != http.StatusOK {
			t.Fatalf("update: %d %v", status, upd)
		}
		if status, _, _ := jsonRequest(t, http.MethodDelete, endpoint+"/"+id, rat, ""); status != http.StatusNoContent {
			t.Fatalf("delete: %d", status)
		}
		client, self := audit.ClientSubject(id), audit.ClientSubject(id)
		found := awaitEvents(t, s.store,
			wantEvent{Type: audit.ClientCreated, Actor: audit.ActorRegistration, Subject: client, ClientID: id, Details: map[string]string{
				"registration_token_id": rt.ID, "registered_by": `registration token "partners"`, "name": "Photo Printer",
			}},
			wantEvent{Type: audit.ClientUpdated, Actor: self, Subject: client, ClientID: id, Details: map[string]string{"changed": "client_name"}},
			wantEvent{Type: audit.ClientDeleted, Actor: self, Subject: client, ClientID: id},
		)
		for _, ev := range found {
			if ev.IP != "127.0.0.1" {
				t.Errorf("%s: IP %q", ev.Type, ev.IP)
			}
		}
		wantNoSecretsInTrail(t, allAuditEvents(t, s.store), iat, rat, clientSecret)
	})
}

// TestAuditKeysOnServerStart: the server's first start creates the
// signing keys, recorded as key.created by "system".
func TestAuditKeysOnServerStart(t *testing.T) {
	t.Parallel()
	s := startServer(t, "sqlite")
	var wants []wantEvent
	for _, alg := range keys.Algorithms {
		kid, err := s.app.keys.CurrentKID(alg)
		if err != nil {
			t.Fatal(err)
		}
		wants = append(wants, wantEvent{Type: audit.KeyCreated, Actor: audit.ActorSystem, Subject: audit.KeySubject(kid),
			Details: map[string]string{"alg": alg, "state": storage.KeyStateCurrent}})
	}
	awaitEvents(t, s.store, wants...)
}

// TestAuditKeyEventTypes: each keys.Event kind maps to its audit type with
// the key as subject (key.deleted needs a retired key past its retention,
// which the keys package's own test reaches with a fake clock).
func TestAuditKeyEventTypes(t *testing.T) {
	t.Parallel()
	store := bunstoretest.Open(t, "sqlite", bunstore.Options{})
	rec, stop := startRecorder(context.Background(), store, slog.New(slog.DiscardHandler))
	hook := keyEvents(rec, audit.ActorSystem)
	ctx := context.Background()
	hook(ctx, keys.Event{Kind: keys.EventCreated, KID: "k1", Algorithm: "RS256", State: storage.KeyStateNext})
	hook(ctx, keys.Event{Kind: keys.EventRotated, KID: "k1", Algorithm: "RS256", RetiredKID: "k0"})
	hook(ctx, keys.Event{Kind: keys.EventDeleted, KID: "k0", Algorithm: "RS256"})
	hook(ctx, keys.Event{Kind: keys.EventResealed, KID: "k1", Algorithm: "RS256"})
	stop()
	haveEvents(t, store,
		wantEvent{Type: audit.KeyCreated, Actor: audit.ActorSystem, Subject: "key:k1", Details: map[string]string{"alg": "RS256", "state": "next"}},
		wantEvent{Type: audit.KeyRotated, Actor: audit.ActorSystem, Subject: "key:k1", Details: map[string]string{"alg": "RS256", "retired_kid": "k0"}},
		wantEvent{Type: audit.KeyDeleted, Actor: audit.ActorSystem, Subject: "key:k0", Details: map[string]string{"alg": "RS256"}},
		wantEvent{Type: audit.KeyResealed, Actor: audit.ActorSystem, Subject: "key:k1", Details: map[string]string{"alg": "RS256"}},
	)
}

// cliAudit runs `gatehouse audit ... --json` and returns what it printed.
func cliAudit(t *testing.T, args ...string) auditListJSON {
	t.Helper()
	var out auditListJSON
	cliJSON(t, &out, "", append([]string{"audit", "--json"}, args...)...)
	return out
}

func eventTypes(evs []admin.AuditEventView) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Type)
	}
	return out
}

// TestAuditCLI: the CLI's changes (users, clients, registration tokens,
// signing keys) are recorded as "operator" before each command exits, and
// `gatehouse audit` queries them: filters, paging, text and JSON, bad
// input.
func TestAuditCLI(t *testing.T) {
	bunstoretest.ForEachDialect(t, func(t *testing.T, dialect string) {
		cliEnv(t)
		if dialect != "sqlite" {
			t.Setenv("GATEHOUSE_DSN", bunstoretest.NewDSN(t, dialect))
		}
		if _, _, err := cli(t, "", "migrate"); err != nil {
			t.Fatal(err)
		}
		var u map[string]interface{}
		cliJSON(t, &u, alicePassword+"\n", "users", "create", "--email", "Dora@Example.com", "--password-stdin", "--role", "admin", "--json")
		uid := u["id"].(string)
		for _, verb := range []string{"disable", "enable"} {
			if _, _, err := cli(t, "", "users", verb, "dora@example.com"); err != nil {
				t.Fatalf("users %s: %v", verb, err)
			}
		}
		var c map[string]interface{}
		cliJSON(t, &c, "", "clients", "create", "--name", "Web", "--grant-type", "client_credentials", "--scope", "a b", "--owner", "dora@example.com", "--json")
		cid, secret1 := c["client_id"].(string), c["client_secret"].(string)
		cliJSON(t, &c, "", "clients", "update", cid, "--name", "Web 2", "--scope", "a", "--json")
		cliJSON(t, &c, "", "clients", "rotate-secret", cid, "--json")
		secret2 := c["client_secret"].(string)
		if _, _, err := cli(t, "", "clients", "delete", cid); err != nil {
			t.Fatal(err)
		}
		var rt map[string]interface{}
		cliJSON(t, &rt, "", "registration-tokens", "create", "--name", "partners", "--expires-in", "1h", "--json")
		rtID, rtToken := rt["id"].(string), rt["token"].(string)
		if _, _, err := cli(t, "", "registration-tokens", "revoke", rtID); err != nil {
			t.Fatal(err)
		}
		// Keys: created on first use, rotated at once, re-sealed.
		var rot []map[string]interface{}
		cliJSON(t, &rot, "", "keys", "rotate", "--alg", "ES256", "--now", "--json")
		esNew, esOld := rot[0]["current_kid"].(string), rot[0]["retired_kid"].(string)
		if _, _, err := cli(t, "", "keys", "reencrypt"); err != nil {
			t.Fatal(err)
		}

		store, _ := cliStore(t)
		op, user, client := audit.ActorOperator, audit.UserSubject(uid), audit.ClientSubject(cid)
		haveEvents(t, store,
			wantEvent{Type: audit.UserCreated, Actor: op, Subject: user, Details: map[string]string{"email": "dora@example.com", "roles": "admin"}},
			wantEvent{Type: audit.UserDisabled, Actor: op, Subject: user},
			wantEvent{Type: audit.UserEnabled, Actor: op, Subject: user},
			wantEvent{Type: audit.ClientCreated, Actor: op, Subject: client, ClientID: cid, Details: map[string]string{
				"name": "Web", "scope": "a b", "owner_id": uid, "registered_by": admin.RegisteredByAdmin,
			}},
			wantEvent{Type: audit.ClientUpdated, Actor: op, Subject: client, ClientID: cid, Details: map[string]string{"changed": "client_name scope"}},
			wantEvent{Type: audit.ClientSecretRotated, Actor: op, Subject: client, ClientID: cid},
			wantEvent{Type: audit.ClientDeleted, Actor: op, Subject: client, ClientID: cid},
			wantEvent{Type: audit.RegistrationTokenCreated, Actor: op, Subject: audit.RegistrationTokenSubject(rtID), Details: map[string]string{"name": "partners"}},
			wantEvent{Type: audit.RegistrationTokenRevoked, Actor: op, Subject: audit.RegistrationTokenSubject(rtID)},
			wantEvent{Type: audit.KeyCreated, Actor: op, Subject: audit.KeySubject(esOld), Details: map[string]string{"alg": "ES256", "state": "current"}},
			wantEvent{Type: audit.KeyCreated, Actor: op, Subject: audit.KeySubject(esNew), Details: map[string]string{"alg": "ES256", "state": "next"}},
			wantEvent{Type: audit.KeyRotated, Actor: op, Subject: audit.KeySubject(esNew), Details: map[string]string{"alg": "ES256", "retired_kid": esOld}},
			wantEvent{Type: audit.KeyResealed, Actor: op, Subject: audit.KeySubject(esNew), Details: map[string]string{"alg": "ES256"}},
		)
		all := allAuditEvents(t, store)
		wantNoSecretsInTrail(t, all, secret1, secret2, rtToken, alicePassword)

		// gatehouse audit --json: everything, newest first.
		list := cliAudit(t)
		if len(list.Events) != len(all) || list.Next != "" {
			t.Fatalf("audit --json: %d events (next %q), the trail has %d", len(list.Events), list.Next, len(all))
		}
		for i, ev := range list.Events {
			if ev.ID != all[i].ID || ev.Details == nil || ev.Time.Location() != time.UTC {
				t.Fatalf("event %d: %+v, want %+v", i, ev, all[i])
			}
			if i > 0 && ev.Time.After(list.Events[i-1].Time) {
				t.Fatalf("not newest first at %d: %v", i, eventTypes(list.Events))
			}
		}
		// Filters.
		for _, tc := range []struct {
			args []string
			want []string
		}{
			{[]string{"--type", "client."}, []string{audit.ClientDeleted, audit.ClientSecretRotated, audit.ClientUpdated, audit.ClientCreated}},
			{[]string{"--type", "user.created"}, []string{audit.UserCreated}},
			{[]string{"--subject", user}, []string{audit.UserEnabled, audit.UserDisabled, audit.UserCreated}},
			{[]string{"--client", cid, "--type", "client.secret_rotated"}, []string{audit.ClientSecretRotated}},
			{[]string{"--subject", audit.RegistrationTokenSubject(rtID), "--actor", op}, []string{audit.RegistrationTokenRevoked, audit.RegistrationTokenCreated}},
			{[]string{"--type", "key.rotated", "--since", "1h"}, []string{audit.KeyRotated}},
			{[]string{"--type", "user.", "--since", time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)}, []string{audit.UserEnabled, audit.UserDisabled, audit.UserCreated}},
			{[]string{"--since", time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}, nil},
			{[]string{"--until", "2000-01-01"}, nil},
			{[]string{"--type", "user.", "--until", "1h"}, nil},
			{[]string{"--subject", "user:nobody"}, nil},
		} {
			if got := eventTypes(cliAudit(t, tc.args...).Events); !slices.Equal(got, tc.want) {
				t.Errorf("audit %v: %v, want %v", tc.args, got, tc.want)
			}
		}
		// Paging with --limit and --before walks the whole trail.
		var walked []string
		args := []string{"--limit", "4"}
		for range 20 {
			page := cliAudit(t, args...)
			if len(page.Events) > 4 {
				t.Fatalf("a page of %d", len(page.Events))
			}
			for _, ev := range page.Events {
				walked = append(walked, ev.ID)
			}
			if page.Next == "" {
				break
			}
			args = []string{"--limit", "4", "--before", page.Next}
		}
		var ids []string
		for _, ev := range all {
			ids = append(ids, ev.ID)
		}
		if !slices.Equal(walked, ids) {
			t.Fatalf("paged walk %v, want %v", walked, ids)
		}

		// Text: a header and one aligned line per event, newest first; a
		// full page says how to continue.
		out, stderr, err := cli(t, "", "audit", "--type", "client.", "--limit", "3")
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
		if len(lines) != 4 || !strings.HasPrefix(lines[0], "TIME") {
			t.Fatalf("audit (text): %q", out)
		}
		col := strings.Index(lines[0], "TYPE")
		for i, want := range []string{audit.ClientDeleted, audit.ClientSecretRotated, audit.ClientUpdated} {
			if !strings.HasPrefix(lines[i+1][col:], want+" ") || !strings.Contains(lines[i+1], "operator") || !strings.Contains(lines[i+1], client) {
				t.Fatalf("line %d %q (columns at %d)", i+1, lines[i+1], col)
			}
		}
		if !strings.Contains(lines[3], "changed=") || !strings.Contains(lines[3], `"client_name scope"`) {
			t.Fatalf("details in text: %q", lines[3])
		}
		if !strings.Contains(stderr, "--before ") {
			t.Fatalf("no continuation hint: %q", stderr)
		}
		if out, stderr, err := cli(t, "", "audit", "--subject", "user:nobody"); err != nil || strings.Count(out, "\n") != 1 || stderr != "" {
			t.Fatalf("empty result: %q %q %v", out, stderr, err)
		}

		// Bad input is a usage error.
		var ue usageError
		for _, args := range [][]string{
			{"--since", "yesterday"}, {"--until", "-1h"}, {"--limit", "5000"}, {"--limit", "-1"}, {"--before", "nope"},
			{"--since", "1h", "--until", "2h"}, {"--type", strings.Repeat("x", 300)},
		} {
			if _, _, err := cli(t, "", append([]string{"audit"}, args...)...); !errorsAs(err, &ue) {
				t.Errorf("audit %v: %v, want a usage error", args, err)
			}
		}
	})
}

// TestAdminAuditEndpoint: GET /admin/audit needs an admin token, filters
// like the CLI, pages with next/before, answers 400 problem documents for
// bad parameters.
func TestAdminAuditEndpoint(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startServer(t, dialect)
		robot, robotSecret := s.client(admin.ClientSpec{Name: "robot", Scopes: []string{provider.ScopeAdmin, "api"}, FirstParty: true})
		tok, errCode := s.ccToken(t, robot.ID, robotSecret, provider.ScopeAdmin)
		if errCode != "" {
			t.Fatal(errCode)
		}
		apiOnly, _ := s.ccToken(t, robot.ID, robotSecret, "api")
		now := time.Now().UTC()
		seed := []*storage.AuditEvent{
			{ID: "old", Time: now.Add(-3 * time.Hour), Type: "test.login.failed", Actor: "anonymous", Subject: "user:u1", IP: "192.0.2.1"},
			{ID: "s1", Time: now.Add(-30 * time.Minute), Type: "test.login.failed", Actor: "anonymous", Subject: "user:u1", IP: "192.0.2.1",
				Details: map[string]string{"reason": "bad_password"}},
			{ID: "s2", Time: now.Add(-20 * time.Minute), Type: "test.login.succeeded", Actor: "user:u1", Subject: "user:u1", ClientID: "web"},
			{ID: "s3", Time: now.Add(-10 * time.Minute), Type: "test.consent.given", Actor: "user:u1", Subject: "user:u1", ClientID: "web"},
			{ID: "s4", Time: now.Add(-5 * time.Minute), Type: "test.login.failed", Actor: "anonymous", Subject: "user:u2"},
		}
		if err := s.store.AppendAuditEvents(context.Background(), seed); err != nil {
			t.Fatal(err)
		}
		u := s.admin + "/admin/audit"
		get := func(query url.Values, bearer string) (int, map[string]interface{}, http.Header) {
			t.Helper()
			return jsonRequest(t, http.MethodGet, u+"?"+query.Encode(), bearer, "")
		}
		ids := func(body map[string]interface{}) []string {
			var out []string
			evs, _ := body["events"].([]interface{})
			for _, ev := range evs {
				out = append(out, ev.(map[string]interface{})["id"].(string))
			}
			return out
		}

		status, body, hdr := get(nil, "")
		wantAdminProblem(t, "no token", status, body, hdr, http.StatusUnauthorized)
		if body["events"] != nil {
			t.Fatal("events in a 401")
		}
		status, body, hdr = get(nil, apiOnly)
		wantAdminProblem(t, "token without gatehouse:admin", status, body, hdr, http.StatusForbidden)

		for _, tc := range []struct {
			q    url.Values
			want []string
		}{
			{url.Values{"type": {"test."}}, []string{"s4", "s3", "s2", "s1", "old"}},
			{url.Values{"type": {"test.login."}, "subject": {"user:u1"}}, []string{"s2", "s1", "old"}},
			{url.Values{"type": {"test.login.failed"}, "since": {"1h"}}, []string{"s4", "s1"}},
			{url.Values{"type": {"test."}, "since": {now.Add(-25 * time.Minute).Format(time.RFC3339)}, "until": {"8m"}}, []string{"s3", "s2"}},
			{url.Values{"client_id": {"web"}}, []string{"s3", "s2"}},
			{url.Values{"actor": {"anonymous"}, "type": {"test."}}, []string{"s4", "s1", "old"}},
			{url.Values{"subject": {"user:nobody"}}, nil},
		} {
			status, body, hdr := get(tc.q, tok)
			if status != http.StatusOK || hdr.Get("Cache-Control") != "no-store" || !slices.Equal(ids(body), tc.want) || body["next"] != "" {
				t.Errorf("GET /admin/audit?%s: %d %v, want %v", tc.q.Encode(), status, ids(body), tc.want)
			}
		}
		// Every field of an event, as the CLI prints it.
		_, body, _ = get(url.Values{"subject": {"user:u1"}, "type": {"test.login.failed"}, "limit": {"1"}}, tok)
		evs := body["events"].([]interface{})
		ev := evs[0].(map[string]interface{})
		raw, _ := json.Marshal(ev)
		want := `{"actor":"anonymous","client_id":"","details":{"reason":"bad_password"},"id":"s1","ip":"192.0.2.1","subject":"user:u1","time":"` +
			seed[1].Time.Truncate(time.Microsecond).Format(time.RFC3339Nano) + `","type":"test.login.failed"}`
		if string(raw) != want {
			t.Fatalf("event JSON\n%s\nwant\n%s", raw, want)
		}
		next, _ := body["next"].(string)
		if next == "" {
			t.Fatal("no next cursor on a full page")
		}
		// Paging: limit and before.
		var walked []string
		q := url.Values{"type": {"test."}, "limit": {"2"}}
		for range 10 {
			status, body, _ := get(q, tok)
			if status != http.StatusOK {
				t.Fatalf("page: %d %v", status, body)
			}
			walked = append(walked, ids(body)...)
			next, _ := body["next"].(string)
			if next == "" {
				break
			}
			q.Set("before", next)
		}
		if !slices.Equal(walked, []string{"s4", "s3", "s2", "s1", "old"}) {
			t.Fatalf("paged: %v", walked)
		}

		// Bad parameters: 400 naming the parameter.
		for _, tc := range []struct {
			q     url.Values
			field string
		}{
			{url.Values{"since": {"yesterday"}}, "since"},
			{url.Values{"until": {"<script>"}}, "until"},
			{url.Values{"limit": {"0"}}, "limit"},
			{url.Values{"limit": {"1001"}}, "limit"},
			{url.Values{"limit": {"ten"}}, "limit"},
			{url.Values{"before": {"nope"}}, "before"},
			{url.Values{"since": {"1h"}, "until": {"2h"}}, "until"},
			{url.Values{"type": {"login.\x00"}}, "type"},
			{url.Values{"subject": {strings.Repeat("s", 300)}}, "subject"},
		} {
			status, body, hdr := get(tc.q, tok)
			wantAdminProblem(t, "GET /admin/audit?"+tc.q.Encode(), status, body, hdr, http.StatusBadRequest)
			if errs, _ := body["errors"].([]interface{}); len(errs) == 0 || errs[0].(map[string]interface{})["field"] != tc.field {
				t.Errorf("%s: errors %v, want field %s", tc.q.Encode(), body["errors"], tc.field)
			}
			if d, _ := body["detail"].(string); strings.Contains(d, "<script>") {
				t.Errorf("input reflected: %q", d)
			}
		}
		status, body, hdr = jsonRequest(t, http.MethodPost, u, tok, "")
		wantAdminProblem(t, "POST /admin/audit", status, body, hdr, http.StatusMethodNotAllowed)
	})
}
