package login

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/reqctx"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/audit"
	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// ErrInvalidCredentials is the one answer for an unknown e-mail, a wrong
// password, a disabled account and a locked account, so sign-in reveals
// nothing about which accounts exist or are locked.
var ErrInvalidCredentials = errors.New("login: invalid e-mail or password")

// LockoutOptions back off password guessing. Failures are counted
// per account (the typed e-mail, whether or not an account has it) for
// browsers unknown to it, and per browser for a browser that has signed in
// to the account before (a device cookie, see RememberDevice), so
// guessing from elsewhere never locks the owner's own browsers out.
// MaxFailures failures lock the record for Lockout; once the lock ends the
// count starts over, and each lock in a row lasts twice as long as the one
// before, up to MaxLockout. After FailureReset without a failure (and
// after the end of the last lock) everything starts over. A successful
// sign-in clears the record it was judged by; an unlock or a password
// reset clears the account's record and all its browsers'. The state is in
// the database, so it holds across instances.
type LockoutOptions struct {
	MaxFailures  int
	Lockout      time.Duration
	MaxLockout   time.Duration
	FailureReset time.Duration
}

// DefaultLockout is what zero LockoutOptions fields take (the
// configuration's defaults).
func DefaultLockout() LockoutOptions {
	return LockoutOptions{MaxFailures: 5, Lockout: time.Minute, MaxLockout: time.Hour, FailureReset: 24 * time.Hour}
}

func (o LockoutOptions) withDefaults() LockoutOptions {
	d := DefaultLockout()
	if o.MaxFailures <= 0 {
		o.MaxFailures = d.MaxFailures
	}
	if o.Lockout <= 0 {
		o.Lockout = d.Lockout
	}
	if o.MaxLockout <= 0 {
		o.MaxLockout = max(d.MaxLockout, o.Lockout)
	}
	if o.FailureReset <= 0 {
		o.FailureReset = d.FailureReset
	}
	return o
}

func (o LockoutOptions) policy() storage.LoginLockPolicy {
	return storage.LoginLockPolicy{
		MaxFailures: o.MaxFailures, Lockout: o.Lockout, MaxLockout: o.MaxLockout, FailureReset: o.FailureReset,
	}
}

// Account is the key of an e-mail's failed sign-ins: the hex SHA-256
// of the trimmed, lower-cased e-mail. Hashing keeps what was typed for an
// account that does not exist out of the database.
func Account(email string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(email))))
	return hex.EncodeToString(sum[:])
}

// loginSubject names the account of a sign-in in audit events: the user
// when there is one, else a prefix of the account hash (never the typed
// e-mail of an unknown account).
func loginSubject(u *storage.User, account string) string {
	if u != nil {
		return audit.UserSubject(u.ID)
	}
	return "account:" + account[:16]
}

