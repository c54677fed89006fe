package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/provider/registration"
	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// dcrFixture has the public and admin listeners of handlers with a
// registration policy.
type dcrFixture struct {
	*fixture
	pub, adm *echo.Echo
}

func newDCRFixture(t *testing.T, policy string) *dcrFixture {
	t.Helper()
	f := newFixtureWith(t, "http://127.0.0.1:8080", policy)
	return &dcrFixture{fixture: f, pub: f.e, adm: f.h.Admin(nil)}
}

// call sends a request with an optional bearer token and JSON body and
// decodes a JSON answer.
func call(t *testing.T, e *echo.Echo, method, path, bearer, body string) (*httptest.ResponseRecorder, map[string]interface{}) {
	t.Helper()
	var req *http.Request
	if body != "" {
		req = httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
	} else {
		req = httptest.NewRequest(method, path, nil)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	var out map[string]interface{}
	if strings.Contains(rec.Header().Get("Content-Type"), "json") && rec.Body.Len() > 0 {
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("%s %s: invalid JSON %q", method, path, rec.Body.String())
		}
	}
	return rec, out
}

func (f *dcrFixture) registrationToken(t *testing.T, expiresIn time.Duration) string {
	t.Helper()
	rt, plain, err := admin.NewRegistrationToken("partners", expiresIn, f.ring, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := f.store.CreateRegistrationToken(context.Background(), rt); err != nil {
		t.Fatal(err)
	}
	return plain
}

const dcrBody = `{"client_name":"Printer","redirect_uris":["https://printer.example/cb"],"logo_uri":"https://printer.example/l.png"}`

func TestRegistrationEndpoint(t *testing.T) {
	f := newDCRFixture(t, provider.RegistrationPolicyInitialAccessToken)
	iat := f.registrationToken(t, time.Hour)

	rec, body := call(t, f.pub, http.MethodPost, provider.PathRegister, "", dcrBody)
	if rec.Code != http.StatusUnauthorized || body["error"] != "invalid_token" || !strings.Contains(rec.Header().Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("no token: %d %v %v", rec.Code, body, rec.Header())
	}

	rec, m := call(t, f.pub, http.MethodPost, provider.PathRegister, iat, dcrBody)
	if rec.Code != http.StatusCreated || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("register: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	id, _ := m["client_id"].(string)
	rat, _ := m["registration_access_token"].(string)
	if id == "" || !strings.HasPrefix(m["client_secret"].(string), secret.PrefixClientSecret) || !strings.HasPrefix(rat, registration.PrefixAccessToken) ||
		m["client_secret_expires_at"] != float64(0) || m["registration_client_uri"] != "http://127.0.0.1:8080/oauth2/register/"+id ||
		m["token_endpoint_auth_method"] != "client_secret_basic" || m["logo_uri"] != "https://printer.example/l.png" {
		t.Fatalf("registration response: %v", m)
	}

	// Bad metadata: 400 with the RFC 7591 code, nothing stored.
	for _, tc := range []struct{ body, code, field string }{
		{`{"client_name":"x","redirect_uris":["http://evil.example/cb"]}`, "invalid_redirect_uri", "redirect_uris"},
		{`{"client_name":"x","redirect_uris":["https://a.example/cb"],"tos_uri":"http://a.example/tos"}`, "invalid_client_metadata", "tos_uri"},
		{`{"client_name":"x","redirect_uris":"https://a.example/cb"}`, "invalid_client_metadata", "redirect_uris"},
		{`{"client_name":`, "invalid_client_metadata", "JSON"},
	} {
		rec, out := call(t, f.pub, http.MethodPost, provider.PathRegister, iat, tc.body)
		desc, _ := out["error_description"].(string)
		if rec.Code != http.StatusBadRequest || out["error"] != tc.code || !strings.Contains(desc, tc.field) {
			t.Errorf("%s: %d %v", tc.body, rec.Code, out)
		}
	}
	if cs, _ := f.store.ListClients(context.Background(), storage.Page{}); len(cs) != 1 {
		t.Fatalf("%d clients stored", len(cs))
	}

	// Wrong content type, oversized body.
	req := httptest.NewRequest(http.MethodPost, provider.PathRegister, strings.NewReader(dcrBody))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+iat)
	rec = httptest.NewRecorder()
	f.pub.ServeHTTP(rec, req)
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "invalid_client_metadata") {
		t.Fatalf("form body: %d %s", rec.Code, rec.Body)
	}
	big := `{"client_name":"x","contacts":["` + strings.Repeat("a", 70<<10) + `"]}`
	if rec, _ := call(t, f.pub, http.MethodPost, provider.PathRegister, iat, big); rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized body: %d %s", rec.Code, rec.Body)
	}

	// RFC 7592.
	path := provider.PathRegister + "/" + id
	if rec, got := call(t, f.pub, http.MethodGet, path, rat, ""); rec.Code != http.StatusOK || got["client_secret"] != nil || got["client_name"] != "Printer" {
		t.Fatalf("read: %d %v", rec.Code, got)
	}
	// A tampered token: its last character changed (to a different one).
	last := "x"
	if strings.HasSuffix(rat, "x") {
		last = "y"
	}
	for _, bearer := range []string{"", iat, m["client_secret"].(string), rat[:len(rat)-1] + last} {
		rec, out := call(t, f.pub, http.MethodGet, path, bearer, "")
		if rec.Code != http.StatusUnauthorized || out["error"] != "invalid_token" || rec.Header().Get("WWW-Authenticate") == "" {
			t.Fatalf("read with %q: %d %v", bearer, rec.Code, out)
		}
	}
	if rec, _ := call(t, f.pub, http.MethodGet, provider.PathRegister+"/no-such-client", rat, ""); rec.Code != http.StatusUnauthorized {
		t.Fatalf("unknown client: %d", rec.Code)
	}
	update := `{"client_id":"` + id + `","client_name":"Printer 2","redirect_uris":["https://printer.example/cb2"]}`
	if rec, got := call(t, f.pub, http.MethodPut, path, rat, update); rec.Code != http.StatusOK || got["client_name"] != "Printer 2" || got["logo_uri"] != nil {
		t.Fatalf("update: %d %v", rec.Code, got)
	}
	if rec, got := call(t, f.pub, http.MethodPut, path, rat, `{"client_id":"other","client_name":"x","redirect_uris":["https://a.example/cb"]}`); rec.Code != http.StatusBadRequest || got["error"] != "invalid_client_metadata" {
		t.Fatalf("update with another client_id: %d %v", rec.Code, got)
	}
	if rec, _ := call(t, f.pub, http.MethodDelete, path, rat, ""); rec.Code != http.StatusNoContent {
		t.Fatalf("delete: %d", rec.Code)
	}
	if rec, _ := call(t, f.pub, http.MethodGet, path, rat, ""); rec.Code != http.StatusUnauthorized {
		t.Fatalf("read after delete: %d", rec.Code)
	}
}

func TestRegistrationPolicies(t *testing.T) {
	open := newDCRFixture(t, provider.RegistrationPolicyOpen)
	if rec, m := call(t, open.pub, http.MethodPost, provider.PathRegister, "", dcrBody); rec.Code != http.StatusCreated || m["client_id"] == nil {
		t.Fatalf("open registration: %d %v", rec.Code, m)
	}
	off := newDCRFixture(t, provider.RegistrationPolicyOff)
	if rec, _ := call(t, off.pub, http.MethodPost, provider.PathRegister, "", dcrBody); rec.Code != http.StatusNotFound {
		t.Fatalf("registration off: %d", rec.Code)
	}
	if rec, _ := call(t, off.pub, http.MethodGet, provider.PathRegister+"/x", "gth_rat_x", ""); rec.Code != http.StatusNotFound {
		t.Fatalf("client configuration with registration off: %d", rec.Code)
	}
}
