package provider

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/provider/apikey"
	"github.com/gatehouse-dev/gatehouse/storage"
)

func TestClientOwner(t *testing.T) {
	ctx := context.Background()
	f := newRegFixture(t, RegistrationPolicyOpen)
	owner := f.admUser(t, "owner@example.com")

	// An operator's client takes the owner as given; SpecFromClient keeps
	// it through an update, an empty one clears it.
	c, _ := f.admClient(t, ClientSpec{Name: "job", OwnerID: owner.ID})
	if c.OwnerID != owner.ID {
		t.Fatalf("owner: %q", c.OwnerID)
	}
	spec := SpecFromClient(c)
	spec.Name = "renamed"
	if err := UpdateClientFromSpec(c, spec, f.now); err != nil || c.OwnerID != owner.ID {
		t.Fatalf("update kept owner %q, err %v", c.OwnerID, err)
	}
	spec.OwnerID = ""
	if err := UpdateClientFromSpec(c, spec, f.now); err != nil || c.OwnerID != "" {
		t.Fatalf("update cleared owner %q, err %v", c.OwnerID, err)
	}
	if _, _, err := BuildClient(ClientSpec{Name: "x", OwnerID: "has space"}, f.p.Hasher(), f.now); !isValidation(err, "owner_id") {
		t.Fatalf("malformed owner id: %v", err)
	}

	// Dynamic registration never sets an owner, and an RFC 7592 update
	// keeps the one an operator gave.
	m, err := f.p.Register(ctx, "", []byte(regBody))
	if err != nil {
		t.Fatal(err)
	}
	reg := mustClient(t, f, m.ClientID)
	if reg.OwnerID != "" {
		t.Fatalf("registered client has an owner: %q", reg.OwnerID)
	}
	reg.OwnerID = owner.ID
	if err := f.store.UpdateClient(ctx, reg); err != nil {
		t.Fatal(err)
	}
	body := strings.Replace(regBody, "{", `{"client_id":"`+m.ClientID+`",`, 1)
	if _, err := f.p.UpdateRegisteredClient(ctx, m.ClientID, m.RegistrationAccessToken, []byte(body)); err != nil {
		t.Fatal(err)
	}
	if got := mustClient(t, f, m.ClientID); got.OwnerID != owner.ID {
		t.Fatalf("RFC 7592 update changed the owner to %q", got.OwnerID)
	}

	// The admin use cases check that the owner exists; a request without
	// owner_id keeps the owner, "" clears it.
	a := f.p.Admin()
	who := &Principal{ClientID: "ops"}
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
	f := newRegFixture(t, RegistrationPolicyOff)
	f.now = time.Now()
	console, consoleSecret := f.admClient(t, ClientSpec{Name: "console", RedirectURIs: []string{"https://console.example/cb"},
		Scopes: []string{ScopeOpenID, ScopeOfflineAccess, ScopeAPIKeys}, FirstParty: true})
	robot, robotSecret := f.admClient(t, ClientSpec{Name: "robot", Scopes: []string{ScopeAPIKeys, "api"}, FirstParty: true})
	alice := f.admUser(t, "alice@example.com")
	gone := f.admUser(t, "gone@example.com")

	access, refresh := f.admUserTokens(t, console, consoleSecret, alice, "openid offline_access apikeys")
	who, err := f.p.AuthorizeKeyManager(ctx, access)
	if err != nil || who.User.ID != alice.ID || who.ClientID != console.ID || who.GrantID == "" {
		t.Fatalf("alice: %+v %v", who, err)
	}
	noScope, _ := f.admUserTokens(t, console, consoleSecret, alice, "openid")
	goneToken, _ := f.admUserTokens(t, console, consoleSecret, gone, "openid apikeys")
	if err := f.store.DeleteUser(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		token string
		want  error
	}{
		"no token":          {"", ErrBearerUnauthorized},
		"garbage":           {"gth_at_nope", ErrBearerUnauthorized},
		"refresh token":     {refresh, ErrBearerUnauthorized},
		"user gone":         {goneToken, ErrBearerUnauthorized},
		"no apikeys scope":  {noScope, ErrBearerForbidden},
		"client's own":      {f.admClientToken(t, robot, robotSecret, ScopeAPIKeys), ErrBearerForbidden},
		"client's, no such": {f.admClientToken(t, robot, robotSecret, "api"), ErrBearerForbidden},
	} {
		if _, err := f.p.AuthorizeKeyManager(ctx, tc.token); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}

	// Disabled users and clients that lose the scope are shut out at once.
	if _, err := SetUserDisabled(ctx, f.store, alice.ID, true, f.now); err != nil {
		t.Fatal(err)
	}
	if _, err := f.p.AuthorizeKeyManager(ctx, access); !errors.Is(err, ErrBearerUnauthorized) {
		t.Fatalf("disabled user: %v", err)
	}
	if _, err := SetUserDisabled(ctx, f.store, alice.ID, false, f.now); err != nil {
		t.Fatal(err)
	}
	// A client that stops being first-party (its row may still list the
	// scope, as one written before that rule did) is shut out at once.
	notFirstParty, err := f.store.ClientByID(ctx, console.ID)
	if err != nil {
		t.Fatal(err)
	}
	notFirstParty.FirstParty = false
	if err := f.store.UpdateClient(ctx, notFirstParty); err != nil {
		t.Fatal(err)
	}
	if _, err := f.p.AuthorizeKeyManager(ctx, access); !errors.Is(err, ErrBearerForbidden) {
		t.Fatalf("client no longer first-party: %v", err)
	}
	spec := SpecFromClient(console)
	spec.Scopes = []string{ScopeOpenID, ScopeOfflineAccess}
	if _, err := UpdateStoredClient(ctx, f.store, console.ID, spec, f.now); err != nil {
		t.Fatal(err)
	}
	if _, err := f.p.AuthorizeKeyManager(ctx, access); !errors.Is(err, ErrBearerForbidden) {
		t.Fatalf("client without the scope: %v", err)
	}
}

