package conformance

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	josev3 "github.com/go-jose/go-jose/v3"

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
		{"ListPaging", testClientListPaging},
		{"RegistrationMetadata", testClientRegistrationMetadata},
		{"OriginAllowed", testClientOriginAllowed},
		{"OriginAllowedManyClients", testClientOriginAllowedManyClients},
		{"Owner", testClientOwner},
		{"AccessTokenFormat", testClientAccessTokenFormat},
		{"ListByOwner", testClientListByOwner},
		{"KeyRequestsKeepTheirCopy", testClientKeyRequestsKeepTheirCopy},
		{"Update", testClientUpdate},
		{"ReturnsCopy", testClientReturnsCopy},
		{"Delete", testClientDelete},
		{"DeleteRemovesEverythingOfTheClient", testClientDeleteCascade},
		{"DeleteUnused", testClientDeleteUnused},
		{"MetadataDocument", testClientMetadataDocument},
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
	e.wantEqual(got.FirstParty, want.FirstParty, what+" FirstParty")
	e.wantEqual(got.PKCEOptional, want.PKCEOptional, what+" PKCEOptional")
	e.wantEqual(got.IntrospectAnyToken, want.IntrospectAnyToken, what+" IntrospectAnyToken")
	e.wantEqual(got.TokenExchangeImpersonation, want.TokenExchangeImpersonation, what+" TokenExchangeImpersonation")
	e.wantEqual(got.DPoPBoundAccessTokens, want.DPoPBoundAccessTokens, what+" DPoPBoundAccessTokens")
	e.wantEqual(strings.Join(got.TokenExchangeSubjectTypes, " "), strings.Join(want.TokenExchangeSubjectTypes, " "), what+" TokenExchangeSubjectTypes")
	e.wantList(got.Resources, want.Resources, what+" Resources")
	e.wantEqual(got.LogoURI, want.LogoURI, what+" LogoURI")
	e.wantEqual(got.ClientURI, want.ClientURI, what+" ClientURI")
	e.wantEqual(got.PolicyURI, want.PolicyURI, what+" PolicyURI")
	e.wantEqual(got.TosURI, want.TosURI, what+" TosURI")
	e.wantList(got.Contacts, want.Contacts, what+" Contacts")
	e.wantEqual(got.JWKS, want.JWKS, what+" JWKS")
	e.wantEqual(got.JWKSURI, want.JWKSURI, what+" JWKSURI")
	e.wantEqual(got.TokenEndpointAuthSigningAlg, want.TokenEndpointAuthSigningAlg, what+" TokenEndpointAuthSigningAlg")
	e.wantEqual(got.RequestObjectSigningAlg, want.RequestObjectSigningAlg, what+" RequestObjectSigningAlg")
	e.wantEqual(got.RegistrationAccessTokenHash, want.RegistrationAccessTokenHash, what+" RegistrationAccessTokenHash")
	e.wantEqual(got.RegisteredBy, want.RegisteredBy, what+" RegisteredBy")
	e.wantEqual(got.RequirePushedAuthorizationRequests, want.RequirePushedAuthorizationRequests, what+" RequirePushedAuthorizationRequests")
	e.wantEqual(got.OwnerID, want.OwnerID, what+" OwnerID")
	e.wantEqual(got.AccessTokenFormat, want.AccessTokenFormat, what+" AccessTokenFormat")
	e.wantEqual(got.DefaultResource, want.DefaultResource, what+" DefaultResource")
	e.wantEqual(got.BackchannelLogoutURI, want.BackchannelLogoutURI, what+" BackchannelLogoutURI")
	e.wantEqual(got.BackchannelLogoutSessionRequired, want.BackchannelLogoutSessionRequired, what+" BackchannelLogoutSessionRequired")
	e.wantEqual(got.FrontchannelLogoutURI, want.FrontchannelLogoutURI, what+" FrontchannelLogoutURI")
	e.wantEqual(got.FrontchannelLogoutSessionRequired, want.FrontchannelLogoutSessionRequired, what+" FrontchannelLogoutSessionRequired")
	e.wantEqual(got.MetadataDocument, want.MetadataDocument, what+" MetadataDocument")
	e.wantTime(got.DocumentFreshUntil, want.DocumentFreshUntil, what+" DocumentFreshUntil")
	e.wantTime(got.DocumentGoneAt, want.DocumentGoneAt, what+" DocumentGoneAt")
	if (got.RefreshRetryWindow == nil) != (want.RefreshRetryWindow == nil) ||
		(got.RefreshRetryWindow != nil && *got.RefreshRetryWindow != *want.RefreshRetryWindow) {
		e.t.Errorf("%s RefreshRetryWindow = %v, want %v", what, got.RefreshRetryWindow, want.RefreshRetryWindow)
	}
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
	list, err := e.s.ListClients(e.ctx, storage.Page{})
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
	list, err := e.s.ListClients(e.ctx, storage.Page{})
	e.must(err, "ListClients empty")
	if len(list) != 0 {
		e.t.Fatalf("empty store lists %d clients", len(list))
	}
	ids := map[string]bool{"c1": true, "c2": true, "c3": true}
	for id := range ids {
		e.createClient(id)
	}
	list, err = e.s.ListClients(e.ctx, storage.Page{})
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
	changed.FirstParty = false
	changed.PKCEOptional = false
	changed.IntrospectAnyToken = false
	changed.TokenExchangeImpersonation = false
	changed.DPoPBoundAccessTokens = false
	changed.Resources = []string{"https://other-api.example"}
	changed.AllowedOrigins = nil
	changed.LogoURI = "https://other.example/logo.svg"
	changed.ClientURI = ""
	changed.Contacts = []string{"new-owner@other.example"}
	changed.JWKS = ""
	changed.JWKSURI = "https://other.example/jwks.json"
	changed.TokenEndpointAuthSigningAlg = "RS256"
	changed.RequestObjectSigningAlg = ""
	changed.RegistrationAccessTokenHash = "rotated-hash"
	changed.RegisteredBy = "an administrator"
	changed.RequirePushedAuthorizationRequests = false
	changed.OwnerID = "new-owner"
	changed.AccessTokenFormat = "opaque"
	changed.DefaultResource = ""
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
		got.Contacts[0] = "attacker@evil.example"
		got.Contacts = append(got.Contacts, "more@evil.example")
		got.AllowedOrigins[0] = "https://evil.example"
		got.JWKS = `{"keys":[]}`
	}
	// The lists of a listed client are not shared with the cache either.
	list, err := e.s.ListClients(e.ctx, storage.Page{})
	e.must(err, "ListClients")
	list[0].Contacts[0] = "attacker@evil.example"
	got, err := e.s.ClientByID(e.ctx, "copy")
	e.must(err, "ClientByID after editing a listed client")
	e.wantClient(got, want, "client after the caller edited a listed copy")
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
	flow, pushed                     string
	// apiKey, and keyAccess an access token it minted.
	apiKey, keyAccess string
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
		pushed:  randomID("par-"),
		apiKey:  randomID("ak-"),
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
	e.must(e.s.CreatePushedRequest(e.ctx, &storage.PushedRequest{
		ID: r.pushed, ClientID: clientID, Form: "client_id=" + clientID + "&response_type=code",
		ExpiresAt: e.clock.Now().Add(90 * time.Second),
	}), "CreatePushedRequest")
	e.createAPIKey(r.apiKey, clientID, e.clock.Now())
	r.keyAccess = e.createKeyToken(r.client, r.apiKey)
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
	_, errs["pushed request"] = e.s.PushedRequest(e.ctx, r.pushed)
	_, errs["api key"] = e.s.APIKey(e.ctx, r.apiKey)
	_, errs["api key's access token"] = e.s.GetAccessTokenSession(e.ctx, r.keyAccess, &apiKeySession{})
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
	keys, err := e.s.ListAPIKeys(e.ctx, nil)
	e.must(err, "ListAPIKeys")
	e.wantEqual(apiKeyIDs(keys), []string{kept.apiKey}, "API keys left")
	keys, err = e.s.ListAPIKeys(e.ctx, []string{"gone"})
	e.must(err, "ListAPIKeys of the deleted client")
	e.wantEqual(apiKeyIDs(keys), []string(nil), "API keys of the deleted client")

	// The key's ID is free again, and needs the client back.
	e.wantNotFound(e.s.CreateAPIKey(e.ctx, e.newAPIKey(gone.apiKey, "gone", e.clock.Now())), "CreateAPIKey for the deleted client")
	e.createClient("gone")
	e.createAPIKey(gone.apiKey, "gone", e.clock.Now())
}

