package audit

// Password sign-in events. Their Subject is "user:<id>" when the e-mail
// belongs to an account, else "account:<first 16 hex digits of the
// account hash>" (the hex SHA-256 of the lower-cased e-mail): the trail
// never keeps what someone typed for an account that does not exist.
// Sign-ins through upstream identity providers are recorded apart.
const (
	// LoginSucceeded: a password sign-in succeeded.
	LoginSucceeded = "login.succeeded"
	// LoginFailed: a password sign-in failed; Details["reason"] is one of
	// the LoginReason* values.
	LoginFailed = "login.failed"
	// LoginLocked: a failure locked the account, or locked it again for
	// longer; Details carry "locked_until" (RFC 3339) and "failures".
	LoginLocked = "login.locked"
	// LoginUnlocked: an operator or administrator cleared the account's
	// failures (Actor "operator" from the CLI); Details["was_locked"].
	LoginUnlocked = "login.unlocked"
)

// Reasons of LoginFailed.
const (
	LoginReasonUnknownAccount = "unknown_account"
	LoginReasonWrongPassword  = "wrong_password"
	// LoginReasonNoPassword: the account has no password (it signs in
	// only through upstreams) or its stored hash is unreadable.
	LoginReasonNoPassword = "no_password"
	LoginReasonDisabled   = "disabled"
	// LoginReasonLocked: the account was locked; the password was not
	// checked.
	LoginReasonLocked = "locked"
	// LoginReasonInvalidInput: an empty or oversized e-mail or password.
	LoginReasonInvalidInput = "invalid_input"
)
