package login

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"slices"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/gatehouse-dev/gatehouse/internal/reqctx"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/audit"
	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// SecondFactorOptions say when sign-in asks for a second factor beyond
// the person's own choice (a person with a second factor is always asked
// for it) and the requests' (a client's require_mfa, acr_values).
type SecondFactorOptions struct {
	// RequireAll asks everyone; a person without a second factor enrols
	// one before continuing.
	RequireAll bool
	// RequireAdmins asks everyone with the admin role.
	RequireAdmins bool
	// Issuer names the service in authenticator apps (the otpauth URI's
	// issuer, Key URI Format).
	Issuer string
	// Passkeys says passkeys are on (the passkey service runs): a
	// person's usable passkey is then a second factor
	// (SecondFactorPasskey).
	Passkeys bool
}

// Second-factor methods a person may have (the page lists them in this
// order). A passkey (WebAuthn assertion, package passkey) is checked by
// the handler through passkey.Service; this package only offers it and
// audits its success (PasskeySecondFactorSucceeded).
const (
	SecondFactorPasskey      = "passkey"
	SecondFactorTOTP         = "totp"
	SecondFactorRecoveryCode = "recovery_code"
)

// RecoveryCodeCount is how many recovery codes a person gets at a time.
const RecoveryCodeCount = 10

// The TOTP parameters (RFC 6238 §4, §5.2): 30-second steps, six digits,
// HMAC-SHA-1 — what every authenticator app implements (the Key URI
// Format's defaults; several apps ignore other values) — and one step of
// clock skew either way.
const (
	totpPeriod = 30
	totpSkew   = 1
)

var totpOpts = totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// Keyring purposes of the second factors.
const (
	purposeTOTPSecret    = "totp-secret"
	purposeRecoveryCode  = "recovery-code"
	purposePendingSignIn = "pending-second-factor"
)

// Errors of the second factors. ErrWrongSecondFactor is the one answer for
// a wrong, replayed or locked-out code: the page tells nothing more.
var (
	ErrWrongSecondFactor  = errors.New("login: wrong or already used code")
	ErrTOTPEnrolled       = errors.New("login: an authenticator is already set up")
	ErrNoTOTPEnrolment    = errors.New("login: no authenticator is being set up")
	ErrNotReauthenticated = errors.New("login: neither a current code nor the password was given")
)

// TOTPEnrolment is an authenticator being set up: what the page shows.
type TOTPEnrolment struct {
	// Secret is the base32 shared key, for typing in by hand.
	Secret string
	// URL is the otpauth:// URI (Key URI Format) the QR code holds.
	URL string
	// QRCode is the PNG of the QR code.
	QRCode []byte
}

// SecondFactorStatus is what a person has set up.
type SecondFactorStatus struct {
	TOTP bool
	// Enrolling: an authenticator is set up but not yet confirmed.
	Enrolling         bool
	RecoveryCodesLeft int
	TOTPConfirmedAt   time.Time
}

// HasSecondFactor reports whether the person has a confirmed second
// factor (today a TOTP authenticator; passkeys add theirs).
func (s *Service) HasSecondFactor(ctx context.Context, userID string) (bool, error) {
	t, err := s.store.UserTOTP(ctx, userID)
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	return !t.ConfirmedAt.IsZero(), nil
}

// SecondFactorMethods lists the second factors the person can use now, in
// the order the second-factor page offers them: a passkey first (the
// phishing-resistant one, WebAuthn §13.4.9), when passkeys are on and the
// person has one not marked possibly cloned (such a passkey is refused at
// every ceremony until removed, so offering it would only fail), then the
// authenticator app and its recovery codes.
func (s *Service) SecondFactorMethods(ctx context.Context, userID string) ([]string, error) {
	st, err := s.SecondFactorStatus(ctx, userID)
	if err != nil {
		return nil, err
	}
	var out []string
	if s.mfa.Passkeys {
		keys, err := s.store.PasskeysOfUser(ctx, userID)
		if err != nil {
			return nil, err
		}
		if slices.ContainsFunc(keys, func(p *storage.Passkey) bool { return !p.CloneWarning }) {
			out = append(out, SecondFactorPasskey)
		}
	}
	if st.TOTP {
		out = append(out, SecondFactorTOTP)
		// Recovery codes stand in for the authenticator: offered whenever
		// one is set up, also with none left (the form then fails like a
		// wrong code, which tells nothing an attacker could use).
		out = append(out, SecondFactorRecoveryCode)
	}
	return out, nil
}