func testClientListPaging(e *env) {
	e.checkPaging(pagedListing{
		what: "ListClients",
		create: func(id string, created time.Time) {
			c := newClient(id)
			c.CreatedAt = created
			e.must(e.s.CreateClient(e.ctx, c), "CreateClient "+id)
		},
		list: func(p storage.Page) ([]string, error) {
			list, err := e.s.ListClients(e.ctx, p)
			var ids []string
			for _, c := range list {
				e.wantClient(c, newClient(c.ID), "listed client")
				ids = append(ids, c.ID)
			}
			return ids, err
		},
	})
}

// ecJWKS returns a JWK Set with one fresh P-256 public key, as JSON.
func (e *env) ecJWKS() string {
	e.t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	e.must(err, "generate EC key")
	set := josev3.JSONWebKeySet{Keys: []josev3.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}}
	b, err := json.Marshal(set)
	e.must(err, "marshal JWKS")
	return string(b)
}

// The RFC 7591/7592 and PAR fields round-trip, through fosite's view too,
// and can be cleared again.
func testClientRegistrationMetadata(e *env) {
	c := newClient("dyn")
	c.JWKS = e.ecJWKS()
	c.TokenEndpointAuthMethod = "private_key_jwt"
	c.TokenEndpointAuthSigningAlg = "ES256"
	c.Contacts = []string{"ops@app.example", `"Quoted" <q@app.example>`, "ünï@app.example"}
	c.RegisteredBy = `registration token "partners" (O'Brien \ co)`
	e.must(e.s.CreateClient(e.ctx, c), "CreateClient")

	got, err := e.s.ClientByID(e.ctx, "dyn")
	e.must(err, "ClientByID")
	e.wantClient(got, c, "registered client")

	fc, err := e.s.GetClient(e.ctx, "dyn")
	e.must(err, "GetClient")
	oc, ok := fc.(fosite.OpenIDConnectClient)
	if !ok {
		e.t.Fatalf("GetClient returned %T, which is not a fosite.OpenIDConnectClient", fc)
	}
	keys := oc.GetJSONWebKeys()
	if keys == nil || len(keys.Key("k1")) != 1 {
		e.t.Errorf("GetJSONWebKeys = %v, want the stored key set with kid k1", keys)
	}
	e.wantEqual(oc.GetTokenEndpointAuthSigningAlgorithm(), "ES256", "token endpoint auth signing alg")
	e.wantEqual(oc.GetTokenEndpointAuthMethod(), "private_key_jwt", "token endpoint auth method")

	// Cleared fields come back empty.
	cleared := newClient("dyn")
	cleared.LogoURI, cleared.ClientURI, cleared.PolicyURI, cleared.TosURI = "", "", "", ""
	cleared.Contacts = nil
	cleared.JWKS, cleared.JWKSURI = "", ""
	cleared.TokenEndpointAuthSigningAlg = ""
	cleared.RegistrationAccessTokenHash = ""
	cleared.RegisteredBy = ""
	cleared.RequirePushedAuthorizationRequests = false
	e.must(e.s.UpdateClient(e.ctx, cleared), "UpdateClient")
	got, err = e.s.ClientByID(e.ctx, "dyn")
	e.must(err, "ClientByID after clearing")
	e.wantClient(got, cleared, "cleared client")
	if got.GetJSONWebKeys() != nil {
		e.t.Error("a client without JWKS has keys")
	}
	e.wantEqual(got.GetTokenEndpointAuthSigningAlgorithm(), "RS256", "default token endpoint auth signing alg")
}

