package main

// Management power is never granted by consent: the chain that let a
// third-party app turn an administrator's "Allow" into a permanent admin
// credential (register with scope apikeys, an admin consents, the app mints
// a key of an admin client with the admin's token, the key outlives the
// app's revocation) is broken at every link, on both databases.

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
)

// authorizeErrorCode is the OAuth error an authorization request ended
// in before any page asked the person anything: from the redirect to the
// client, or from the error page shown instead.
func authorizeErrorCode(t *testing.T, p *page) string {
	t.Helper()
	if p.isLoginPage() || p.isConsentPage() {
		t.Fatalf("the request reached the %s page instead of failing: %.500s", p.url, p.body)
	}
	if p.location != "" {
		if u, err := url.Parse(p.location); err == nil && u.Query().Get("error") != "" {
			return u.Query().Get("error")
		}
	}
	for _, code := range []string{"invalid_scope", "invalid_request", "invalid_client"} {
		if strings.Contains(p.body, code) {
			return code
		}
	}
	return "none"
}

// keyCreatedAuditDetails waits for and reads the details of the
// apikey.created event of key id (the server's recorder writes the trail in
// the background, in batches: testAuditFlush).
func keyCreatedAuditDetails(t *testing.T, dsn, id string) map[string]string {
	t.Helper()
	var found string
	waitFor(10*time.Second, func() bool {
		db := openReadOnly(t, dsn)
		rows, err := db.QueryContext(context.Background(), "SELECT subject, details FROM audit_events WHERE type = 'apikey.created'")
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var subject, details string
			if err := rows.Scan(&subject, &details); err != nil {
				t.Fatal(err)
			}
			if subject == id {
				found = details
			}
		}
		rows.Close()
		db.Close()
		return found != ""
	})
	if found == "" {
		t.Fatalf("no apikey.created event for %s", id)
	}
	out := map[string]string{}
	if err := json.Unmarshal([]byte(found), &out); err != nil {
		t.Fatalf("details %q: %v", found, err)
	}
	return out
}