// SecondFactorStatus describes the person's second factors.
func (s *Service) SecondFactorStatus(ctx context.Context, userID string) (*SecondFactorStatus, error) {
	st := &SecondFactorStatus{}
	t, err := s.store.UserTOTP(ctx, userID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
	case err != nil:
		return nil, err
	default:
		st.TOTP = !t.ConfirmedAt.IsZero()
		st.Enrolling = !st.TOTP
		st.TOTPConfirmedAt = t.ConfirmedAt
	}
	if st.TOTP {
		if st.RecoveryCodesLeft, err = s.store.RecoveryCodesLeft(ctx, userID); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// sealTOTPSecret binds the secret to its person: a sealed value copied to
// another person's row does not open.
func (s *Service) sealTOTPSecret(userID, key string) ([]byte, error) {
	return s.ring.Seal(purposeTOTPSecret, []byte(userID+"\x00"+key))
}

func (s *Service) openTOTPSecret(t *storage.TOTP) (string, error) {
	pt, err := s.ring.Open(purposeTOTPSecret, t.Secret)
	if err != nil {
		return "", err
	}
	user, key, ok := strings.Cut(string(pt), "\x00")
	if !ok || user != t.UserID {
		return "", secret.ErrOpen
	}
	return key, nil
}

// BeginTOTPEnrolment starts setting up an authenticator for u (replacing
// one being set up), or returns the one being set up when resume is true.
// The secret is stored sealed and unconfirmed until ConfirmTOTP.
func (s *Service) BeginTOTPEnrolment(ctx context.Context, u *storage.User, resume bool) (*TOTPEnrolment, error) {
	t, err := s.store.UserTOTP(ctx, u.ID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		t = nil
	case err != nil:
		return nil, err
	case !t.ConfirmedAt.IsZero():
		return nil, ErrTOTPEnrolled
	}
	var key *otp.Key
	if resume && t != nil {
		raw, err := s.openTOTPSecret(t)
		if err == nil {
			key, err = totp.Generate(totp.GenerateOpts{Issuer: s.mfa.Issuer, AccountName: accountName(u), Secret: mustBase32(raw)})
			if err != nil {
				return nil, err
			}
		}
	}
	if key == nil {
		// 20 random bytes: RFC 4226 §4 R6 recommends 160 bits.
		key, err = totp.Generate(totp.GenerateOpts{Issuer: s.mfa.Issuer, AccountName: accountName(u), SecretSize: 20, Rand: rand.Reader})
		if err != nil {
			return nil, fmt.Errorf("login: new TOTP key: %w", err)
		}
		sealed, err := s.sealTOTPSecret(u.ID, key.Secret())
		if err != nil {
			return nil, err
		}
		if err := s.store.SaveTOTP(ctx, &storage.TOTP{UserID: u.ID, Secret: sealed, CreatedAt: s.now().UTC()}); err != nil {
			return nil, err
		}
	}
	img, err := key.Image(256, 256)
	if err != nil {
		return nil, fmt.Errorf("login: QR code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("login: QR code: %w", err)
	}
	return &TOTPEnrolment{Secret: key.Secret(), URL: key.URL(), QRCode: buf.Bytes()}, nil
}

func accountName(u *storage.User) string {
	if u.Email != "" {
		return u.Email
	}
	return u.ID
}

// b32 is the encoding of TOTP secrets (RFC 4648 base32 without padding,
// as the Key URI Format writes them).
var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// mustBase32 decodes a secret we encoded ourselves (pquerna/otp wants the
// raw bytes to rebuild the key of an enrolment in progress).
func mustBase32(s string) []byte {
	b, err := b32.DecodeString(strings.ToUpper(s))
	if err != nil {
		return nil
	}
	return b
}

// ConfirmTOTP checks the first code of the authenticator being set up and,
// when it is right, confirms it and returns the person's new recovery
// codes (shown once). Wrong codes count like failed sign-ins.
func (s *Service) ConfirmTOTP(ctx context.Context, u *storage.User, code, deviceCookie string) ([]string, error) {
	t, err := s.store.UserTOTP(ctx, u.ID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, ErrNoTOTPEnrolment
	} else if err != nil {
		return nil, err
	}
	if !t.ConfirmedAt.IsZero() {
		return nil, ErrTOTPEnrolled
	}
	key, err := s.openTOTPSecret(t)
	if err != nil {
		return nil, ErrNoTOTPEnrolment
	}
	var step int64
	err = s.throttled(ctx, u, deviceCookie, "totp", func(now time.Time) (bool, error) {
		var ok bool
		step, ok = matchTOTP(key, code, now, 0)
		return ok, nil
	})
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	if err := s.store.ConfirmTOTP(ctx, u.ID, step, now); errors.Is(err, storage.ErrNotFound) {
		return nil, ErrNoTOTPEnrolment
	} else if err != nil {
		return nil, err
	}
	codes, err := s.newRecoveryCodes(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	s.auditUser(ctx, audit.MFAEnrolled, u.ID, nil)
	return codes, nil
}

// matchTOTP finds the time-step, within totpSkew steps of now and after
// last, whose code is code (RFC 6238 §5.2: a validation window of one step
// either way for clock drift), comparing in constant time.
func matchTOTP(key, code string, now time.Time, last int64) (int64, bool) {
	code = strings.TrimSpace(strings.ReplaceAll(code, " ", ""))
	if len(code) != 6 {
		return 0, false
	}
	cur := now.Unix() / totpPeriod
	for d := int64(-totpSkew); d <= totpSkew; d++ {
		step := cur + d
		if step <= last {
			continue
		}
		want, err := totp.GenerateCodeCustom(key, time.Unix(step*totpPeriod, 0), totpOpts)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return step, true
		}
	}
	return 0, false
}

// VerifySecondFactor checks a second factor of u (method: SecondFactorTOTP
// or SecondFactorRecoveryCode). A TOTP code is accepted once (RFC 6238
// §5.2): its step must come after the last accepted one, moved forward
// with a compare-and-set, so two instances never both accept it. A
// recovery code is used up atomically. Attempts are judged and counted by
// the same lockout as passwords (the account's record, or the known
// browser's): a locked account refuses every code unchecked, and each
// wrong code is a failed sign-in.
func (s *Service) VerifySecondFactor(ctx context.Context, u *storage.User, method, code, deviceCookie string) error {
	if len(code) > 64 {
		code = ""
	}
	return s.throttled(ctx, u, deviceCookie, method, func(now time.Time) (bool, error) {
		switch method {
		case SecondFactorTOTP:
			t, err := s.store.UserTOTP(ctx, u.ID)
			if errors.Is(err, storage.ErrNotFound) {
				return false, nil
			} else if err != nil {
				return false, err
			}
			if t.ConfirmedAt.IsZero() {
				return false, nil
			}
			key, err := s.openTOTPSecret(t)
			if err != nil {
				s.log.ErrorContext(ctx, "a TOTP secret does not open", "user_id", u.ID, "err", err)
				return false, nil
			}
			step, ok := matchTOTP(key, code, now, t.LastStep)
			if !ok {
				return false, nil
			}
			return s.store.AdvanceTOTPStep(ctx, u.ID, step)
		case SecondFactorRecoveryCode:
			return s.useRecoveryCode(ctx, u.ID, code, now)
		}
		return false, nil
	})
}

// throttled runs check, a second-factor check of u, under the password
// lockout (LockoutOptions): refused unchecked while the record is locked,
// a wrong answer counted as a failed sign-in, a right one clearing the
// record it was judged by. Every outcome is audited.
func (s *Service) throttled(ctx context.Context, u *storage.User, deviceCookie, method string, check func(now time.Time) (bool, error)) error {
	account := userAccount(u)
	now := s.now().UTC()
	key := storage.LoginThrottleKey{Account: account, Device: s.knownDevice(deviceCookie, account, now)}
	device := audit.LoginDeviceUnknown
	if key.Device != "" {
		device = audit.LoginDeviceKnown
	}
	subject := audit.UserSubject(u.ID)
	th, err := s.store.LoginThrottle(ctx, key)
	if errors.Is(err, storage.ErrNotFound) {
		th = nil
	} else if err != nil {
		return fmt.Errorf("login: read failed sign-ins: %w", err)
	}
	if th.Locked(now) {
		s.metrics.login(methodPassword, outcomeLocked)
		s.auditLogin(ctx, audit.LoginFailed, subject, map[string]string{
			"reason": audit.LoginReasonLocked, "device": device, "method": method,
			"locked_until": th.LockedUntil.UTC().Format(time.RFC3339),
		})
		return ErrWrongSecondFactor
	}
	ok, err := check(now)
	if err != nil {
		return err
	}
	if !ok {
		if err := s.loginFailed(ctx, key, subject, audit.LoginReasonWrongSecondFactor, device, s.now().UTC()); err != nil {
			return err
		}
		return ErrWrongSecondFactor
	}
	if th != nil {
		if _, err := s.store.ClearLoginThrottle(ctx, key); err != nil {
			s.log.ErrorContext(ctx, "clearing failed sign-ins after a second factor failed", "user_id", u.ID, "err", err)
		}
	}
	s.auditUser(ctx, audit.MFASucceeded, u.ID, map[string]string{"method": method, "device": device})
	return nil
}

// PasskeySecondFactorSucceeded audits a passkey verified as u's second
// factor (mfa.succeeded, method "passkey", as throttled audits a code).
//
// A passkey does not go through throttled: a failed WebAuthn assertion is
// not a guess at a secret. The private key never leaves the
// authenticator and the assertion is a signature over a fresh, single-use
// challenge (WebAuthn §13.4.3), so repeated attempts teach an attacker
// nothing; NIST SP 800-63B §5.2.2 rate-limits failed attempts because an
// authenticator output (a password, an OTP) can be guessed, which a
// signature cannot. Counting them would only let whoever has the password
// lock the person out faster. Failures are audited (login.failed, method
// passkey, by package passkey) and the routes are rate-limited per IP; a
// passkey whose counter went back is refused and audited there
// (passkey.clone_suspected).
func (s *Service) PasskeySecondFactorSucceeded(ctx context.Context, u *storage.User, deviceCookie string) {
	account := userAccount(u)
	device := audit.LoginDeviceUnknown
	if s.knownDevice(deviceCookie, account, s.now().UTC()) != "" {
		device = audit.LoginDeviceKnown
	}
	s.auditUser(ctx, audit.MFASucceeded, u.ID, map[string]string{"method": SecondFactorPasskey, "device": device})
}

// userAccount is the lockout record's account of u: the one its password
// sign-ins count on (Account of the e-mail), so that second-factor and
// password guesses share one budget.
func userAccount(u *storage.User) string {
	if u.Email != "" {
		return Account(u.Email)
	}
	return Account("user:" + u.ID)
}

// recoveryAlphabet avoids look-alikes (0/o, 1/l/i).
const recoveryAlphabet = "abcdefghjkmnpqrstuvwxyz23456789"

// newRecoveryCodes replaces u's recovery codes by RecoveryCodeCount new
// ones (50 bits each, "xxxxx-xxxxx") and returns them; only their keyed
// hashes are stored.
func (s *Service) newRecoveryCodes(ctx context.Context, userID string) ([]string, error) {
	codes := make([]string, RecoveryCodeCount)
	hashes := make([]string, RecoveryCodeCount)
	for i := range codes {
		b := make([]byte, 10)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		var sb strings.Builder
		for j, c := range b {
			if j == 5 {
				sb.WriteByte('-')
			}
			// 256 is not a multiple of 31; the slight bias costs a
			// fraction of a bit of the 49.5.
			sb.WriteByte(recoveryAlphabet[int(c)%len(recoveryAlphabet)])
		}
		codes[i] = sb.String()
		hashes[i] = recoveryHash(s.ring.Key(purposeRecoveryCode), userID, codes[i])
	}
	if err := s.store.ReplaceRecoveryCodes(ctx, userID, hashes, s.now().UTC()); err != nil {
		return nil, err
	}
	return codes, nil
}

// recoveryHash is the keyed hash (HMAC-SHA-256 under a key derived from
// the system secret) of a recovery code of userID, normalised (case,
// spaces and dashes do not matter): a stolen database does not give
// codes away, not even by brute force of their 50 bits.
func recoveryHash(key []byte, userID, code string) string {
	norm := strings.Map(func(r rune) rune {
		if r == '-' || r == ' ' {
			return -1
		}
		return r
	}, strings.ToLower(strings.TrimSpace(code)))
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(userID + "\x00" + norm))
	return hex.EncodeToString(mac.Sum(nil))
}

// useRecoveryCode uses up a recovery code, trying the hash under every
// configured secret (the codes survive a secret rotation).
func (s *Service) useRecoveryCode(ctx context.Context, userID, code string, now time.Time) (bool, error) {
	if strings.TrimSpace(code) == "" {
		return false, nil
	}
	for _, key := range s.ring.Keys(purposeRecoveryCode) {
		ok, err := s.store.UseRecoveryCode(ctx, userID, recoveryHash(key, userID, code), now)
		if err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

// RegenerateRecoveryCodes replaces u's recovery codes (the old ones stop
// working) and returns the new ones, to be shown once.
func (s *Service) RegenerateRecoveryCodes(ctx context.Context, u *storage.User) ([]string, error) {
	has, err := s.HasSecondFactor(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	if !has {
		return nil, ErrNoTOTPEnrolment
	}
	codes, err := s.newRecoveryCodes(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	s.auditUser(ctx, audit.MFARecoveryCodesRegenerated, u.ID, nil)
	return codes, nil
}

// RemoveTOTP removes u's authenticator and recovery codes once the person
// proved it is them again: a current code, or their password (for one
// who lost the authenticator but is still signed in). A wrong proof
// counts like a failed sign-in.
func (s *Service) RemoveTOTP(ctx context.Context, u *storage.User, code, password, deviceCookie string) error {
	switch {
	case code != "":
		if err := s.VerifySecondFactor(ctx, u, SecondFactorTOTP, code, deviceCookie); err != nil {
			return err
		}
	case password != "":
		if _, err := s.Authenticate(ctx, u.Email, password, deviceCookie); err != nil {
			return ErrWrongSecondFactor
		}
	default:
		return ErrNotReauthenticated
	}
	if _, err := s.store.DeleteSecondFactors(ctx, u.ID); err != nil {
		return err
	}
	s.auditUser(ctx, audit.MFARemoved, u.ID, nil)
	return nil
}

func (s *Service) auditUser(ctx context.Context, typ, userID string, details map[string]string) {
	s.audit.Record(ctx, audit.Event{
		Type: typ, Actor: audit.UserSubject(userID), Subject: audit.UserSubject(userID),
		IP: reqctx.ClientIP(ctx), Details: details,
	})
}

// SecondFactorRequired reports whether a sign-in of u for ar (nil outside
// an authorization request: the account pages) must have a second
// factor: u has one (then always), the operator asks it of everyone or of
// administrators, the client requires it (require_mfa), or the request
// asks for ACRMultiFactor in acr_values (OpenID Connect Core §3.1.2.1) or
// as an essential acr claim (§5.5.1.1).
func (s *Service) SecondFactorRequired(ctx context.Context, u *storage.User, ar fosite.AuthorizeRequester) (bool, error) {
	// "admin" is admin.RoleAdmin (which this package cannot import).
	if s.mfa.RequireAll || (s.mfa.RequireAdmins && slices.Contains(u.Roles, "admin")) {
		return true, nil
	}
	if ar != nil && RequestAsksSecondFactor(ar) {
		return true, nil
	}
	return s.HasSecondFactor(ctx, u.ID)
}

// RequestAsksSecondFactor reports whether the client or the request itself
// asks for a second factor (require_mfa, acr_values, an essential acr).
func RequestAsksSecondFactor(ar fosite.AuthorizeRequester) bool {
	if c, ok := provider.StorageClient(ar.GetClient()); ok && c.RequireMFA {
		return true
	}
	form := ar.GetRequestForm()
	// acr_values is a space-separated list in order of preference
	// (§3.1.2.1): MFA is asked for when it is among them (it also meets
	// whatever weaker class a client might list besides).
	if slices.Contains(strings.Fields(form.Get("acr_values")), provider.ACRMultiFactor) {
		return true
	}
	if cr, err := provider.ParseClaimsRequest(form.Get("claims")); err == nil && cr != nil {
		if req := cr.IDToken["acr"]; req != nil && req.Essential {
			if v, ok := req.Value.(string); ok && v == provider.ACRMultiFactor {
				return true
			}
			for _, v := range req.Values {
				if s, ok := v.(string); ok && s == provider.ACRMultiFactor {
					return true
				}
			}
		}
	}
	return false
}

// StepUp records on a signed-in session that its person just gave a second
// factor (its amr values, e.g. provider.AMROTP, or a passkey's hwk|swk and
// user): the session keeps its cookie, its sid and its apps, and now says
// amr … those, "mfa" and acr ACRMultiFactor (RFC 8176; OpenID Connect
// Core §2).
func (s *Service) StepUp(ctx context.Context, l *provider.Login, amr ...string) error {
	m := provider.LoginMethod{AMR: l.Session.AMR, ACR: l.Session.ACR}.WithSecondFactor(amr...)
	if err := s.store.SetLoginSessionMethods(ctx, l.Session.ID, m.AMR, m.ACR); err != nil {
		return err
	}
	l.Session.AMR, l.Session.ACR = m.AMR, m.ACR
	// (The factor itself was audited as it was checked: mfa.succeeded.)
	return nil
}

// PendingSignIn is a first factor given in this browser, waiting for the
// second: no session exists until the second factor is given.
type PendingSignIn struct {
	UserID   string    `json:"u"`
	AMR      []string  `json:"m"`
	ACR      string    `json:"a,omitempty"`
	AuthTime time.Time `json:"t"`
	Expires  time.Time `json:"e"`
}

// PendingSignInLifetime bounds how long a person may take between the
// first and the second factor.
const PendingSignInLifetime = 10 * time.Minute

// SealPendingSignIn returns the sealed value of a cookie that says this
// browser gave method's first factor as u now (and its expiry). The cookie
// alone signs nobody in.
func (s *Service) SealPendingSignIn(u *storage.User, method provider.LoginMethod) (string, time.Time, error) {
	now := s.now().UTC()
	p := PendingSignIn{UserID: u.ID, AMR: method.AMR, ACR: method.ACR, AuthTime: now.Truncate(time.Second), Expires: now.Add(PendingSignInLifetime)}
	b, err := json.Marshal(p)
	if err != nil {
		return "", time.Time{}, err
	}
	sealed, err := s.ring.Seal(purposePendingSignIn, b)
	if err != nil {
		return "", time.Time{}, err
	}
	return base64.RawURLEncoding.EncodeToString(sealed), p.Expires, nil
}

// OpenPendingSignIn opens a pending sign-in cookie and loads its person;
// nil (no error) when it is missing, forged, expired, or its person is
// gone or disabled.
func (s *Service) OpenPendingSignIn(ctx context.Context, value string) (*PendingSignIn, *storage.User, error) {
	if value == "" || len(value) > 2048 {
		return nil, nil, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil {
		return nil, nil, nil
	}
	pt, err := s.ring.Open(purposePendingSignIn, raw)
	if err != nil {
		return nil, nil, nil
	}
	var p PendingSignIn
	if json.Unmarshal(pt, &p) != nil || !s.now().Before(p.Expires) {
		return nil, nil, nil
	}
	u, err := s.store.UserByID(ctx, p.UserID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil, nil
	} else if err != nil {
		return nil, nil, err
	}
	if u.Disabled {
		return nil, nil, nil
	}
	return &p, u, nil
}