func (e *env) wantOrigins(allowed bool, origins ...string) {
	e.t.Helper()
	for _, origin := range origins {
		got, err := e.s.ClientOriginAllowed(e.ctx, origin)
		e.must(err, fmt.Sprintf("ClientOriginAllowed(%q)", origin))
		if got != allowed {
			e.t.Errorf("ClientOriginAllowed(%q) = %v, want %v", origin, got, allowed)
		}
	}
}

func (e *env) createClientWithOrigins(id string, origins ...string) *storage.Client {
	e.t.Helper()
	c := newClient(id)
	c.AllowedOrigins = origins
	e.must(e.s.CreateClient(e.ctx, c), "CreateClient "+id)
	return c
}

// Origins match exactly: no prefix, substring, case-folded or pattern
// match, whatever characters the origin holds.
func testClientOriginAllowed(e *env) {
	e.wantOrigins(false, "https://app.example", "", "%", "[]")

	// Only a longer origin is registered: its prefixes are not allowed.
	e.createClientWithOrigins("evil", "https://a.example.evil")
	e.wantOrigins(true, "https://a.example.evil")
	e.wantOrigins(false,
		"https://a.example", "https://a.example.evi", "https://a.example.evil/",
		"https://a.example.evil.com", "a.example.evil", "https://a", "evil", "%evil", "%",
	)

	weird := `https://we%ird_or"ig\in.example`
	e.createClientWithOrigins("a", "https://a.example", "http://localhost:3000")
	e.createClientWithOrigins("b", weird, "https://x.example/?a&b<c>", "https://ünï.example")
	e.createClientWithOrigins("none")
	e.wantOrigins(true,
		"https://a.example", "http://localhost:3000", "https://a.example.evil",
		weird, "https://x.example/?a&b<c>", "https://ünï.example",
	)
	e.wantOrigins(false,
		"", "https://a.exampl", "https://a.example/", "https://a.example:443",
		"HTTPS://A.EXAMPLE", "https://A.example", "http://a.example", "a.example",
		"http://localhost", "http://localhost:300", "http://localhost:30000",
		"https://ÜNÏ.example",
		// LIKE metacharacters are literal.
		"%", "_", "%%", "https://%.example", "https://_.example", "%a.example%",
		"https://a%example", "https://a_example", "http%", "https://a.example%",
		`https://weXird_or"ig\in.example`, `https://we%irdXor"ig\in.example`,
		`https://we%ird_or"ig\\in.example`, `https://we%ird_or\"ig\in.example`,
		`https://we%ird_or"ig\`, `we%ird_or"ig\in.example`,
		// JSON and SQL syntax in the input.
		`"`, `\`, `\\`, `"https://a.example"`, `https://a.example"`, `"https://a.example`,
		`","`, `["https://a.example"]`, `https://a.example","http://localhost:3000`,
		`' OR '1'='1`, `https://a.example' OR '1'='1`, `https://a.example'); DROP TABLE clients; --`,
		"null", "[]",
		// Control, invalid and oversized input.
		"https://a.example\x00", "https://a.example\n", "https://a.example\xff",
		strings.Repeat("https://a.example", 300),
	)

	// Updates and deletions take effect.
	a := newClient("a")
	a.AllowedOrigins = []string{"https://new.example"}
	e.must(e.s.UpdateClient(e.ctx, a), "UpdateClient")
	e.wantOrigins(false, "https://a.example", "http://localhost:3000")
	e.wantOrigins(true, "https://new.example")
	e.must(e.s.DeleteClient(e.ctx, "b"), "DeleteClient")
	e.wantOrigins(false, weird, "https://x.example/?a&b<c>")
	_, err := e.s.ClientByID(e.ctx, "evil")
	e.must(err, "the other clients stay")
}

