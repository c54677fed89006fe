package conformance

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ory/fosite"

	"github.com/gatehouse-dev/gatehouse/storage"
)

// Account management: listing, changing and deleting users, and revoking
// what they granted.

// grantTokens are one of each fosite row of one grant (a client and a
// subject).
type grantTokens struct {
	client                              *storage.Client
	subject, requestID                  string
	code, access, refresh, pkce, oidcID string
}

func (e *env) createGrantTokens(c *storage.Client, subject string) grantTokens {
	e.t.Helper()
	g := grantTokens{
		client:  c,
		subject: subject,
		code:    randomID("code-"),
		access:  randomID("at-"),
		refresh: randomID("rt-"),
		pkce:    randomID("pkce-"),
		oidcID:  randomID("rawcode-"),
	}
	req := e.newRequest(c, subject)
	g.requestID = req.ID
	e.must(e.s.CreateAuthorizeCodeSession(e.ctx, g.code, req), "CreateAuthorizeCodeSession")
	e.must(e.s.CreateAccessTokenSession(e.ctx, g.access, req), "CreateAccessTokenSession")
	e.must(e.s.CreateRefreshTokenSession(e.ctx, g.refresh, g.access, req), "CreateRefreshTokenSession")
	e.must(e.s.CreatePKCERequestSession(e.ctx, g.pkce, req), "CreatePKCERequestSession")
	e.must(e.s.CreateOpenIDConnectSession(e.ctx, g.oidcID, req), "CreateOpenIDConnectSession")
	return g
}

// errors looks every row up, the way fosite does, and returns the errors
// by name.
func (g grantTokens) errors(e *env) map[string]error {
	prefix := fmt.Sprintf("%s/%q ", g.client.ID, g.subject)
	errs := map[string]error{}
	_, errs[prefix+"code"] = e.s.GetAuthorizeCodeSession(e.ctx, g.code, newSession())
	_, errs[prefix+"access token"] = e.s.GetAccessTokenSession(e.ctx, g.access, newSession())
	_, errs[prefix+"refresh token"] = e.s.GetRefreshTokenSession(e.ctx, g.refresh, newSession())
	_, errs[prefix+"pkce"] = e.s.GetPKCERequestSession(e.ctx, g.pkce, newSession())
	_, errs[prefix+"oidc"] = e.s.GetOpenIDConnectSession(e.ctx, g.oidcID, &fosite.Request{Session: newSession()})
	return errs
}

func (e *env) wantGone(errs map[string]error, what string) {
	e.t.Helper()
	for name, err := range errs {
		e.wantNotFound(err, what+": "+name)
	}
}

func (e *env) wantKept(errs map[string]error, what string) {
	e.t.Helper()
	for name, err := range errs {
		e.must(err, what+": "+name)
	}
}

// userRows are the rows that belong to a user: a login session, a flow
// they signed in to, a federated identity, and per client a consent grant
// and a grant's tokens.
type userRows struct {
	userID        string
	session, flow string
	// identity is the subject of the user's link at the upstream "idp".
	identity string
	grants   []grantTokens
}

func (e *env) createUserRows(userID string, clients ...*storage.Client) userRows {
	e.t.Helper()
	now := e.clock.Now()
	r := userRows{userID: userID, session: randomID("ls-"), flow: randomID("flow-"), identity: randomID("sub-")}
	e.must(e.s.CreateLoginSession(e.ctx, &storage.LoginSession{
		ID: r.session, UserID: userID, AuthTime: now, ExpiresAt: now.Add(time.Hour),
		AMR: []string{"fed"}, ACR: "idp",
	}), "CreateLoginSession")
	e.createFederatedIdentity("idp", r.identity, userID)
	e.must(e.s.CreateAuthFlow(e.ctx, &storage.AuthFlow{
		ID: r.flow, ClientID: clients[0].ID, Form: "client_id=" + clients[0].ID,
		RequestedAt: now, ExpiresAt: now.Add(10 * time.Minute),
	}), "CreateAuthFlow")
	e.must(e.s.SetAuthFlowLogin(e.ctx, r.flow, userID, now), "SetAuthFlowLogin")
	for _, c := range clients {
		e.must(e.s.SaveConsentGrant(e.ctx, &storage.ConsentGrant{UserID: userID, ClientID: c.ID, Scopes: []string{"openid"}}), "SaveConsentGrant")
		r.grants = append(r.grants, e.createGrantTokens(c, userID))
	}
	return r
}

