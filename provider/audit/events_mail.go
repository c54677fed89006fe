package audit

// E-mail delivery events (provider/mail). Actor is the system; Details
// carry the message id, the outbox attempt count and, for failures, the
// mail server's answer. Never the body: it carries single-use links.
const (
	// MailSent: the mail server accepted a message.
	MailSent = "mail.sent"
	// MailFailed: an attempt failed and will be retried (Details:
	// next_attempt_at).
	MailFailed = "mail.failed"
	// MailDead: gatehouse gave up on a message (Details: reason — rejected,
	// too_many_attempts or too_old); it stays as a dead letter the
	// administrator lists.
	MailDead = "mail.dead"
)

// Password reset events. Subject is the user (never the typed address of
// an unknown account).
const (
	// PasswordResetSent: a reset link was made and handed to the outbox
	// for the person (Actor system).
	PasswordResetSent = "password_reset.sent"
	// PasswordResetCompleted: the person set a new password through a
	// link; their other sessions ended and sign-in failures were cleared.
	PasswordResetCompleted = "password_reset.completed"
)

// E-mail verification events; Subject is the user.
const (
	// EmailVerificationSent: a verification link was made and handed to
	// the outbox (Actor system).
	EmailVerificationSent = "email.verification_sent"
	// EmailVerified: the person confirmed their address through a link
	// (Details: email).
	EmailVerified = "email.verified"
	// EmailChangeRequested: a signed-in person asked to change their
	// address (Details: outcome "sent", or "taken" when the address
	// belongs to another account and no link went out: its owner is told
	// instead, EmailClaimNoticeSent).
	EmailChangeRequested = "email.change_requested"
	// EmailChanged: the person confirmed the link sent to the new address
	// (Details: previous_email, email, sessions_ended — their other
	// sessions, which ended).
	EmailChanged = "email.changed"
	// EmailClaimNoticeSent: the owner of an address someone else asked to
	// change their account to was told by e-mail (Actor system, Subject
	// the owner; at most one notice per address a day).
	EmailClaimNoticeSent = "email.claim_notice_sent"
)

// Self-service sign-up events.
const (
	// SignupRequested: a sign-up link was e-mailed (Actor system; Subject
	// empty: no account exists yet).
	SignupRequested = "signup.link_sent"
	// SignupExisting: someone tried to sign up with the address of an
	// account; its owner was told by e-mail (Subject the user).
	SignupExisting = "signup.existing_account"
	// SignupCompleted: the person opened the link and the account was
	// made (Subject the new user).
	SignupCompleted = "signup.completed"
)
