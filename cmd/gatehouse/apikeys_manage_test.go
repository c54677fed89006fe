package main

// End-to-end tests of API key management: the self-service API (/api/apikeys
// with a person's access token), the admin API, the account page and the
// CLI, with the audit trail they leave in the database.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", to read the audit trail
	"github.com/uptrace/bun/driver/sqliteshim"
	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/provider/apikey"
	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore/bunstoretest"
)

// auditRow is one row of the audit_events table.
type auditRow struct{ Type, Actor, Subject, ClientID string }

// openReadOnly opens the database of dsn beside the server's store (a
// connection of its own, read-only on SQLite), for tests that look at
// rows directly.
func openReadOnly(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	var db *sql.DB
	var err error
	if path, ok := strings.CutPrefix(dsn, "sqlite://"); ok {
		db, err = sql.Open(sqliteshim.ShimName, "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=query_only(1)")
	} else {
		db, err = sql.Open("pgx", dsn)
	}
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// readAuditEvents reads the audit trail straight from the database of dsn
// (a connection of its own, read-only on SQLite).
func readAuditEvents(t *testing.T, dsn string) []auditRow {
	t.Helper()
	db := openReadOnly(t, dsn)
	defer db.Close()
	rows, err := db.QueryContext(context.Background(), "SELECT type, actor, subject, client_id FROM audit_events ORDER BY time, id")
	if err != nil {
		t.Fatalf("read audit events: %v", err)
	}
	defer rows.Close()
	var out []auditRow
	for rows.Next() {
		var r auditRow
		if err := rows.Scan(&r.Type, &r.Actor, &r.Subject, &r.ClientID); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// waitAuditEvents waits until the audit trail holds every wanted row, for
// up to 10 s: the server's recorder writes it in the background, in
// batches (testAuditFlush).
func waitAuditEvents(t *testing.T, dsn string, want ...auditRow) {
	t.Helper()
	var got, missing []auditRow
	waitFor(10*time.Second, func() bool {
		got, missing = readAuditEvents(t, dsn), nil
		for _, w := range want {
			if !slices.Contains(got, w) {
				missing = append(missing, w)
			}
		}
		return len(missing) == 0
	})
	if len(missing) > 0 {
		t.Fatalf("audit events missing: %+v\nhave: %+v", missing, got)
	}
}

// rawJSON sends a request like jsonRequest and returns the body as text.
func rawJSON(t *testing.T, method, u, bearer, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// items returns the items of a listing.
func items(t *testing.T, body map[string]interface{}) []map[string]interface{} {
	t.Helper()
	raw, ok := body["items"].([]interface{})
	if !ok {
		t.Fatalf("not a listing: %v", body)
	}
	out := make([]map[string]interface{}, len(raw))
	for i, it := range raw {
		out[i] = it.(map[string]interface{})
	}
	return out
}

// wantNoSecrets checks that a key listing or view carries neither a key
// nor a hash.
func wantNoSecrets(t *testing.T, what, body string, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if strings.Contains(body, k) {
			t.Fatalf("%s shows a key: %s", what, body)
		}
	}
	for _, bad := range []string{`"key"`, "secret_hash", "hs256:", "gth_ak_"} {
		if strings.Contains(body, bad) {
			t.Fatalf("%s shows %q: %s", what, bad, body)
		}
	}
}

// keysFixture is a server with people, a sign-in client allowed the
// apikeys scope, and a machine client Alice owns.
type keysFixture struct {
	s                    *testServer
	dsn                  string
	alice, bob, carol    *storage.User
	console              *storage.Client
	consoleSecret        string
	job                  *storage.Client
	jobSecret            string
	aliceEmail, bobEmail string
}

func newKeysFixture(t *testing.T, dialect string) *keysFixture {
	t.Helper()
	dsn := bunstoretest.NewMigratedDSN(t, dialect)
	// A key's use is written within 20 ms (a minute in production), so the
	// account page shows it at once.
	s := startServerWith(t, openMigrated(t, dsn, bunstore.Options{}), appOptions{background: backgroundIntervals{apiKeyUse: 20 * time.Millisecond}})
	f := &keysFixture{s: s, dsn: dsn, aliceEmail: "alice@example.com", bobEmail: "bob@example.com"}
	f.alice = s.user(f.aliceEmail, alicePassword)
	f.bob = s.user(f.bobEmail, alicePassword)
	f.carol = s.user("carol@example.com", alicePassword, admin.RoleAdmin)
	f.console, f.consoleSecret = s.client(admin.ClientSpec{Name: "Developer console", RedirectURIs: []string{appRedirect},
		Scopes: []string{"openid", "offline_access", provider.ScopeAPIKeys}, FirstParty: true})
	f.job, f.jobSecret = s.client(admin.ClientSpec{Name: "Reporting job", Scopes: []string{"reports:read", "reports:write"}, OwnerID: f.alice.ID})
	return f
}

// userToken signs a person in through the real pages (consenting when
// asked) and returns the access token.
func (f *keysFixture) userToken(t *testing.T, email string, scopes ...string) string {
	t.Helper()
	return f.s.signIn(t, f.s.oauthConfig(f.console, f.consoleSecret, scopes...), email, alicePassword).AccessToken
}

// TestAPIKeysSelfService: a person who owns a client manages its keys over
// HTTP with an access token carrying scope apikeys; the keys work at the
// token endpoint and stop at once when revoked; other people (admins
// too), tokens without the scope and clients' own tokens are refused.
func TestAPIKeysSelfService(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		f := newKeysFixture(t, dialect)
		s := f.s
		api := s.issuer + "/api/apikeys"

		// Alice signs in through the real pages. The consent page asks
		// only about what consent may give: never a management scope.
		conf := s.oauthConfig(f.console, f.consoleSecret, "openid", provider.ScopeAPIKeys)
		b := s.newBrowser()
		verifier, challenge := pkce()
		p := b.login(b.get(conf.AuthCodeURL(randomString(t, 16), challenge)), f.aliceEmail, alicePassword)
		if !p.isConsentPage() || strings.Contains(p.body, provider.ScopeAPIKeys) || strings.Contains(p.body, "API keys") {
			t.Fatalf("consent page lists the apikeys scope: %d %.800s", p.status, p.body)
		}
		tok, err := conf.Exchange(context.Background(), b.consent(p, "allow").callback(t).Get("code"), oauthVerifier(verifier))
		if err != nil {
			t.Fatal(err)
		}
		alice := tok.AccessToken

		// Create.
		status, created, hdr := jsonRequest(t, http.MethodPost, api, alice,
			`{"client_id":"`+f.job.ID+`","name":"ci","scope":"reports:read","expires_in":3600}`)
		if status != http.StatusCreated || hdr.Get("Cache-Control") != "no-store" {
			t.Fatalf("create: %d %v", status, created)
		}
		id, _ := created["id"].(string)
		key, _ := created["key"].(string)
		if !strings.HasPrefix(key, "gth_ak_") || hdr.Get("Location") != "/api/apikeys/"+id || created["client_id"] != f.job.ID ||
			created["created_by"] != "user:"+f.alice.ID || created["state"] != "active" || created["expires_at"] == nil ||
			created["last_used_at"] != nil || created["revoked_at"] != nil {
			t.Fatalf("created key: %v %v", created, hdr)
		}
		if sc, _ := created["scopes"].([]interface{}); len(sc) != 1 || sc[0] != "reports:read" {
			t.Fatalf("scopes: %v", created["scopes"])
		}
		// The key works at the token endpoint, limited to its scope.
		keyToken, code := s.ccToken(t, f.job.ID, key)
		if code != "" {
			t.Fatalf("token with the new key: %s", code)
		}
		if _, code := s.ccToken(t, f.job.ID, key, "reports:write"); code != "invalid_scope" {
			t.Fatalf("scope beyond the key: %q", code)
		}

		// List and get: never the key, never its hash.
		for _, u := range []string{api, api + "?client_id=" + f.job.ID} {
			status, raw := rawJSON(t, http.MethodGet, u, alice, "")
			var list map[string]interface{}
			_ = json.Unmarshal([]byte(raw), &list)
			if status != http.StatusOK || len(items(t, list)) != 1 || items(t, list)[0]["id"] != id {
				t.Fatalf("list %s: %d %s", u, status, raw)
			}
			wantNoSecrets(t, "list", raw, key)
		}
		status, raw := rawJSON(t, http.MethodGet, api+"/"+id, alice, "")
		if status != http.StatusOK || !strings.Contains(raw, `"name":"ci"`) {
			t.Fatalf("get: %d %s", status, raw)
		}
		wantNoSecrets(t, "get", raw, key)

		// Bad input: 400 naming the field; unknown client or key: 404.
		for name, body := range map[string]string{
			"name":       `{"client_id":"` + f.job.ID + `","name":""}`,
			"scope":      `{"client_id":"` + f.job.ID + `","name":"x","scope":"admin"}`,
			"expires_in": `{"client_id":"` + f.job.ID + `","name":"x","expires_in":-1}`,
			"client_id":  `{"name":"x"}`,
			"unknown":    `{"client_id":"` + f.job.ID + `","name":"x","colour":"red"}`,
			"type":       `{"client_id":"` + f.job.ID + `","name":"x","expires_in":"1h"}`,
		} {
			status, body, hdr := jsonRequest(t, http.MethodPost, api, alice, body)
			wantAdminProblem(t, "bad input "+name, status, body, hdr, http.StatusBadRequest)
		}
		status, body, hdr := jsonRequest(t, http.MethodPost, api, alice, `{"client_id":"no-such-client","name":"x"}`)
		wantAdminProblem(t, "unknown client", status, body, hdr, http.StatusNotFound)
		status, body, hdr = jsonRequest(t, http.MethodGet, api+"/"+mintUnknownKeyID(t), alice, "")
		wantAdminProblem(t, "unknown key", status, body, hdr, http.StatusNotFound)
		status, body, hdr = jsonRequest(t, http.MethodPut, api+"/"+id, alice, `{}`)
		wantAdminProblem(t, "PUT", status, body, hdr, http.StatusMethodNotAllowed)
		if hdr.Get("Allow") != "DELETE, GET" {
			t.Fatalf("Allow: %q", hdr.Get("Allow"))
		}
		status, body, hdr = jsonRequest(t, http.MethodGet, s.issuer+"/api/nothing-here", alice, "")
		wantAdminProblem(t, "unknown API path", status, body, hdr, http.StatusNotFound)
		req, _ := http.NewRequest(http.MethodGet, api+"?k="+url.QueryEscape(key), nil)
		req.Header.Set("Authorization", "Bearer "+alice)
		if status, _, _ := doJSON(t, req); status != http.StatusBadRequest {
			t.Fatalf("key in the URL: %d", status)
		}

		// Who may not: no token 401, a bad token 401, a token without the
		// scope 403, a client's own token 403, someone else 403 for the
		// client and 404 for its keys.
		status, body, hdr = jsonRequest(t, http.MethodGet, api, "", "")
		wantAdminProblem(t, "no token", status, body, hdr, http.StatusUnauthorized)
		if !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer") {
			t.Fatalf("WWW-Authenticate: %q", hdr.Get("WWW-Authenticate"))
		}
		status, body, hdr = jsonRequest(t, http.MethodGet, api, "gth_at_nonsense", "")
		wantAdminProblem(t, "bad token", status, body, hdr, http.StatusUnauthorized)
		if !strings.Contains(hdr.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Fatalf("WWW-Authenticate: %q", hdr.Get("WWW-Authenticate"))
		}
		noScope := f.userToken(t, f.aliceEmail, "openid")
		status, body, hdr = jsonRequest(t, http.MethodGet, api, noScope, "")
		wantAdminProblem(t, "token without the scope", status, body, hdr, http.StatusForbidden)
		if !strings.Contains(hdr.Get("WWW-Authenticate"), `error="insufficient_scope"`) {
			t.Fatalf("WWW-Authenticate: %q", hdr.Get("WWW-Authenticate"))
		}
		robot, robotSecret := s.client(admin.ClientSpec{Name: "robot", Scopes: []string{provider.ScopeAPIKeys}, FirstParty: true})
		robotToken, code := s.ccToken(t, robot.ID, robotSecret, provider.ScopeAPIKeys)
		if code != "" {
			t.Fatal(code)
		}
		status, body, hdr = jsonRequest(t, http.MethodGet, api, robotToken, "")
		wantAdminProblem(t, "client_credentials token", status, body, hdr, http.StatusForbidden)
		// A refresh token is not a bearer credential.
		withRefresh := s.signIn(t, s.oauthConfig(f.console, f.consoleSecret, "openid", "offline_access", provider.ScopeAPIKeys), f.aliceEmail, alicePassword)
		if withRefresh.RefreshToken == "" {
			t.Fatal("no refresh token")
		}
		status, body, hdr = jsonRequest(t, http.MethodGet, api, withRefresh.RefreshToken, "")
		wantAdminProblem(t, "refresh token", status, body, hdr, http.StatusUnauthorized)

		// strangerRefused checks that someone who does not own the client
		// can neither see nor touch its keys.
		strangerRefused := func(who, token string) {
			t.Helper()
			for name, tc := range map[string]struct {
				method, path, body string
				want               int
			}{
				"list the client's keys":  {http.MethodGet, "?client_id=" + f.job.ID, "", http.StatusForbidden},
				"create a key":            {http.MethodPost, "", `{"client_id":"` + f.job.ID + `","name":"mine now"}`, http.StatusForbidden},
				"get a key of the client": {http.MethodGet, "/" + id, "", http.StatusNotFound},
				"revoke it":               {http.MethodDelete, "/" + id, "", http.StatusNotFound},
			} {
				status, body, hdr := jsonRequest(t, tc.method, api+tc.path, token, tc.body)
				wantAdminProblem(t, who+": "+name, status, body, hdr, tc.want)
			}
		}
		bob := f.userToken(t, f.bobEmail, "openid", provider.ScopeAPIKeys)
		strangerRefused("bob", bob)
		if status, list, _ := jsonRequest(t, http.MethodGet, api, bob, ""); status != http.StatusOK || len(items(t, list)) != 0 {
			t.Fatalf("bob's own keys: %d %v", status, list)
		}
		if _, code := s.ccToken(t, f.job.ID, key); code != "" {
			t.Fatalf("bob's attempts affected the key: %s", code)
		}

		// An admin's role counts for nothing here: through an app, an admin
		// manages only the clients they own, like anyone (the admin API and
		// the CLI manage the rest, with no app acting for them).
		strangerRefused("carol (admin)", f.userToken(t, "carol@example.com", "openid", provider.ScopeAPIKeys))

		// Revoke: the key and its token stop at once.
		if status, _, _ := jsonRequest(t, http.MethodDelete, api+"/"+id, alice, ""); status != http.StatusNoContent {
			t.Fatalf("revoke: %d", status)
		}
		if _, code := s.ccToken(t, f.job.ID, key); code != "invalid_client" {
			t.Fatalf("revoked key: %q", code)
		}
		if s.active(t, f.job.ID, f.jobSecret, keyToken) {
			t.Fatal("a token of the revoked key is still active")
		}
		status, got, _ := jsonRequest(t, http.MethodGet, api+"/"+id, alice, "")
		if status != http.StatusOK || got["state"] != "revoked" || got["revoked_at"] == nil {
			t.Fatalf("revoked key: %d %v", status, got)
		}

		// The audit trail names the person.
		waitAuditEvents(t, f.dsn,
			auditRow{"apikey.created", "user:" + f.alice.ID, id, f.job.ID},
			auditRow{"apikey.revoked", "user:" + f.alice.ID, id, f.job.ID},
			auditRow{"apikey.use_failed", "anonymous", id, f.job.ID},
		)
	})
}

