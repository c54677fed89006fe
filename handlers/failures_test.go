package handlers

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/obstest"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
)

// formPost is a POST of form with the client's secret in HTTP Basic.
func formPost(path string, form url.Values, clientID, secret string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	return r
}

// accessToken gets a client_credentials access token for c.
func (f *fixture) accessToken(t *testing.T, clientID, secret string) string {
	t.Helper()
	rec := f.do(formPost(provider.PathToken, url.Values{"grant_type": {"client_credentials"}}, clientID, secret))
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &tr); err != nil || tr.AccessToken == "" {
		t.Fatalf("token: %d %s", rec.Code, rec.Body)
	}
	return tr.AccessToken
}

// TestRevocationTheDatabaseDidNotTakeIsNot200: RFC 7009 §2.2.1 — a
// revocation that could not be done is 503 temporarily_unavailable, never
// the 200 that says the token is gone (fosite's writer answers 200 to any
// error but invalid_request and invalid_client).
func TestRevocationTheDatabaseDidNotTakeIsNot200(t *testing.T) {
	f := newFixture(t, "http://127.0.0.1:8080")
	c, secret := f.client(t, admin.ClientSpec{Name: "job", Scopes: []string{"api"}})
	token := f.accessToken(t, c.ID, secret) // also caches the client
	if err := f.store.Close(); err != nil {
		t.Fatal(err)
	}
	rec := f.do(formPost(provider.PathRevoke, url.Values{"token": {token}}, c.ID, secret))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "temporarily_unavailable") {
		t.Fatalf("revocation with the database gone: %d %s", rec.Code, rec.Body)
	}
}

// TestAClientThatGoesAwayIsNotAServerError: a request whose client closed
// the connection while the server worked gets no 5xx and no error-level
// log, whichever endpoint it was (the answer is never read).
func TestAClientThatGoesAwayIsNotAServerError(t *testing.T) {
	var logs obstest.LogBuffer
	f := newFixture(t, "http://127.0.0.1:8080", func(o *Options) {
		o.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	c, secret := f.client(t, admin.ClientSpec{Name: "job", Scopes: []string{"api"}})
	token := f.accessToken(t, c.ID, secret)
	gone := func(r *http.Request) *http.Request {
		ctx, cancel := context.WithCancel(r.Context())
		cancel()
		return r.WithContext(ctx)
	}
	bearer := func(r *http.Request) *http.Request {
		r.Header.Set("Authorization", "Bearer "+token)
		return r
	}
	for name, r := range map[string]*http.Request{
		"token":         formPost(provider.PathToken, url.Values{"grant_type": {"client_credentials"}}, c.ID, secret),
		"introspection": formPost(provider.PathIntrospect, url.Values{"token": {token}}, c.ID, secret),
		"revocation":    formPost(provider.PathRevoke, url.Values{"token": {token}}, c.ID, secret),
		"userinfo":      bearer(httptest.NewRequest(http.MethodGet, provider.PathUserinfo, nil)),
		"api keys":      bearer(httptest.NewRequest(http.MethodGet, PathAPIKeys, nil)),
		"account page":  httptest.NewRequest(http.MethodGet, "/account/apps", nil),
	} {
		rec := f.do(gone(r))
		if rec.Code >= 500 {
			t.Errorf("%s: %d %s", name, rec.Code, rec.Body)
		}
	}
	if strings.Contains(logs.String(), `"level":"ERROR"`) {
		t.Errorf("error-level log for a client that went away:\n%s", logs.String())
	}
	// The token is untouched: nothing was revoked for a client that left.
	if rec := f.do(formPost(provider.PathIntrospect, url.Values{"token": {token}}, c.ID, secret)); !strings.Contains(rec.Body.String(), `"active":true`) {
		t.Fatalf("introspection afterwards: %d %s", rec.Code, rec.Body)
	}
}
