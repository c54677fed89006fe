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
)
