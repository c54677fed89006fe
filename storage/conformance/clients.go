package conformance

import (
	"fmt"

	"github.com/ory/fosite"

	"github.com/gatehouse-dev/gatehouse/storage"
)

func clientTests() []test {
	return []test{
		{"CreateAndGet", testClientCreateAndGet},
		{"AwkwardStrings", testClientAwkwardStrings},
		{"Conflict", testClientConflict},
		{"NotFound", testClientNotFound},
		{"List", testClientList},
		{"Update", testClientUpdate},
		{"ReturnsCopy", testClientReturnsCopy},
		{"Delete", testClientDelete},
		{"DeleteRemovesEverythingOfTheClient", testClientDeleteCascade},
	}
}

func (e *env) wantClient(got, want *storage.Client, what string) {
	e.t.Helper()
	e.wantEqual(got.ID, want.ID, what+" ID")
	e.wantEqual(got.SecretHash, want.SecretHash, what+" SecretHash")
	e.wantEqual(got.Name, want.Name, what+" Name")
	e.wantList(got.RedirectURIs, want.RedirectURIs, what+" RedirectURIs")
	e.wantList(got.PostLogoutRedirectURIs, want.PostLogoutRedirectURIs, what+" PostLogoutRedirectURIs")
	e.wantList(got.GrantTypes, want.GrantTypes, what+" GrantTypes")
	e.wantList(got.ResponseTypes, want.ResponseTypes, what+" ResponseTypes")
	e.wantList(got.Scopes, want.Scopes, what+" Scopes")
	e.wantList(got.Audience, want.Audience, what+" Audience")
	e.wantList(got.AllowedOrigins, want.AllowedOrigins, what+" AllowedOrigins")
	e.wantEqual(got.Public, want.Public, what+" Public")
	e.wantEqual(got.TokenEndpointAuthMethod, want.TokenEndpointAuthMethod, what+" TokenEndpointAuthMethod")
	e.wantEqual(got.IDTokenSignedResponseAlg, want.IDTokenSignedResponseAlg, what+" IDTokenSignedResponseAlg")
	e.wantEqual(got.SkipConsent, want.SkipConsent, what+" SkipConsent")
}

func testClientCreateAndGet(e *env) {
	want := e.createClient("client-a")
	got, err := e.s.ClientByID(e.ctx, "client-a")
	e.must(err, "ClientByID")
	e.wantClient(got, want, "client")
	if got.CreatedAt.IsZero() || got.UpdatedAt.IsZero() {
		e.t.Errorf("CreatedAt/UpdatedAt not set: %v / %v", got.CreatedAt, got.UpdatedAt)
	}
	e.wantTime(got.CreatedAt, e.clock.Now(), "CreatedAt")

	fc, err := e.s.GetClient(e.ctx, "client-a")
	e.must(err, "GetClient")
	e.wantEqual(fc.GetID(), "client-a", "GetClient ID")
	oc, ok := fc.(fosite.OpenIDConnectClient)
	if !ok {
		e.t.Fatalf("GetClient returned %T, which is not a fosite.OpenIDConnectClient", fc)
	}
	e.wantEqual(oc.GetTokenEndpointAuthMethod(), "client_secret_basic", "token endpoint auth method")
	e.wantList(fc.GetRedirectURIs(), want.RedirectURIs, "fosite redirect URIs")

	// A public client with empty lists round-trips too.
	pub := &storage.Client{ID: "public-b", Public: true}
	e.must(e.s.CreateClient(e.ctx, pub), "CreateClient public")
	got, err = e.s.ClientByID(e.ctx, "public-b")
	e.must(err, "ClientByID public")
	e.wantClient(got, pub, "public client")
}