func (r userRows) errors(e *env) map[string]error {
	errs := map[string]error{}
	_, errs["user"] = e.s.UserByID(e.ctx, r.userID)
	_, errs["login session"] = e.s.LoginSession(e.ctx, r.session)
	_, errs["flow"] = e.s.AuthFlow(e.ctx, r.flow)
	_, errs["federated identity"] = e.s.FederatedIdentity(e.ctx, "idp", r.identity)
	for _, g := range r.grants {
		_, errs["consent to "+g.client.ID] = e.s.ConsentGrant(e.ctx, r.userID, g.client.ID)
		for name, err := range g.errors(e) {
			errs[name] = err
		}
	}
	return errs
}

func testUserListPaging(e *env) {
	e.checkPaging(pagedListing{
		what: "ListUsers",
		create: func(id string, created time.Time) {
			e.must(e.s.CreateUser(e.ctx, &storage.User{ID: id, Email: id + "@example.com", CreatedAt: created}), "CreateUser "+id)
		},
		list: func(p storage.Page) ([]string, error) {
			list, err := e.s.ListUsers(e.ctx, p)
			var ids []string
			for _, u := range list {
				e.wantEqual(u.Email, u.ID+"@example.com", "listed user's e-mail")
				ids = append(ids, u.ID)
			}
			return ids, err
		},
	})
}

func testUserUpdate(e *env) {
	e.createUser("u1")
	before, err := e.s.UserByID(e.ctx, "u1")
	e.must(err, "UserByID before")

	e.clock.Advance(3 * time.Second)
	upd := &storage.User{
		ID:            "u1",
		Email:         "  New.Address@Example.ORG ",
		EmailVerified: true,
		Name:          "Renamed",
		PasswordHash:  "$argon2id$v=19$m=65536,t=3,p=4$bmV3$bmV3aGFzaA",
		Roles:         []string{"admin"},
		Disabled:      true,
	}
	e.must(e.s.UpdateUser(e.ctx, upd), "UpdateUser")

	got, err := e.s.UserByID(e.ctx, "u1")
	e.must(err, "UserByID after")
	e.wantEqual(got.Email, "new.address@example.org", "Email (trimmed, lower-cased)")
	e.wantEqual(got.EmailVerified, true, "EmailVerified")
	e.wantEqual(got.Name, "Renamed", "Name")
	e.wantEqual(got.PasswordHash, upd.PasswordHash, "PasswordHash")
	e.wantList(got.Roles, []string{"admin"}, "Roles")
	e.wantEqual(got.Disabled, true, "Disabled")
	e.wantTime(got.CreatedAt, before.CreatedAt, "CreatedAt after update")
	e.wantTime(got.UpdatedAt, e.clock.Now(), "UpdatedAt after update")

	byEmail, err := e.s.UserByEmail(e.ctx, "NEW.address@example.org")
	e.must(err, "UserByEmail new address")
	e.wantEqual(byEmail.ID, "u1", "UserByEmail new address")
	_, err = e.s.UserByEmail(e.ctx, "u1@example.com")
	e.wantNotFound(err, "UserByEmail old address")
	// The old address is free again.
	e.must(e.s.CreateUser(e.ctx, &storage.User{ID: "u2", Email: "u1@example.com"}), "CreateUser with the old address")

	// Back to less: roles and flags cleared.
	e.must(e.s.UpdateUser(e.ctx, &storage.User{ID: "u1", Email: "new.address@example.org"}), "UpdateUser keeping the e-mail")
	got, err = e.s.UserByID(e.ctx, "u1")
	e.must(err, "UserByID after second update")
	e.wantList(got.Roles, nil, "Roles cleared")
	e.wantEqual(got.Disabled, false, "Disabled cleared")
	e.wantEqual(got.Name, "", "Name cleared")
	e.wantTime(got.CreatedAt, before.CreatedAt, "CreatedAt after second update")
}

