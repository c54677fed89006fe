package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// ccToken asks the public token endpoint for a client_credentials token;
// it returns the status and the access token.
func (f *dcrFixture) ccToken(t *testing.T, clientID, clientSecret, scope string) (int, string) {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}
	req := httptest.NewRequest(http.MethodPost, provider.PathToken, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(clientSecret))
	rec := httptest.NewRecorder()
	f.pub.ServeHTTP(rec, req)
	var out struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &out)
	return rec.Code, out.AccessToken
}

func (f *dcrFixture) adminClient(t *testing.T, scopes ...string) (*storage.Client, string) {
	t.Helper()
	c, plain, err := admin.BuildClient(admin.ClientSpec{Name: "robot", Scopes: scopes, FirstParty: true}, secret.NewHasher(f.ring), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := f.store.CreateClient(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	return c, plain
}

// wantProblem checks an RFC 9457 answer.
func wantProblem(t *testing.T, what string, rec *httptest.ResponseRecorder, body map[string]interface{}, status int) {
	t.Helper()
	if rec.Code != status || rec.Header().Get("Content-Type") != "application/problem+json" ||
		body["type"] != "about:blank" || body["status"] != float64(status) || body["title"] != http.StatusText(status) {
		t.Fatalf("%s: want a %d problem, got %d %q %v", what, status, rec.Code, rec.Header().Get("Content-Type"), body)
	}
}

func TestAdminAPIAuthorization(t *testing.T) {
	f := newDCRFixture(t, provider.RegistrationPolicyOff)
	robot, robotSecret := f.adminClient(t, provider.ScopeAdmin, "api")

	rec, body := call(t, f.adm, http.MethodGet, "/admin/clients", "", "")
	wantProblem(t, "no token", rec, body, http.StatusUnauthorized)
	if !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("WWW-Authenticate: %q", rec.Header().Get("WWW-Authenticate"))
	}
	rec, body = call(t, f.adm, http.MethodGet, "/admin/users", "gth_at_nonsense", "")
	wantProblem(t, "bad token", rec, body, http.StatusUnauthorized)
	if _, ok := body["items"]; ok {
		t.Fatal("data with a bad token")
	}

	status, apiOnly := f.ccToken(t, robot.ID, robotSecret, "api")
	if status != http.StatusOK {
		t.Fatalf("token: %d", status)
	}
	rec, body = call(t, f.adm, http.MethodGet, "/admin/clients", apiOnly, "")
	wantProblem(t, "without the scope", rec, body, http.StatusForbidden)
	if !strings.Contains(rec.Header().Get("WWW-Authenticate"), "insufficient_scope") {
		t.Fatalf("WWW-Authenticate: %q", rec.Header().Get("WWW-Authenticate"))
	}
	// Even a write without the scope is refused before the body is read.
	rec, body = call(t, f.adm, http.MethodPost, "/admin/users", apiOnly, `{"email":"x@example.com","password":"long enough"}`)
	wantProblem(t, "write without the scope", rec, body, http.StatusForbidden)
	if _, err := f.store.UserByEmail(context.Background(), "x@example.com"); err == nil {
		t.Fatal("a user was created without the scope")
	}

	_, admin := f.ccToken(t, robot.ID, robotSecret, provider.ScopeAdmin)
	if rec, body := call(t, f.adm, http.MethodGet, "/admin/clients", admin, ""); rec.Code != http.StatusOK || body["items"] == nil {
		t.Fatalf("admin token: %d %v", rec.Code, body)
	}
	// The admin API is not on the public listener.
	if rec, _ := call(t, f.pub, http.MethodGet, "/admin/clients", admin, ""); rec.Code != http.StatusNotFound {
		t.Fatalf("admin API on the public listener: %d", rec.Code)
	}
}

func TestAdminAPIClients(t *testing.T) {
	f := newDCRFixture(t, provider.RegistrationPolicyOff)
	robot, robotSecret := f.adminClient(t, provider.ScopeAdmin)
	_, tok := f.ccToken(t, robot.ID, robotSecret, provider.ScopeAdmin)

	rec, created := call(t, f.adm, http.MethodPost, "/admin/clients", tok,
		`{"client_name":"Worker","grant_types":["client_credentials"],"scope":"api:read api:write","audience":["https://api.example"]}`)
	if rec.Code != http.StatusCreated || created["client_secret"] == nil || created["registered_by"] != admin.RegisteredByAdmin {
		t.Fatalf("create: %d %v", rec.Code, created)
	}
	id := created["client_id"].(string)
	oldSecret := created["client_secret"].(string)
	if rec.Header().Get("Location") != "/admin/clients/"+id {
		t.Fatalf("Location: %q", rec.Header().Get("Location"))
	}
	if status, _ := f.ccToken(t, id, oldSecret, "api:read"); status != http.StatusOK {
		t.Fatalf("the new client cannot get a token: %d", status)
	}

	for _, tc := range []struct {
		what, method, path, body string
		status                   int
		says                     string
	}{
		{"invalid client", http.MethodPost, "/admin/clients", `{"client_name":"x","redirect_uris":["http://evil.example/cb"]}`, 400, "redirect_uris"},
		{"unknown field", http.MethodPost, "/admin/clients", `{"client_name":"x","client_secret":"mine"}`, 400, "client_secret"},
		{"wrong type", http.MethodPost, "/admin/clients", `{"client_name":["x"]}`, 400, "client_name"},
		{"not JSON", http.MethodPost, "/admin/clients", `{"client_name":`, 400, "JSON"},
		{"two objects", http.MethodPost, "/admin/clients", `{"client_name":"x"}{}`, 400, "JSON"},
		{"unknown client", http.MethodGet, "/admin/clients/no-such-client", "", 404, "client"},
		{"update unknown", http.MethodPut, "/admin/clients/no-such-client", `{"client_name":"x"}`, 404, "client"},
		{"rotate unknown", http.MethodPost, "/admin/clients/no-such-client/rotate-secret", "", 404, "client"},
		{"delete unknown", http.MethodDelete, "/admin/clients/no-such-client", "", 404, "client"},
		{"bad limit", http.MethodGet, "/admin/clients?limit=0", "", 400, "limit"},
		{"huge limit", http.MethodGet, "/admin/clients?limit=501", "", 400, "limit"},
		{"unknown after", http.MethodGet, "/admin/clients?after=no-such-client", "", 400, "after"},
		{"method", http.MethodPatch, "/admin/clients/" + id, "", 405, "PATCH"},
		{"unknown path", http.MethodGet, "/admin/nothing", "", 404, ""},
	} {
		rec, body := call(t, f.adm, tc.method, tc.path, tok, tc.body)
		wantProblem(t, tc.what, rec, body, tc.status)
		if detail, _ := body["detail"].(string); !strings.Contains(detail, tc.says) {
			t.Errorf("%s: detail %q lacks %q", tc.what, detail, tc.says)
		}
	}
	req := httptest.NewRequest(http.MethodPost, "/admin/clients", strings.NewReader(`{"client_name":"x"}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "text/plain")
	rec = httptest.NewRecorder()
	f.adm.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnsupportedMediaType || rec.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("text/plain body: %d %s", rec.Code, rec.Body)
	}

	// Get and list never show a secret or its hash.
	rec, got := call(t, f.adm, http.MethodGet, "/admin/clients/"+id, tok, "")
	if rec.Code != http.StatusOK || got["client_name"] != "Worker" || got["client_secret"] != nil || strings.Contains(rec.Body.String(), "hs256:") {
		t.Fatalf("get: %d %s", rec.Code, rec.Body)
	}
	// Full replacement.
	rec, got = call(t, f.adm, http.MethodPut, "/admin/clients/"+id, tok, `{"client_name":"Worker 2","grant_types":["client_credentials"],"scope":"api:read","logo_uri":"https://w.example/l.png"}`)
	if rec.Code != http.StatusOK || got["client_name"] != "Worker 2" || got["scope"] != "api:read" || got["audience"] != nil || got["client_id"] != id {
		t.Fatalf("update: %d %v", rec.Code, got)
	}
	// Rotate: the old secret stops working, the new one works.
	rec, rotated := call(t, f.adm, http.MethodPost, "/admin/clients/"+id+"/rotate-secret", tok, "")
	newSecret, _ := rotated["client_secret"].(string)
	if rec.Code != http.StatusOK || newSecret == "" || newSecret == oldSecret {
		t.Fatalf("rotate: %d %v", rec.Code, rotated)
	}
	if status, _ := f.ccToken(t, id, oldSecret, "api:read"); status != http.StatusUnauthorized {
		t.Fatalf("old secret after rotation: %d", status)
	}
	if status, _ := f.ccToken(t, id, newSecret, "api:read"); status != http.StatusOK {
		t.Fatalf("new secret: %d", status)
	}

	// Paging: 2 clients (robot and the worker) + 3 more, 2 per page.
	for i := 0; i < 3; i++ {
		if rec, _ := call(t, f.adm, http.MethodPost, "/admin/clients", tok, fmt.Sprintf(`{"client_name":"c%d"}`, i)); rec.Code != http.StatusCreated {
			t.Fatalf("create %d: %d", i, rec.Code)
		}
	}
	seen, after := map[string]bool{}, ""
	for pages := 0; ; pages++ {
		rec, body := call(t, f.adm, http.MethodGet, "/admin/clients?limit=2&after="+url.QueryEscape(after), tok, "")
		items, _ := body["items"].([]interface{})
		if rec.Code != http.StatusOK || len(items) == 0 || len(items) > 2 || pages > 3 {
			t.Fatalf("page %d: %d %v", pages, rec.Code, body)
		}
		for _, it := range items {
			seen[it.(map[string]interface{})["client_id"].(string)] = true
		}
		next, _ := body["next"].(string)
		if next == "" {
			break
		}
		after = next
	}
	if len(seen) != 5 {
		t.Fatalf("paging saw %d clients, want 5", len(seen))
	}

	if rec, _ := call(t, f.adm, http.MethodDelete, "/admin/clients/"+id, tok, ""); rec.Code != http.StatusNoContent {
		t.Fatalf("delete: %d", rec.Code)
	}
	if status, _ := f.ccToken(t, id, newSecret, "api:read"); status != http.StatusUnauthorized {
		t.Fatalf("deleted client got a token: %d", status)
	}
}

func TestAdminAPIUsers(t *testing.T) {
	f := newDCRFixture(t, provider.RegistrationPolicyOff)
	robot, robotSecret := f.adminClient(t, provider.ScopeAdmin)
	_, tok := f.ccToken(t, robot.ID, robotSecret, provider.ScopeAdmin)
	ctx := context.Background()

	rec, u := call(t, f.adm, http.MethodPost, "/admin/users", tok, `{"email":"Erin@Example.com","password":"erin's password","name":"Erin","roles":["admin"],"email_verified":true}`)
	if rec.Code != http.StatusCreated || u["email"] != "erin@example.com" || u["email_verified"] != true || u["has_password"] != true {
		t.Fatalf("create: %d %v", rec.Code, u)
	}
	if strings.Contains(rec.Body.String(), "argon2") || strings.Contains(rec.Body.String(), "erin's password") {
		t.Fatal("create answered with the password or its hash")
	}
	id := u["id"].(string)
	rec, body := call(t, f.adm, http.MethodPost, "/admin/users", tok, `{"email":"erin@example.com","password":"another password"}`)
	wantProblem(t, "e-mail taken", rec, body, http.StatusConflict)
	rec, body = call(t, f.adm, http.MethodPost, "/admin/users", tok, `{"email":"bad","password":"short"}`)
	wantProblem(t, "invalid user", rec, body, http.StatusBadRequest)
	if errs, _ := body["errors"].([]interface{}); len(errs) != 2 {
		t.Fatalf("field errors: %v", body)
	}
	if strings.Contains(rec.Body.String(), "short") {
		t.Fatal("the password was echoed")
	}
	rec, _ = call(t, f.adm, http.MethodPost, "/admin/users", tok, `{"email":"frank@example.com","password":"frank's password"}`)
	if rec.Code != http.StatusCreated {
		t.Fatalf("second user: %d", rec.Code)
	}

	rec, page := call(t, f.adm, http.MethodGet, "/admin/users?limit=1", tok, "")
	items, _ := page["items"].([]interface{})
	if rec.Code != http.StatusOK || len(items) != 1 || page["next"] != id {
		t.Fatalf("list: %d %v", rec.Code, page)
	}
	if strings.Contains(rec.Body.String(), "argon2") {
		t.Fatal("list shows password hashes")
	}
	rec, page = call(t, f.adm, http.MethodGet, "/admin/users?limit=1&after="+id, tok, "")
	if items, _ := page["items"].([]interface{}); rec.Code != http.StatusOK || len(items) != 1 || page["next"] != "" {
		t.Fatalf("second page: %d %v", rec.Code, page)
	}

	rec, got := call(t, f.adm, http.MethodPut, "/admin/users/"+id, tok, `{"email":"erin@example.org","name":"Erin E.","roles":["editor"]}`)
	if rec.Code != http.StatusOK || got["email"] != "erin@example.org" || got["email_verified"] != false || got["name"] != "Erin E." {
		t.Fatalf("update: %d %v", rec.Code, got)
	}
	rec, body = call(t, f.adm, http.MethodPut, "/admin/users/"+id, tok, `{"email":"frank@example.com"}`)
	wantProblem(t, "update to a taken e-mail", rec, body, http.StatusConflict)
	rec, body = call(t, f.adm, http.MethodPut, "/admin/users/"+id, tok, `{"email":"erin@example.org","password":"sneaky"}`)
	wantProblem(t, "password through update", rec, body, http.StatusBadRequest)

	// Disable signs the user out.
	user, _ := f.store.UserByID(ctx, id)
	handle, _, err := f.login.Start(ctx, user, time.Now(), provider.MethodPassword)
	if err != nil {
		t.Fatal(err)
	}
	rec, got = call(t, f.adm, http.MethodPost, "/admin/users/"+id+"/disable", tok, "")
	if rec.Code != http.StatusOK || got["disabled"] != true {
		t.Fatalf("disable: %d %v", rec.Code, got)
	}
	if l, _ := f.login.Current(ctx, handle); l != nil {
		t.Fatal("still signed in after disable")
	}
	if rec, got := call(t, f.adm, http.MethodPost, "/admin/users/"+id+"/enable", tok, ""); rec.Code != http.StatusOK || got["disabled"] != false {
		t.Fatalf("enable: %d %v", rec.Code, got)
	}

	rec, body = call(t, f.adm, http.MethodPut, "/admin/users/"+id+"/password", tok, `{"password":"short"}`)
	wantProblem(t, "short password", rec, body, http.StatusBadRequest)
	if rec, _ := call(t, f.adm, http.MethodPut, "/admin/users/"+id+"/password", tok, `{"password":"a new long password"}`); rec.Code != http.StatusNoContent {
		t.Fatalf("set password: %d", rec.Code)
	}
	if _, err := f.login.Authenticate(ctx, "erin@example.org", "a new long password", ""); err != nil {
		t.Fatalf("new password: %v", err)
	}
	for _, p := range []string{"", "/disable", "/enable"} {
		method := http.MethodPost
		if p == "" {
			method = http.MethodGet
		}
		rec, body := call(t, f.adm, method, "/admin/users/no-such-user"+p, tok, "")
		wantProblem(t, "unknown user "+p, rec, body, http.StatusNotFound)
	}
	if rec, _ := call(t, f.adm, http.MethodDelete, "/admin/users/"+id, tok, ""); rec.Code != http.StatusNoContent {
		t.Fatalf("delete: %d", rec.Code)
	}
	rec, body = call(t, f.adm, http.MethodGet, "/admin/users/"+id, tok, "")
	wantProblem(t, "deleted user", rec, body, http.StatusNotFound)
}
