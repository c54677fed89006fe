package main

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/provider/providertest"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore/bunstoretest"
)

// passkeyClient is a browser as far as the passkey routes care: a cookie
// jar, no redirects followed, the issuer's Origin on the JSON begins.
type passkeyClient struct {
	t      *testing.T
	origin string
	c      *http.Client
}

func newPasskeyClient(t *testing.T, origin string) *passkeyClient {
	jar, _ := cookiejar.New(nil)
	return &passkeyClient{t: t, origin: origin, c: &http.Client{
		Jar: jar, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

func (pc *passkeyClient) do(req *http.Request) (int, string, http.Header) {
	pc.t.Helper()
	resp, err := pc.c.Do(req)
	if err != nil {
		pc.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Header
}

func (pc *passkeyClient) get(u string) (int, string) {
	pc.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	status, body, _ := pc.do(req)
	return status, body
}

func (pc *passkeyClient) post(u string, form url.Values) (int, string, http.Header) {
	pc.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return pc.do(req)
}

// begin posts to a JSON begin endpoint as the page's script does from a
// browser without fetch metadata (so the CSRF cookie must match).
func (pc *passkeyClient) begin(u, token string) []byte {
	pc.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", pc.origin)
	req.Header.Set("X-CSRF-Token", token)
	status, body, _ := pc.do(req)
	if status != http.StatusOK {
		pc.t.Fatalf("begin %s: %d %s", u, status, body)
	}
	return []byte(body)
}

func csrfToken(t *testing.T, body string) string {
	t.Helper()
	v := (&page{body: body}).formValues().Get("_csrf")
	if v == "" {
		t.Fatalf("no CSRF token on the page: %.300s", body)
	}
	return v
}

// TestPasskeyCeremonyAcrossInstances: two gatehouse instances on one
// database (one issuer): a passkey registration begun on one finishes on
// the other, and so does a passwordless sign-in; the last way to sign in
// cannot be removed through the page.
func TestPasskeyCeremonyAcrossInstances(t *testing.T) {
	t.Parallel()
	store := bunstoretest.Open(t, "sqlite", bunstore.Options{})
	const sharedSecret = "passkey-instances-secret-0123456789abcdef"
	a := startServerOn(t, store, onLocalhost, func(c *config.Config) { c.Secret = sharedSecret })
	b := startServerOn(t, store, func(c *config.Config) { c.Issuer, c.Secret = a.issuer, sharedSecret })
	u := a.user("instances@example.com", alicePassword)

	// Signed in on A with the password.
	pc := newPasskeyClient(t, a.issuer)
	_, body := pc.get(a.addr + "/login?next=/account/security/passkeys")
	form := (&page{body: body}).formValues()
	form.Set("email", u.Email)
	form.Set("password", alicePassword)
	if status, body, _ := pc.post(a.addr+"/login", form); status != http.StatusSeeOther {
		t.Fatalf("password sign-in: %d %.300s", status, body)
	}

	// The security page leads to the passkeys.
	if _, sec := pc.get(a.addr + "/account/security"); !strings.Contains(sec, `href="/account/security/passkeys"`) {
		t.Fatalf("the security page does not lead to the passkeys: %.600s", sec)
	}

	// Registration: begun on A, finished on B.
	_, body = pc.get(a.addr + "/account/security/passkeys")
	token := csrfToken(t, body)
	key := providertest.NewSoftKey(t, "localhost", a.issuer)
	options := pc.begin(a.addr+"/account/security/passkeys/begin", token)
	status, body, _ := pc.post(b.addr+"/account/security/passkeys/add", url.Values{
		"_csrf": {token}, "name": {"Laptop"}, "credential": {string(key.Create(t, options))},
	})
	if status != http.StatusOK || !strings.Contains(body, "The passkey Laptop was added.") {
		t.Fatalf("registration finished on the other instance: %d %.500s", status, body)
	}
	keys, err := store.PasskeysOfUser(context.Background(), u.ID)
	if err != nil || len(keys) != 1 {
		t.Fatalf("passkeys = %v, %v", keys, err)
	}

	// Passwordless: begun on B, finished on A, by a browser signed out.
	out := newPasskeyClient(t, a.issuer)
	_, body = out.get(b.addr + "/login")
	token = csrfToken(t, body)
	options = out.begin(b.addr+"/login/passkey/begin", token)
	status, body, hd := out.post(a.addr+"/login/passkey", url.Values{
		"_csrf": {token}, "next": {"/account/security/passkeys"}, "credential": {string(key.Get(t, options))},
	})
	if status != http.StatusSeeOther || hd.Get("Location") != "/account/security/passkeys" {
		t.Fatalf("passwordless sign-in finished on the other instance: %d %q %.300s", status, hd.Get("Location"), body)
	}
	// The same assertion again: the ceremony was used. The answer's page
	// does not offer the passkey again through the autofill.
	if status, body, _ := out.post(a.addr+"/login/passkey", url.Values{
		"_csrf": {token}, "credential": {string(key.Get(t, options))},
	}); status != http.StatusUnauthorized || !strings.Contains(body, "could not sign you in") || !strings.Contains(body, `data-autofill="off"`) {
		t.Fatalf("a used ceremony: %d %.300s", status, body)
	}

	// Without a password, the only passkey stays.
	u.PasswordHash = ""
	if err := store.UpdateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	status, body = out.get(b.addr + "/account/security/passkeys")
	if status != http.StatusOK || !strings.Contains(body, "it cannot be removed") || strings.Contains(body, `action="/account/security/passkeys/remove"`) {
		t.Fatalf("the only passkey is offered for removal: %d %.800s", status, body)
	}
	status, body, _ = out.post(b.addr+"/account/security/passkeys/remove", url.Values{
		"_csrf": {csrfToken(t, body)}, "passkey_id": {keys[0].ID},
	})
	if status != http.StatusConflict {
		t.Fatalf("removing the last way to sign in: %d %.300s", status, body)
	}
	if keys, _ := store.PasskeysOfUser(context.Background(), u.ID); len(keys) != 1 {
		t.Fatalf("the last passkey went")
	}
}
