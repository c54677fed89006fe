package handlers

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/provider/login"
)

var csrfInput = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// signIn posts the login form (after fetching it for its CSRF token) with
// the cookies given, and returns the answer.
func (f *fixture) signIn(t *testing.T, email, password string, cookies ...*http.Cookie) *httptest.ResponseRecorder {
	t.Helper()
	page := f.do(httptest.NewRequest(http.MethodGet, "/login", nil))
	m := csrfInput.FindStringSubmatch(page.Body.String())
	if m == nil {
		t.Fatalf("login page without a CSRF token: %d", page.Code)
	}
	form := url.Values{"email": {email}, "password": {password}, "_csrf": {m[1]}}
	req := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, ck := range append(page.Result().Cookies(), cookies...) {
		req.AddCookie(ck)
	}
	return f.do(req)
}

func responseCookie(rec *httptest.ResponseRecorder, name string) *http.Cookie {
	for _, ck := range rec.Result().Cookies() {
		if ck.Name == name {
			return ck
		}
	}
	return nil
}

// A password sign-in gives the browser a device cookie as strict as the
// session cookie and long-lived; a failed one gives none; a sign-in to a
// second account keeps the first one's entry.
func TestSignInSetsTheDeviceCookie(t *testing.T) {
	f := newFixture(t, "https://id.example.com")
	var users [2]string
	for i, email := range []string{"dana@example.com", "eve@example.com"} {
		u, err := admin.BuildUser(admin.UserSpec{Email: email, Password: "a long enough password"}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := f.store.CreateUser(context.Background(), u); err != nil {
			t.Fatal(err)
		}
		users[i] = email
	}

	if rec := f.signIn(t, users[0], "wrong password"); rec.Code != http.StatusUnauthorized || responseCookie(rec, "__Host-gth_device") != nil {
		t.Fatalf("a failed sign-in: %d, device cookie %+v", rec.Code, responseCookie(rec, "__Host-gth_device"))
	}
	rec := f.signIn(t, users[0], "a long enough password")
	device := responseCookie(rec, "__Host-gth_device")
	if rec.Code != http.StatusSeeOther || device == nil || !device.Secure || !device.HttpOnly || device.Path != "/" ||
		device.Domain != "" || device.SameSite != http.SameSiteLaxMode {
		t.Fatalf("sign-in: %d, device cookie %+v", rec.Code, device)
	}
	if left := time.Until(device.Expires); left < login.DeviceCookieLifetime-time.Minute || left > login.DeviceCookieLifetime {
		t.Errorf("device cookie expires in %s, want %s", left, login.DeviceCookieLifetime)
	}
	rec = f.signIn(t, users[1], "a long enough password", device)
	both := responseCookie(rec, "__Host-gth_device")
	if both == nil || !strings.HasSuffix(both.Value, "."+device.Value) {
		t.Fatalf("the second account's cookie %+v does not keep the first's entry %q", both, device.Value)
	}
}
