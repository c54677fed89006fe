package provider

import (
	"context"

	"github.com/mohae/deepcopy"
	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"

	"github.com/gatehouse-dev/gatehouse/storage"
)

// Session is what fosite stores with every code and token: the ID token
// claims and headers, the token expiries and the subject. It is serialised
// as JSON by the storage.
type Session struct {
	*openid.DefaultSession `json:"oidc"`
	// ClientID is the client the session was issued to.
	ClientID string `json:"client_id,omitempty"`
	// APIKeyID is the API key that minted the token, if any; storage
	// records it so that revoking the key revokes the token.
	APIKeyID string `json:"api_key_id,omitempty"`
	// IDTokenClaimNames and UserinfoClaimNames are the claims the client
	// asked for individually (claims parameter, OpenID Connect Core §5.5)
	// in the ID token and at the userinfo endpoint; kept here so that
	// refreshed ID tokens and userinfo keep honouring them.
	IDTokenClaimNames  []string `json:"id_token_claims,omitempty"`
	UserinfoClaimNames []string `json:"userinfo_claims,omitempty"`
}

var (
	_ openid.Session        = (*Session)(nil)
	_ storage.APIKeySession = (*Session)(nil)
)

// GetAPIKeyID implements storage.APIKeySession.
func (s *Session) GetAPIKeyID() string { return s.APIKeyID }

// NewSession returns an empty session, the prototype fosite fills from
// storage.
func NewSession() *Session {
	return &Session{DefaultSession: &openid.DefaultSession{
		Claims:  &jwt.IDTokenClaims{},
		Headers: &jwt.Headers{Extra: map[string]interface{}{}},
	}}
}

// Clone deep-copies the session. openid.DefaultSession's own Clone would
// return a *DefaultSession and drop our fields.
func (s *Session) Clone() fosite.Session {
	if s == nil {
		return nil
	}
	return deepcopy.Copy(s).(*Session)
}

// MethodPassword is an e-mail and password sign-in (amr "pwd", RFC 8176
// §2).
var MethodPassword = LoginMethod{AMR: []string{"pwd"}}

// LoginMethod is how a person signed in: the ID token's amr and acr
// (OpenID Connect Core §2).
type LoginMethod struct {
	AMR []string
	ACR string
}

// MethodUpstream is a sign-in through upstream id.
func MethodUpstream(id string) LoginMethod {
	return LoginMethod{AMR: []string{"fed"}, ACR: "urn:gatehouse:upstream:" + id}
}

// Login is a browser's signed-in state with its user, as package login
// keeps it: who the engine issues a code for (Complete).
type Login struct {
	Session *storage.LoginSession
	User    *storage.User
}

// idTokenSigner signs ID tokens without fosite's "rat" (requested at)
// claim. fosite needs the request time in the claims it checks prompt and
// max_age against (jwt.IDTokenClaims.RequestedAt, which Complete sets)
// and writes it into every ID token as "rat", a claim no specification
// defines: OpenID Connect Core §2 lists what an ID token holds, and the
// OpenID Foundation's conformance suite flags anything else
// (EnsureIdTokenDoesNotContainNonRequestedClaims, docs/conformance.md).
// The relying party learns nothing from it that it needs; it is dropped
// when the token is signed.
type idTokenSigner struct{ jwt.Signer }

// Generate signs claims without "rat".
func (s idTokenSigner) Generate(ctx context.Context, claims jwt.MapClaims, header jwt.Mapper) (string, string, error) {
	delete(claims, "rat")
	return s.Signer.Generate(ctx, claims, header)
}