func testClientOriginAllowedManyClients(e *env) {
	const n = 300
	for i := range n {
		e.createClientWithOrigins(fmt.Sprintf("c%03d", i),
			fmt.Sprintf("https://app-%d.example", i), "https://shared.example")
	}
	e.wantOrigins(true, "https://app-0.example", "https://app-13.example", "https://app-137.example",
		"https://app-299.example", "https://shared.example")
	e.wantOrigins(false, "https://app-300.example", "https://app-1370.example", "https://app-.example",
		"https://app-%.example", "https://app-_37.example", "https://app-1_.example", "https://shared.exampl",
		"https://app-13", "app-13.example")
}

// The owner round-trips through create, update and every read, cached or
// not, and can be cleared.
func testClientOwner(e *env) {
	owned := e.createClient("owned")
	_, err := e.s.ClientByID(e.ctx, "owned") // warms any cache
	e.must(err, "ClientByID")
	got, err := e.s.ClientByID(e.ctx, "owned")
	e.must(err, "ClientByID again")
	e.wantEqual(got.OwnerID, "owner-of-owned", "OwnerID")
	e.wantClient(got, owned, "owned client")

	unowned := newClient("unowned")
	unowned.OwnerID = ""
	e.must(e.s.CreateClient(e.ctx, unowned), "CreateClient without owner")
	got, err = e.s.ClientByID(e.ctx, "unowned")
	e.must(err, "ClientByID without owner")
	e.wantEqual(got.OwnerID, "", "OwnerID of a client without owner")

	owned.OwnerID = "someone-else"
	e.must(e.s.UpdateClient(e.ctx, owned), "UpdateClient new owner")
	got, err = e.s.ClientByID(e.ctx, "owned")
	e.must(err, "ClientByID after the owner changed")
	e.wantEqual(got.OwnerID, "someone-else", "OwnerID after UpdateClient")
	fc, err := e.s.GetClient(e.ctx, "owned")
	e.must(err, "GetClient")
	e.wantEqual(e.storageClient(fc).OwnerID, "someone-else", "GetClient OwnerID")

	owned.OwnerID = ""
	e.must(e.s.UpdateClient(e.ctx, owned), "UpdateClient clearing the owner")
	got, err = e.s.ClientByID(e.ctx, "owned")
	e.must(err, "ClientByID after the owner was cleared")
	e.wantEqual(got.OwnerID, "", "OwnerID after clearing it")

	list, err := e.s.ListClients(e.ctx, storage.Page{})
	e.must(err, "ListClients")
	for _, c := range list {
		e.wantEqual(c.OwnerID, "", "listed OwnerID of "+c.ID)
	}
}