func testUserUpdateConflict(e *env) {
	e.createUser("u1")
	e.createUser("u2")
	err := e.s.UpdateUser(e.ctx, &storage.User{ID: "u2", Email: " U1@Example.com", Name: "taken"})
	e.wantIs(err, "UpdateUser to a taken e-mail", storage.ErrConflict)
	got, err := e.s.UserByID(e.ctx, "u2")
	e.must(err, "UserByID u2")
	e.wantEqual(got.Email, "u2@example.com", "e-mail after the failed update")
	e.wantEqual(got.Name, "User u2", "name after the failed update")

	// Changing only the case of one's own e-mail is no conflict.
	e.must(e.s.UpdateUser(e.ctx, &storage.User{ID: "u2", Email: "U2@EXAMPLE.COM"}), "UpdateUser own e-mail")

	err = e.s.UpdateUser(e.ctx, &storage.User{ID: "ghost", Email: "ghost@example.com"})
	e.wantNotFound(err, "UpdateUser unknown")
	_, err = e.s.UserByID(e.ctx, "ghost")
	e.wantNotFound(err, "UpdateUser must not create a user")
	e.wantNotFound(e.s.UpdateUser(e.ctx, &storage.User{}), "UpdateUser without ID")
}

// Any number of users may have no e-mail.
func testUserUpdateWithoutEmail(e *env) {
	for _, id := range []string{"u1", "u2", "u3"} {
		e.createUser(id)
		e.must(e.s.UpdateUser(e.ctx, &storage.User{ID: id, Email: "   ", Name: "no mail"}), "UpdateUser without e-mail "+id)
		got, err := e.s.UserByID(e.ctx, id)
		e.must(err, "UserByID "+id)
		e.wantEqual(got.Email, "", "e-mail of "+id)
	}
	_, err := e.s.UserByEmail(e.ctx, "")
	e.wantNotFound(err, "UserByEmail empty")
	e.must(e.s.CreateUser(e.ctx, &storage.User{ID: "u4"}), "CreateUser without e-mail")
	e.must(e.s.UpdateUser(e.ctx, &storage.User{ID: "u1", Email: "u1@example.com"}), "UpdateUser gives an e-mail back")
}

func testUserDelete(e *env) {
	c1, c2 := e.createClient("c1"), e.createClient("c2")
	e.createUser("gone")
	e.createUser("kept")
	gone := e.createUserRows("gone", c1, c2)
	kept := e.createUserRows("kept", c1, c2)
	// Tokens without a user (client credentials) and a second grant of
	// the user to the same client.
	noUser := e.createGrantTokens(c1, "")
	goneAgain := e.createGrantTokens(c2, "gone")

	e.must(e.s.DeleteUser(e.ctx, "gone"), "DeleteUser")

	e.wantGone(gone.errors(e), "deleted user")
	e.wantGone(goneAgain.errors(e), "deleted user's second grant")
	e.wantKept(kept.errors(e), "other user")
	e.wantKept(noUser.errors(e), "tokens without a user")
	for _, id := range []string{"c1", "c2"} {
		_, err := e.s.ClientByID(e.ctx, id)
		e.must(err, "client "+id+" after DeleteUser")
	}
	grants, err := e.s.ListConsentGrants(e.ctx, "gone")
	e.must(err, "ListConsentGrants of the deleted user")
	if len(grants) != 0 {
		e.t.Errorf("deleted user still has %d consent grants", len(grants))
	}
	e.wantEqual(e.identitiesOf("gone"), []string(nil), "federated identities of the deleted user")
	e.wantEqual(e.identitiesOf("kept"), []string{"idp/" + kept.identity}, "federated identities of the other user")

	e.wantNotFound(e.s.DeleteUser(e.ctx, "gone"), "second DeleteUser")
	// The ID and e-mail are free again.
	e.createUser("gone")
}