// Authenticate checks an e-mail and password from a browser that
// presented deviceCookie (its device cookie, "" for none). Unknown
// accounts are checked against a dummy hash, so both failures cost the
// same argon2id time. Every attempt is audited, with whether the browser
// was known to the account.
//
// A browser whose device cookie knows the account is judged by its own
// failure record only; any other is judged by the account's record (see
// LockoutOptions). While the record is locked the password is not
// checked at all and the answer is ErrInvalidCredentials too, so a locked
// account looks like a wrong password.
//
// Attempts during a lock are not counted, and a lock takes MaxFailures
// new failures after the last one ended: otherwise anyone who knows an
// e-mail could keep its owner locked out with a request per lock period.
// Guessing is bounded all the same: at most MaxFailures guesses per lock,
// each lock in a row twice as long as the last.
func (s *Service) Authenticate(ctx context.Context, email, password, deviceCookie string) (*storage.User, error) {
	email = strings.TrimSpace(email)
	if email == "" || password == "" || len(email) > 320 || len(password) > secret.MaxPasswordLen {
		// Not a guess (the form cannot send this): not counted.
		subject := ""
		if email != "" {
			subject = loginSubject(nil, Account(email))
		}
		s.metrics.login(methodPassword, outcomeFailed)
		s.auditLogin(ctx, audit.LoginFailed, subject, map[string]string{"reason": audit.LoginReasonInvalidInput})
		return nil, ErrInvalidCredentials
	}
	account := Account(email)
	now := s.now().UTC()
	key := storage.LoginThrottleKey{Account: account, Device: s.knownDevice(deviceCookie, account, now)}
	device := audit.LoginDeviceUnknown
	if key.Device != "" {
		device = audit.LoginDeviceKnown
	}
	throttle, err := s.store.LoginThrottle(ctx, key)
	if errors.Is(err, storage.ErrNotFound) {
		throttle = nil
	} else if err != nil {
		return nil, fmt.Errorf("login: read failed sign-ins: %w", err)
	}
	u, err := s.store.UserByEmail(ctx, email)
	if errors.Is(err, storage.ErrNotFound) {
		u = nil
	} else if err != nil {
		return nil, err
	}
	subject := loginSubject(u, account)

	if throttle.Locked(now) {
		// The password is not checked (a right guess must not be told
		// apart), but the dummy hash costs what a check would.
		if _, err := s.verifyPassword(ctx, secret.DummyPasswordHash(), password); errors.Is(err, errNoHashSlot) {
			return nil, err
		}
		s.metrics.login(methodPassword, outcomeLocked)
		s.auditLogin(ctx, audit.LoginFailed, subject, map[string]string{
			"reason": audit.LoginReasonLocked, "device": device,
			"locked_until": throttle.LockedUntil.UTC().Format(time.RFC3339),
		})
		return nil, ErrInvalidCredentials
	}

	hash := secret.DummyPasswordHash()
	if u != nil && u.PasswordHash != "" {
		hash = u.PasswordHash
	}
	ok, verr := s.verifyPassword(ctx, hash, password)
	if errors.Is(verr, errNoHashSlot) {
		// Not a verdict on the password: nothing is counted.
		return nil, verr
	}
	reason := ""
	switch {
	case u == nil:
		reason = audit.LoginReasonUnknownAccount
	case u.PasswordHash == "":
		reason = audit.LoginReasonNoPassword
	case verr != nil:
		s.log.ErrorContext(ctx, "stored password hash is unreadable", "user_id", u.ID, "err", verr)
		reason = audit.LoginReasonNoPassword
	case !ok:
		reason = audit.LoginReasonWrongPassword
	case u.Disabled:
		reason = audit.LoginReasonDisabled
	}
	if reason != "" {
		// Every failure counts alike, whatever its reason: an account
		// that locks differently would tell which e-mails exist.
		// The lock starts now, after the slow hash, not when the attempt
		// came in: it must last its full length.
		if err := s.loginFailed(ctx, key, subject, reason, device, s.now().UTC()); err != nil {
			return nil, err
		}
		return nil, ErrInvalidCredentials
	}

	// The success clears only the record it was judged by. A known
	// browser's success leaves the account-wide record alone: that record
	// is what an attacker guessing from unknown browsers has built, and
	// clearing it whenever the owner signs in from their usual browser
	// would hand the attacker a fresh set of guesses each time. A success
	// from an unknown browser was judged by, and clears, the account-wide
	// record: the person proved the password there.
	//
	// A person with a second factor has proved only half: the record is
	// cleared when the second factor is right too (VerifySecondFactor),
	// or a password holder could guess codes forever, clearing the count
	// with the password between every few guesses.
	hasSecond := false
	if throttle != nil {
		if hasSecond, err = s.HasSecondFactor(ctx, u.ID); err != nil {
			return nil, err
		}
	}
	if throttle != nil && !hasSecond {
		if _, err := s.store.ClearLoginThrottle(ctx, key); err != nil {
			// The person proved the password; a leftover count only brings
			// a later lock closer, so the sign-in goes ahead.
			s.log.ErrorContext(ctx, "clearing failed sign-ins after a successful one failed", "user_id", u.ID, "err", err)
		}
	}
	s.metrics.login(methodPassword, outcomeSucceeded)
	s.audit.Record(ctx, audit.Event{
		Type: audit.LoginSucceeded, Actor: subject, Subject: subject, IP: reqctx.ClientIP(ctx),
		Details: map[string]string{"device": device},
	})
	return u, nil
}

// loginFailed counts a failed sign-in on the record of key and audits it,
// and the lock it caused. A failure that cannot be counted is an error
// (the caller answers 503): a database that takes no writes must not allow
// unbounded guessing behind a normal-looking "wrong password".
func (s *Service) loginFailed(ctx context.Context, key storage.LoginThrottleKey, subject, reason, device string, now time.Time) error {
	th, counted, err := s.store.RecordLoginFailure(ctx, key, now, s.lockout.policy())
	details := map[string]string{"reason": reason, "device": device}
	if err == nil {
		details["failures"] = strconv.Itoa(th.Failures)
	}
	s.metrics.login(methodPassword, outcomeFailed)
	s.auditLogin(ctx, audit.LoginFailed, subject, details)
	if err != nil {
		return fmt.Errorf("login: count failed sign-in: %w", err)
	}
	if counted && th.Locked(now) {
		s.metrics.lockouts.Inc()
		s.auditLogin(ctx, audit.LoginLocked, subject, map[string]string{
			"locked_until": th.LockedUntil.UTC().Format(time.RFC3339), "failures": strconv.Itoa(th.Failures),
			"locks": strconv.Itoa(th.Locks), "device": device,
		})
	}
	return nil
}