// The access token format ("jwt", "opaque" or "" for the server's
// default) round-trips through create, update and every read, cached or
// not.
func testClientAccessTokenFormat(e *env) {
	formats := map[string]string{"fmt-default": "", "fmt-jwt": "jwt", "fmt-opaque": "opaque"}
	for id, format := range formats {
		c := newClient(id)
		c.OwnerID = "alice"
		c.AccessTokenFormat = format
		e.must(e.s.CreateClient(e.ctx, c), "CreateClient "+id)
	}
	want := func(stage string) {
		e.t.Helper()
		for id, format := range formats {
			for i := range 2 { // from the database, then from any cache
				got, err := e.s.ClientByID(e.ctx, id)
				e.must(err, "ClientByID "+id)
				e.wantEqual(got.AccessTokenFormat, format, fmt.Sprintf("%s: AccessTokenFormat of %s, read %d", stage, id, i))
			}
			fc, err := e.s.GetClient(e.ctx, id)
			e.must(err, "GetClient "+id)
			e.wantEqual(e.storageClient(fc).AccessTokenFormat, format, stage+": GetClient AccessTokenFormat of "+id)
		}
		list, err := e.s.ListClients(e.ctx, storage.Page{})
		e.must(err, "ListClients")
		owned, err := e.s.ListClientsByOwner(e.ctx, "alice")
		e.must(err, "ListClientsByOwner")
		if len(list) != len(formats) || len(owned) != len(formats) {
			e.t.Fatalf("%s: listed %d and %d clients, want %d", stage, len(list), len(owned), len(formats))
		}
		for _, c := range append(list, owned...) {
			e.wantEqual(c.AccessTokenFormat, formats[c.ID], stage+": listed AccessTokenFormat of "+c.ID)
		}
	}
	want("created")

	// Every change of format, the default included.
	formats = map[string]string{"fmt-default": "opaque", "fmt-jwt": "", "fmt-opaque": "jwt"}
	for id, format := range formats {
		c, err := e.s.ClientByID(e.ctx, id)
		e.must(err, "ClientByID "+id)
		c.AccessTokenFormat = format
		e.must(e.s.UpdateClient(e.ctx, c), "UpdateClient "+id)
	}
	want("updated")
}