// Values a careless implementation would mangle or execute.
func testClientAwkwardStrings(e *env) {
	awkward := `O'Brien \ "quoted" ünïcödé 🔑 %s ? $1 -- '); DROP TABLE clients; --`
	c := newClient("awkward'id\\")
	c.Name = awkward
	c.RedirectURIs = []string{"https://app.example/cb?x='1'&y=\\", awkward}
	c.Scopes = []string{`sco"pe`, "ünï"}
	e.must(e.s.CreateClient(e.ctx, c), "CreateClient")
	got, err := e.s.ClientByID(e.ctx, c.ID)
	e.must(err, "ClientByID")
	e.wantClient(got, c, "awkward client")
	list, err := e.s.ListClients(e.ctx)
	e.must(err, "ListClients")
	if len(list) != 1 {
		e.t.Errorf("ListClients returned %d clients, want 1", len(list))
	}
}

func testClientConflict(e *env) {
	e.createClient("dup")
	err := e.s.CreateClient(e.ctx, newClient("dup"))
	e.wantIs(err, "second CreateClient", storage.ErrConflict)
}

func testClientNotFound(e *env) {
	_, err := e.s.ClientByID(e.ctx, "nope")
	e.wantNotFound(err, "ClientByID")
	_, err = e.s.GetClient(e.ctx, "nope")
	e.wantNotFound(err, "GetClient")
	e.wantNotFound(e.s.UpdateClient(e.ctx, newClient("nope")), "UpdateClient")
	e.wantNotFound(e.s.DeleteClient(e.ctx, "nope"), "DeleteClient")
}

func testClientList(e *env) {
	list, err := e.s.ListClients(e.ctx)
	e.must(err, "ListClients empty")
	if len(list) != 0 {
		e.t.Fatalf("empty store lists %d clients", len(list))
	}
	ids := map[string]bool{"c1": true, "c2": true, "c3": true}
	for id := range ids {
		e.createClient(id)
	}
	list, err = e.s.ListClients(e.ctx)
	e.must(err, "ListClients")
	if len(list) != len(ids) {
		e.t.Fatalf("ListClients returned %d clients, want %d", len(list), len(ids))
	}
	for _, c := range list {
		if !ids[c.ID] {
			e.t.Errorf("ListClients returned unexpected client %q", c.ID)
		}
		e.wantClient(c, newClient(c.ID), "listed client")
	}
}

func testClientUpdate(e *env) {
	e.createClient("upd")
	before, err := e.s.ClientByID(e.ctx, "upd") // warms any cache
	e.must(err, "ClientByID before")

	e.clock.Advance(3e9) // 3s
	changed := newClient("upd")
	changed.Name = "Renamed"
	changed.RedirectURIs = []string{"https://other.example/cb"}
	changed.Scopes = []string{"openid"}
	changed.Public = true
	changed.SkipConsent = false
	changed.AllowedOrigins = nil
	e.must(e.s.UpdateClient(e.ctx, changed), "UpdateClient")

	after, err := e.s.ClientByID(e.ctx, "upd")
	e.must(err, "ClientByID after")
	e.wantClient(after, changed, "updated client")
	e.wantTime(after.CreatedAt, before.CreatedAt, "CreatedAt after update")
	e.wantTime(after.UpdatedAt, e.clock.Now(), "UpdatedAt after update")

	fc, err := e.s.GetClient(e.ctx, "upd")
	e.must(err, "GetClient after")
	e.wantEqual(fc.IsPublic(), true, "GetClient sees the update")
}

func testClientReturnsCopy(e *env) {
	want := e.createClient("copy")
	// The first read may come from the database and the later ones from a
	// cache: editing any of them must not change what the next one sees.
	for i := range 3 {
		got, err := e.s.ClientByID(e.ctx, "copy")
		e.must(err, "ClientByID")
		e.wantClient(got, want, "client after the caller edited its copy")
		got.Name = fmt.Sprintf("mutated %d", i)
		got.RedirectURIs[0] = "https://evil.example/cb"
		got.Scopes = append(got.Scopes, "admin")
	}
}

