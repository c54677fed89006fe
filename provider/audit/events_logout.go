package audit

// Login session and logout events. SessionEnded names the user in
// Subject; the back-channel events name the client in ClientID and the
// user in Subject. Details carry the session's "sid" (never the cookie or
// its hash) and small facts.
const (
	// SessionEnded: a login session ended (Details: sid, reason — one of
	// the SessionEndedBy* values — and clients, the space-separated ids of
	// the apps that got tokens in it, and backchannel, how many
	// notifications were queued). Actor is the user, the administrator or
	// "operator".
	SessionEnded = "session.ended"

	// LogoutBackchannelDelivered: a client's backchannel_logout_uri
	// accepted the logout token (Details: attempts, status).
	LogoutBackchannelDelivered = "logout.backchannel.delivered"
	// LogoutBackchannelFailed: an attempt failed and will be retried
	// (Details: attempts, error, next_attempt_at).
	LogoutBackchannelFailed = "logout.backchannel.failed"
	// LogoutBackchannelAbandoned: gatehouse gave up on a notification
	// (Details: attempts, error, reason — refused, too_many_attempts,
	// too_old or client_gone).
	LogoutBackchannelAbandoned = "logout.backchannel.abandoned"
)

// Reasons of SessionEnded.
const (
	// SessionEndedByLogout: RP-initiated logout or the person's own
	// sign-out (the browser was there: front-channel logout ran too).
	SessionEndedByLogout = "logout"
	// SessionEndedByUser: the person ended the session on the account
	// page.
	SessionEndedByUser = "account"
	// SessionEndedByAdmin: an administrator (admin API) or an operator
	// (CLI) ended it.
	SessionEndedByAdmin = "admin"
	// SessionEndedByPasswordReset: the person set a new password through
	// a reset link, which signs them out everywhere.
	SessionEndedByPasswordReset = "password_reset"
	// SessionEndedByEmailChange: the person confirmed a change of their
	// address, which signs them out everywhere but in the browser that
	// confirmed it when that browser was signed in as them (a session an
	// attacker holds must not outlive the owner's change of the address
	// they sign in with, as OWASP ASVS 4.0 V3.3.3 asks after a password
	// change).
	SessionEndedByEmailChange = "email_change"
)