// TestAdminAPIKeys: the admin API creates, lists, gets and revokes keys;
// clients gain owner_id; every change reaches the audit trail.
func TestAdminAPIKeys(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		f := newKeysFixture(t, dialect)
		s := f.s
		robot, robotSecret := s.client(admin.ClientSpec{Name: "robot", Scopes: []string{provider.ScopeAdmin}, FirstParty: true})
		tok, code := s.ccToken(t, robot.ID, robotSecret, provider.ScopeAdmin)
		if code != "" {
			t.Fatal(code)
		}
		api := s.admin + "/admin"

		// Clients have owners.
		status, c, _ := jsonRequest(t, http.MethodPost, api+"/clients", tok,
			`{"client_name":"Deployer","grant_types":["client_credentials"],"scope":"deploy","owner_id":"`+f.bob.ID+`"}`)
		if status != http.StatusCreated || c["owner_id"] != f.bob.ID {
			t.Fatalf("create owned client: %d %v", status, c)
		}
		deployer := c["client_id"].(string)
		status, body, hdr := jsonRequest(t, http.MethodPost, api+"/clients", tok, `{"client_name":"x","grant_types":["client_credentials"],"owner_id":"nobody"}`)
		wantAdminProblem(t, "unknown owner", status, body, hdr, http.StatusBadRequest)
		if errs, _ := body["errors"].([]interface{}); len(errs) != 1 || errs[0].(map[string]interface{})["field"] != "owner_id" {
			t.Fatalf("unknown owner: %v", body)
		}
		if status, got, _ := jsonRequest(t, http.MethodGet, api+"/clients/"+f.job.ID, tok, ""); status != http.StatusOK || got["owner_id"] != f.alice.ID {
			t.Fatalf("get owned client: %d %v", status, got)
		}
		// An update without owner_id keeps the owner; "" clears it.
		update := `{"client_name":"Deployer 2","grant_types":["client_credentials"],"scope":"deploy"`
		if status, got, _ := jsonRequest(t, http.MethodPut, api+"/clients/"+deployer, tok, update+`}`); status != http.StatusOK || got["owner_id"] != f.bob.ID {
			t.Fatalf("update keeps the owner: %d %v", status, got)
		}
		if status, got, _ := jsonRequest(t, http.MethodPut, api+"/clients/"+deployer, tok, update+`,"owner_id":""}`); status != http.StatusOK || got["owner_id"] != "" {
			t.Fatalf("update clears the owner: %d %v", status, got)
		}
		status, body, hdr = jsonRequest(t, http.MethodPut, api+"/clients/"+deployer, tok, update+`,"owner_id":"nobody"}`)
		wantAdminProblem(t, "update to an unknown owner", status, body, hdr, http.StatusBadRequest)
		if status, list, _ := jsonRequest(t, http.MethodGet, api+"/clients", tok, ""); status != http.StatusOK || !strings.Contains(toJSON(t, list), `"owner_id":"`+f.alice.ID+`"`) {
			t.Fatalf("client list lacks owner_id: %v", list)
		}

		// Create a key.
		status, created, hdr := jsonRequest(t, http.MethodPost, api+"/apikeys", tok,
			`{"client_id":"`+f.job.ID+`","name":"deploy","scope":"reports:read reports:write","expires_in":86400}`)
		if status != http.StatusCreated || hdr.Get("Cache-Control") != "no-store" {
			t.Fatalf("create key: %d %v", status, created)
		}
		id, key := created["id"].(string), created["key"].(string)
		if hdr.Get("Location") != "/admin/apikeys/"+id || created["created_by"] != "client:"+robot.ID || created["name"] != "deploy" {
			t.Fatalf("created key: %v %v", created, hdr)
		}
		exp, err := time.Parse(time.RFC3339, created["expires_at"].(string))
		if err != nil || exp.Sub(time.Now()) < 23*time.Hour || exp.Sub(time.Now()) > 25*time.Hour {
			t.Fatalf("expires_at: %v %v", created["expires_at"], err)
		}
		if _, code := s.ccToken(t, f.job.ID, key, "reports:write"); code != "" {
			t.Fatalf("admin-made key at the token endpoint: %s", code)
		}
		// One for the deployer, to tell the listings apart.
		if status, _, _ := jsonRequest(t, http.MethodPost, api+"/apikeys", tok, `{"client_id":"`+deployer+`","name":"d"}`); status != http.StatusCreated {
			t.Fatalf("second key: %d", status)
		}
		// An admin user's token acts as that user.
		admConsole, admSecret := s.client(admin.ClientSpec{Name: "Admin console", RedirectURIs: []string{appRedirect},
			Scopes: []string{"openid", provider.ScopeAdmin}, SkipConsent: true, FirstParty: true})
		carol := s.signIn(t, s.oauthConfig(admConsole, admSecret, "openid", provider.ScopeAdmin), "carol@example.com", alicePassword).AccessToken
		status, byCarol, _ := jsonRequest(t, http.MethodPost, api+"/apikeys", carol, `{"client_id":"`+f.job.ID+`","name":"by carol"}`)
		if status != http.StatusCreated || byCarol["created_by"] != "user:"+f.carol.ID {
			t.Fatalf("admin user creates: %d %v", status, byCarol)
		}

		// Bad input.
		for name, tc := range map[string]struct {
			body string
			want int
		}{
			"no client":      {`{"name":"x"}`, http.StatusBadRequest},
			"unknown client": {`{"client_id":"nope","name":"x"}`, http.StatusNotFound},
			"public client":  {`{"client_id":"` + f.console.ID + `","name":"x"}`, http.StatusBadRequest},
			"foreign scope":  {`{"client_id":"` + f.job.ID + `","name":"x","scope":"deploy"}`, http.StatusBadRequest},
			"duration text":  {`{"client_id":"` + f.job.ID + `","name":"x","expires_in":"720h"}`, http.StatusBadRequest},
			"too long":       {`{"client_id":"` + f.job.ID + `","name":"x","expires_in":999999999999}`, http.StatusBadRequest},
			"unknown field":  {`{"client_id":"` + f.job.ID + `","name":"x","key":"gth_ak_mine"}`, http.StatusBadRequest},
		} {
			status, body, hdr := jsonRequest(t, http.MethodPost, api+"/apikeys", tok, tc.body)
			wantAdminProblem(t, name, status, body, hdr, tc.want)
		}

		// List and get: no key, no hash.
		status, raw := rawJSON(t, http.MethodGet, api+"/apikeys", tok, "")
		var all map[string]interface{}
		_ = json.Unmarshal([]byte(raw), &all)
		if status != http.StatusOK || len(items(t, all)) != 3 {
			t.Fatalf("list all: %d %s", status, raw)
		}
		wantNoSecrets(t, "admin list", raw, key)
		status, raw = rawJSON(t, http.MethodGet, api+"/apikeys?client_id="+f.job.ID, tok, "")
		var jobs map[string]interface{}
		_ = json.Unmarshal([]byte(raw), &jobs)
		if status != http.StatusOK || len(items(t, jobs)) != 2 {
			t.Fatalf("list the job's: %d %s", status, raw)
		}
		status, body, hdr = jsonRequest(t, http.MethodGet, api+"/apikeys?client_id=nope", tok, "")
		wantAdminProblem(t, "list of an unknown client", status, body, hdr, http.StatusNotFound)
		status, raw = rawJSON(t, http.MethodGet, api+"/apikeys/"+id, tok, "")
		if status != http.StatusOK || !strings.Contains(raw, `"state":"active"`) || !strings.Contains(raw, `"last_used_at":`) {
			t.Fatalf("get: %d %s", status, raw)
		}
		wantNoSecrets(t, "admin get", raw, key)
		for _, bad := range []string{mintUnknownKeyID(t), "not-a-key-id"} {
			status, body, hdr = jsonRequest(t, http.MethodGet, api+"/apikeys/"+bad, tok, "")
			wantAdminProblem(t, "get "+bad, status, body, hdr, http.StatusNotFound)
		}
		status, body, hdr = jsonRequest(t, http.MethodGet, api+"/apikeys", "", "")
		wantAdminProblem(t, "no token", status, body, hdr, http.StatusUnauthorized)
		// The admin API is not on the public listener, nor the
		// self-service API on the admin one.
		if status, _, _ := jsonRequest(t, http.MethodGet, s.issuer+"/admin/apikeys", tok, ""); status != http.StatusNotFound {
			t.Fatalf("admin API on the public listener: %d", status)
		}

		// Revoke: 204, the key stops at once, again is harmless.
		if status, _, _ := jsonRequest(t, http.MethodDelete, api+"/apikeys/"+id, tok, ""); status != http.StatusNoContent {
			t.Fatalf("revoke: %d", status)
		}
		if _, code := s.ccToken(t, f.job.ID, key); code != "invalid_client" {
			t.Fatalf("revoked key: %q", code)
		}
		if status, _, _ := jsonRequest(t, http.MethodDelete, api+"/apikeys/"+id, tok, ""); status != http.StatusNoContent {
			t.Fatalf("revoke again: %d", status)
		}
		if status, got, _ := jsonRequest(t, http.MethodGet, api+"/apikeys/"+id, tok, ""); got["state"] != "revoked" || got["revoked_at"] == nil {
			t.Fatalf("after revoke: %d %v", status, got)
		}
		status, body, hdr = jsonRequest(t, http.MethodDelete, api+"/apikeys/"+mintUnknownKeyID(t), tok, "")
		wantAdminProblem(t, "revoke unknown", status, body, hdr, http.StatusNotFound)

		waitAuditEvents(t, f.dsn,
			auditRow{"apikey.created", "client:" + robot.ID, id, f.job.ID},
			auditRow{"apikey.created", "user:" + f.carol.ID, byCarol["id"].(string), f.job.ID},
			auditRow{"apikey.revoked", "client:" + robot.ID, id, f.job.ID},
			auditRow{"apikey.use_failed", "anonymous", id, f.job.ID},
		)
	})
}

