package conformance

import (
	"time"

	"github.com/gatehouse-dev/gatehouse/storage"
)

func userTests() []test {
	return []test{
		{"CreateAndGet", testUserCreateAndGet},
		{"EmailIsCaseInsensitive", testUserEmailCase},
		{"Conflict", testUserConflict},
		{"NotFound", testUserNotFound},
		{"EmptyIDRejected", testUserEmptyID},
		{"List", testUserList},
		{"ListPaging", testUserListPaging},
		{"Update", testUserUpdate},
		{"UpdateConflictAndNotFound", testUserUpdateConflict},
		{"UpdateWithoutEmail", testUserUpdateWithoutEmail},
		{"Delete", testUserDelete},
		{"DeleteUnknownDeletesNothing", testUserDeleteUnknown},
		{"DeleteKeepsOwnedClients", testUserDeleteClearsOwnership},
	}
}

func loginSessionTests() []test {
	return []test{
		{"CreateGetDelete", testLoginSession},
		{"AuthenticationMethods", testLoginSessionAMR},
		{"Expiry", testLoginSessionExpiry},
		{"UnknownUser", testLoginSessionUnknownUser},
		{"DeleteAllOfUser", testDeleteLoginSessionsOfUser},
	}
}

func consentTests() []test {
	return []test{
		{"Upsert", testConsentUpsert},
		{"List", testConsentList},
		{"DeleteRevokesTheClientsTokens", testConsentDelete},
		{"DeleteWithoutGrantDeletesNothing", testConsentDeleteWithoutGrant},
		{"DeleteJoinsTransaction", testConsentDeleteInTx},
	}
}

func authFlowTests() []test {
	return []test{
		{"CreateGetLogin", testAuthFlow},
		{"Expiry", testAuthFlowExpiry},
		{"DeleteConsumesOnce", testAuthFlowDelete},
	}
}

func testUserCreateAndGet(e *env) {
	u := &storage.User{
		ID:            "user-1",
		Email:         "Alice@Example.COM",
		EmailVerified: true,
		Name:          "Alice",
		PasswordHash:  "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
		Roles:         []string{"admin", "auditor"},
		Disabled:      false,
	}
	e.must(e.s.CreateUser(e.ctx, u), "CreateUser")
	got, err := e.s.UserByID(e.ctx, "user-1")
	e.must(err, "UserByID")
	e.wantEqual(got.ID, "user-1", "ID")
	e.wantEqual(got.Email, "alice@example.com", "Email (stored lower-case)")
	e.wantEqual(got.EmailVerified, true, "EmailVerified")
	e.wantEqual(got.Name, "Alice", "Name")
	e.wantEqual(got.PasswordHash, u.PasswordHash, "PasswordHash")
	e.wantList(got.Roles, []string{"admin", "auditor"}, "Roles")
	e.wantEqual(got.Disabled, false, "Disabled")
	e.wantTime(got.CreatedAt, e.clock.Now(), "CreatedAt")

	// A disabled user without roles.
	e.must(e.s.CreateUser(e.ctx, &storage.User{ID: "user-2", Email: "bob@example.com", Disabled: true}), "CreateUser 2")
	got, err = e.s.UserByID(e.ctx, "user-2")
	e.must(err, "UserByID 2")
	e.wantEqual(got.Disabled, true, "Disabled")
	e.wantList(got.Roles, nil, "Roles")
}

func testUserEmailCase(e *env) {
	e.must(e.s.CreateUser(e.ctx, &storage.User{ID: "u", Email: "Mixed.Case@Example.org"}), "CreateUser")
	for _, email := range []string{"mixed.case@example.org", "MIXED.CASE@EXAMPLE.ORG", "Mixed.Case@Example.org"} {
		got, err := e.s.UserByEmail(e.ctx, email)
		e.must(err, "UserByEmail "+email)
		e.wantEqual(got.ID, "u", "UserByEmail "+email)
	}
}

