package provider

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore/bunstoretest"
)

// admClient stores a client and returns it with its secret.
func (f *regFixture) admClient(t *testing.T, spec ClientSpec) (*storage.Client, string) {
	t.Helper()
	c, plain, err := BuildClient(spec, f.p.Hasher(), f.now)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.store.CreateClient(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	return c, plain
}

func (f *regFixture) admUser(t *testing.T, email string, roles ...string) *storage.User {
	t.Helper()
	u, err := BuildUser(UserSpec{Email: email, Password: "correct horse battery", Roles: roles}, f.now)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.store.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u
}

// admExchange sends a token request through fosite, as the token endpoint
// does, and returns the response parameters.
func (f *regFixture) admExchange(t *testing.T, c *storage.Client, plain string, form url.Values) map[string]interface{} {
	t.Helper()
	ctx := context.Background()
	r, _ := http.NewRequest(http.MethodPost, "https://id.example.com/oauth2/token", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(plain))
	ar, err := f.p.OAuth2.NewAccessRequest(ctx, r, NewSession())
	if err == nil {
		err = f.p.prepareAccessRequest(ctx, ar)
	}
	if err != nil {
		t.Fatalf("token request: %v", err)
	}
	resp, err := f.p.newAccessResponse(ctx, ar)
	if err != nil {
		t.Fatalf("token response: %v", err)
	}
	return resp.ToMap()
}

// admClientToken is a client_credentials access token.
func (f *regFixture) admClientToken(t *testing.T, c *storage.Client, plain, scope string) string {
	t.Helper()
	out := f.admExchange(t, c, plain, url.Values{"grant_type": {"client_credentials"}, "scope": {scope}})
	return out["access_token"].(string)
}

// admUserTokens runs authorization code + PKCE for u (consent granted) and
// returns the access and refresh tokens.
func (f *regFixture) admUserTokens(t *testing.T, c *storage.Client, plain string, u *storage.User, scope string) (string, string) {
	t.Helper()
	ctx := context.Background()
	verifier := strings.Repeat("v", 50)
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{
		"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {c.RedirectURIs[0]}, "scope": {scope},
		"state": {"state-123456"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	}
	r, _ := http.NewRequest(http.MethodGet, "https://id.example.com/oauth2/authorize?"+q.Encode(), nil)
	ar, err := f.p.OAuth2.NewAuthorizeRequest(ctx, r)
	if err != nil {
		t.Fatalf("authorize: %v", err)
	}
	login := &Login{User: u, Session: &storage.LoginSession{UserID: u.ID, AuthTime: time.Now(), AMR: MethodPassword.AMR}}
	resp, err := f.p.Complete(ctx, ar, login, "")
	if err != nil {
		t.Fatalf("complete: %v", err)
	}
	out := f.admExchange(t, c, plain, url.Values{
		"grant_type": {"authorization_code"}, "code": {resp.GetParameters().Get("code")},
		"redirect_uri": {c.RedirectURIs[0]}, "code_verifier": {verifier},
	})
	refresh, _ := out["refresh_token"].(string)
	return out["access_token"].(string), refresh
}

func TestAuthorizeAdmin(t *testing.T) {
	ctx := context.Background()
	f := newRegFixture(t, RegistrationPolicyOff)
	f.now = time.Now()
	robot, robotSecret := f.admClient(t, ClientSpec{Name: "robot", Scopes: []string{ScopeAdmin, "api"}, FirstParty: true})
	console, consoleSecret := f.admClient(t, ClientSpec{Name: "console", RedirectURIs: []string{"https://console.example/cb"},
		Scopes: []string{ScopeOpenID, ScopeOfflineAccess, ScopeAdmin}, FirstParty: true})
	admin := f.admUser(t, "admin@example.com", RoleAdmin)
	plain := f.admUser(t, "plain@example.com", "editor")

	// A client's own token with the scope is enough.
	who, err := f.p.AuthorizeAdmin(ctx, f.admClientToken(t, robot, robotSecret, ScopeAdmin))
	if err != nil || who.ClientID != robot.ID || who.User != nil || who.String() != "client "+robot.ID {
		t.Fatalf("client token: %+v %v", who, err)
	}
	// An admin user's token with the scope.
	adminAccess, adminRefresh := f.admUserTokens(t, console, consoleSecret, admin, "openid offline_access "+ScopeAdmin)
	who, err = f.p.AuthorizeAdmin(ctx, adminAccess)
	if err != nil || who.User == nil || who.User.ID != admin.ID || who.ClientID != console.ID {
		t.Fatalf("admin user token: %+v %v", who, err)
	}

	plainAccess, _ := f.admUserTokens(t, console, consoleSecret, plain, "openid "+ScopeAdmin)
	noScope, _ := f.admUserTokens(t, console, consoleSecret, admin, "openid")
	for name, tc := range map[string]struct {
		token string
		want  error
	}{
		"no token":                       {"", ErrBearerUnauthorized},
		"garbage":                        {"gth_at_garbage.x", ErrBearerUnauthorized},
		"overlong":                       {strings.Repeat("x", 5000), ErrBearerUnauthorized},
		"refresh token":                  {adminRefresh, ErrBearerUnauthorized},
		"client token without the scope": {f.admClientToken(t, robot, robotSecret, "api"), ErrBearerForbidden},
		"user token without the scope":   {noScope, ErrBearerForbidden},
		"non-admin user":                 {plainAccess, ErrBearerForbidden},
	} {
		if _, err := f.p.AuthorizeAdmin(ctx, tc.token); !errors.Is(err, tc.want) {
			t.Errorf("%s: want %v, got %v", name, tc.want, err)
		}
	}

	// A disabled admin's token stops working at once.
	if _, err := SetUserDisabled(ctx, f.store, admin.ID, true, f.now); err != nil {
		t.Fatal(err)
	}
	if _, err := f.p.AuthorizeAdmin(ctx, adminAccess); !errors.Is(err, ErrBearerUnauthorized) {
		t.Fatalf("disabled admin: %v", err)
	}
	// A client that stops being first-party is shut out at once, even if
	// its row still lists the scope (as one written before that rule).
	robotToken := f.admClientToken(t, robot, robotSecret, ScopeAdmin)
	robot.FirstParty = false
	if err := f.store.UpdateClient(ctx, robot); err != nil {
		t.Fatal(err)
	}
	if _, err := f.p.AuthorizeAdmin(ctx, robotToken); !errors.Is(err, ErrBearerForbidden) {
		t.Fatalf("client no longer first-party: %v", err)
	}
	// Taking the scope away from a client shuts out its tokens.
	robot.FirstParty = true
	robot.Scopes = []string{"api"}
	if err := f.store.UpdateClient(ctx, robot); err != nil {
		t.Fatal(err)
	}
	if _, err := f.p.AuthorizeAdmin(ctx, robotToken); !errors.Is(err, ErrBearerForbidden) {
		t.Fatalf("client no longer allowed the scope: %v", err)
	}
}

func TestAdminClients(t *testing.T) {
	for _, d := range bunstoretest.Dialects() {
		t.Run(d, func(t *testing.T) { testAdminClients(t, d) })
	}
}

func testAdminClients(t *testing.T, dialect string) {
	ctx := context.Background()
	f := newRegFixtureOn(t, bunstoretest.Open(t, dialect, bunstore.Options{}), RegistrationPolicyOff, mustRing(t))
	a := f.p.Admin()
	who := &Principal{ClientID: "test"}

	if _, _, err := a.CreateClient(ctx, who, ClientSpec{Name: "bad", RedirectURIs: []string{"http://evil.example/cb"}}); !isValidation(err, "redirect_uris") {
		t.Fatalf("invalid create: %v", err)
	}
	var ids []string
	for i := 0; i < 5; i++ {
		f.now = f.now.Add(time.Second) // listings are oldest first
		c, plain, err := a.CreateClient(ctx, who, ClientSpec{Name: "job", Scopes: []string{"api"}})
		if err != nil || plain == "" || c.RegisteredBy != RegisteredByAdmin {
			t.Fatalf("create: %+v %v", c, err)
		}
		ids = append(ids, c.ID)
	}
	// Paging: 2 + 2 + 1, oldest first.
	var seen []string
	page := storage.Page{Limit: 2}
	for i := 0; ; i++ {
		items, next, err := a.ListClients(ctx, page)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range items {
			seen = append(seen, c.ID)
		}
		if next == "" {
			break
		}
		if len(items) != 2 || next != items[1].ID || i > 3 {
			t.Fatalf("page %d: %d items, next %q", i, len(items), next)
		}
		page.After = next
	}
	if !slices.Equal(seen, ids) {
		t.Fatalf("paged listing %v, want %v", seen, ids)
	}
	if items, next, err := a.ListClients(ctx, storage.Page{}); err != nil || len(items) != 5 || next != "" {
		t.Fatalf("default page: %d %q %v", len(items), next, err)
	}
	if _, _, err := a.ListClients(ctx, storage.Page{After: "no-such-client"}); !isValidation(err, "after") {
		t.Fatalf("unknown after: %v", err)
	}

	spec := SpecFromClient(mustClient(t, f, ids[0]))
	spec.Name = "renamed"
	if c, err := a.UpdateClient(ctx, who, ids[0], spec); err != nil || c.Name != "renamed" {
		t.Fatalf("update: %v", err)
	}
	if _, err := a.UpdateClient(ctx, who, "no-such-client", spec); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("update unknown: %v", err)
	}
	before := mustClient(t, f, ids[1]).SecretHash
	if c, plain, err := a.RotateClientSecret(ctx, who, ids[1]); err != nil || plain == "" || c.SecretHash == before || mustClient(t, f, ids[1]).SecretHash != c.SecretHash {
		t.Fatalf("rotate: %v", err)
	}
	if _, _, err := a.RotateClientSecret(ctx, who, "no-such-client"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("rotate unknown: %v", err)
	}
	if err := a.DeleteClient(ctx, who, ids[2]); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Client(ctx, ids[2]); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("deleted client: %v", err)
	}
	if err := a.DeleteClient(ctx, who, ids[2]); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
}