// TestAccountKeysPage: the account page lists the keys of the person's
// apps with when they were last used, and revokes them with the form.
func TestAccountKeysPage(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		f := newKeysFixture(t, dialect)
		s := f.s
		ctx := context.Background()
		a := s.app.admin
		k, plain, err := a.CreateAPIKey(ctx, nil, admin.APIKeySpec{ClientID: f.job.ID, Name: "nightly export", Scopes: []string{"reports:read"}})
		if err != nil {
			t.Fatal(err)
		}
		other, _ := s.client(admin.ClientSpec{Name: "Bob's job", Scopes: []string{"x"}, OwnerID: f.bob.ID})
		bobKey, bobPlain, err := a.CreateAPIKey(ctx, nil, admin.APIKeySpec{ClientID: other.ID, Name: "bob's key"})
		if err != nil {
			t.Fatal(err)
		}

		// Signed out: to the login page and back.
		b := s.newBrowser()
		pg := b.get(s.issuer + "/account/keys")
		if !pg.isLoginPage() {
			t.Fatalf("signed out: %d %s", pg.status, pg.url)
		}
		pg = b.login(pg, f.aliceEmail, alicePassword)
		if pg.status != http.StatusOK || pg.url.Path != "/account/keys" {
			t.Fatalf("after sign-in: %d %s", pg.status, pg.url)
		}
		lastUsed := regexp.MustCompile(`<dt>Last used</dt><dd>([^<]*)</dd>`)
		if m := lastUsed.FindStringSubmatch(pg.body); m == nil || m[1] != "never" ||
			!strings.Contains(pg.body, "nightly export") || !strings.Contains(pg.body, "Reporting job") ||
			!strings.Contains(pg.body, "reports:read") || strings.Contains(pg.body, "bob&#39;s key") || strings.Contains(pg.body, plain) {
			t.Fatalf("keys page: %s", pg.body)
		}
		if !strings.Contains(pg.body, `href="/account/apps"`) {
			t.Fatal("no link to the apps page")
		}
		if apps := b.get(s.issuer + "/account/apps"); !strings.Contains(apps.body, `href="/account/keys"`) {
			t.Fatal("no link from the apps page to the keys page")
		}

		// A use shows up (the server writes uses in the background).
		if _, code := s.ccToken(t, f.job.ID, plain); code != "" {
			t.Fatal(code)
		}
		var m []string
		if !waitFor(12*time.Second, func() bool {
			pg = b.get(s.issuer + "/account/keys")
			m = lastUsed.FindStringSubmatch(pg.body)
			return m != nil && m[1] != "never"
		}) {
			t.Fatalf("the use never showed: %s", pg.body)
		}
		if !regexp.MustCompile(`^\d{1,2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2} UTC$`).MatchString(m[1]) {
			t.Fatalf("last used: %q", m[1])
		}

		// Revoking needs the form's CSRF token.
		form := pg.formValues()
		if form.Get("key_id") != k.ID || form.Get("_csrf") == "" {
			t.Fatalf("revoke form: %v", form)
		}
		noCSRF := url.Values{"key_id": {k.ID}}
		if r := b.post(s.issuer+"/account/keys/revoke", noCSRF); r.status != http.StatusForbidden {
			t.Fatalf("revoke without CSRF: %d", r.status)
		}
		if _, code := s.ccToken(t, f.job.ID, plain); code != "" {
			t.Fatalf("the key went without a CSRF token: %s", code)
		}
		// Someone else's key: like an unknown one.
		foreign := url.Values{"_csrf": {form.Get("_csrf")}, "key_id": {bobKey.ID}}
		if r := b.post(s.issuer+"/account/keys/revoke", foreign); r.status != http.StatusNotFound || !strings.Contains(r.body, "no such key") {
			t.Fatalf("revoke bob's key: %d %s", r.status, r.body)
		}
		if _, code := s.ccToken(t, other.ID, bobPlain); code != "" {
			t.Fatalf("bob's key was revoked by alice: %s", code)
		}
		r := b.post(s.issuer+"/account/keys/revoke", form)
		if r.status != http.StatusOK || !strings.Contains(r.body, "The key nightly export was revoked.") ||
			!strings.Contains(r.body, "<dt>Revoked</dt>") || strings.Contains(r.body, `action="/account/keys/revoke"`) {
			t.Fatalf("revoke: %d %s", r.status, r.body)
		}
		if _, code := s.ccToken(t, f.job.ID, plain); code != "invalid_client" {
			t.Fatalf("revoked key: %q", code)
		}
		waitAuditEvents(t, f.dsn, auditRow{"apikey.revoked", "user:" + f.alice.ID, k.ID, f.job.ID})

		// Bob sees his own key only; Carol (an admin who owns nothing) none.
		bb := s.newBrowser()
		pg = bb.login(bb.get(s.issuer+"/account/keys"), f.bobEmail, alicePassword)
		if !strings.Contains(pg.body, "bob&#39;s key") || strings.Contains(pg.body, "nightly export") {
			t.Fatalf("bob's page: %s", pg.body)
		}
		cb := s.newBrowser()
		pg = cb.login(cb.get(s.issuer+"/account/keys"), "carol@example.com", alicePassword)
		if !strings.Contains(pg.body, "You do not own any app") {
			t.Fatalf("carol's page: %s", pg.body)
		}
	})
}

