package admin

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/audit"
	"github.com/gatehouse-dev/gatehouse/provider/login"
	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore/bunstoretest"
)

func TestAuthorizeAdmin(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.Clock.Set(time.Now())
	robot, robotSecret := f.client(t, ClientSpec{Name: "robot", Scopes: []string{provider.ScopeAdmin, "api"}, FirstParty: true})
	console, consoleSecret := f.client(t, ClientSpec{Name: "console", RedirectURIs: []string{"https://console.example/cb"},
		Scopes: []string{provider.ScopeOpenID, provider.ScopeOfflineAccess, provider.ScopeAdmin}, FirstParty: true})
	admin := f.user(t, "admin@example.com", RoleAdmin)
	plain := f.user(t, "plain@example.com", "editor")

	// A client's own token with the scope is enough.
	who, err := f.a.Authorize(ctx, bearer(f.ClientToken(t, robot, robotSecret, provider.ScopeAdmin)))
	if err != nil || who.ClientID != robot.ID || who.User != nil || who.String() != "client "+robot.ID {
		t.Fatalf("client token: %+v %v", who, err)
	}
	// An admin user's token with the scope.
	adminAccess, adminRefresh := f.UserTokens(t, console, consoleSecret, admin, "openid offline_access "+provider.ScopeAdmin)
	who, err = f.a.Authorize(ctx, bearer(adminAccess))
	if err != nil || who.User == nil || who.User.ID != admin.ID || who.ClientID != console.ID {
		t.Fatalf("admin user token: %+v %v", who, err)
	}

	plainAccess, _ := f.UserTokens(t, console, consoleSecret, plain, "openid "+provider.ScopeAdmin)
	noScope, _ := f.UserTokens(t, console, consoleSecret, admin, "openid")
	for name, tc := range map[string]struct {
		token string
		want  error
	}{
		"no token":                       {"", provider.ErrBearerUnauthorized},
		"garbage":                        {"gth_at_garbage.x", provider.ErrBearerUnauthorized},
		"overlong":                       {strings.Repeat("x", 5000), provider.ErrBearerUnauthorized},
		"refresh token":                  {adminRefresh, provider.ErrBearerUnauthorized},
		"client token without the scope": {f.ClientToken(t, robot, robotSecret, "api"), provider.ErrBearerForbidden},
		"user token without the scope":   {noScope, provider.ErrBearerForbidden},
		"non-admin user":                 {plainAccess, provider.ErrBearerForbidden},
	} {
		if _, err := f.a.Authorize(ctx, bearer(tc.token)); !errors.Is(err, tc.want) {
			t.Errorf("%s: want %v, got %v", name, tc.want, err)
		}
	}

	// A disabled admin's token stops working at once.
	if _, err := f.a.setUserDisabled(ctx, audit.ActorOperator, admin.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := f.a.Authorize(ctx, bearer(adminAccess)); !errors.Is(err, provider.ErrBearerUnauthorized) {
		t.Fatalf("disabled admin: %v", err)
	}
	// A client that stops being first-party is shut out at once, even if
	// its row still lists the scope (as one written before that rule).
	robotToken := f.ClientToken(t, robot, robotSecret, provider.ScopeAdmin)
	robot.FirstParty = false
	if err := f.Store.UpdateClient(ctx, robot); err != nil {
		t.Fatal(err)
	}
	if _, err := f.a.Authorize(ctx, bearer(robotToken)); !errors.Is(err, provider.ErrBearerForbidden) {
		t.Fatalf("client no longer first-party: %v", err)
	}
	// Taking the scope away from a client shuts out its tokens.
	robot.FirstParty = true
	robot.Scopes = []string{"api"}
	if err := f.Store.UpdateClient(ctx, robot); err != nil {
		t.Fatal(err)
	}
	if _, err := f.a.Authorize(ctx, bearer(robotToken)); !errors.Is(err, provider.ErrBearerForbidden) {
		t.Fatalf("client no longer allowed the scope: %v", err)
	}
}

func TestAdminClients(t *testing.T) {
	bunstoretest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		testAdminClients(t, dialect)
	})
}

