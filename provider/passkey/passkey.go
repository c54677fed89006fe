// Package passkey signs people in with passkeys: WebAuthn Level 3
// registration and authentication ceremonies (github.com/go-webauthn/webauthn
// verifies them), the passkeys a person keeps on their account, and the
// assertion check another sign-in step can use as a second factor
// (BeginSecondFactor, FinishSecondFactor).
//
// A ceremony's state (its challenge, WebAuthn §13.4.3) is kept in the
// database between the begin and the finish, so that any instance can
// finish what another began; it is used once and lives ChallengeLifetime.
// The browser holds a random handle to it (the caller puts it in a
// cookie), so a ceremony is bound to the browser that began it. Nothing on
// these paths hashes a password: a passkey sign-in costs no argon2id.
package passkey

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/uuid"

	"github.com/gatehouse-dev/gatehouse/internal/reqctx"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/audit"
	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// Store is the storage passkeys need.
type Store interface {
	storage.PasskeyStore
	UserByID(ctx context.Context, id string) (*storage.User, error)
	FederatedIdentitiesOfUser(ctx context.Context, userID string) ([]*storage.FederatedIdentity, error)
}

// DefaultChallengeLifetime is how long a ceremony may take between its
// begin and its finish.
const DefaultChallengeLifetime = 5 * time.Minute

// Authentication method references (RFC 8176 §2) and the
// authentication context class of a passkey sign-in.
const (
	// AMRHardwareKey: proof of possession of a hardware-secured key.
	AMRHardwareKey = "hwk"
	// AMRSoftwareKey: proof of possession of a software-secured key.
	AMRSoftwareKey = "swk"
	// AMRUser: the authenticator verified the person (a PIN or a
	// biometric; WebAuthn §6.2.3 user verification), and AMRMFA: the
	// possession of the key plus that verification are two factors.
	AMRUser = "user"
	AMRMFA  = "mfa"
)

// The ceremony kinds: a finish takes only a ceremony of its own kind.
const (
	kindRegister     = "passkey.register"
	kindLogin        = "passkey.login"
	kindSecondFactor = "passkey.second_factor"
)

// Audit event types.
const (
	AuditRegistered    = "passkey.registered"
	AuditRenamed       = "passkey.renamed"
	AuditRemoved       = "passkey.removed"
	AuditCloneSuspects = "passkey.clone_suspected"
	// Login failures are login.failed with one of these reasons.
	reasonCeremony          = "passkey_ceremony"
	reasonUnknownCredential = "passkey_unknown_credential"
	reasonCloned            = "passkey_possibly_cloned"
	reasonInvalid           = "passkey_invalid"
)

var (
	// ErrFailed is the one answer of a sign-in that did not verify: an
	// unknown, expired or used ceremony, an unknown credential, a bad
	// signature, a disabled account. It says nothing about which.
	ErrFailed = errors.New("passkey: the passkey could not be verified")
	// ErrPossiblyCloned refuses an assertion whose signature counter did
	// not increase (WebAuthn §6.1.1): the passkey may have been copied.
	// Callers show the person ErrFailed's message.
	ErrPossiblyCloned = fmt.Errorf("%w: its signature counter went back, so it may have been copied", ErrFailed)
	// ErrAlreadyRegistered: the authenticator already holds a passkey for
	// this site registered here.
	ErrAlreadyRegistered = errors.New("passkey: this passkey is already registered")
	// ErrLastSignInMethod refuses to remove a person's only way to sign in.
	ErrLastSignInMethod = errors.New("passkey: this passkey is the only way to sign in to this account")
	// ErrInvalidName: a passkey's name is empty, too long or holds
	// control characters.
	ErrInvalidName = errors.New("passkey: a name of 1 to 64 characters without control characters is needed")
	// ErrIssuerNotDomain: the issuer's host is an IP address, and a
	// relying party id must be a domain (WebAuthn §5.1.4.1, browsers
	// refuse an IP address): passkeys cannot work on such an issuer.
	ErrIssuerNotDomain = errors.New("passkey: the issuer's host is an IP address; a WebAuthn relying party id must be a domain name")
	// ErrNoPasskeys: the person has no passkey to use as a second factor.
	ErrNoPasskeys = errors.New("passkey: the account has no passkeys")
)

