package conformance

import (
	"errors"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"

	"github.com/gatehouse-dev/gatehouse/storage"
)

// These tests pin down the error contracts fosite v0.49.0's handlers rely
// on (handler/oauth2/flow_authorize_code_token.go, flow_refresh.go,
// revocation.go, handler/openid/flow_explicit_token.go,
// client_authentication.go).
func oauth2Tests() []test {
	return []test{
		{"AuthorizeCode", testAuthorizeCode},
		{"AccessToken", testAccessToken},
		{"AccessTokenLongSignature", testAccessTokenLongSignature},
		{"NilSessionPrototype", testNilSessionPrototype},
		{"RequestWithoutSession", testRequestWithoutSession},
		{"RefreshToken", testRefreshToken},
		{"RefreshRotationKeepsAccessTokens", testRotationKeepsAccessTokens},
		{"RefreshRotationTime", testRefreshRotationTime},
		{"Revoke", testRevoke},
		{"PKCE", testPKCE},
		{"OpenIDConnect", testOpenIDConnect},
		{"ClientAssertionJTI", testJTI},
	}
}

func testAuthorizeCode(e *env) {
	c := e.createClient("client")
	req := e.newRequest(c, "alice")
	sig := randomID("code-sig-")
	e.must(e.s.CreateAuthorizeCodeSession(e.ctx, sig, req), "CreateAuthorizeCodeSession")
	e.wantIs(e.s.CreateAuthorizeCodeSession(e.ctx, sig, req), "duplicate code", storage.ErrConflict)

	got, err := e.s.GetAuthorizeCodeSession(e.ctx, sig, newSession())
	e.must(err, "GetAuthorizeCodeSession")
	e.wantRequest(got, req, "code")

	_, err = e.s.GetAuthorizeCodeSession(e.ctx, "unknown", newSession())
	e.wantNotFound(err, "GetAuthorizeCodeSession unknown")

	e.must(e.s.InvalidateAuthorizeCodeSession(e.ctx, sig), "InvalidateAuthorizeCodeSession")
	// fosite needs the full requester with the error to revoke the
	// tokens issued for a replayed code.
	got, err = e.s.GetAuthorizeCodeSession(e.ctx, sig, newSession())
	e.wantIs(err, "GetAuthorizeCodeSession after invalidation", fosite.ErrInvalidatedAuthorizeCode)
	e.wantRequest(got, req, "invalidated code")

	e.wantIs(e.s.InvalidateAuthorizeCodeSession(e.ctx, sig), "second InvalidateAuthorizeCodeSession", fosite.ErrInvalidatedAuthorizeCode)
}

func testAccessToken(e *env) {
	c := e.createClient("client")
	req := e.newRequest(c, "alice")
	sig := randomID("at-sig-")
	e.must(e.s.CreateAccessTokenSession(e.ctx, sig, req), "CreateAccessTokenSession")

	got, err := e.s.GetAccessTokenSession(e.ctx, sig, newSession())
	e.must(err, "GetAccessTokenSession")
	e.wantRequest(got, req, "access token")

	// fosite checks expiry itself: an expired token is still returned.
	e.clock.Advance(2 * time.Hour)
	got, err = e.s.GetAccessTokenSession(e.ctx, sig, newSession())
	e.must(err, "GetAccessTokenSession after expiry")
	e.wantRequest(got, req, "expired access token")

	_, err = e.s.GetAccessTokenSession(e.ctx, "unknown", newSession())
	e.wantNotFound(err, "GetAccessTokenSession unknown")

	e.must(e.s.DeleteAccessTokenSession(e.ctx, sig), "DeleteAccessTokenSession")
	_, err = e.s.GetAccessTokenSession(e.ctx, sig, newSession())
	e.wantNotFound(err, "GetAccessTokenSession after delete")
	e.must(e.s.DeleteAccessTokenSession(e.ctx, sig), "DeleteAccessTokenSession again")
}

