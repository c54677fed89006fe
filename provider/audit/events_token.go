package audit

// Token events: recorded by the provider's token and revocation endpoints.
// They never carry a token, only what it was issued for.
const (
	// TokenIssued: an access token (and maybe a refresh or ID token) was
	// issued. Details: grant_type, scope; api_key_id when an API key
	// authenticated; replayed "true" when a refresh retry got the stored
	// response of the rotation it repeats.
	TokenIssued = "token.issued"
	// TokenRevoked: a client revoked a token (RFC 7009). Details:
	// token_type_hint as sent.
	TokenRevoked = "token.revoked"
	// RefreshReuseDetected: a rotated refresh token came back after the
	// retry window; its whole grant was revoked. Details: rotated_at.
	RefreshReuseDetected = "refresh.reuse_detected"
	// AssertionRefused: an authenticated client presented an identity
	// assertion (ID-JAG, jwt-bearer grant) that was refused. Details:
	// error, reason, and the assertion's issuer, subject and jti as it
	// claimed them (never the assertion). A redemption is a token.issued
	// with those details.
	AssertionRefused = "assertion.refused"
	// TokenExchanged: a client exchanged a token (RFC 8693 token
	// exchange) for an access token. Subject is the subject token's
	// subject, ClientID the client that exchanged it. Details: scope,
	// resource, actor (the actor token's subject; absent for an
	// impersonation), act (the whole delegation chain, outermost first,
	// space separated) or impersonation "true", subject_token_type.
	// Never a token.
	TokenExchanged = "token.exchanged"
	// TokenExchangeRefused: an authenticated client's token exchange was
	// refused. Details: error, reason, subject_token_type.
	TokenExchangeRefused = "token_exchange.refused"
)