// Options configure passkeys. Store and Issuer are required.
type Options struct {
	Store Store
	// Issuer is gatehouse's issuer URL: the relying party id is its host,
	// the only origin accepted its origin (WebAuthn §5.1.4.1, §7.1 step 9).
	Issuer string
	// Product is the relying party's name shown by authenticators.
	Product string
	// PasswordLogin says whether a password is a way to sign in here
	// (password sign-in on): then a person with a password may remove
	// their last passkey.
	PasswordLogin     bool
	ChallengeLifetime time.Duration
	Audit             *audit.Recorder
	Now               func() time.Time
	Logger            *slog.Logger
}

// Service runs the ceremonies and keeps people's passkeys. Safe for
// concurrent use.
type Service struct {
	store    Store
	wa       *webauthn.WebAuthn
	password bool
	ttl      time.Duration
	audit    *audit.Recorder
	now      func() time.Time
	log      *slog.Logger
}

// New returns passkeys as o configures them.
func New(o Options) (*Service, error) {
	if o.Store == nil {
		return nil, errors.New("passkey: Store is required")
	}
	iss, err := url.Parse(o.Issuer)
	if err != nil || iss.Hostname() == "" {
		return nil, fmt.Errorf("passkey: issuer %q has no host", o.Issuer)
	}
	if net.ParseIP(iss.Hostname()) != nil {
		return nil, ErrIssuerNotDomain
	}
	if o.Product == "" {
		o.Product = "gatehouse"
	}
	if o.ChallengeLifetime <= 0 {
		o.ChallengeLifetime = DefaultChallengeLifetime
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	wa, err := webauthn.New(&webauthn.Config{
		RPID:          iss.Hostname(),
		RPDisplayName: o.Product,
		RPOrigins:     []string{iss.Scheme + "://" + iss.Host},
		// "none": attestation is not asked for (§5.4.7); gatehouse keeps
		// no authenticator metadata to judge it by, so it would prove
		// nothing here (and it identifies the device model).
		AttestationPreference: protocol.PreferNoAttestation,
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Enforce: true, Timeout: o.ChallengeLifetime, TimeoutUVD: o.ChallengeLifetime},
			Registration: webauthn.TimeoutConfig{Enforce: true, Timeout: o.ChallengeLifetime, TimeoutUVD: o.ChallengeLifetime},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("passkey: %w", err)
	}
	return &Service{
		store: o.Store, wa: wa, password: o.PasswordLogin, ttl: o.ChallengeLifetime,
		audit: o.Audit, now: o.Now, log: o.Logger,
	}, nil
}

// Ceremony is a begun ceremony: the options for the browser's
// navigator.credentials call (JSON, WebAuthn §5.1.3/§5.1.4 as
// PublicKeyCredentialCreationOptionsJSON / RequestOptionsJSON under
// "publicKey"), and the handle the browser must bring back to the finish.
type Ceremony struct {
	Options json.RawMessage
	Handle  string
}

// waUser is a person as the webauthn library sees them. The user handle
// (WebAuthn §14.6.1: no personal data) is gatehouse's user id.
type waUser struct {
	u     *storage.User
	keys  []*storage.Passkey
	creds []webauthn.Credential
}

func newWAUser(u *storage.User, keys []*storage.Passkey) *waUser {
	w := &waUser{u: u, keys: keys}
	for _, p := range keys {
		w.creds = append(w.creds, credential(p))
	}
	return w
}

func (w *waUser) WebAuthnID() []byte   { return []byte(w.u.ID) }
func (w *waUser) WebAuthnName() string { return w.u.Email }
func (w *waUser) WebAuthnDisplayName() string {
	if w.u.Name != "" {
		return w.u.Name
	}
	return w.u.Email
}
func (w *waUser) WebAuthnCredentials() []webauthn.Credential { return w.creds }

// credential is the library's credential record of a stored passkey.
func credential(p *storage.Passkey) webauthn.Credential {
	c := webauthn.Credential{
		ID: p.CredentialID, PublicKey: p.PublicKey, AttestationType: p.AttestationType,
		AttestationFormat: p.AttestationFormat,
		Flags: webauthn.CredentialFlags{
			UserPresent: true, UserVerified: p.UserVerified, BackupEligible: p.BackupEligible, BackupState: p.BackupState,
		},
		Authenticator: webauthn.Authenticator{AAGUID: p.AAGUID, SignCount: p.SignCount, CloneWarning: p.CloneWarning},
	}
	for _, t := range p.Transports {
		c.Transport = append(c.Transport, protocol.AuthenticatorTransport(t))
	}
	return c
}

// keyAMR is the RFC 8176 method of a passkey's key. A backup-eligible
// credential (BE flag, WebAuthn §6.1.3) is a multi-device credential: its
// private key is synced through the platform's cloud, so it is a
// software-secured key ("swk"). A credential that is not backup-eligible
// is device-bound: the authenticator says, in the authenticator data it
// signs, that the key never leaves it ("hwk"). Without verified
// attestation (gatehouse asks for none) that is the authenticator's own
// statement, which is why the acr stays "phr" and never "phrh".
func keyAMR(backupEligible bool) string {
	if backupEligible {
		return AMRSoftwareKey
	}
	return AMRHardwareKey
}

// begin stores a ceremony's state and returns it with its handle.
func (s *Service) begin(ctx context.Context, kind, userID string, options any, sd *webauthn.SessionData) (*Ceremony, error) {
	opts, err := json.Marshal(options)
	if err != nil {
		return nil, err
	}
	data, err := json.Marshal(sd)
	if err != nil {
		return nil, err
	}
	handle, err := secret.NewHandle()
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	if err := s.store.CreateWebAuthnChallenge(ctx, &storage.WebAuthnChallenge{
		ID: secret.HashHandle(handle), Kind: kind, UserID: userID, Data: data,
		CreatedAt: now, ExpiresAt: now.Add(s.ttl),
	}); err != nil {
		return nil, fmt.Errorf("passkey: store ceremony: %w", err)
	}
	return &Ceremony{Options: opts, Handle: handle}, nil
}

// errCeremony: no such ceremony for this browser (unknown, expired, used,
// of another kind or another person).
var errCeremony = errors.New("passkey: no ceremony under way for this browser")

// take consumes the ceremony of handle, which must be of kind and (for
// userID != "") of that person.
func (s *Service) take(ctx context.Context, handle, kind, userID string) (*webauthn.SessionData, error) {
	if handle == "" || len(handle) > 100 {
		return nil, errCeremony
	}
	c, err := s.store.ConsumeWebAuthnChallenge(ctx, secret.HashHandle(handle), kind)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, errCeremony
	} else if err != nil {
		return nil, err
	}
	if c.UserID != userID {
		return nil, errCeremony
	}
	sd := new(webauthn.SessionData)
	if err := json.Unmarshal(c.Data, sd); err != nil {
		return nil, fmt.Errorf("passkey: stored ceremony unreadable: %w", err)
	}
	return sd, nil
}

