package audit

// Event types of consent, client, signing-key, user and registration-token
// changes. Every one names what changed in Subject ("user:<id>",
// "client:<id>", "key:<kid>", "registration_token:<id>"), and ClientID when
// a client is concerned; Details carry small facts, never a secret.
const (
	// ConsentGiven: a user allowed a client scopes on the consent page
	// (Details: scopes, space-separated, as remembered after the grant).
	ConsentGiven = "consent.given"
	// ConsentRevoked: a user withdrew a client's grant, which revoked its
	// tokens for the user.
	ConsentRevoked = "consent.revoked"
	// ConsentDenied: a user refused a client on the consent page (Details:
	// scopes, the scopes the client asked for); the client got
	// access_denied.
	ConsentDenied = "consent.denied"

	// ClientCreated, ClientUpdated, ClientDeleted and ClientSecretRotated
	// are made by the CLI (Actor "operator"), the admin API (its
	// principal) and dynamic registration (Actor "registration" for
	// RFC 7591, "client:<id>" for the client's own RFC 7592 calls).
	ClientCreated       = "client.created"
	ClientUpdated       = "client.updated"
	ClientDeleted       = "client.deleted"
	ClientSecretRotated = "client.secret_rotated"
	// ClientDocumentFetched: the metadata document of a client identified
	// by its URL was stored (Details: outcome "added", "changed") or found
	// gone ("gone"); Actor "system".
	ClientDocumentFetched = "client.document_fetched"

	// KeyCreated, KeyRotated, KeyDeleted and KeyResealed follow the
	// signing keys' life cycle (Details: alg, and state or retired_kid).
	// Actor "system" for the server's schedule, "operator" for the CLI.
	KeyCreated  = "key.created"
	KeyRotated  = "key.rotated"
	KeyDeleted  = "key.deleted"
	KeyResealed = "key.resealed"

	// User changes by an operator (CLI) or the admin API.
	UserCreated     = "user.created"
	UserUpdated     = "user.updated"
	UserDisabled    = "user.disabled"
	UserEnabled     = "user.enabled"
	UserDeleted     = "user.deleted"
	UserPasswordSet = "user.password_set"
	// UserVerificationRequested: an administrator or operator had an
	// e-mail verification link sent to the user.
	UserVerificationRequested = "user.verification_requested"

	// Initial access tokens for dynamic client registration (Details:
	// name; never the token).
	RegistrationTokenCreated = "registration_token.created"
	RegistrationTokenRevoked = "registration_token.revoked"

	// Protected resources (RFC 8707) registered, changed or removed by an
	// operator (CLI) or the admin API (Details: what changed).
	ResourceCreated = "resource.created"
	ResourceUpdated = "resource.updated"
	ResourceDeleted = "resource.deleted"
)

// Actors that are not a user or a client.
const (
	// ActorOperator is whoever runs the CLI against the database.
	ActorOperator = "operator"
	// ActorSystem is gatehouse itself, on a schedule (key rotation).
	ActorSystem = "system"
	// ActorRegistration is an RFC 7591 registration request (by an initial
	// access token, named in Details, or open registration).
	ActorRegistration = "registration"
)

// Subjects: what an event concerns.
func UserSubject(id string) string              { return "user:" + id }
func ClientSubject(id string) string            { return "client:" + id }
func KeySubject(kid string) string              { return "key:" + kid }
func RegistrationTokenSubject(id string) string { return "registration_token:" + id }
func ResourceSubject(id string) string          { return "resource:" + id }