func TestManagementPowerIsNeverGrantedByConsent(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		s, dsn := startServerDSN(t, dialect) // registration: initial access token
		root := s.user("root@example.com", alicePassword, admin.RoleAdmin)
		alice := s.user("alice@example.com", alicePassword)
		opsRobot, opsSecret := s.client(admin.ClientSpec{Name: "Ops robot", Scopes: []string{provider.ScopeAdmin}, FirstParty: true})
		job, _ := s.client(admin.ClientSpec{Name: "Reporting job", Scopes: []string{"reports:read"}, OwnerID: alice.ID})
		rootsRobot, _ := s.client(admin.ClientSpec{Name: "Root's robot", Scopes: []string{provider.ScopeAdmin}, FirstParty: true, OwnerID: root.ID})
		endpoint := s.issuer + provider.PathRegister
		_, iat := s.registrationToken(t, "partners", time.Hour, time.Now())

		// Link 1, registration: no management scope, whatever the policy,
		// refused with invalid_client_metadata naming the scope.
		for _, scope := range []string{provider.ScopeAPIKeys, provider.ScopeAdmin, "gatehouse:anything-later"} {
			body := `{"client_name":"Evil","redirect_uris":["` + appRedirect + `"],"scope":"openid ` + scope + `"}`
			status, got, _ := jsonRequest(t, http.MethodPost, endpoint, iat, body)
			desc, _ := got["error_description"].(string)
			if status != http.StatusBadRequest || got["error"] != "invalid_client_metadata" || !strings.Contains(desc, scope) {
				t.Fatalf("register with %s: %d %v", scope, status, got)
			}
		}
		if n := s.clientCount(t); n != 3 {
			t.Fatalf("refused registrations stored clients: %d", n)
		}
		status, reg, _ := jsonRequest(t, http.MethodPost, endpoint, iat,
			`{"client_name":"Evil","redirect_uris":["`+appRedirect+`"],"grant_types":["authorization_code","client_credentials"],"scope":"openid reports:read"}`)
		if status != http.StatusCreated || reg["first_party"] != nil {
			t.Fatalf("register: %d %v", status, reg)
		}
		evilID, evilSecret, rat := reg["client_id"].(string), reg["client_secret"].(string), reg["registration_access_token"].(string)
		// Nor through an RFC 7592 update, nor by claiming to be first-party.
		status, got, _ := jsonRequest(t, http.MethodPut, endpoint+"/"+evilID, rat,
			`{"client_id":"`+evilID+`","client_name":"Evil","redirect_uris":["`+appRedirect+`"],"scope":"openid apikeys","first_party":true}`)
		if desc, _ := got["error_description"].(string); status != http.StatusBadRequest || got["error"] != "invalid_client_metadata" || !strings.Contains(desc, "apikeys") {
			t.Fatalf("RFC 7592 update adding apikeys: %d %v", status, got)
		}
		status, _, _ = jsonRequest(t, http.MethodPut, endpoint+"/"+evilID, rat,
			`{"client_id":"`+evilID+`","client_name":"Evil","redirect_uris":["`+appRedirect+`"],"grant_types":["authorization_code","client_credentials"],"scope":"openid reports:read","first_party":true,"introspect_any_token":true,"resources":["https://admin.example"]}`)
		if evil, err := s.store.ClientByID(ctx, evilID); status != http.StatusOK || err != nil || evil.FirstParty || evil.IntrospectAnyToken || len(evil.Resources) != 0 {
			t.Fatalf("RFC 7592 update set operator-only fields: %d %+v %v", status, evil, err)
		}

		// A registered client whose row lists management scopes anyway (as
		// one registered before this rule could): the scopes are not its.
		evil, err := s.store.ClientByID(ctx, evilID)
		if err != nil {
			t.Fatal(err)
		}
		evil.Scopes = append(evil.Scopes, provider.ScopeAPIKeys, provider.ScopeAdmin)
		if err := s.store.UpdateClient(ctx, evil); err != nil {
			t.Fatal(err)
		}
		evilConf := s.oauthConfig(evil, evilSecret, "openid", provider.ScopeAPIKeys)

		// Link 2, consent: the request never reaches a page where root
		// could allow it, and a first-party app's consent page never lists
		// a management scope.
		b := s.newBrowser()
		_, challenge := pkce()
		if code := authorizeErrorCode(t, b.get(evilConf.AuthCodeURL(randomString(t, 16), challenge))); code != "invalid_scope" {
			t.Fatalf("third-party authorization request for apikeys: %s", code)
		}
		console, consoleSecret := s.client(admin.ClientSpec{Name: "Developer console", RedirectURIs: []string{appRedirect},
			Scopes: []string{"openid", "offline_access", provider.ScopeAPIKeys, provider.ScopeAdmin}, FirstParty: true})
		consoleConf := s.oauthConfig(console, consoleSecret, "openid", "offline_access", provider.ScopeAPIKeys)
		verifier, challenge := pkce()
		p := b.login(b.get(consoleConf.AuthCodeURL(randomString(t, 16), challenge)), root.Email, alicePassword)
		if !p.isConsentPage() || strings.Contains(p.body, provider.ScopeAPIKeys) || strings.Contains(p.body, "gatehouse:") {
			t.Fatalf("consent page of a first-party app lists a management scope: %.800s", p.body)
		}
		rootTok, err := consoleConf.Exchange(ctx, b.consent(p, "allow").callback(t).Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		grant, err := s.store.ConsentGrant(ctx, root.ID, console.ID)
		if err != nil || slices.Contains(grant.Scopes, provider.ScopeAPIKeys) {
			t.Fatalf("the remembered consent holds a management scope: %+v %v", grant, err)
		}

		// Link 3, token: any other client asking for a management scope
		// gets invalid_scope, with its secret or at refresh.
		for _, scope := range []string{provider.ScopeAPIKeys, provider.ScopeAdmin} {
			status, got, _ := postForm(t, s.issuer+provider.PathToken, url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}, evilID, evilSecret)
			if status != http.StatusBadRequest || got["error"] != "invalid_scope" {
				t.Fatalf("client_credentials of a third-party client for %s: %d %v", scope, status, got)
			}
		}
		if _, code := s.ccToken(t, evilID, evilSecret, "reports:read"); code != "" {
			t.Fatalf("the client's own scope: %q", code)
		}
		// A grant made while the console was first-party stops refreshing
		// and working as soon as it is not.
		consoleRow, _ := s.store.ClientByID(ctx, console.ID)
		consoleRow.FirstParty = false
		if err := s.store.UpdateClient(ctx, consoleRow); err != nil {
			t.Fatal(err)
		}
		refreshConf := s.oauthConfig(console, consoleSecret)
		if _, err := refreshConf.TokenSource(ctx, &oauth2.Token{RefreshToken: rootTok.RefreshToken}).Token(); oauthErrorCode(err) != "invalid_scope" {
			t.Fatalf("refresh of a management grant of a client no longer first-party: %v", err)
		}
		status, body, hdr := jsonRequest(t, http.MethodGet, s.issuer+"/api/apikeys", rootTok.AccessToken, "")
		wantAdminProblem(t, "apikeys token of a client no longer first-party", status, body, hdr, http.StatusForbidden)
		consoleRow.FirstParty = true
		if err := s.store.UpdateClient(ctx, consoleRow); err != nil {
			t.Fatal(err)
		}

		// Link 4, key creation: an admin's token held by an app never
		// mints a key of a client allowed a management scope — not the
		// admin robot, not one the admin owns — nor any key of a client
		// the person does not own.
		api := s.issuer + "/api/apikeys"
		rootToken := s.signIn(t, s.oauthConfig(console, consoleSecret, "openid", provider.ScopeAPIKeys), root.Email, alicePassword).AccessToken
		for name, clientID := range map[string]string{
			"the admin robot": opsRobot.ID, "a management client root owns": rootsRobot.ID, "alice's client": job.ID,
		} {
			status, body, hdr := jsonRequest(t, http.MethodPost, api, rootToken, `{"client_id":"`+clientID+`","name":"escalate"}`)
			wantAdminProblem(t, "root's app creates a key of "+name, status, body, hdr, http.StatusForbidden)
		}
		keys, err := s.store.ListAPIKeys(ctx, nil)
		if err != nil || len(keys) != 0 {
			t.Fatalf("keys after the refused attempts: %v %v", keys, err)
		}

		// What an app made for a person is traceable: the key records the
		// app and the audit event the app and its grant; revoking the app
		// lists the key, at the account page and in the admin API.
		aliceToken := s.signIn(t, s.oauthConfig(console, consoleSecret, "openid", provider.ScopeAPIKeys), alice.Email, alicePassword).AccessToken
		status, created, _ := jsonRequest(t, http.MethodPost, api, aliceToken, `{"client_id":"`+job.ID+`","name":"made by the console"}`)
		if status != http.StatusCreated || created["created_via"] != console.ID {
			t.Fatalf("alice's app creates a key of her client: %d %v", status, created)
		}
		keyID := created["id"].(string)
		details := keyCreatedAuditDetails(t, dsn, keyID)
		if details["via_client_id"] != console.ID || details["via_grant_id"] == "" {
			t.Fatalf("apikey.created details: %v", details)
		}
		ab := s.newBrowser()
		apps := ab.get(s.issuer + "/account/apps")
		if apps.isLoginPage() {
			apps = ab.login(apps, alice.Email, alicePassword)
			apps = ab.get(s.issuer + "/account/apps")
		}
		if !strings.Contains(apps.body, "made by the console") || !strings.Contains(apps.body, keyID) {
			t.Fatalf("the apps page does not show the key the app made: %.1500s", apps.body)
		}
		form := apps.formValues()
		form.Set("client_id", console.ID)
		revoked := ab.post(s.issuer+"/account/apps/revoke", form)
		if revoked.status != http.StatusOK || !strings.Contains(revoked.body, "was revoked") ||
			!strings.Contains(revoked.body, "made these API keys for you") || !strings.Contains(revoked.body, keyID) {
			t.Fatalf("revoking the app does not list the key it made: %d %.1500s", revoked.status, revoked.body)
		}

		// The admin API does the same for an administrator.
		adminTok, code := s.ccToken(t, opsRobot.ID, opsSecret, provider.ScopeAdmin)
		if code != "" {
			t.Fatal(code)
		}
		aliceToken = s.signIn(t, s.oauthConfig(console, consoleSecret, "openid", provider.ScopeAPIKeys), alice.Email, alicePassword).AccessToken
		status, created, _ = jsonRequest(t, http.MethodPost, api, aliceToken, `{"client_id":"`+job.ID+`","name":"second"}`)
		if status != http.StatusCreated {
			t.Fatalf("second key: %d %v", status, created)
		}
		grants := s.admin + "/admin/users/" + alice.ID + "/grants"
		status, list, _ := jsonRequest(t, http.MethodGet, grants, adminTok, "")
		if status != http.StatusOK || len(items(t, list)) != 1 || items(t, list)[0]["client_id"] != console.ID ||
			!strings.Contains(toJSON(t, list), created["id"].(string)) {
			t.Fatalf("admin lists alice's grants: %d %v", status, list)
		}
		status, out, _ := jsonRequest(t, http.MethodDelete, grants+"/"+console.ID, adminTok, "")
		if status != http.StatusOK || out["client_id"] != console.ID || !strings.Contains(toJSON(t, out), created["id"].(string)) {
			t.Fatalf("admin revokes alice's grant: %d %v", status, out)
		}
		status, body, hdr = jsonRequest(t, http.MethodDelete, grants+"/"+console.ID, adminTok, "")
		wantAdminProblem(t, "revoking a grant twice", status, body, hdr, http.StatusNotFound)
		status, body, hdr = jsonRequest(t, http.MethodGet, api, aliceToken, "")
		wantAdminProblem(t, "a token of the revoked app", status, body, hdr, http.StatusUnauthorized)
	})
}