// List returns the person's passkeys, oldest first.
func (s *Service) List(ctx context.Context, userID string) ([]*storage.Passkey, error) {
	return s.store.PasskeysOfUser(ctx, userID)
}

// BeginRegistration starts adding a passkey to u's account (WebAuthn §7.1):
// a discoverable credential (residentKey required, so it can sign in
// without an e-mail address), user verification preferred, and the
// person's passkeys excluded (excludeCredentials, §5.4) so one
// authenticator is not registered twice.
func (s *Service) BeginRegistration(ctx context.Context, u *storage.User) (*Ceremony, error) {
	keys, err := s.store.PasskeysOfUser(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	wu := newWAUser(u, keys)
	exclude := webauthn.Credentials(wu.creds).CredentialDescriptors()
	rk := true
	opts, sd, err := s.wa.BeginRegistration(wu,
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			RequireResidentKey: &rk, ResidentKey: protocol.ResidentKeyRequirementRequired,
			UserVerification: protocol.VerificationPreferred,
		}),
		webauthn.WithExclusions(exclude),
		webauthn.WithExtensions(webauthn.WithExtensionCredProps()),
	)
	if err != nil {
		return nil, fmt.Errorf("passkey: begin registration: %w", err)
	}
	return s.begin(ctx, kindRegister, u.ID, opts, sd)
}

// CleanName checks and trims a passkey's name.
func CleanName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > 64 || !utf8.ValidString(name) || strings.ContainsFunc(name, func(r rune) bool {
		return r < 0x20 || (r >= 0x7f && r <= 0x9f)
	}) {
		return "", ErrInvalidName
	}
	return name, nil
}

