package conformance

import (
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/gatehouse-dev/gatehouse/storage"
)

// Dynamic client registration (initial access tokens) and pushed
// authorization requests.

func registrationTokenTests() []test {
	return []test{
		{"Lifecycle", testRegistrationTokenLifecycle},
		{"Conflict", testRegistrationTokenConflict},
		{"ListOldestFirst", testRegistrationTokenList},
	}
}

func pushedRequestTests() []test {
	return []test{
		{"CreateGetDelete", testPushedRequest},
		{"Expiry", testPushedRequestExpiry},
	}
}

func (e *env) wantRegistrationToken(got, want *storage.RegistrationToken, what string) {
	e.t.Helper()
	e.wantEqual(got.ID, want.ID, what+" ID")
	e.wantEqual(got.Name, want.Name, what+" Name")
	e.wantEqual(got.Hash, want.Hash, what+" Hash")
	e.wantTime(got.CreatedAt, want.CreatedAt, what+" CreatedAt")
	e.wantTime(got.ExpiresAt, want.ExpiresAt, what+" ExpiresAt")
	e.wantTime(got.RevokedAt, want.RevokedAt, what+" RevokedAt")
}

func testRegistrationTokenLifecycle(e *env) {
	now := e.clock.Now()
	forever := &storage.RegistrationToken{ID: "rt-1", Name: `partners "EU" (O'Brien \ co)`, Hash: "hash-1"}
	e.must(e.s.CreateRegistrationToken(e.ctx, forever), "CreateRegistrationToken")
	forever.CreatedAt = now // set by the store when zero
	got, err := e.s.RegistrationTokenByHash(e.ctx, "hash-1")
	e.must(err, "RegistrationTokenByHash")
	e.wantRegistrationToken(got, forever, "token without expiry")

	_, err = e.s.RegistrationTokenByHash(e.ctx, "hash-unknown")
	e.wantNotFound(err, "RegistrationTokenByHash unknown")
	_, err = e.s.RegistrationTokenByHash(e.ctx, "")
	e.wantNotFound(err, "RegistrationTokenByHash empty")

	// An expired token is still returned: the caller decides.
	expiring := &storage.RegistrationToken{
		ID: "rt-2", Name: "short", Hash: "hash-2",
		CreatedAt: now.Add(-time.Hour), ExpiresAt: now.Add(time.Minute),
	}
	e.must(e.s.CreateRegistrationToken(e.ctx, expiring), "CreateRegistrationToken expiring")
	e.clock.Advance(2 * time.Minute)
	got, err = e.s.RegistrationTokenByHash(e.ctx, "hash-2")
	e.must(err, "RegistrationTokenByHash expired")
	e.wantRegistrationToken(got, expiring, "expired token")

	// Revocation keeps the first time, and the token is still returned.
	revokedAt := e.clock.Now().Add(-time.Second)
	e.must(e.s.RevokeRegistrationToken(e.ctx, "rt-1", revokedAt), "RevokeRegistrationToken")
	forever.RevokedAt = revokedAt
	got, err = e.s.RegistrationTokenByHash(e.ctx, "hash-1")
	e.must(err, "RegistrationTokenByHash revoked")
	e.wantRegistrationToken(got, forever, "revoked token")

	e.must(e.s.RevokeRegistrationToken(e.ctx, "rt-1", revokedAt.Add(time.Hour)), "RevokeRegistrationToken again")
	got, err = e.s.RegistrationTokenByHash(e.ctx, "hash-1")
	e.must(err, "RegistrationTokenByHash revoked twice")
	e.wantTime(got.RevokedAt, revokedAt, "RevokedAt after a second revocation")

	e.wantNotFound(e.s.RevokeRegistrationToken(e.ctx, "rt-unknown", revokedAt), "RevokeRegistrationToken unknown")

	// Revoking one token leaves the others alone.
	got, err = e.s.RegistrationTokenByHash(e.ctx, "hash-2")
	e.must(err, "RegistrationTokenByHash other")
	if !got.RevokedAt.IsZero() {
		e.t.Errorf("revoking rt-1 revoked rt-2 at %v", got.RevokedAt)
	}
}

func testRegistrationTokenConflict(e *env) {
	e.must(e.s.CreateRegistrationToken(e.ctx, &storage.RegistrationToken{ID: "rt-1", Name: "one", Hash: "hash-1"}), "CreateRegistrationToken")
	e.wantIs(e.s.CreateRegistrationToken(e.ctx, &storage.RegistrationToken{ID: "rt-1", Name: "dup id", Hash: "hash-2"}),
		"duplicate ID", storage.ErrConflict)
	e.wantIs(e.s.CreateRegistrationToken(e.ctx, &storage.RegistrationToken{ID: "rt-2", Name: "dup hash", Hash: "hash-1"}),
		"duplicate hash", storage.ErrConflict)
	list, err := e.s.ListRegistrationTokens(e.ctx)
	e.must(err, "ListRegistrationTokens")
	if len(list) != 1 || list[0].Name != "one" {
		e.t.Errorf("after the conflicts the tokens are %+v, want only the first", list)
	}
}

