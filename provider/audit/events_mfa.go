package audit

// Second-factor events (TOTP, RFC 6238, and recovery codes). A failed
// second factor is LoginFailed with reason LoginReasonWrongSecondFactor
// (it counts towards the same lockout as a wrong password).
const (
	// MFASucceeded: a second factor was accepted (at sign-in, at a
	// step-up, or removing the authenticator); Details["method"] is "totp"
	// or "recovery_code", Details["device"] as for LoginSucceeded.
	MFASucceeded = "mfa.succeeded"
	// MFAEnrolled: the person confirmed a TOTP authenticator.
	MFAEnrolled = "mfa.enrolled"
	// MFARemoved: the person removed their TOTP authenticator (and their
	// recovery codes).
	MFARemoved = "mfa.removed"
	// MFARecoveryCodesRegenerated: the person replaced their recovery
	// codes.
	MFARecoveryCodesRegenerated = "mfa.recovery_codes_regenerated"
	// MFAReset: an operator or administrator removed a person's second
	// factors; their sessions were ended. Details["removed"].
	MFAReset = "mfa.reset"
)

// LoginReasonWrongSecondFactor: the first factor was right, the second
// factor (a TOTP or recovery code) was not, or it was replayed.
const LoginReasonWrongSecondFactor = "wrong_second_factor"