func testClientListByOwner(e *env) {
	list, err := e.s.ListClientsByOwner(e.ctx, "alice")
	e.must(err, "ListClientsByOwner on an empty store")
	if len(list) != 0 {
		e.t.Fatalf("ListClientsByOwner on an empty store = %d clients", len(list))
	}
	now := e.clock.Now()
	for _, c := range []struct {
		id, owner string
		age       time.Duration
	}{
		{"b", "alice", time.Minute},
		{"d", "alice", 0},
		{"c", "alice", 0}, // the same time as d: by ID
		{"a", "alice", time.Hour},
		{"e", "bob", 2 * time.Hour},
		{"f", "", 3 * time.Hour},
		{"g", "ALICE", 4 * time.Hour}, // owner IDs match exactly
	} {
		cl := newClient(c.id)
		cl.OwnerID = c.owner
		cl.CreatedAt = now.Add(-c.age)
		e.must(e.s.CreateClient(e.ctx, cl), "CreateClient "+c.id)
	}
	ids := func(owner string) []string {
		e.t.Helper()
		list, err := e.s.ListClientsByOwner(e.ctx, owner)
		e.must(err, "ListClientsByOwner "+owner)
		if list == nil {
			e.t.Errorf("ListClientsByOwner(%q) = nil, want a (possibly empty) list", owner)
		}
		var out []string
		for _, c := range list {
			want := newClient(c.ID)
			want.OwnerID = owner
			e.wantClient(c, want, "client listed by owner")
			out = append(out, c.ID)
		}
		return out
	}
	e.wantEqual(ids("alice"), []string{"a", "b", "c", "d"}, "alice's clients, oldest first")
	e.wantEqual(ids("bob"), []string{"e"}, "bob's clients")
	e.wantEqual(ids("ALICE"), []string{"g"}, "ALICE's clients")
	e.wantEqual(ids("carol"), []string(nil), "clients of a user who owns none")
	// Nobody owns the unowned clients.
	e.wantEqual(ids(""), []string(nil), "clients listed for an empty owner")

	// The listing follows changes.
	e.must(e.s.DeleteClient(e.ctx, "b"), "DeleteClient")
	moved := newClient("c")
	moved.OwnerID = "bob"
	e.must(e.s.UpdateClient(e.ctx, moved), "UpdateClient")
	e.wantEqual(ids("alice"), []string{"a", "d"}, "alice's clients after the changes")
	e.wantEqual(ids("bob"), []string{"e", "c"}, "bob's clients after the changes")
}

// A request authenticated with an API key narrows its client's scopes on
// its own copy: that edit never reaches the stored or cached client, and
// the key lives in the token's session, not in the client.
func testClientKeyRequestsKeepTheirCopy(e *env) {
	c := newClient("c")
	e.must(e.s.CreateClient(e.ctx, c), "CreateClient")
	for range 3 { // from the database, then from any cache
		got, err := e.s.ClientByID(e.ctx, "c")
		e.must(err, "ClientByID")
		got.Scopes = []string{"key-scope"}
	}
	fc, err := e.s.GetClient(e.ctx, "c")
	e.must(err, "GetClient")
	e.wantList(fc.GetScopes(), c.Scopes, "scopes after a caller edited its copy")

	e.createAPIKey("ak-1", "c", e.clock.Now())
	sig := e.createKeyToken(c, "ak-1")
	req, err := e.s.GetAccessTokenSession(e.ctx, sig, &apiKeySession{})
	e.must(err, "GetAccessTokenSession")
	e.wantList(req.GetClient().GetScopes(), c.Scopes, "scopes of a token's client")
	if sess, ok := req.GetSession().(*apiKeySession); !ok || sess.APIKeyID != "ak-1" {
		e.t.Errorf("token's session = %#v, want an *apiKeySession with APIKeyID ak-1", req.GetSession())
	}
}