func TestAdminUsers(t *testing.T) {
	for _, d := range bunstoretest.Dialects() {
		t.Run(d, func(t *testing.T) { testAdminUsers(t, d) })
	}
}

func testAdminUsers(t *testing.T, dialect string) {
	ctx := context.Background()
	f := newRegFixtureOn(t, bunstoretest.Open(t, dialect, bunstore.Options{}), RegistrationPolicyOff, mustRing(t))
	a := f.p.Admin()
	who := &Principal{ClientID: "test"}

	u, err := a.CreateUser(ctx, who, UserSpec{Email: "Carol@Example.com", Password: "first password", Name: "Carol", Roles: []string{"admin"}, EmailVerified: true})
	if err != nil || u.Email != "carol@example.com" || !u.EmailVerified {
		t.Fatalf("create: %+v %v", u, err)
	}
	if _, err := a.CreateUser(ctx, who, UserSpec{Email: "carol@example.com", Password: "other password"}); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("duplicate e-mail: %v", err)
	}
	if _, err := a.CreateUser(ctx, who, UserSpec{Email: "x", Password: "short"}); !isValidation(err, "email") {
		t.Fatalf("invalid user: %v", err)
	}
	f.now = f.now.Add(time.Second)
	dave, _ := a.CreateUser(ctx, who, UserSpec{Email: "dave@example.com", Password: "dave password"})
	if items, next, err := a.ListUsers(ctx, storage.Page{Limit: 1}); err != nil || len(items) != 1 || items[0].ID != u.ID || next != u.ID {
		t.Fatalf("first page: %v %q %v", items, next, err)
	}
	if items, next, err := a.ListUsers(ctx, storage.Page{Limit: 1, After: u.ID}); err != nil || len(items) != 1 || items[0].ID != dave.ID || next != "" {
		t.Fatalf("second page: %v %q %v", items, next, err)
	}
	v := UserViewOf(u)
	if !v.HasPassword || v.Email != u.Email {
		t.Fatalf("view: %+v", v)
	}

	// Update: full replacement; e-mail taken is a conflict.
	if _, err := a.UpdateUser(ctx, who, u.ID, UserUpdate{Email: "dave@example.com"}); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("taken e-mail: %v", err)
	}
	if _, err := a.UpdateUser(ctx, who, u.ID, UserUpdate{Email: "bad"}); !isValidation(err, "email") {
		t.Fatalf("invalid e-mail: %v", err)
	}
	up, err := a.UpdateUser(ctx, who, u.ID, UserUpdate{Email: "Caroline@Example.com", Name: "Caroline", Roles: []string{"editor"}})
	if err != nil || up.Email != "caroline@example.com" || up.EmailVerified || up.Name != "Caroline" || strings.Join(up.Roles, ",") != "editor" || up.PasswordHash != u.PasswordHash {
		t.Fatalf("update: %+v %v", up, err)
	}
	if _, err := a.UpdateUser(ctx, who, "no-such-user", UserUpdate{Email: "z@example.com"}); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("update unknown: %v", err)
	}

	// Disable signs the user out and blocks sign-in; enable lets them back.
	handle, _, err := f.p.StartLogin(ctx, up, time.Now(), MethodPassword)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.SetUserDisabled(ctx, who, u.ID, true); err != nil {
		t.Fatal(err)
	}
	if l, err := f.p.CurrentLogin(ctx, handle); l != nil || err != nil {
		t.Fatalf("still signed in after disable: %v %v", l, err)
	}
	if _, err := f.p.Authenticate(ctx, "caroline@example.com", "first password", ""); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("disabled user signed in: %v", err)
	}
	if _, err := a.SetUserDisabled(ctx, who, u.ID, false); err != nil {
		t.Fatal(err)
	}
	if _, err := f.p.Authenticate(ctx, "caroline@example.com", "first password", ""); err != nil {
		t.Fatalf("enabled user: %v", err)
	}
	if _, err := a.SetUserDisabled(ctx, who, "no-such-user", true); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("disable unknown: %v", err)
	}

	// Set password: the old one stops working, sessions end.
	handle, _, _ = f.p.StartLogin(ctx, up, time.Now(), MethodPassword)
	if _, err := a.SetUserPassword(ctx, who, u.ID, "short"); !isValidation(err, "password") {
		t.Fatalf("short password: %v", err)
	}
	if _, err := a.SetUserPassword(ctx, who, u.ID, "second password"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.p.Authenticate(ctx, "caroline@example.com", "first password", ""); err == nil {
		t.Fatal("old password still works")
	}
	if _, err := f.p.Authenticate(ctx, "caroline@example.com", "second password", ""); err != nil {
		t.Fatalf("new password: %v", err)
	}
	if l, _ := f.p.CurrentLogin(ctx, handle); l != nil {
		t.Fatal("still signed in after a password change")
	}

	if err := a.DeleteUser(ctx, who, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := a.User(ctx, u.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("deleted user: %v", err)
	}
}

func isValidation(err error, field string) bool {
	var ve *ValidationError
	return errors.As(err, &ve) && slices.Contains(ve.Fields(), field)
}

func mustClient(t *testing.T, f *regFixture, id string) *storage.Client {
	t.Helper()
	c, err := f.store.ClientByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