// DeleteUser of an unknown ID is ErrNotFound, and the rows of that
// subject stay (the deletion is one transaction).
func testUserDeleteUnknown(e *env) {
	c := e.createClient("c")
	c.OwnerID = "ghost"
	e.must(e.s.UpdateClient(e.ctx, c), "UpdateClient owner")
	orphan := e.createGrantTokens(c, "ghost")
	e.must(e.s.SaveConsentGrant(e.ctx, &storage.ConsentGrant{UserID: "ghost", ClientID: "c", Scopes: []string{"openid"}}), "SaveConsentGrant")
	noUser := e.createGrantTokens(c, "")

	e.wantNotFound(e.s.DeleteUser(e.ctx, "ghost"), "DeleteUser unknown")
	e.wantNotFound(e.s.DeleteUser(e.ctx, ""), "DeleteUser empty ID")

	e.wantKept(orphan.errors(e), "rows of an unknown user")
	e.wantKept(noUser.errors(e), "tokens without a user")
	_, err := e.s.ConsentGrant(e.ctx, "ghost", "c")
	e.must(err, "consent of an unknown user")
	got, err := e.s.ClientByID(e.ctx, "c")
	e.must(err, "ClientByID")
	e.wantEqual(got.OwnerID, "ghost", "owner of a client after DeleteUser of its unknown owner")
}

// The clients a deleted user owned stay, with their keys and tokens, and
// no owner; those of others keep theirs.
func testUserDeleteClearsOwnership(e *env) {
	e.createUser("alice")
	e.createUser("bob")
	owned := map[string]string{"a1": "alice", "a2": "alice", "b1": "bob", "none": ""}
	clients := map[string]*storage.Client{}
	for id, owner := range owned {
		c := newClient(id)
		c.OwnerID = owner
		e.must(e.s.CreateClient(e.ctx, c), "CreateClient "+id)
		clients[id] = c
		_, err := e.s.ClientByID(e.ctx, id) // warms any cache
		e.must(err, "ClientByID "+id)
	}
	e.createAPIKey("ak-a1", "a1", e.clock.Now())
	keyToken := e.createKeyToken(clients["a1"], "ak-a1")
	secretToken := e.createSecretToken(clients["a1"])
	before, err := e.s.ClientByID(e.ctx, "a1")
	e.must(err, "ClientByID a1")

	// No clock change: a cached client must not outlive the change.
	e.must(e.s.DeleteUser(e.ctx, "alice"), "DeleteUser")

	for id, owner := range owned {
		if owner == "alice" {
			owner = ""
		}
		got, err := e.s.ClientByID(e.ctx, id)
		e.must(err, "ClientByID "+id+" after DeleteUser")
		e.wantEqual(got.OwnerID, owner, "owner of "+id+" after DeleteUser")
		want := newClient(id)
		want.OwnerID = owner
		e.wantClient(got, want, "client "+id+" after DeleteUser")
	}
	got, err := e.s.ClientByID(e.ctx, "a1")
	e.must(err, "ClientByID a1")
	e.wantTime(got.CreatedAt, before.CreatedAt, "CreatedAt of a client whose owner was deleted")
	list, err := e.s.ListClientsByOwner(e.ctx, "alice")
	e.must(err, "ListClientsByOwner of the deleted user")
	if len(list) != 0 {
		e.t.Errorf("the deleted user still owns %d clients", len(list))
	}
	list, err = e.s.ListClientsByOwner(e.ctx, "bob")
	e.must(err, "ListClientsByOwner of the other user")
	if len(list) != 1 || list[0].ID != "b1" {
		e.t.Errorf("ListClientsByOwner(bob) = %v, want b1 only", list)
	}
	_, err = e.s.APIKey(e.ctx, "ak-a1")
	e.must(err, "API key of a client whose owner was deleted")
	for _, sig := range []string{keyToken, secretToken} {
		_, err := e.s.GetAccessTokenSession(e.ctx, sig, &apiKeySession{})
		e.must(err, "client token after its owner was deleted")
	}
	e.wantNotFound(e.s.DeleteUser(e.ctx, "alice"), "second DeleteUser")
}