// storageClient returns the *storage.Client behind a fosite client.
func (e *env) storageClient(fc fosite.Client) *storage.Client {
	e.t.Helper()
	c, ok := fc.(*storage.Client)
	if !ok {
		e.t.Fatalf("client is %T, want *storage.Client", fc)
	}
	return c
}

// DeleteUnusedClients deletes the clients of one registration kind,
// registered before the cut, that never completed an authorization: a
// consent grant, a code or a token keeps a client, and so does a later
// registration or another kind.
func testClientDeleteUnused(e *env) {
	const kind = "public registration"
	e.createUser("u1")
	mk := func(id, by string) *storage.Client {
		c := newClient(id)
		c.RegisteredBy = by
		e.must(e.s.CreateClient(e.ctx, c), "CreateClient "+id)
		return c
	}
	mk("unused-1", kind)
	mk("unused-2", kind)
	consented := mk("consented", kind)
	e.must(e.s.SaveConsentGrant(e.ctx, &storage.ConsentGrant{UserID: "u1", ClientID: consented.ID, Scopes: []string{"openid"}}), "SaveConsentGrant")
	tokened := mk("tokened", kind)
	e.must(e.s.CreateRefreshTokenSession(e.ctx, randomID("rt-"), randomID("at-"), e.newRequest(tokened, "u1")), "CreateRefreshTokenSession")
	mk("other-kind", "open registration")
	cut := e.clock.Now().Add(time.Second)
	e.clock.Advance(time.Minute)
	mk("later", kind)

	n, err := e.s.DeleteUnusedClients(e.ctx, kind, cut, 1)
	e.must(err, "DeleteUnusedClients")
	e.wantEqual(n, int64(1), "deleted in a batch of 1")
	n, err = e.s.DeleteUnusedClients(e.ctx, kind, cut, 10)
	e.must(err, "DeleteUnusedClients")
	e.wantEqual(n, int64(1), "deleted in the next batch")
	for _, id := range []string{"unused-1", "unused-2"} {
		_, err := e.s.ClientByID(e.ctx, id)
		e.wantNotFound(err, id)
	}
	for _, id := range []string{"consented", "tokened", "other-kind", "later"} {
		_, err := e.s.ClientByID(e.ctx, id)
		e.must(err, id+" is kept")
	}
	n, err = e.s.DeleteUnusedClients(e.ctx, kind, cut, 10)
	e.must(err, "DeleteUnusedClients")
	e.wantEqual(n, int64(0), "nothing left to delete")
}

// A client defined by its metadata document round-trips with its
// freshness and gone times, and an update changes them.
func testClientMetadataDocument(e *env) {
	c := newClient("https://app.example/client.json")
	c.SecretHash, c.Public, c.MetadataDocument = "", true, true
	c.DocumentFreshUntil = e.clock.Now().Add(5 * time.Minute)
	e.must(e.s.CreateClient(e.ctx, c), "CreateClient")
	got, err := e.s.ClientByID(e.ctx, c.ID)
	e.must(err, "ClientByID")
	e.wantClient(got, c, "document client")
	got.DocumentGoneAt = e.clock.Now()
	e.must(e.s.UpdateClient(e.ctx, got), "UpdateClient")
	again, err := e.s.ClientByID(e.ctx, c.ID)
	e.must(err, "ClientByID")
	e.wantClient(again, got, "document client marked gone")
}
