package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	josev4 "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
)

// openIDClientDir holds the relying party (rp.mjs) and its pinned
// packages (package-lock.json).
const openIDClientDir = "testdata/openid-client"

// TestOpenIDClientLibrary: a relying party built on openid-client v6 (the
// most used OpenID Connect client for JavaScript), in its default
// configuration, signs a person in through gatehouse: discovery, PAR,
// private_key_jwt with the library's default assertion audience (the
// issuer), the code flow with PKCE and neither state nor nonce, the ID
// token checked by the library, refresh, userinfo, and RP-initiated
// logout, which ends the person's session.
func TestOpenIDClientLibrary(t *testing.T) {
	t.Parallel()
	node := nodeWithPackages(t, openIDClientDir, "openid-client", "the openid-client relying party")
	cert := newTestCert(t)
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := startTLSServer(t, dialect, cert)
		user := s.user("nora@example.com", alicePassword)

		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		kid := randomString(t, 8)
		public, _ := json.Marshal(josev4.JSONWebKeySet{Keys: []josev4.JSONWebKey{{Key: &key.PublicKey, KeyID: kid, Algorithm: "ES256", Use: "sig"}}})
		private, _ := json.Marshal(josev4.JSONWebKey{Key: key, KeyID: kid, Algorithm: "ES256"})
		const redirect, afterLogout = "https://rp.example/callback", "https://rp.example/signed-out"
		c, _ := s.client(admin.ClientSpec{
			Name: "Node app", RedirectURIs: []string{redirect}, PostLogoutRedirectURIs: []string{afterLogout},
			GrantTypes: []string{provider.GrantAuthorizationCode, provider.GrantRefreshToken},
			Scopes:     []string{"openid", "email", "profile", "offline_access"}, SkipConsent: true,
			TokenEndpointAuthMethod: provider.AuthMethodPrivateKeyJWT, TokenEndpointAuthSigningAlg: "ES256", JWKS: string(public),
		})

		rp := startNodeScript(t, node, openIDClientDir, "rp.mjs", "the relying party",
			"NODE_EXTRA_CA_CERTS="+cert.pemFile, "ISSUER="+s.issuer, "CLIENT_ID="+c.ID, "CLIENT_JWK="+string(private),
			"REDIRECT_URI="+redirect, "POST_LOGOUT_REDIRECT_URI="+afterLogout)
		next := rp.next

		var authorize string
		_ = json.Unmarshal(next()["authorize"], &authorize)
		if !strings.HasPrefix(authorize, s.issuer+provider.PathAuthorize+"?") || !strings.Contains(authorize, "request_uri=") ||
			strings.Contains(authorize, "state=") {
			t.Fatalf("authorization URL %q: want a pushed request without state", authorize)
		}
		b := s.newBrowser()
		p := b.login(b.get(authorize), user.Email, alicePassword)
		if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, redirect+"?") {
			t.Fatalf("sign-in: %d %q: %.300s", p.status, p.location, p.body)
		}
		rp.send(p.location)

		var got struct {
			Subject          string `json:"sub"`
			Issuer           string `json:"iss"`
			Email            string `json:"id_token_email"`
			RefreshedIDToken bool   `json:"refreshed_id_token"`
			UserinfoSub      string `json:"userinfo_sub"`
			UserinfoEmail    string `json:"userinfo_email"`
			Logout           string `json:"logout"`
		}
		if err := json.Unmarshal(next()["result"], &got); err != nil {
			t.Fatal(err)
		}
		if got.Subject != user.ID || got.Issuer != s.issuer || got.Email != user.Email || !got.RefreshedIDToken ||
			got.UserinfoSub != user.ID || got.UserinfoEmail != user.Email {
			t.Fatalf("the relying party saw %+v, want sub %s, iss %s, email %s", got, user.ID, s.issuer, user.Email)
		}

		if !strings.HasPrefix(got.Logout, s.issuer+provider.PathLogout+"?") {
			t.Fatalf("end-session URL %q", got.Logout)
		}
		p = b.get(got.Logout)
		if p.status != http.StatusSeeOther && p.status != http.StatusFound || !strings.HasPrefix(p.location, afterLogout) {
			t.Fatalf("logout: %d %q: %.300s", p.status, p.location, p.body)
		}
		if p = b.get(s.issuer + "/account/apps"); !p.isLoginPage() {
			t.Fatalf("after logout the session is still alive: %d %s", p.status, p.url)
		}
	})
}