func testUserConflict(e *env) {
	e.must(e.s.CreateUser(e.ctx, &storage.User{ID: "u1", Email: "one@example.com"}), "CreateUser")
	e.wantIs(e.s.CreateUser(e.ctx, &storage.User{ID: "u1", Email: "other@example.com"}), "duplicate ID", storage.ErrConflict)
	e.wantIs(e.s.CreateUser(e.ctx, &storage.User{ID: "u2", Email: "ONE@example.com"}), "duplicate e-mail in other case", storage.ErrConflict)
}

func testUserNotFound(e *env) {
	_, err := e.s.UserByID(e.ctx, "nope")
	e.wantNotFound(err, "UserByID")
	_, err = e.s.UserByEmail(e.ctx, "nope@example.com")
	e.wantNotFound(err, "UserByEmail")
}

func testUserEmptyID(e *env) {
	if err := e.s.CreateUser(e.ctx, &storage.User{Email: "noid@example.com"}); err == nil {
		e.t.Fatal("CreateUser without an ID succeeded")
	}
	if _, err := e.s.UserByEmail(e.ctx, "noid@example.com"); err == nil {
		e.t.Fatal("a user without an ID was stored")
	}
}

func testUserList(e *env) {
	for _, id := range []string{"a", "b", "c"} {
		e.createUser(id)
	}
	list, err := e.s.ListUsers(e.ctx, storage.Page{})
	e.must(err, "ListUsers")
	if len(list) != 3 {
		e.t.Fatalf("ListUsers returned %d users, want 3", len(list))
	}
	seen := map[string]bool{}
	for _, u := range list {
		seen[u.ID] = true
	}
	for _, id := range []string{"a", "b", "c"} {
		if !seen[id] {
			e.t.Errorf("ListUsers misses %q", id)
		}
	}
}

func testLoginSession(e *env) {
	e.createUser("u")
	now := e.clock.Now()
	ls := &storage.LoginSession{
		ID:        randomID("ls-"),
		UserID:    "u",
		AuthTime:  now.Add(-time.Minute),
		ExpiresAt: now.Add(time.Hour),
	}
	e.must(e.s.CreateLoginSession(e.ctx, ls), "CreateLoginSession")
	got, err := e.s.LoginSession(e.ctx, ls.ID)
	e.must(err, "LoginSession")
	e.wantEqual(got.ID, ls.ID, "ID")
	e.wantEqual(got.UserID, "u", "UserID")
	e.wantTime(got.AuthTime, ls.AuthTime, "AuthTime")
	e.wantTime(got.ExpiresAt, ls.ExpiresAt, "ExpiresAt")

	e.wantIs(e.s.CreateLoginSession(e.ctx, ls), "duplicate session", storage.ErrConflict)

	e.must(e.s.DeleteLoginSession(e.ctx, ls.ID), "DeleteLoginSession")
	_, err = e.s.LoginSession(e.ctx, ls.ID)
	e.wantNotFound(err, "LoginSession after delete")
	e.must(e.s.DeleteLoginSession(e.ctx, ls.ID), "DeleteLoginSession again")
	_, err = e.s.LoginSession(e.ctx, "unknown")
	e.wantNotFound(err, "unknown LoginSession")
}