func testDeleteLoginSessionsOfUser(e *env) {
	e.createUser("u1")
	e.createUser("u2")
	now := e.clock.Now()
	ids := map[string]string{"a": "u1", "b": "u1", "c": "u2"}
	for id, user := range ids {
		e.must(e.s.CreateLoginSession(e.ctx, &storage.LoginSession{
			ID: "ls-" + id, UserID: user, AuthTime: now, ExpiresAt: now.Add(time.Hour),
		}), "CreateLoginSession")
	}
	e.must(e.s.DeleteLoginSessionsOfUser(e.ctx, "u1"), "DeleteLoginSessionsOfUser")
	for id, user := range ids {
		_, err := e.s.LoginSession(e.ctx, "ls-"+id)
		if user == "u1" {
			e.wantNotFound(err, "session of the signed-out user")
		} else {
			e.must(err, "session of the other user")
		}
	}
	if !e.userExists(e.ctx, "u1") {
		e.t.Error("DeleteLoginSessionsOfUser deleted the user")
	}
	e.must(e.s.DeleteLoginSessionsOfUser(e.ctx, "u1"), "DeleteLoginSessionsOfUser again")
	e.must(e.s.DeleteLoginSessionsOfUser(e.ctx, "ghost"), "DeleteLoginSessionsOfUser unknown")
}

func testConsentList(e *env) {
	grants, err := e.s.ListConsentGrants(e.ctx, "u")
	e.must(err, "ListConsentGrants none")
	if len(grants) != 0 {
		e.t.Fatalf("ListConsentGrants of a user without grants = %d grants", len(grants))
	}

	save := func(user, client string, scopes ...string) {
		e.must(e.s.SaveConsentGrant(e.ctx, &storage.ConsentGrant{UserID: user, ClientID: client, Scopes: scopes}), "SaveConsentGrant")
		e.clock.Advance(time.Minute)
	}
	start := e.clock.Now()
	save("u", "c1", "openid")
	save("u", "c2", "openid", "profile")
	save("v", "c2", "openid")
	save("u", "c3", "openid", "email")
	save("u", "c1", "openid", "offline_access") // updated: first again

	grants, err = e.s.ListConsentGrants(e.ctx, "u")
	e.must(err, "ListConsentGrants")
	var clients []string
	for _, g := range grants {
		clients = append(clients, g.ClientID)
		e.wantEqual(g.UserID, "u", "UserID of a listed grant")
	}
	e.wantEqual(clients, []string{"c1", "c3", "c2"}, "clients, most recently updated first")
	if len(grants) == 3 {
		e.wantList(grants[0].Scopes, []string{"openid", "offline_access"}, "scopes of the updated grant")
		e.wantTime(grants[0].CreatedAt, start, "CreatedAt of the updated grant")
		e.wantTime(grants[0].UpdatedAt, start.Add(4*time.Minute), "UpdatedAt of the updated grant")
		e.wantList(grants[2].Scopes, []string{"openid", "profile"}, "scopes of the oldest grant")
	}

	grants, err = e.s.ListConsentGrants(e.ctx, "v")
	e.must(err, "ListConsentGrants other user")
	if len(grants) != 1 || grants[0].ClientID != "c2" {
		e.t.Errorf("ListConsentGrants(v) = %v, want the grant to c2 only", grants)
	}
}