func testAdminClients(t *testing.T, dialect string) {
	ctx := context.Background()
	f := newFixtureOn(t, bunstoretest.Open(t, dialect, bunstore.Options{}))
	a := f.a
	who := &provider.Principal{ClientID: "test"}

	if _, _, err := a.CreateClient(ctx, who, ClientSpec{Name: "bad", RedirectURIs: []string{"http://evil.example/cb"}}); !isValidation(err, "redirect_uris") {
		t.Fatalf("invalid create: %v", err)
	}
	var ids []string
	for i := 0; i < 5; i++ {
		f.Clock.Advance(time.Second) // listings are oldest first
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

	rename := func(spec *ClientSpec) { spec.Name = "renamed" }
	if c, err := a.ChangeClient(ctx, who, ids[0], rename); err != nil || c.Name != "renamed" {
		t.Fatalf("update: %v", err)
	}
	if _, err := a.ChangeClient(ctx, who, "no-such-client", rename); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("update unknown: %v", err)
	}
	// A client defined by its metadata document is the document's: the
	// administration may delete gatehouse's copy, not change it.
	doc := &storage.Client{ID: "https://app.example/client.json", Name: "Doc", Public: true, TokenEndpointAuthMethod: "none",
		RedirectURIs: []string{"https://app.example/cb"}, GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"},
		MetadataDocument: true, DocumentFreshUntil: time.Now().Add(time.Hour)}
	if err := f.Store.CreateClient(ctx, doc); err != nil {
		t.Fatal(err)
	}
	if _, err := a.ChangeClient(ctx, who, doc.ID, rename); !isValidation(err, "client_id") || mustClient(t, f, doc.ID).Name != "Doc" {
		t.Fatalf("changing a document's client: %v", err)
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
	bunstoretest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		testAdminUsers(t, dialect)
	})
}

func testAdminUsers(t *testing.T, dialect string) {
	ctx := context.Background()
	f := newFixtureOn(t, bunstoretest.Open(t, dialect, bunstore.Options{}))
	a := f.a
	who := &provider.Principal{ClientID: "test"}

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
	f.Clock.Advance(time.Second)
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
	handle, _, err := f.signIn.Start(ctx, up, time.Now(), provider.MethodPassword)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.SetUserDisabled(ctx, who, u.ID, true); err != nil {
		t.Fatal(err)
	}
	if l, err := f.signIn.Current(ctx, handle); l != nil || err != nil {
		t.Fatalf("still signed in after disable: %v %v", l, err)
	}
	if _, err := f.signIn.Authenticate(ctx, "caroline@example.com", "first password", ""); !errors.Is(err, login.ErrInvalidCredentials) {
		t.Fatalf("disabled user signed in: %v", err)
	}
	if _, err := a.SetUserDisabled(ctx, who, u.ID, false); err != nil {
		t.Fatal(err)
	}
	if _, err := f.signIn.Authenticate(ctx, "caroline@example.com", "first password", ""); err != nil {
		t.Fatalf("enabled user: %v", err)
	}
	if _, err := a.SetUserDisabled(ctx, who, "no-such-user", true); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("disable unknown: %v", err)
	}

	// Set password: the old one stops working, sessions end.
	handle, _, _ = f.signIn.Start(ctx, up, time.Now(), provider.MethodPassword)
	if _, err := a.SetUserPassword(ctx, who, u.ID, "short"); !isValidation(err, "password") {
		t.Fatalf("short password: %v", err)
	}
	if _, err := a.SetUserPassword(ctx, who, u.ID, "second password"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.signIn.Authenticate(ctx, "caroline@example.com", "first password", ""); err == nil {
		t.Fatal("old password still works")
	}
	if _, err := f.signIn.Authenticate(ctx, "caroline@example.com", "second password", ""); err != nil {
		t.Fatalf("new password: %v", err)
	}
	if l, _ := f.signIn.Current(ctx, handle); l != nil {
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

func mustClient(t *testing.T, f *fixture, id string) *storage.Client {
	t.Helper()
	c, err := f.Store.ClientByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