func testClientDelete(e *env) {
	e.createClient("del")
	_, err := e.s.ClientByID(e.ctx, "del") // warms any cache
	e.must(err, "ClientByID")
	e.must(e.s.DeleteClient(e.ctx, "del"), "DeleteClient")
	_, err = e.s.ClientByID(e.ctx, "del")
	e.wantNotFound(err, "ClientByID after delete")
	_, err = e.s.GetClient(e.ctx, "del")
	e.wantNotFound(err, "GetClient after delete")
	e.wantNotFound(e.s.DeleteClient(e.ctx, "del"), "second DeleteClient")
	// The ID is free again.
	e.createClient("del")
}

// clientRows are one of each row a client owns, for the cascade test.
type clientRows struct {
	client                           *storage.Client
	code, access, refresh, pkce, oid string
	flow                             string
}

func (e *env) createClientRows(clientID, userID string) clientRows {
	e.t.Helper()
	r := clientRows{
		client:  e.createClient(clientID),
		code:    randomID("code-"),
		access:  randomID("at-"),
		refresh: randomID("rt-"),
		pkce:    randomID("pkce-"),
		oid:     randomID("rawcode-"),
		flow:    randomID("flow-"),
	}
	req := e.newRequest(r.client, userID)
	e.must(e.s.CreateAuthorizeCodeSession(e.ctx, r.code, req), "CreateAuthorizeCodeSession")
	e.must(e.s.CreateAccessTokenSession(e.ctx, r.access, req), "CreateAccessTokenSession")
	e.must(e.s.CreateRefreshTokenSession(e.ctx, r.refresh, r.access, req), "CreateRefreshTokenSession")
	e.must(e.s.CreatePKCERequestSession(e.ctx, r.pkce, req), "CreatePKCERequestSession")
	e.must(e.s.CreateOpenIDConnectSession(e.ctx, r.oid, req), "CreateOpenIDConnectSession")
	e.must(e.s.SaveConsentGrant(e.ctx, &storage.ConsentGrant{UserID: userID, ClientID: clientID, Scopes: []string{"openid"}}), "SaveConsentGrant")
	e.must(e.s.CreateAuthFlow(e.ctx, &storage.AuthFlow{
		ID: r.flow, ClientID: clientID, Form: "client_id=" + clientID,
		RequestedAt: e.clock.Now(), ExpiresAt: e.clock.Now().Add(10 * 60e9),
	}), "CreateAuthFlow")
	return r
}

// rowErrors looks every row of r up and returns the errors, by name.
func (e *env) rowErrors(r clientRows, userID string) map[string]error {
	errs := map[string]error{}
	_, errs["code"] = e.s.GetAuthorizeCodeSession(e.ctx, r.code, newSession())
	_, errs["access"] = e.s.GetAccessTokenSession(e.ctx, r.access, newSession())
	_, errs["refresh"] = e.s.GetRefreshTokenSession(e.ctx, r.refresh, newSession())
	_, errs["pkce"] = e.s.GetPKCERequestSession(e.ctx, r.pkce, newSession())
	_, errs["oidc"] = e.s.GetOpenIDConnectSession(e.ctx, r.oid, &fosite.Request{Session: newSession()})
	_, errs["consent"] = e.s.ConsentGrant(e.ctx, userID, r.client.ID)
	_, errs["flow"] = e.s.AuthFlow(e.ctx, r.flow)
	return errs
}

func testClientDeleteCascade(e *env) {
	e.createUser("u1")
	gone := e.createClientRows("gone", "u1")
	kept := e.createClientRows("kept", "u1")

	e.must(e.s.DeleteClient(e.ctx, "gone"), "DeleteClient")

	for name, err := range e.rowErrors(gone, "u1") {
		e.wantNotFound(err, "deleted client's "+name)
	}
	for name, err := range e.rowErrors(kept, "u1") {
		e.must(err, "other client's "+name)
	}
}