// A JWT access token's signature segment is long (342 characters for
// RS256 with a 2048-bit key, more for larger keys).
func testAccessTokenLongSignature(e *env) {
	c := e.createClient("client")
	req := e.newRequest(c, "alice")
	sig := strings.Repeat("AbC-_9", 200)
	e.must(e.s.CreateAccessTokenSession(e.ctx, sig, req), "CreateAccessTokenSession")
	got, err := e.s.GetAccessTokenSession(e.ctx, sig, newSession())
	e.must(err, "GetAccessTokenSession")
	e.wantRequest(got, req, "access token")
	// A signature sharing a long prefix is a different token.
	_, err = e.s.GetAccessTokenSession(e.ctx, sig[:len(sig)-1], newSession())
	e.wantNotFound(err, "GetAccessTokenSession prefix")
}

// fosite's revocation handler passes a nil session prototype.
func testNilSessionPrototype(e *env) {
	c := e.createClient("client")
	req := e.newRequest(c, "alice")
	at, rt := randomID("at-"), randomID("rt-")
	e.must(e.s.CreateAccessTokenSession(e.ctx, at, req), "CreateAccessTokenSession")
	e.must(e.s.CreateRefreshTokenSession(e.ctx, rt, at, req), "CreateRefreshTokenSession")

	for name, get := range map[string]func() (fosite.Requester, error){
		"access":  func() (fosite.Requester, error) { return e.s.GetAccessTokenSession(e.ctx, at, nil) },
		"refresh": func() (fosite.Requester, error) { return e.s.GetRefreshTokenSession(e.ctx, rt, nil) },
	} {
		got, err := get()
		e.must(err, name+" with nil session")
		e.wantEqual(got.GetID(), req.ID, name+" ID")
		e.wantEqual(got.GetClient().GetID(), c.ID, name+" client")
		if got.GetSession() != nil {
			e.t.Errorf("%s: session = %#v, want nil", name, got.GetSession())
		}
	}
}

func testRequestWithoutSession(e *env) {
	c := e.createClient("client")
	req := e.newRequest(c, "alice")
	req.Session = nil
	sig := randomID("at-")
	e.must(e.s.CreateAccessTokenSession(e.ctx, sig, req), "CreateAccessTokenSession without session")
	got, err := e.s.GetAccessTokenSession(e.ctx, sig, newSession())
	e.must(err, "GetAccessTokenSession")
	e.wantEqual(got.GetID(), req.ID, "ID")
}

func testRefreshToken(e *env) {
	c := e.createClient("client")
	req := e.newRequest(c, "alice")
	sig, at := randomID("rt-sig-"), randomID("at-sig-")
	e.must(e.s.CreateRefreshTokenSession(e.ctx, sig, at, req), "CreateRefreshTokenSession")

	got, err := e.s.GetRefreshTokenSession(e.ctx, sig, newSession())
	e.must(err, "GetRefreshTokenSession")
	e.wantRequest(got, req, "refresh token")

	_, err = e.s.GetRefreshTokenSession(e.ctx, "unknown", newSession())
	e.wantNotFound(err, "GetRefreshTokenSession unknown")
	e.wantNotFound(e.s.RotateRefreshToken(e.ctx, req.ID, "unknown"), "RotateRefreshToken unknown")

	e.clock.Advance(time.Second)
	rotatedAt := e.clock.Now()
	e.must(e.s.RotateRefreshToken(e.ctx, req.ID, sig), "RotateRefreshToken")
	// Reuse: the full requester comes with the error so that fosite can
	// revoke the grant (it panics on a nil requester), and the error says
	// when the token was rotated so that the provider can tell a retry.
	got, err = e.s.GetRefreshTokenSession(e.ctx, sig, newSession())
	e.wantIs(err, "GetRefreshTokenSession after rotation", fosite.ErrInactiveToken)
	e.wantRequest(got, req, "rotated refresh token")
	var inactive *storage.InactiveRefreshError
	if !errors.As(err, &inactive) {
		e.t.Fatalf("GetRefreshTokenSession after rotation: %v is not a *storage.InactiveRefreshError", err)
	}
	e.wantTime(inactive.RotatedAt, rotatedAt, "InactiveRefreshError.RotatedAt")

	e.wantNotFound(e.s.RotateRefreshToken(e.ctx, req.ID, sig), "second RotateRefreshToken")

	e.must(e.s.DeleteRefreshTokenSession(e.ctx, sig), "DeleteRefreshTokenSession")
	_, err = e.s.GetRefreshTokenSession(e.ctx, sig, newSession())
	e.wantNotFound(err, "GetRefreshTokenSession after delete")
	e.must(e.s.DeleteRefreshTokenSession(e.ctx, sig), "DeleteRefreshTokenSession again")
}

