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
	// LoginLocked: failures locked the account for unknown browsers, or
	// one known browser; Details carry "locked_until" (RFC 3339),
	// "failures" and "locks" (the locks in a row, this one included).
	LoginLocked = "login.locked"
	// LoginUnlocked: an operator or administrator cleared the account's
	// failures and those of its known browsers (Actor "operator" from the
	// CLI); Details["was_locked"], "failures", "devices" (how many known
	// browsers' records were cleared).
	LoginUnlocked = "login.unlocked"
)

// Details["device"] of LoginSucceeded, LoginFailed and LoginLocked: whether
// the browser was known to the account (it carried the account's signed
// device cookie and was judged by its own failures only) or unknown
// (judged by the account-wide record, which locks all unknown browsers).
const (
	LoginDeviceKnown   = "known"
	LoginDeviceUnknown = "unknown"
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