// Revoking a grant deletes exactly the tokens of that client for that
// user.
func testConsentDelete(e *env) {
	c1, c2 := e.createClient("c1"), e.createClient("c2")
	for _, g := range [][2]string{{"u", "c1"}, {"u", "c2"}, {"v", "c1"}} {
		e.must(e.s.SaveConsentGrant(e.ctx, &storage.ConsentGrant{UserID: g[0], ClientID: g[1], Scopes: []string{"openid"}}), "SaveConsentGrant")
	}
	revoked := []grantTokens{e.createGrantTokens(c1, "u"), e.createGrantTokens(c1, "u")}
	// A rotated refresh token (kept for reuse detection) goes too.
	rotated := e.createGrantTokens(c1, "u")
	e.must(e.s.RotateRefreshToken(e.ctx, rotated.requestID, rotated.refresh), "RotateRefreshToken")
	revoked = append(revoked, rotated)
	kept := []grantTokens{
		e.createGrantTokens(c2, "u"), // the same user's other client
		e.createGrantTokens(c1, "v"), // another user of the same client
		e.createGrantTokens(c1, ""),  // the client's own tokens
	}

	e.must(e.s.DeleteConsentGrant(e.ctx, "u", "c1"), "DeleteConsentGrant")

	_, err := e.s.ConsentGrant(e.ctx, "u", "c1")
	e.wantNotFound(err, "revoked grant")
	for _, g := range revoked {
		e.wantGone(g.errors(e), "revoked grant's tokens")
	}
	for _, g := range kept {
		e.wantKept(g.errors(e), "other grant's tokens")
	}
	_, err = e.s.ConsentGrant(e.ctx, "u", "c2")
	e.must(err, "the user's other grant")
	_, err = e.s.ConsentGrant(e.ctx, "v", "c1")
	e.must(err, "the other user's grant")
	_, err = e.s.ClientByID(e.ctx, "c1")
	e.must(err, "the client")

	e.wantNotFound(e.s.DeleteConsentGrant(e.ctx, "u", "c1"), "second DeleteConsentGrant")
}

// Without a grant nothing is deleted, not even tokens of that pair.
func testConsentDeleteWithoutGrant(e *env) {
	c := e.createClient("c")
	tokens := e.createGrantTokens(c, "w")
	e.wantNotFound(e.s.DeleteConsentGrant(e.ctx, "w", "c"), "DeleteConsentGrant without a grant")
	e.wantKept(tokens.errors(e), "tokens of a pair without a grant")

	e.must(e.s.SaveConsentGrant(e.ctx, &storage.ConsentGrant{UserID: "w", ClientID: "c", Scopes: []string{"openid"}}), "SaveConsentGrant")
	e.wantNotFound(e.s.DeleteConsentGrant(e.ctx, "w", "other"), "DeleteConsentGrant of another client")
	e.wantNotFound(e.s.DeleteConsentGrant(e.ctx, "other", "c"), "DeleteConsentGrant of another user")
	e.wantKept(tokens.errors(e), "tokens after revoking other grants")
}

// In a transaction that rolls back, the grant and its tokens stay.
func testConsentDeleteInTx(e *env) {
	c := e.createClient("c")
	e.must(e.s.SaveConsentGrant(e.ctx, &storage.ConsentGrant{UserID: "u", ClientID: "c", Scopes: []string{"openid"}}), "SaveConsentGrant")
	tokens := e.createGrantTokens(c, "u")
	abort := errors.New("abort")
	err := e.s.InTx(e.ctx, func(ctx context.Context) error {
		if err := e.s.DeleteConsentGrant(ctx, "u", "c"); err != nil {
			return err
		}
		return abort
	})
	if !errors.Is(err, abort) {
		e.t.Fatalf("InTx = %v, want the abort error", err)
	}
	_, err = e.s.ConsentGrant(e.ctx, "u", "c")
	e.must(err, "grant after rollback")
	e.wantKept(tokens.errors(e), "tokens after rollback")
}