// Rotation leaves access tokens alone: they expire on their own, and an
// app keeps using its access token while it refreshes.
func testRotationKeepsAccessTokens(e *env) {
	c := e.createClient("client")
	req := e.newRequest(c, "alice")
	rt, at := randomID("rt-"), randomID("at-")
	e.must(e.s.CreateAccessTokenSession(e.ctx, at, req), "CreateAccessTokenSession")
	e.must(e.s.CreateRefreshTokenSession(e.ctx, rt, at, req), "CreateRefreshTokenSession")
	e.must(e.s.RotateRefreshToken(e.ctx, req.ID, rt), "RotateRefreshToken")
	_, err := e.s.GetAccessTokenSession(e.ctx, at, newSession())
	e.must(err, "access token after rotation")
}

// A rotated refresh token comes back with its requester and an
// InactiveRefreshError that carries the rotation time (the provider tells
// a retry from reuse with it) and matches fosite.ErrInactiveToken (so
// fosite revokes the grant on reuse).
func testRefreshRotationTime(e *env) {
	c := e.createClient("client")
	req := e.newRequest(c, "alice")
	sig := randomID("rt-")
	e.must(e.s.CreateRefreshTokenSession(e.ctx, sig, "", req), "CreateRefreshTokenSession")
	e.clock.Advance(time.Second)
	rotatedAt := e.clock.Now()
	e.must(e.s.RotateRefreshToken(e.ctx, req.ID, sig), "RotateRefreshToken")

	got, err := e.s.GetRefreshTokenSession(e.ctx, sig, newSession())
	e.wantIs(err, "rotated refresh token", fosite.ErrInactiveToken)
	e.wantRequest(got, req, "rotated refresh token")
	var inactive *storage.InactiveRefreshError
	if !errors.As(err, &inactive) {
		e.t.Fatalf("rotated refresh token: %v is not an InactiveRefreshError", err)
	}
	if d := inactive.RotatedAt.Sub(rotatedAt); d < -time.Millisecond || d > time.Millisecond {
		e.t.Errorf("RotatedAt = %s, want %s", inactive.RotatedAt, rotatedAt)
	}
}

func testRevoke(e *env) {
	c := e.createClient("client")
	a, b := e.newRequest(c, "alice"), e.newRequest(c, "bob")
	aAT := []string{randomID("at-"), randomID("at-")}
	aRT := []string{randomID("rt-"), randomID("rt-")}
	bAT, bRT := randomID("at-"), randomID("rt-")
	for i := range aAT {
		e.must(e.s.CreateAccessTokenSession(e.ctx, aAT[i], a), "CreateAccessTokenSession a")
		e.must(e.s.CreateRefreshTokenSession(e.ctx, aRT[i], aAT[i], a), "CreateRefreshTokenSession a")
	}
	e.must(e.s.CreateAccessTokenSession(e.ctx, bAT, b), "CreateAccessTokenSession b")
	e.must(e.s.CreateRefreshTokenSession(e.ctx, bRT, bAT, b), "CreateRefreshTokenSession b")

	e.must(e.s.RevokeAccessToken(e.ctx, a.ID), "RevokeAccessToken")
	for _, sig := range aAT {
		_, err := e.s.GetAccessTokenSession(e.ctx, sig, newSession())
		e.wantNotFound(err, "revoked access token")
	}
	for _, sig := range aRT {
		_, err := e.s.GetRefreshTokenSession(e.ctx, sig, newSession())
		e.must(err, "refresh token after RevokeAccessToken")
	}

	e.must(e.s.RevokeRefreshToken(e.ctx, a.ID), "RevokeRefreshToken")
	for _, sig := range aRT {
		_, err := e.s.GetRefreshTokenSession(e.ctx, sig, newSession())
		e.wantNotFound(err, "revoked refresh token")
	}

	_, err := e.s.GetAccessTokenSession(e.ctx, bAT, newSession())
	e.must(err, "other grant's access token")
	_, err = e.s.GetRefreshTokenSession(e.ctx, bRT, newSession())
	e.must(err, "other grant's refresh token")

	e.must(e.s.RevokeAccessToken(e.ctx, "unknown"), "RevokeAccessToken unknown")
	e.must(e.s.RevokeRefreshToken(e.ctx, "unknown"), "RevokeRefreshToken unknown")
}

