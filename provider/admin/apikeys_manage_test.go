package admin

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/apikey"
	"github.com/gatehouse-dev/gatehouse/provider/audit"
	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage"
)

func TestClientOwner(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	owner := f.user(t, "owner@example.com")

	// An operator's client takes the owner as given; SpecFromClient keeps
	// it through an update, an empty one clears it.
	c, _ := f.client(t, ClientSpec{Name: "job", OwnerID: owner.ID})
	if c.OwnerID != owner.ID {
		t.Fatalf("owner: %q", c.OwnerID)
	}
	spec := SpecFromClient(c)
	spec.Name = "renamed"
	if err := UpdateClientFromSpec(c, spec, f.Clock.Now()); err != nil || c.OwnerID != owner.ID {
		t.Fatalf("update kept owner %q, err %v", c.OwnerID, err)
	}
	spec.OwnerID = ""
	if err := UpdateClientFromSpec(c, spec, f.Clock.Now()); err != nil || c.OwnerID != "" {
		t.Fatalf("update cleared owner %q, err %v", c.OwnerID, err)
	}
	if _, _, err := BuildClient(ClientSpec{Name: "x", OwnerID: "has space"}, secret.NewHasher(f.Ring), f.Clock.Now()); !isValidation(err, "owner_id") {
		t.Fatalf("malformed owner id: %v", err)
	}

	// The admin use cases check that the owner exists; a request without
	// owner_id keeps the owner, "" clears it.
	a := f.a
	who := &provider.Principal{ClientID: "ops"}
	if _, _, err := a.CreateClient(ctx, who, ClientSpec{Name: "x", OwnerID: "no-such-user"}); !isValidation(err, "owner_id") {
		t.Fatalf("unknown owner: %v", err)
	}
	created, _, err := a.CreateClient(ctx, who, ClientSpec{Name: "owned", OwnerID: owner.ID})
	if err != nil || created.OwnerID != owner.ID {
		t.Fatalf("create owned: %+v %v", created, err)
	}
	req := &AdminClientRequest{ClientRequest: ClientRequest{ClientFields: ClientFields{ClientName: "owned 2"}}}
	got, err := a.UpdateClientFromRequest(ctx, who, created.ID, req)
	if err != nil || got.OwnerID != owner.ID || got.Name != "owned 2" {
		t.Fatalf("update without owner_id: %+v %v", got, err)
	}
	bad := "no-such-user"
	req.OwnerID = &bad
	if _, err := a.UpdateClientFromRequest(ctx, who, created.ID, req); !isValidation(err, "owner_id") {
		t.Fatalf("update to an unknown owner: %v", err)
	}
	none := ""
	req.OwnerID = &none
	if got, err = a.UpdateClientFromRequest(ctx, who, created.ID, req); err != nil || got.OwnerID != "" {
		t.Fatalf("update clearing the owner: %+v %v", got, err)
	}
	if v := ClientViewOf(got, ""); v.OwnerID != "" || v.ClientID != created.ID {
		t.Fatalf("view: %+v", v)
	}
}