func testRegistrationTokenList(e *env) {
	list, err := e.s.ListRegistrationTokens(e.ctx)
	e.must(err, "ListRegistrationTokens empty")
	if len(list) != 0 {
		e.t.Fatalf("empty store lists %d registration tokens", len(list))
	}
	now := e.clock.Now()
	for _, t := range []struct {
		id  string
		age time.Duration
	}{{"b", time.Minute}, {"c", 0}, {"a", time.Hour}} {
		e.must(e.s.CreateRegistrationToken(e.ctx, &storage.RegistrationToken{
			ID: t.id, Name: "token " + t.id, Hash: "hash-" + t.id, CreatedAt: now.Add(-t.age),
			ExpiresAt: now.Add(24 * time.Hour),
		}), "CreateRegistrationToken "+t.id)
	}
	e.must(e.s.RevokeRegistrationToken(e.ctx, "b", now), "RevokeRegistrationToken")
	list, err = e.s.ListRegistrationTokens(e.ctx)
	e.must(err, "ListRegistrationTokens")
	var ids []string
	for _, t := range list {
		ids = append(ids, t.ID)
		e.wantEqual(t.Hash, "hash-"+t.ID, "listed hash")
		e.wantTime(t.ExpiresAt, now.Add(24*time.Hour), "listed ExpiresAt")
	}
	e.wantEqual(ids, []string{"a", "b", "c"}, "tokens, oldest first")
	if len(list) == 3 {
		e.wantTime(list[1].RevokedAt, now, "listed RevokedAt")
	}
}

// pushedRequestID is what the provider uses as the ID: the hex SHA-256 of
// the request_uri.
func pushedRequestID() string {
	sum := sha256.Sum256([]byte("urn:ietf:params:oauth:request_uri:" + randomID("")))
	return hex.EncodeToString(sum[:])
}

func (e *env) createPushedRequest(clientID string, ttl time.Duration) *storage.PushedRequest {
	e.t.Helper()
	r := &storage.PushedRequest{
		ID:        pushedRequestID(),
		ClientID:  clientID,
		Form:      "client_id=" + clientID + "&response_type=code&scope=openid&state=O%27Brien%5C%22&redirect_uri=https%3A%2F%2Fapp.example%2Fcb",
		ExpiresAt: e.clock.Now().Add(ttl),
	}
	e.must(e.s.CreatePushedRequest(e.ctx, r), "CreatePushedRequest")
	return r
}

func testPushedRequest(e *env) {
	r := e.createPushedRequest("client-1", 90*time.Second)
	got, err := e.s.PushedRequest(e.ctx, r.ID)
	e.must(err, "PushedRequest")
	e.wantEqual(got.ID, r.ID, "ID")
	e.wantEqual(got.ClientID, "client-1", "ClientID")
	e.wantEqual(got.Form, r.Form, "Form")
	e.wantTime(got.CreatedAt, e.clock.Now(), "CreatedAt")
	e.wantTime(got.ExpiresAt, r.ExpiresAt, "ExpiresAt")

	e.wantIs(e.s.CreatePushedRequest(e.ctx, r), "duplicate pushed request", storage.ErrConflict)
	_, err = e.s.PushedRequest(e.ctx, pushedRequestID())
	e.wantNotFound(err, "PushedRequest unknown")
	e.wantNotFound(e.s.DeletePushedRequest(e.ctx, pushedRequestID()), "DeletePushedRequest unknown")

	other := e.createPushedRequest("client-1", 90*time.Second)
	e.must(e.s.DeletePushedRequest(e.ctx, r.ID), "DeletePushedRequest")
	_, err = e.s.PushedRequest(e.ctx, r.ID)
	e.wantNotFound(err, "PushedRequest after delete")
	e.wantNotFound(e.s.DeletePushedRequest(e.ctx, r.ID), "second DeletePushedRequest")
	_, err = e.s.PushedRequest(e.ctx, other.ID)
	e.must(err, "the other pushed request")
}

func testPushedRequestExpiry(e *env) {
	r := e.createPushedRequest("client-1", time.Minute)
	e.clock.Advance(time.Minute - time.Second)
	_, err := e.s.PushedRequest(e.ctx, r.ID)
	e.must(err, "PushedRequest before expiry")
	e.clock.Advance(2 * time.Second)
	_, err = e.s.PushedRequest(e.ctx, r.ID)
	e.wantNotFound(err, "PushedRequest after expiry")
	// An expired request cannot be consumed either.
	e.wantNotFound(e.s.DeletePushedRequest(e.ctx, r.ID), "DeletePushedRequest after expiry")
}