func testPKCE(e *env) {
	c := e.createClient("client")
	req := e.newRequest(c, "alice")
	req.Form.Set("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
	req.Form.Set("code_challenge_method", "S256")
	sig := randomID("code-sig-")
	e.must(e.s.CreatePKCERequestSession(e.ctx, sig, req), "CreatePKCERequestSession")
	got, err := e.s.GetPKCERequestSession(e.ctx, sig, newSession())
	e.must(err, "GetPKCERequestSession")
	e.wantRequest(got, req, "pkce")

	_, err = e.s.GetPKCERequestSession(e.ctx, "unknown", newSession())
	e.wantNotFound(err, "GetPKCERequestSession unknown")
	e.must(e.s.DeletePKCERequestSession(e.ctx, sig), "DeletePKCERequestSession")
	_, err = e.s.GetPKCERequestSession(e.ctx, sig, newSession())
	e.wantNotFound(err, "GetPKCERequestSession after delete")
	e.must(e.s.DeletePKCERequestSession(e.ctx, sig), "DeletePKCERequestSession again")
}

func testOpenIDConnect(e *env) {
	c := e.createClient("client")
	req := e.newRequest(c, "alice")
	// fosite passes the raw authorization code here.
	code := randomID("ory_ac_") + "." + randomID("")
	e.must(e.s.CreateOpenIDConnectSession(e.ctx, code, req), "CreateOpenIDConnectSession")

	// fosite passes the token request, whose session is the prototype.
	tokenReq := &fosite.Request{Session: newSession()}
	got, err := e.s.GetOpenIDConnectSession(e.ctx, code, tokenReq)
	e.must(err, "GetOpenIDConnectSession")
	e.wantRequest(got, req, "oidc")

	_, err = e.s.GetOpenIDConnectSession(e.ctx, "unknown", &fosite.Request{Session: newSession()})
	e.wantIs(err, "GetOpenIDConnectSession unknown", openid.ErrNoSessionFound)

	e.must(e.s.DeleteOpenIDConnectSession(e.ctx, code), "DeleteOpenIDConnectSession")
	_, err = e.s.GetOpenIDConnectSession(e.ctx, code, &fosite.Request{Session: newSession()})
	e.wantIs(err, "GetOpenIDConnectSession after delete", openid.ErrNoSessionFound)
	e.must(e.s.DeleteOpenIDConnectSession(e.ctx, code), "DeleteOpenIDConnectSession again")
}

func testJTI(e *env) {
	jti := randomID("jti-")
	e.must(e.s.ClientAssertionJWTValid(e.ctx, jti), "ClientAssertionJWTValid unknown")
	e.must(e.s.SetClientAssertionJWT(e.ctx, jti, e.clock.Now().Add(time.Hour)), "SetClientAssertionJWT")

	e.wantIs(e.s.ClientAssertionJWTValid(e.ctx, jti), "ClientAssertionJWTValid replay", fosite.ErrJTIKnown)
	e.wantIs(e.s.SetClientAssertionJWT(e.ctx, jti, e.clock.Now().Add(time.Hour)), "SetClientAssertionJWT replay", fosite.ErrJTIKnown)

	other := randomID("jti-")
	e.must(e.s.ClientAssertionJWTValid(e.ctx, other), "another jti")

	// Once expired, the jti may be used again.
	e.clock.Advance(2 * time.Hour)
	e.must(e.s.ClientAssertionJWTValid(e.ctx, jti), "ClientAssertionJWTValid after expiry")
	e.must(e.s.SetClientAssertionJWT(e.ctx, jti, e.clock.Now().Add(time.Hour)), "SetClientAssertionJWT after expiry")
	e.wantIs(e.s.ClientAssertionJWTValid(e.ctx, jti), "ClientAssertionJWTValid after reuse", fosite.ErrJTIKnown)
}