// FinishRegistration verifies the browser's answer (response, the
// PublicKeyCredential as JSON) to the registration ceremony of handle
// that u began, and stores the passkey under name (WebAuthn §7.1).
func (s *Service) FinishRegistration(ctx context.Context, u *storage.User, handle, name string, response []byte) (*storage.Passkey, error) {
	name, err := CleanName(name)
	if err != nil {
		return nil, err
	}
	sd, err := s.take(ctx, handle, kindRegister, u.ID)
	if errors.Is(err, errCeremony) {
		return nil, s.registrationFailed(ctx, u, err)
	} else if err != nil {
		return nil, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return nil, s.registrationFailed(ctx, u, err)
	}
	keys, err := s.store.PasskeysOfUser(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	cred, err := s.wa.CreateCredential(newWAUser(u, keys), *sd, parsed)
	if err != nil {
		return nil, s.registrationFailed(ctx, u, err)
	}
	p := &storage.Passkey{
		ID: uuid.NewString(), UserID: u.ID, CredentialID: cred.ID, Name: name, PublicKey: cred.PublicKey,
		AttestationType: cred.AttestationType, AttestationFormat: cred.AttestationFormat,
		AAGUID: cred.Authenticator.AAGUID, SignCount: cred.Authenticator.SignCount,
		UserVerified: cred.Flags.UserVerified, BackupEligible: cred.Flags.BackupEligible, BackupState: cred.Flags.BackupState,
		CreatedAt: s.now().UTC(),
	}
	for _, t := range cred.Transport {
		p.Transports = append(p.Transports, string(t))
	}
	if err := s.store.CreatePasskey(ctx, p); errors.Is(err, storage.ErrConflict) {
		return nil, ErrAlreadyRegistered
	} else if err != nil {
		return nil, err
	}
	s.audit.Record(ctx, audit.Event{
		Type: AuditRegistered, Actor: audit.UserSubject(u.ID), Subject: audit.UserSubject(u.ID), IP: reqctx.ClientIP(ctx),
		Details: map[string]string{"passkey_id": p.ID, "key": keyAMR(p.BackupEligible), "user_verified": fmt.Sprint(p.UserVerified)},
	})
	return p, nil
}

// ErrRegistrationFailed is the answer of a registration that did not
// verify (or whose ceremony is gone).
var ErrRegistrationFailed = errors.New("passkey: the new passkey could not be verified")

// registrationFailed answers a registration whose ceremony is gone or
// whose response did not parse or verify (every error of the webauthn
// library here is a verdict on the browser's input, never a server
// fault).
func (s *Service) registrationFailed(ctx context.Context, u *storage.User, err error) error {
	s.log.InfoContext(ctx, "passkey registration failed", "user_id", u.ID, "err", err)
	return ErrRegistrationFailed
}

// Rename renames one of u's passkeys.
func (s *Service) Rename(ctx context.Context, u *storage.User, id, name string) error {
	name, err := CleanName(name)
	if err != nil {
		return err
	}
	if err := s.store.RenamePasskey(ctx, u.ID, id, name); err != nil {
		return err
	}
	s.audit.Record(ctx, audit.Event{
		Type: AuditRenamed, Actor: audit.UserSubject(u.ID), Subject: audit.UserSubject(u.ID), IP: reqctx.ClientIP(ctx),
		Details: map[string]string{"passkey_id": id},
	})
	return nil
}

// CanRemoveLast reports whether u keeps a way to sign in without any
// passkey: a password (while password sign-in is on) or a linked upstream
// identity.
func (s *Service) CanRemoveLast(ctx context.Context, u *storage.User) (bool, error) {
	if u.PasswordHash != "" && s.password {
		return true, nil
	}
	ids, err := s.store.FederatedIdentitiesOfUser(ctx, u.ID)
	if err != nil {
		return false, err
	}
	return len(ids) > 0, nil
}

// Remove deletes one of u's passkeys, unless it is their last way to sign
// in (ErrLastSignInMethod). The check and the delete are one transaction
// holding the person's row (storage.PasskeyStore.DeletePasskey), so two
// removals at once cannot leave the person without any.
func (s *Service) Remove(ctx context.Context, u *storage.User, id string) error {
	other, err := s.CanRemoveLast(ctx, u)
	if err != nil {
		return err
	}
	err = s.store.DeletePasskey(ctx, u.ID, id, func(others []*storage.Passkey) error {
		if len(others) == 0 && !other {
			return ErrLastSignInMethod
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.audit.Record(ctx, audit.Event{
		Type: AuditRemoved, Actor: audit.UserSubject(u.ID), Subject: audit.UserSubject(u.ID), IP: reqctx.ClientIP(ctx),
		Details: map[string]string{"passkey_id": id},
	})
	return nil
}

// BeginLogin starts a passwordless sign-in (WebAuthn §7.2) with a
// discoverable credential: allowCredentials is empty, so the begin says
// nothing about any account (no e-mail is asked, none is revealed), and
// user verification is required (the passkey alone is then two factors).
// The same options serve the "Sign in with a passkey" button and the
// browser's autofill (conditional mediation, which the page asks for).
func (s *Service) BeginLogin(ctx context.Context) (*Ceremony, error) {
	opts, sd, err := s.wa.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return nil, fmt.Errorf("passkey: begin sign-in: %w", err)
	}
	return s.begin(ctx, kindLogin, "", opts, sd)
}

// FinishLogin verifies the browser's assertion (response, the
// PublicKeyCredential as JSON) for the sign-in ceremony of handle and
// returns who signed in and how: amr hwk or swk (keyAMR), user and mfa
// (the authenticator verified the person, §6.2.3: something they have
// plus something they know or are), acr phr. Every failure is ErrFailed
// (ErrPossiblyCloned for a counter that went back), audited as
// login.failed.
func (s *Service) FinishLogin(ctx context.Context, handle string, response []byte) (*storage.User, provider.LoginMethod, error) {
	sd, err := s.take(ctx, handle, kindLogin, "")
	if errors.Is(err, errCeremony) {
		return nil, provider.LoginMethod{}, s.loginFailed(ctx, "", reasonCeremony, err)
	} else if err != nil {
		return nil, provider.LoginMethod{}, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return nil, provider.LoginMethod{}, s.loginFailed(ctx, "", reasonInvalid, err)
	}
	var found *waUser
	var lookupErr error
	handler := func(rawID, userHandle []byte) (webauthn.User, error) {
		found, lookupErr = s.owner(ctx, rawID, userHandle)
		if lookupErr != nil {
			return nil, lookupErr
		}
		return found, nil
	}
	_, cred, err := s.wa.ValidatePasskeyLogin(handler, *sd, parsed)
	switch {
	case lookupErr != nil && !errors.Is(lookupErr, storage.ErrNotFound) && !errors.Is(lookupErr, errNotOwner):
		return nil, provider.LoginMethod{}, lookupErr
	case found == nil && lookupErr != nil:
		return nil, provider.LoginMethod{}, s.loginFailed(ctx, "", reasonUnknownCredential, err)
	case found == nil:
		// Refused before the credential was looked up (no user handle, a
		// malformed assertion).
		return nil, provider.LoginMethod{}, s.loginFailed(ctx, "", reasonInvalid, err)
	case err != nil:
		return nil, provider.LoginMethod{}, s.loginFailed(ctx, found.u.ID, reasonInvalid, err)
	}
	p, err := s.used(ctx, found, cred)
	if err != nil {
		return nil, provider.LoginMethod{}, err
	}
	if found.u.Disabled {
		return nil, provider.LoginMethod{}, s.loginFailed(ctx, found.u.ID, audit.LoginReasonDisabled, nil)
	}
	s.audit.Record(ctx, audit.Event{
		Type: audit.LoginSucceeded, Actor: audit.UserSubject(found.u.ID), Subject: audit.UserSubject(found.u.ID),
		IP: reqctx.ClientIP(ctx), Details: map[string]string{"method": "passkey", "passkey_id": p.ID},
	})
	return found.u, provider.LoginMethod{
		AMR: []string{keyAMR(p.BackupEligible), AMRUser, AMRMFA}, ACR: provider.ACRPhishingResistant,
	}, nil
}

var errNotOwner = errors.New("passkey: the user handle is not the credential's owner")

// owner finds the person a discoverable credential belongs to: the
// credential id names the passkey, and the user handle the authenticator
// returned must be its owner's (WebAuthn §7.2 step 6).
func (s *Service) owner(ctx context.Context, rawID, userHandle []byte) (*waUser, error) {
	p, err := s.store.PasskeyByCredentialID(ctx, rawID)
	if err != nil {
		return nil, err
	}
	if string(userHandle) != p.UserID {
		return nil, errNotOwner
	}
	u, err := s.store.UserByID(ctx, p.UserID)
	if err != nil {
		return nil, err
	}
	keys, err := s.store.PasskeysOfUser(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	return newWAUser(u, keys), nil
}

// used records a verified assertion of one of w's passkeys. A signature
// counter that did not increase while either it or the stored one is
// non-zero (WebAuthn §6.1.1, §7.2 step 21; the library sets CloneWarning)
// means two copies of the private key may exist: the passkey is marked,
// the event audited, and the sign-in refused (ErrPossiblyCloned). A
// passkey marked before stays refused until the person removes it.
func (s *Service) used(ctx context.Context, w *waUser, cred *webauthn.Credential) (*storage.Passkey, error) {
	var p *storage.Passkey
	for _, k := range w.keys {
		if string(k.CredentialID) == string(cred.ID) {
			p = k
		}
	}
	if p == nil {
		return nil, s.loginFailed(ctx, w.u.ID, reasonUnknownCredential, nil)
	}
	if p.CloneWarning || cred.Authenticator.CloneWarning {
		fresh := !p.CloneWarning
		p.CloneWarning = true
		if fresh {
			// The stored count stays: the higher value is the one the
			// genuine authenticator reached.
			if err := s.store.RecordPasskeyUse(ctx, p, time.Time{}); err != nil {
				return nil, err
			}
			s.audit.Record(ctx, audit.Event{
				Type: AuditCloneSuspects, Actor: "anonymous", Subject: audit.UserSubject(w.u.ID), IP: reqctx.ClientIP(ctx),
				Details: map[string]string{
					"passkey_id": p.ID, "stored_count": fmt.Sprint(p.SignCount), "asserted_count": fmt.Sprint(cred.Authenticator.SignCount),
				},
			})
		}
		return nil, s.loginFailed(ctx, w.u.ID, reasonCloned, ErrPossiblyCloned)
	}
	p.SignCount = cred.Authenticator.SignCount
	p.UserVerified = p.UserVerified || cred.Flags.UserVerified
	p.BackupState = cred.Flags.BackupState
	now := s.now().UTC()
	if err := s.store.RecordPasskeyUse(ctx, p, now); err != nil {
		return nil, err
	}
	p.LastUsedAt = now
	return p, nil
}

// loginFailed audits a failed passkey assertion and returns ErrFailed
// (ErrPossiblyCloned as it is).
func (s *Service) loginFailed(ctx context.Context, userID, reason string, err error) error {
	subject := ""
	if userID != "" {
		subject = audit.UserSubject(userID)
	}
	s.audit.Record(ctx, audit.Event{
		Type: audit.LoginFailed, Actor: "anonymous", Subject: subject, IP: reqctx.ClientIP(ctx),
		Details: map[string]string{"method": "passkey", "reason": reason},
	})
	if err != nil {
		s.log.InfoContext(ctx, "passkey assertion refused", "reason", reason, "err", err)
	}
	if errors.Is(err, ErrPossiblyCloned) {
		return ErrPossiblyCloned
	}
	return ErrFailed
}

// BeginSecondFactor starts a passkey check of a person already identified
// (by a password): allowCredentials lists u's passkeys, user verification
// is preferred (the password was the knowledge factor). ErrNoPasskeys
// when u has none. It is the hook of the second-factor step of sign-in:
// the caller shows the ceremony's options to the browser and keeps the
// handle (a cookie), then calls FinishSecondFactor.
func (s *Service) BeginSecondFactor(ctx context.Context, u *storage.User) (*Ceremony, error) {
	keys, err := s.store.PasskeysOfUser(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, ErrNoPasskeys
	}
	opts, sd, err := s.wa.BeginLogin(newWAUser(u, keys), webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		return nil, fmt.Errorf("passkey: begin second factor: %w", err)
	}
	return s.begin(ctx, kindSecondFactor, u.ID, opts, sd)
}

// FinishSecondFactor verifies the assertion for the second-factor
// ceremony of handle that u began and returns the amr values to add to the
// sign-in's (RFC 8176): hwk or swk, and user when the authenticator
// verified the person (UV flag). ErrFailed (or ErrPossiblyCloned) when it
// does not verify; the caller decides what a failure costs.
func (s *Service) FinishSecondFactor(ctx context.Context, u *storage.User, handle string, response []byte) ([]string, error) {
	sd, err := s.take(ctx, handle, kindSecondFactor, u.ID)
	if errors.Is(err, errCeremony) {
		return nil, s.loginFailed(ctx, u.ID, reasonCeremony, err)
	} else if err != nil {
		return nil, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return nil, s.loginFailed(ctx, u.ID, reasonInvalid, err)
	}
	keys, err := s.store.PasskeysOfUser(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	w := newWAUser(u, keys)
	cred, err := s.wa.ValidateLogin(w, *sd, parsed)
	if err != nil {
		return nil, s.loginFailed(ctx, u.ID, reasonInvalid, err)
	}
	p, err := s.used(ctx, w, cred)
	if err != nil {
		return nil, err
	}
	amr := []string{keyAMR(p.BackupEligible)}
	if parsed.Response.AuthenticatorData.Flags.HasUserVerified() {
		amr = append(amr, AMRUser)
	}
	return amr, nil
}