// auditLogin records a password sign-in event of someone not (yet)
// signed in.
func (s *Service) auditLogin(ctx context.Context, typ, subject string, details map[string]string) {
	s.audit.Record(ctx, audit.Event{Type: typ, Actor: "anonymous", Subject: subject, IP: reqctx.ClientIP(ctx), Details: details})
}

// Start creates a browser session for u, signed in by method, and
// returns the handle for the cookie (only its hash is stored).
func (s *Service) Start(ctx context.Context, u *storage.User, authTime time.Time, method provider.LoginMethod) (string, *provider.Login, error) {
	handle, err := secret.NewHandle()
	if err != nil {
		return "", nil, err
	}
	// The sid is drawn apart from the cookie: relying parties see it (ID
	// and logout tokens, front-channel URLs), and it must lead nowhere
	// near the cookie or its hash (the session's key).
	sid, err := secret.NewHandle()
	if err != nil {
		return "", nil, err
	}
	now := s.now().UTC()
	sess := &storage.LoginSession{
		ID:        secret.HashHandle(handle),
		UserID:    u.ID,
		AuthTime:  authTime.UTC().Truncate(time.Second),
		ExpiresAt: now.Add(s.sessionLifespan),
		CreatedAt: now,
		AMR:       method.AMR,
		ACR:       method.ACR,
		SID:       sid,
		UserAgent: userAgent(reqctx.UserAgent(ctx)),
		IP:        reqctx.ClientIP(ctx),
	}
	if err := s.store.CreateLoginSession(ctx, sess); err != nil {
		return "", nil, fmt.Errorf("login: create login session: %w", err)
	}
	return handle, &provider.Login{Session: sess, User: u}, nil
}

// Current resolves a cookie handle. It returns (nil, nil) when the
// handle is empty, unknown, expired, or its user is gone or disabled.
func (s *Service) Current(ctx context.Context, handle string) (*provider.Login, error) {
	if handle == "" || len(handle) > 100 {
		return nil, nil
	}
	sess, err := s.store.LoginSession(ctx, secret.HashHandle(handle))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	u, err := s.store.UserByID(ctx, sess.UserID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	if u.Disabled {
		return nil, nil
	}
	return &provider.Login{Session: sess, User: u}, nil
}

// End ends the browser session behind a cookie handle (its person signs
// out there) and tells the apps that got tokens in it (Sessions.End). It
// returns the ended session, or nil when there was none to end (unknown,
// expired, or ended meanwhile).
func (s *Service) End(ctx context.Context, handle string) (*EndedSession, error) {
	if handle == "" || len(handle) > 100 {
		return nil, nil
	}
	id := secret.HashHandle(handle)
	ls, err := s.store.LoginSession(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		// Expired: nobody is signed in there any more; the row goes.
		return nil, s.store.DeleteLoginSession(ctx, id)
	} else if err != nil {
		return nil, err
	}
	ended, err := s.sessions.End(ctx, ls, audit.UserSubject(ls.UserID), audit.SessionEndedByLogout)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	return ended, err
}

// maxUserAgentLen bounds the User-Agent kept with a session: it is the
// browser's to choose.
const maxUserAgentLen = 300

// userAgent is ua made fit to keep and show: valid UTF-8 without control
// characters, at most maxUserAgentLen bytes.
func userAgent(ua string) string {
	ua = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, strings.ToValidUTF8(ua, ""))
	if len(ua) > maxUserAgentLen {
		ua = strings.ToValidUTF8(ua[:maxUserAgentLen], "")
	}
	return ua
}

// errNoHashSlot: the request ended while waiting for a password check; the
// server is saturated with sign-ins (503, nothing counted).
var errNoHashSlot = fmt.Errorf("login: no free password check before the request ended: %w", storage.ErrUnavailable)

// verifyPassword checks a password once a hashing slot is free. Each
// argon2id check holds 19 MiB and ~20 ms of a core: without a bound, a
// burst of sign-ins (or an attacker's, from many addresses) takes memory
// in proportion to the concurrency — 64 at once is over a gigabyte. The
// slots (hashSlots, two per core) bound that; the rest wait their turn
// until their request's deadline.
func (s *Service) verifyPassword(ctx context.Context, phc, password string) (bool, error) {
	select {
	case s.hashSlots <- struct{}{}:
	case <-ctx.Done():
		return false, errNoHashSlot
	}
	defer func() { <-s.hashSlots }()
	return secret.VerifyPassword(phc, password)
}