// TestCLIAPIKeys: apikeys create / list / revoke and clients --owner, on
// each database; the audit events reach it before the command exits.
func TestCLIAPIKeys(t *testing.T) {
	bunstoretest.ForEachDialect(t, func(t *testing.T, dialect string) {
		cliEnv(t)
		if dialect != "sqlite" {
			t.Setenv("GATEHOUSE_DSN", bunstoretest.NewDSN(t, dialect))
		}
		dsn := getenv(t, "GATEHOUSE_DSN")
		if _, _, err := cli(t, "", "migrate"); err != nil {
			t.Fatal(err)
		}
		var u map[string]interface{}
		cliJSON(t, &u, alicePassword+"\n", "users", "create", "--email", "alice@example.com", "--password-stdin", "--json")
		aliceID := u["id"].(string)

		// clients create/update --owner.
		var c map[string]interface{}
		cliJSON(t, &c, "", "clients", "create", "--name", "Reporting job", "--grant-type", "client_credentials",
			"--scope", "reports:read reports:write", "--owner", "Alice@Example.com", "--json")
		clientID := c["client_id"].(string)
		if c["owner_id"] != aliceID {
			t.Fatalf("owner: %v", c)
		}
		var ue usageError
		if _, _, err := cli(t, "", "clients", "create", "--name", "x", "--owner", "nobody@example.com"); !errorsAs(err, &ue) || !strings.Contains(err.Error(), "nobody@example.com") {
			t.Fatalf("unknown owner: %v", err)
		}
		cliJSON(t, &c, "", "clients", "update", clientID, "--owner", "", "--json")
		if c["owner_id"] != "" {
			t.Fatalf("owner cleared: %v", c)
		}
		cliJSON(t, &c, "", "clients", "update", clientID, "--owner", "alice@example.com", "--json")
		if c["owner_id"] != aliceID {
			t.Fatalf("owner set again: %v", c)
		}
		cliJSON(t, &c, "", "clients", "update", clientID, "--name", "Reporting", "--json")
		if c["owner_id"] != aliceID || c["client_name"] != "Reporting" {
			t.Fatalf("owner kept by an update: %v", c)
		}
		if out, _, err := cli(t, "", "clients", "get", clientID); err != nil || !strings.Contains(out, aliceID) {
			t.Fatalf("clients get: %q %v", out, err)
		}

		// apikeys create.
		var k map[string]interface{}
		cliJSON(t, &k, "", "apikeys", "create", "--client", clientID, "--name", "ci", "--scope", "reports:read", "--expires-in", "720h", "--json")
		id, key := k["id"].(string), k["key"].(string)
		for _, field := range []string{"id", "key", "client_id", "name", "scopes", "created_at", "expires_at"} {
			if k[field] == nil {
				t.Fatalf("create --json lacks %s: %v", field, k)
			}
		}
		exp, _ := time.Parse(time.RFC3339, k["expires_at"].(string))
		if k["client_id"] != clientID || k["created_by"] != "operator" || time.Until(exp) < 719*time.Hour || time.Until(exp) > 721*time.Hour {
			t.Fatalf("created: %v", k)
		}
		out, _, err := cli(t, "", "apikeys", "create", "--client", clientID, "--name", "forever")
		if err != nil || !strings.Contains(out, "gth_ak_") || !strings.Contains(out, "shown only now") || !strings.Contains(out, "never") {
			t.Fatalf("create (text): %q %v", out, err)
		}
		forever := regexp.MustCompile(`gth_ak_\S+`).FindString(out)
		if _, _, err := cli(t, "", "apikeys", "create", "--client", clientID, "--name", "x", "--scope", "admin"); !errorsAs(err, &ue) {
			t.Fatalf("scope outside the client: %v", err)
		}
		if _, _, err := cli(t, "", "apikeys", "create", "--client", "nope", "--name", "x"); err == nil || !strings.Contains(err.Error(), "no client") {
			t.Fatalf("unknown client: %v", err)
		}
		if _, _, err := cli(t, "", "apikeys", "create", "--client", clientID); err == nil || !strings.Contains(err.Error(), `"name"`) {
			t.Fatalf("no name: %v", err)
		}

		// The keys verify against the server's keyring.
		store, ring := cliStore(t)
		if err := verifyKey(t, store, ring, clientID, key); err != nil {
			t.Fatalf("created key does not verify: %v", err)
		}
		if err := verifyKey(t, store, ring, clientID, forever); err != nil {
			t.Fatalf("second key does not verify: %v", err)
		}

		// list: never the key.
		out, _, err = cli(t, "", "apikeys", "list", "--json")
		if err != nil {
			t.Fatal(err)
		}
		wantNoSecrets(t, "apikeys list", out, key, forever)
		var list []map[string]interface{}
		if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 2 {
			t.Fatalf("list: %q %v", out, err)
		}
		for _, it := range list {
			if _, ok := it["last_used_at"]; !ok || it["last_used_at"] != nil || it["revoked_at"] != nil || it["state"] != "active" {
				t.Fatalf("listed key: %v", it)
			}
		}
		cliJSON(t, &list, "", "apikeys", "list", "--client", clientID, "--json")
		if len(list) != 2 {
			t.Fatalf("list --client: %v", list)
		}
		if _, _, err := cli(t, "", "apikeys", "list", "--client", "nope"); err == nil {
			t.Fatal("list of an unknown client succeeded")
		}
		if out, _, err := cli(t, "", "apikeys", "list"); err != nil || !strings.Contains(out, id) || !strings.Contains(out, "LAST USED") || !strings.Contains(out, "never") {
			t.Fatalf("list (text): %q %v", out, err)
		}

		// revoke.
		if out, _, err := cli(t, "", "apikeys", "revoke", id); err != nil || !strings.Contains(out, "revoked") {
			t.Fatalf("revoke: %q %v", out, err)
		}
		if err := verifyKey(t, store, ring, clientID, key); err == nil {
			t.Fatal("a revoked key verifies")
		}
		if _, _, err := cli(t, "", "apikeys", "revoke", mintUnknownKeyID(t)); err == nil || !strings.Contains(err.Error(), "no API key") {
			t.Fatalf("revoke unknown: %v", err)
		}
		cliJSON(t, &list, "", "apikeys", "list", "--json")
		for _, it := range list {
			if it["id"] == id && (it["state"] != "revoked" || it["revoked_at"] == nil) {
				t.Fatalf("revoked key listed as %v", it)
			}
		}

		// The audit events were written before each command exited.
		events := readAuditEvents(t, dsn)
		for _, want := range []auditRow{
			{"apikey.created", "operator", id, clientID},
			{"apikey.revoked", "operator", id, clientID},
		} {
			if !slices.Contains(events, want) {
				t.Fatalf("audit trail lacks %+v: %+v", want, events)
			}
		}
		if n := countType(events, "apikey.created"); n != 2 {
			t.Fatalf("created events: %d in %+v", n, events)
		}
	})
}

func countType(events []auditRow, typ string) int {
	n := 0
	for _, e := range events {
		if e.Type == typ {
			n++
		}
	}
	return n
}

func oauthVerifier(v string) oauth2.AuthCodeOption { return oauth2.VerifierOption(v) }

// mintUnknownKeyID returns a well-formed key id that no key has.
func mintUnknownKeyID(t *testing.T) string {
	t.Helper()
	_, id, _, err := apikey.Mint()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func toJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func getenv(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s is not set", name)
	}
	return v
}

func errorsAs(err error, target any) bool { return err != nil && errors.As(err, target) }

// verifyKey checks a key as the server would, on the store and keyring.
func verifyKey(t *testing.T, store *bunstore.Store, ring *secret.Keyring, clientID, key string) error {
	t.Helper()
	v := apikey.NewVerifier(apikey.Options{Store: store, Keyring: ring, CacheTTL: -1})
	_, err := v.Verify(context.Background(), clientID, key)
	return err
}