// AMR and ACR come back as stored; a session created without them has
// none.
func testLoginSessionAMR(e *env) {
	e.createUser("u")
	now := e.clock.Now()
	fed := &storage.LoginSession{
		ID: randomID("ls-"), UserID: "u", AuthTime: now, ExpiresAt: now.Add(time.Hour),
		AMR: []string{"fed", "mfa", `o"dd 'ünï' \`}, ACR: `upstream "corp" (O'Brien) 🔑`,
	}
	pwd := &storage.LoginSession{
		ID: randomID("ls-"), UserID: "u", AuthTime: now, ExpiresAt: now.Add(time.Hour),
		AMR: []string{"pwd"},
	}
	bare := &storage.LoginSession{ID: randomID("ls-"), UserID: "u", AuthTime: now, ExpiresAt: now.Add(time.Hour)}
	empty := &storage.LoginSession{
		ID: randomID("ls-"), UserID: "u", AuthTime: now, ExpiresAt: now.Add(time.Hour), AMR: []string{},
	}
	for _, ls := range []*storage.LoginSession{fed, pwd, bare, empty} {
		e.must(e.s.CreateLoginSession(e.ctx, ls), "CreateLoginSession")
	}

	got, err := e.s.LoginSession(e.ctx, fed.ID)
	e.must(err, "LoginSession fed")
	e.wantEqual(got.AMR, fed.AMR, "AMR of an upstream login")
	e.wantEqual(got.ACR, fed.ACR, "ACR of an upstream login")
	e.wantEqual(got.UserID, "u", "UserID of an upstream login")

	got, err = e.s.LoginSession(e.ctx, pwd.ID)
	e.must(err, "LoginSession pwd")
	e.wantEqual(got.AMR, []string{"pwd"}, "AMR of a password login")
	e.wantEqual(got.ACR, "", "ACR of a password login")

	for what, ls := range map[string]*storage.LoginSession{"without AMR": bare, "with an empty AMR": empty} {
		got, err := e.s.LoginSession(e.ctx, ls.ID)
		e.must(err, "LoginSession "+what)
		if len(got.AMR) != 0 {
			e.t.Errorf("AMR of a session %s = %q, want none", what, got.AMR)
		}
		e.wantEqual(got.ACR, "", "ACR of a session "+what)
	}
}

func testLoginSessionExpiry(e *env) {
	e.createUser("u")
	now := e.clock.Now()
	ls := &storage.LoginSession{ID: randomID("ls-"), UserID: "u", AuthTime: now, ExpiresAt: now.Add(time.Hour)}
	e.must(e.s.CreateLoginSession(e.ctx, ls), "CreateLoginSession")

	e.clock.Advance(time.Hour - time.Second)
	_, err := e.s.LoginSession(e.ctx, ls.ID)
	e.must(err, "LoginSession just before expiry")

	e.clock.Advance(2 * time.Second)
	_, err = e.s.LoginSession(e.ctx, ls.ID)
	e.wantNotFound(err, "LoginSession after expiry")
}

func testLoginSessionUnknownUser(e *env) {
	now := e.clock.Now()
	err := e.s.CreateLoginSession(e.ctx, &storage.LoginSession{ID: "x", UserID: "ghost", AuthTime: now, ExpiresAt: now.Add(time.Hour)})
	if err == nil {
		e.t.Fatal("CreateLoginSession for an unknown user succeeded")
	}
}

func testConsentUpsert(e *env) {
	_, err := e.s.ConsentGrant(e.ctx, "u", "c")
	e.wantNotFound(err, "ConsentGrant before any")

	e.must(e.s.SaveConsentGrant(e.ctx, &storage.ConsentGrant{UserID: "u", ClientID: "c", Scopes: []string{"openid", "profile"}}), "SaveConsentGrant")
	first, err := e.s.ConsentGrant(e.ctx, "u", "c")
	e.must(err, "ConsentGrant")
	e.wantList(first.Scopes, []string{"openid", "profile"}, "Scopes")
	e.wantTime(first.CreatedAt, e.clock.Now(), "CreatedAt")

	e.clock.Advance(time.Minute)
	e.must(e.s.SaveConsentGrant(e.ctx, &storage.ConsentGrant{UserID: "u", ClientID: "c", Scopes: []string{"openid", "profile", "email"}}), "SaveConsentGrant again")
	second, err := e.s.ConsentGrant(e.ctx, "u", "c")
	e.must(err, "ConsentGrant after upsert")
	e.wantList(second.Scopes, []string{"openid", "profile", "email"}, "Scopes after upsert")
	e.wantTime(second.CreatedAt, first.CreatedAt, "CreatedAt kept")
	e.wantTime(second.UpdatedAt, e.clock.Now(), "UpdatedAt")

	// Grants are per (user, client).
	_, err = e.s.ConsentGrant(e.ctx, "u", "other")
	e.wantNotFound(err, "ConsentGrant of another client")
	_, err = e.s.ConsentGrant(e.ctx, "other", "c")
	e.wantNotFound(err, "ConsentGrant of another user")
}

func (e *env) createFlow(ttl time.Duration) *storage.AuthFlow {
	e.t.Helper()
	now := e.clock.Now()
	f := &storage.AuthFlow{
		ID:          randomID("flow-"),
		ClientID:    "client-1",
		Form:        "client_id=client-1&response_type=code&scope=openid&state=abcdefgh",
		RequestedAt: now.Add(-time.Second),
		ExpiresAt:   now.Add(ttl),
	}
	e.must(e.s.CreateAuthFlow(e.ctx, f), "CreateAuthFlow")
	return f
}

func testAuthFlow(e *env) {
	f := e.createFlow(10 * time.Minute)
	got, err := e.s.AuthFlow(e.ctx, f.ID)
	e.must(err, "AuthFlow")
	e.wantEqual(got.ID, f.ID, "ID")
	e.wantEqual(got.ClientID, f.ClientID, "ClientID")
	e.wantEqual(got.Form, f.Form, "Form")
	e.wantTime(got.RequestedAt, f.RequestedAt, "RequestedAt")
	e.wantTime(got.ExpiresAt, f.ExpiresAt, "ExpiresAt")
	e.wantEqual(got.UserID, "", "UserID before login")
	if !got.AuthTime.IsZero() {
		e.t.Errorf("AuthTime before login = %v, want zero", got.AuthTime)
	}
	e.wantIs(e.s.CreateAuthFlow(e.ctx, f), "duplicate flow", storage.ErrConflict)

	authTime := e.clock.Now().Add(-5 * time.Second)
	e.must(e.s.SetAuthFlowLogin(e.ctx, f.ID, "user-9", authTime), "SetAuthFlowLogin")
	got, err = e.s.AuthFlow(e.ctx, f.ID)
	e.must(err, "AuthFlow after login")
	e.wantEqual(got.UserID, "user-9", "UserID")
	e.wantTime(got.AuthTime, authTime, "AuthTime")
	e.wantEqual(got.Form, f.Form, "Form after login")

	e.wantNotFound(e.s.SetAuthFlowLogin(e.ctx, "unknown", "user-9", authTime), "SetAuthFlowLogin unknown")
	_, err = e.s.AuthFlow(e.ctx, "unknown")
	e.wantNotFound(err, "AuthFlow unknown")
}

func testAuthFlowExpiry(e *env) {
	f := e.createFlow(10 * time.Minute)
	e.clock.Advance(10*time.Minute - time.Second)
	_, err := e.s.AuthFlow(e.ctx, f.ID)
	e.must(err, "AuthFlow before expiry")
	e.clock.Advance(2 * time.Second)
	_, err = e.s.AuthFlow(e.ctx, f.ID)
	e.wantNotFound(err, "AuthFlow after expiry")
	e.wantNotFound(e.s.SetAuthFlowLogin(e.ctx, f.ID, "u", e.clock.Now()), "SetAuthFlowLogin after expiry")
}

func testAuthFlowDelete(e *env) {
	f := e.createFlow(10 * time.Minute)
	e.must(e.s.DeleteAuthFlow(e.ctx, f.ID), "DeleteAuthFlow")
	_, err := e.s.AuthFlow(e.ctx, f.ID)
	e.wantNotFound(err, "AuthFlow after delete")
	e.wantNotFound(e.s.DeleteAuthFlow(e.ctx, f.ID), "second DeleteAuthFlow")
}