func TestAuthorizeKeyManager(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.Clock.Set(time.Now())
	console, consoleSecret := f.client(t, ClientSpec{Name: "console", RedirectURIs: []string{"https://console.example/cb"},
		Scopes: []string{provider.ScopeOpenID, provider.ScopeOfflineAccess, provider.ScopeAPIKeys}, FirstParty: true})
	robot, robotSecret := f.client(t, ClientSpec{Name: "robot", Scopes: []string{provider.ScopeAPIKeys, "api"}, FirstParty: true})
	alice := f.user(t, "alice@example.com")
	gone := f.user(t, "gone@example.com")

	access, refresh := f.UserTokens(t, console, consoleSecret, alice, "openid offline_access apikeys")
	who, err := f.a.AuthorizeKeyManager(ctx, bearer(access))
	if err != nil || who.User.ID != alice.ID || who.ClientID != console.ID || who.GrantID == "" {
		t.Fatalf("alice: %+v %v", who, err)
	}
	noScope, _ := f.UserTokens(t, console, consoleSecret, alice, "openid")
	goneToken, _ := f.UserTokens(t, console, consoleSecret, gone, "openid apikeys")
	if err := f.Store.DeleteUser(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		token string
		want  error
	}{
		"no token":          {"", provider.ErrBearerUnauthorized},
		"garbage":           {"gth_at_nope", provider.ErrBearerUnauthorized},
		"refresh token":     {refresh, provider.ErrBearerUnauthorized},
		"user gone":         {goneToken, provider.ErrBearerUnauthorized},
		"no apikeys scope":  {noScope, provider.ErrBearerForbidden},
		"client's own":      {f.ClientToken(t, robot, robotSecret, provider.ScopeAPIKeys), provider.ErrBearerForbidden},
		"client's, no such": {f.ClientToken(t, robot, robotSecret, "api"), provider.ErrBearerForbidden},
	} {
		if _, err := f.a.AuthorizeKeyManager(ctx, bearer(tc.token)); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}

	// Disabled users and clients that lose the scope are shut out at once.
	if _, err := f.a.setUserDisabled(ctx, audit.ActorOperator, alice.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := f.a.AuthorizeKeyManager(ctx, bearer(access)); !errors.Is(err, provider.ErrBearerUnauthorized) {
		t.Fatalf("disabled user: %v", err)
	}
	if _, err := f.a.setUserDisabled(ctx, audit.ActorOperator, alice.ID, false); err != nil {
		t.Fatal(err)
	}
	// A client that stops being first-party (its row may still list the
	// scope, as one written before that rule did) is shut out at once.
	notFirstParty, err := f.Store.ClientByID(ctx, console.ID)
	if err != nil {
		t.Fatal(err)
	}
	notFirstParty.FirstParty = false
	if err := f.Store.UpdateClient(ctx, notFirstParty); err != nil {
		t.Fatal(err)
	}
	if _, err := f.a.AuthorizeKeyManager(ctx, bearer(access)); !errors.Is(err, provider.ErrBearerForbidden) {
		t.Fatalf("client no longer first-party: %v", err)
	}
	if _, err := f.a.ChangeClient(ctx, nil, console.ID, func(s *ClientSpec) {
		s.Scopes = []string{provider.ScopeOpenID, provider.ScopeOfflineAccess}
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.a.AuthorizeKeyManager(ctx, bearer(access)); !errors.Is(err, provider.ErrBearerForbidden) {
		t.Fatalf("client without the scope: %v", err)
	}
}

func TestSelfServiceKeys(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	alice := f.user(t, "alice@example.com")
	bob := f.user(t, "bob@example.com")
	admin := f.user(t, "admin@example.com", RoleAdmin)
	job, _ := f.client(t, ClientSpec{Name: "job", Scopes: []string{"a", "b"}, OwnerID: alice.ID})
	unowned, _ := f.client(t, ClientSpec{Name: "unowned", Scopes: []string{"a"}})
	if _, _, err := f.a.CreateAPIKey(ctx, nil, APIKeySpec{ClientID: unowned.ID, Name: "ops", CreatedBy: "operator"}); err != nil {
		t.Fatal(err)
	}
	// alice owns a client allowed to manage gatehouse: its keys reach the
	// admin API, so no app acting for her may make or see them.
	powerful, _ := f.client(t, ClientSpec{Name: "ops robot", Scopes: []string{provider.ScopeAdmin, "a"}, FirstParty: true, OwnerID: alice.ID})
	if _, _, err := f.a.CreateAPIKey(ctx, nil, APIKeySpec{ClientID: powerful.ID, Name: "ops", CreatedBy: "operator"}); err != nil {
		t.Fatal(err)
	}

	if !CanManageClient(alice, job) || CanManageClient(bob, job) || CanManageClient(admin, job) ||
		CanManageClient(alice, unowned) || CanManageClient(nil, job) || CanManageClient(alice, powerful) {
		t.Fatal("CanManageClient")
	}
	disabled := *alice
	disabled.Disabled = true
	if CanManageClient(&disabled, job) {
		t.Fatal("a disabled owner may manage")
	}

	via := provider.Delegation{ClientID: "console", GrantID: "grant-1"}
	mine := f.a.SelfServiceKeys(&provider.Principal{User: alice, ClientID: via.ClientID, GrantID: via.GrantID})
	k, plain, err := mine.Create(ctx, APIKeySpec{ClientID: job.ID, Name: "ci", Scopes: []string{"a"}, CreatedBy: "spoofed"})
	if err != nil || plain == "" || k.CreatedBy != "user:"+alice.ID || k.CreatedVia != "console" {
		t.Fatalf("create: %+v %v", k, err)
	}
	if _, _, err := mine.Create(ctx, APIKeySpec{ClientID: powerful.ID, Name: "escalate"}); !errors.Is(err, ErrNotClientManager) {
		t.Fatalf("create a key of a client allowed gatehouse:admin: %v", err)
	}
	if _, err := mine.List(ctx, powerful.ID); !errors.Is(err, ErrNotClientManager) {
		t.Fatalf("list the keys of a client allowed gatehouse:admin: %v", err)
	}
	if list, err := mine.List(ctx, ""); err != nil || len(list) != 1 || list[0].ID != k.ID {
		t.Fatalf("alice's keys: %v %v", list, err)
	}
	if _, err := mine.List(ctx, unowned.ID); !errors.Is(err, ErrNotClientManager) {
		t.Fatalf("list another client: %v", err)
	}
	if _, err := mine.List(ctx, "no-such-client"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("list unknown client: %v", err)
	}

	// Bob owns nothing: an empty list (never everyone's keys), and
	// alice's key is as unknown to him as a key that does not exist.
	his := f.a.SelfServiceKeys(&provider.Principal{User: bob, ClientID: via.ClientID, GrantID: via.GrantID})
	if list, err := his.List(ctx, ""); err != nil || len(list) != 0 {
		t.Fatalf("bob's keys: %v %v", list, err)
	}
	if _, err := his.Get(ctx, k.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("bob gets alice's key: %v", err)
	}
	if err := his.Revoke(ctx, k.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("bob revokes alice's key: %v", err)
	}
	if _, _, err := his.Create(ctx, APIKeySpec{ClientID: job.ID, Name: "x"}); !errors.Is(err, ErrNotClientManager) {
		t.Fatalf("bob creates: %v", err)
	}
	if _, err := f.a.RevokeOwnedAPIKey(ctx, bob.ID, k.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("bob revokes from the account page: %v", err)
	}

	// An admin's role counts for nothing here: through an app, an admin
	// manages only the clients they own (others' keys go through the admin
	// API or the CLI, where no app acts for them).
	theirs := f.a.SelfServiceKeys(&provider.Principal{User: admin, ClientID: via.ClientID, GrantID: via.GrantID})
	if _, err := theirs.List(ctx, unowned.ID); !errors.Is(err, ErrNotClientManager) {
		t.Fatalf("admin lists another client's keys: %v", err)
	}
	if _, err := theirs.Get(ctx, k.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("admin gets another client's key: %v", err)
	}
	if _, _, err := theirs.Create(ctx, APIKeySpec{ClientID: unowned.ID, Name: "x"}); !errors.Is(err, ErrNotClientManager) {
		t.Fatalf("admin creates a key of another client: %v", err)
	}
	if owned, err := f.a.OwnedAPIKeys(ctx, admin.ID); err != nil || len(owned) != 0 {
		t.Fatalf("admin's own keys: %v %v", owned, err)
	}
	// The account page leaves out the client allowed gatehouse:admin.
	owned, err := f.a.OwnedAPIKeys(ctx, alice.ID)
	if err != nil || len(owned) != 1 || owned[0].Client.ID != job.ID {
		t.Fatalf("alice's own keys: %v %v", owned, err)
	}

	if got, err := f.a.RevokeOwnedAPIKey(ctx, alice.ID, k.ID); err != nil || got.ID != k.ID {
		t.Fatalf("alice revokes: %v %v", got, err)
	}
	if in, err := f.P.IntrospectAPIKey(ctx, plain); err != nil || in.Active {
		t.Fatalf("revoked key introspects %+v %v", in, err)
	}
}

func TestAPIKeyManagerOnItsOwn(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.Clock.Set(time.Now())
	job, _ := f.client(t, ClientSpec{Name: "job", Scopes: []string{"a", "b"}})
	public, _ := f.client(t, ClientSpec{Name: "spa", Public: true, RedirectURIs: []string{"https://spa.example/cb"}})
	// The CLI's administration: the store and the keyring, nothing else.
	m, err := New(Options{Store: f.Store, Keyring: f.Ring})
	if err != nil {
		t.Fatal(err)
	}
	noSecret, err := New(Options{Store: f.Store})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := noSecret.CreateAPIKey(ctx, nil, APIKeySpec{ClientID: job.ID, Name: "cli"}); !errors.Is(err, errNoKeyring) {
		t.Fatalf("a key made without the system secret: %v", err)
	}
	k, plain, err := m.CreateAPIKey(ctx, nil, APIKeySpec{ClientID: job.ID, Name: "cli", ExpiresIn: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	// The server's verifier accepts what the CLI made.
	if in, err := f.P.IntrospectAPIKey(ctx, plain); err != nil || !in.Active || in.ClientID != job.ID || in.Scope != "a b" {
		t.Fatalf("introspect: %+v %v", in, err)
	}
	v := APIKeyViewOf(k, plain, f.Clock.Now())
	if v.Key != plain || v.State != apikey.StateActive || v.ExpiresAt == nil || v.LastUsedAt != nil || v.RevokedAt != nil || v.CreatedBy != "operator" {
		t.Fatalf("view: %+v", v)
	}
	if apikey.State(k, k.ExpiresAt) != apikey.StateExpired {
		t.Fatal("state at expiry")
	}

	for field, spec := range map[string]APIKeySpec{
		"name":       {ClientID: job.ID, Name: " "},
		"expires_in": {ClientID: job.ID, Name: "x", ExpiresIn: -time.Second},
		"scope":      {ClientID: job.ID, Name: "x", Scopes: []string{"c"}},
		"client_id":  {ClientID: public.ID, Name: "x"},
	} {
		_, _, err := m.CreateAPIKey(ctx, nil, spec)
		var ie *APIKeyInputError
		if !errors.Is(err, ErrAPIKeyInput) || !errors.As(err, &ie) || ie.Field != field {
			t.Errorf("%s: %v", field, err)
		}
	}
	if _, _, err := m.CreateAPIKey(ctx, nil, APIKeySpec{ClientID: "nope", Name: "x"}); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("unknown client: %v", err)
	}

	if err := m.RevokeAPIKey(ctx, nil, k.ID); err != nil {
		t.Fatal(err)
	}
	if err := m.RevokeAPIKey(ctx, nil, "nope"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("revoke unknown: %v", err)
	}
	got, err := m.APIKey(ctx, k.ID)
	if err != nil || apikey.State(got, f.Clock.Now()) != apikey.StateRevoked {
		t.Fatalf("revoked: %+v %v", got, err)
	}
}