func TestSelfServiceKeys(t *testing.T) {
	ctx := context.Background()
	f := newRegFixture(t, RegistrationPolicyOff)
	alice := f.admUser(t, "alice@example.com")
	bob := f.admUser(t, "bob@example.com")
	admin := f.admUser(t, "admin@example.com", RoleAdmin)
	job, _ := f.admClient(t, ClientSpec{Name: "job", Scopes: []string{"a", "b"}, OwnerID: alice.ID})
	unowned, _ := f.admClient(t, ClientSpec{Name: "unowned", Scopes: []string{"a"}})
	if _, _, err := f.p.CreateAPIKey(ctx, APIKeySpec{ClientID: unowned.ID, Name: "ops", CreatedBy: "operator"}); err != nil {
		t.Fatal(err)
	}
	// alice owns a client allowed to manage gatehouse: its keys reach the
	// admin API, so no app acting for her may make or see them.
	powerful, _ := f.admClient(t, ClientSpec{Name: "ops robot", Scopes: []string{ScopeAdmin, "a"}, FirstParty: true, OwnerID: alice.ID})
	if _, _, err := f.p.CreateAPIKey(ctx, APIKeySpec{ClientID: powerful.ID, Name: "ops", CreatedBy: "operator"}); err != nil {
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

	via := Delegation{ClientID: "console", GrantID: "grant-1"}
	mine := f.p.SelfServiceKeys(&Principal{User: alice, ClientID: via.ClientID, GrantID: via.GrantID})
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
	his := f.p.SelfServiceKeys(&Principal{User: bob, ClientID: via.ClientID, GrantID: via.GrantID})
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
	if _, err := f.p.RevokeOwnedAPIKey(ctx, bob.ID, k.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("bob revokes from the account page: %v", err)
	}

	// An admin's role counts for nothing here: through an app, an admin
	// manages only the clients they own (others' keys go through the admin
	// API or the CLI, where no app acts for them).
	theirs := f.p.SelfServiceKeys(&Principal{User: admin, ClientID: via.ClientID, GrantID: via.GrantID})
	if _, err := theirs.List(ctx, unowned.ID); !errors.Is(err, ErrNotClientManager) {
		t.Fatalf("admin lists another client's keys: %v", err)
	}
	if _, err := theirs.Get(ctx, k.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("admin gets another client's key: %v", err)
	}
	if _, _, err := theirs.Create(ctx, APIKeySpec{ClientID: unowned.ID, Name: "x"}); !errors.Is(err, ErrNotClientManager) {
		t.Fatalf("admin creates a key of another client: %v", err)
	}
	if owned, err := f.p.OwnedAPIKeys(ctx, admin.ID); err != nil || len(owned) != 0 {
		t.Fatalf("admin's own keys: %v %v", owned, err)
	}
	// The account page leaves out the client allowed gatehouse:admin.
	owned, err := f.p.OwnedAPIKeys(ctx, alice.ID)
	if err != nil || len(owned) != 1 || owned[0].Client.ID != job.ID {
		t.Fatalf("alice's own keys: %v %v", owned, err)
	}

	if got, err := f.p.RevokeOwnedAPIKey(ctx, alice.ID, k.ID); err != nil || got.ID != k.ID {
		t.Fatalf("alice revokes: %v %v", got, err)
	}
	if in, err := f.p.IntrospectAPIKey(ctx, plain); err != nil || in.Active {
		t.Fatalf("revoked key introspects %+v %v", in, err)
	}
}

func TestAPIKeyManagerOnItsOwn(t *testing.T) {
	ctx := context.Background()
	f := newRegFixture(t, RegistrationPolicyOff)
	f.now = time.Now()
	job, _ := f.admClient(t, ClientSpec{Name: "job", Scopes: []string{"a", "b"}})
	public, _ := f.admClient(t, ClientSpec{Name: "spa", Public: true, RedirectURIs: []string{"https://spa.example/cb"}})
	// The CLI's manager: the store and the keyring, nothing else.
	m, err := NewAPIKeyManager(APIKeyManagerOptions{Store: f.store, Keyring: f.ring})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewAPIKeyManager(APIKeyManagerOptions{Store: f.store}); err == nil {
		t.Fatal("a manager without a keyring")
	}
	k, plain, err := m.Create(ctx, APIKeySpec{ClientID: job.ID, Name: "cli", ExpiresIn: time.Hour, CreatedBy: "operator"})
	if err != nil {
		t.Fatal(err)
	}
	// The server's verifier accepts what the CLI made.
	if in, err := f.p.IntrospectAPIKey(ctx, plain); err != nil || !in.Active || in.ClientID != job.ID || in.Scope != "a b" {
		t.Fatalf("introspect: %+v %v", in, err)
	}
	v := APIKeyViewOf(k, plain, f.now)
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
		_, _, err := m.Create(ctx, spec)
		var ie *APIKeyInputError
		if !errors.Is(err, ErrAPIKeyInput) || !errors.As(err, &ie) || ie.Field != field {
			t.Errorf("%s: %v", field, err)
		}
	}
	if _, _, err := m.Create(ctx, APIKeySpec{ClientID: "nope", Name: "x"}); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("unknown client: %v", err)
	}

	if err := m.Revoke(ctx, k.ID, "operator"); err != nil {
		t.Fatal(err)
	}
	if err := m.Revoke(ctx, "nope", "operator"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("revoke unknown: %v", err)
	}
	got, err := m.Key(ctx, k.ID)
	if err != nil || apikey.State(got, f.now) != apikey.StateRevoked {
		t.Fatalf("revoked: %+v %v", got, err)
	}
}
