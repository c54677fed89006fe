package login

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/provider/audit"
	gmail "github.com/gatehouse-dev/gatehouse/provider/mail"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// Setting up a first second factor when one is required (the operator
// requires it of everyone or of admins, a client or the request asks) and
// the person has none: the page would otherwise trust whoever gave the
// first factor to set it up (trust on first use), so a stolen password
// would be enough to enrol the thief's authenticator and pass every
// later MFA check. Before the authenticator is shown, the person proves
// they read the account's mail: a code goes to the account's address and
// must be typed back (NIST SP 800-63B §6.1.2.1: binding an additional
// authenticator requires the subscriber to authenticate at the AAL
// sought, or to prove control of an address of record; OWASP MFA Cheat
// Sheet, "Enrolling"). Wrong codes count on the account's lockout record
// like wrong TOTP codes (Service.throttled), so the code's 10^8 values
// cannot be guessed. A code received at the address also proves the
// address, which then counts as verified.
//
// The code is derived, not stored: a MAC of the person and a random nonce
// held in a sealed, short-lived cookie (EnrolmentProof), so any instance
// can check it and nothing is left in the database.

// MailKindEnrolmentCode names the deferred e-mail with the code.
const MailKindEnrolmentCode = "mfa_enrolment_code"

// EnrolmentProofLifetime bounds how long the code works.
const EnrolmentProofLifetime = 15 * time.Minute

// EnrolmentResendAfter is how long the page waits before it sends a new
// code on request (so reloading cannot flood the mailbox).
const EnrolmentResendAfter = time.Minute

const (
	purposeEnrolmentProof = "mfa-enrolment-proof"
	purposeEnrolmentCode  = "mfa-enrolment-code"
	enrolmentCodeDigits   = 8
	// secondFactorEmailCode is the method the lockout record and the
	// audit name a code typed back from e-mail by.
	secondFactorEmailCode = "enrolment_email_code"
)

// ErrNoAddress: the account has no e-mail address to prove, so a second
// factor can only be set up by an administrator's hand.
var ErrNoAddress = errors.New("login: the account has no e-mail address to send a code to")

// EnrolmentProof is the sealed cookie of a proof under way or done.
type EnrolmentProof struct {
	UserID  string    `json:"u"`
	Email   string    `json:"m"` // the address the code went to
	Nonce   string    `json:"n"`
	SentAt  time.Time `json:"s"`
	Proven  bool      `json:"p,omitempty"`
	Expires time.Time `json:"e"`
}

// EnrolmentProofOptions configure EnrolmentProofs. All but Logger and Now
// are required.
type EnrolmentProofOptions struct {
	SignIn    *Service
	Mail      Mailer
	Templates *gmail.Templates
	Now       func() time.Time
	Logger    *slog.Logger
}

// EnrolmentProofs sends and checks the codes.
type EnrolmentProofs struct {
	o EnrolmentProofOptions
}

