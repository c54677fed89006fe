package provider

import (
	"context"
	"slices"
	"time"

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
	// Resources are the resources (RFC 8707 §2.1) the grant was
	// authorized for, kept with its code and refresh token. They are not
	// the grant's audience in fosite's sense: fosite would check them on
	// every refresh against the client's audience list, which a client
	// using registered resources leaves empty.
	Resources []string `json:"resources,omitempty"`
	// Resource is the one resource the access token being issued is for,
	// with its settings; nil when the token request settles on none.
	// prepareAccessRequest decides it for every token request, and it is
	// never stored: a refresh token keeps the whole grant (RFC 8707 §2.2),
	// each access token names one resource of it.
	Resource *TokenResource `json:"-"`
	// Act is the party acting for the subject (RFC 8693 §4.1), set on a
	// token issued by token exchange with an actor token: stored with the
	// token so that introspection and JWT access tokens show it.
	Act *Actor `json:"act,omitempty"`
	// JKT is the thumbprint (RFC 7638) of the DPoP key the token is bound
	// to (RFC 9449 §6: cnf.jkt), stored with the token: its access token
	// is presented with proofs of that key, and a public client's refresh
	// token is refused without one (§5). Empty: a Bearer token.
	JKT string `json:"cnf_jkt,omitempty"`
}

// TokenResource is the resource an access token is for and what it asks
// of that token; empty settings follow the client's and server's.
type TokenResource struct {
	ID       string
	Format   string
	Lifetime time.Duration
	Alg      string
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

// ACRMultiFactor is the authentication context class (OpenID Connect Core
// §2 "acr") of a sign-in with two factors: a first one (password, upstream)
// and a second one (a TOTP code, a recovery code). A client asks for it
// with acr_values (§3.1.2.1) or an essential acr claim (§5.5.1.1); the
// ID token then carries it, with amr "mfa" (RFC 8176 §2).
const ACRMultiFactor = "urn:gatehouse:acr:mfa"

// The amr values (RFC 8176 §2) a second factor adds.
const (
	AMROTP         = "otp" // a one-time password: TOTP (RFC 6238) or a recovery code
	AMRMultiFactor = "mfa"
)

// WithSecondFactor is how a person is signed in after adding a second
// factor (its amr values: AMROTP, or a passkey's hwk|swk and user) to m:
// m's amr plus them and "mfa", and ACRMultiFactor — also for a passkey,
// whose phishing resistance does not extend to the first factor (the acr
// decision is in docs/integration.md).
func (m LoginMethod) WithSecondFactor(amr ...string) LoginMethod {
	out := LoginMethod{ACR: ACRMultiFactor}
	for _, v := range append(append(append([]string{}, m.AMR...), amr...), AMRMultiFactor) {
		if !slices.Contains(out.AMR, v) {
			out.AMR = append(out.AMR, v)
		}
	}
	return out
}

// MultiFactor reports whether a session signed in with amr has two
// factors.
func MultiFactor(amr []string) bool { return slices.Contains(amr, AMRMultiFactor) }

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