// NewEnrolmentProofs registers the code's composer with the outbox.
func NewEnrolmentProofs(o EnrolmentProofOptions) (*EnrolmentProofs, error) {
	if o.SignIn == nil || o.Mail == nil || o.Templates == nil {
		return nil, errors.New("login: enrolment proofs need SignIn, Mail and Templates")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	p := &EnrolmentProofs{o: o}
	o.Mail.Register(MailKindEnrolmentCode, p.compose)
	return p, nil
}

// Open returns the proof a cookie holds for u: nil when the cookie is
// missing, forged, expired, or another person's or another address's.
func (p *EnrolmentProofs) Open(u *storage.User, value string) *EnrolmentProof {
	if value == "" || len(value) > 2048 {
		return nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil {
		return nil
	}
	pt, err := p.o.SignIn.ring.Open(purposeEnrolmentProof, raw)
	if err != nil {
		return nil
	}
	var pr EnrolmentProof
	if json.Unmarshal(pt, &pr) != nil || pr.UserID != u.ID || pr.Email != u.Email || !p.o.Now().Before(pr.Expires) {
		return nil
	}
	return &pr
}

// Seal returns a proof's cookie value.
func (p *EnrolmentProofs) Seal(pr *EnrolmentProof) (string, error) {
	b, err := json.Marshal(pr)
	if err != nil {
		return "", err
	}
	sealed, err := p.o.SignIn.ring.Seal(purposeEnrolmentProof, b)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(sealed), nil
}

// Send queues a new code to u's address and returns the proof to keep in
// the cookie. The caller keeps to EnrolmentResendAfter between sends.
func (p *EnrolmentProofs) Send(ctx context.Context, u *storage.User) (*EnrolmentProof, error) {
	if u.Email == "" {
		return nil, ErrNoAddress
	}
	nonce := make([]byte, 16)
	_, _ = rand.Read(nonce)
	now := p.o.Now().UTC()
	pr := &EnrolmentProof{
		UserID: u.ID, Email: u.Email, Nonce: base64.RawURLEncoding.EncodeToString(nonce),
		SentAt: now, Expires: now.Add(EnrolmentProofLifetime),
	}
	if _, err := p.o.Mail.Defer(ctx, MailKindEnrolmentCode, u.Email, "Your code to set up a second step",
		map[string]string{"user_id": u.ID, "nonce": pr.Nonce}); err != nil {
		return nil, err
	}
	return pr, nil
}

// code is the code of a proof: the first digits of a MAC of the person
// and the nonce.
func (p *EnrolmentProofs) code(userID, nonce string) string {
	mac := p.o.SignIn.ring.MAC(purposeEnrolmentCode, []byte(userID+"\x00"+nonce))
	return fmt.Sprintf("%0*d", enrolmentCodeDigits, binary.BigEndian.Uint64(mac[:8])%100_000_000)
}

// compose makes the message when the outbox sends it; dropped when the
// person is gone, disabled, or no longer has that address.
func (p *EnrolmentProofs) compose(ctx context.Context, to string, data map[string]string) (gmail.Message, bool, error) {
	u, err := p.o.SignIn.store.UserByID(ctx, data["user_id"])
	if errors.Is(err, storage.ErrNotFound) {
		return gmail.Message{}, false, nil
	} else if err != nil {
		return gmail.Message{}, false, err
	}
	if u.Disabled || u.Email != to {
		return gmail.Message{}, false, nil
	}
	m, err := p.o.Templates.Render(gmail.EnrolmentCode, to, gmail.Data{
		Email: to, Code: p.code(u.ID, data["nonce"]), Expires: "15 minutes",
	})
	return m, err == nil, err
}

// Prove checks a code typed back for u's proof pr. Wrong ones are failed
// sign-ins on the account's lockout record (ErrWrongSecondFactor); the
// right one returns the proof marked proven, and makes an unverified
// address verified (the person just read mail sent to it).
func (p *EnrolmentProofs) Prove(ctx context.Context, u *storage.User, pr *EnrolmentProof, code, deviceCookie string) (*EnrolmentProof, error) {
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	err := p.o.SignIn.throttled(ctx, u, deviceCookie, secondFactorEmailCode, func(time.Time) (bool, error) {
		want := p.code(u.ID, pr.Nonce)
		return len(code) == len(want) && subtle.ConstantTimeCompare([]byte(code), []byte(want)) == 1, nil
	})
	if err != nil {
		return nil, err
	}
	if !u.EmailVerified {
		u.EmailVerified = true
		u.UpdatedAt = p.o.Now().UTC()
		if err := p.o.SignIn.store.UpdateUser(ctx, u); err != nil {
			return nil, err
		}
		p.o.SignIn.auditUser(ctx, audit.EmailVerified, u.ID, map[string]string{"email": u.Email})
	}
	proven := *pr
	proven.Proven = true
	return &proven, nil
}

// MaskEmail shows enough of an address for its owner to recognise it
// ("a•••@example.com") and no more, on a page a first factor reached.
func MaskEmail(email string) string {
	at := strings.LastIndexByte(email, '@')
	if at <= 0 {
		return "•••"
	}
	return email[:1] + "•••" + email[at:]
}
