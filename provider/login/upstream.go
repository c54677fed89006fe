package login

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/internal/reqctx"
	"github.com/gatehouse-dev/gatehouse/provider/audit"
	"github.com/gatehouse-dev/gatehouse/provider/federation"
	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// Sign-in through an upstream OpenID Connect provider (Google, or any
// issuer). The upstream only proves who the person is: gatehouse resolves
// that to one of its own users and then continues the authorization flow
// exactly as after a password sign-in, issuing its own codes and tokens.

// upstreamStateLifespan bounds how long a person may take at the upstream.
const upstreamStateLifespan = 10 * time.Minute

// purposeUpstreamState seals what an upstream sign-in continues with.
const purposeUpstreamState = "upstream-state"

// Audit event types of upstream sign-in.
const (
	AuditFederatedLogin   = "federation.login"
	AuditFederatedLinked  = "federation.linked"
	AuditFederatedCreated = "federation.user_created"
	AuditFederatedReject  = "federation.rejected"
	AuditFederatedUnlink  = "federation.unlinked"
)

// PasswordLogin reports whether e-mail and password sign-in is on.
func (s *Service) PasswordLogin() bool { return !s.noPassword }

// Upstreams lists the configured upstream identity providers, for the
// login page (nil when none).
func (s *Service) Upstreams() []federation.Info {
	if s.fed == nil {
		return nil
	}
	return s.fed.Upstreams()
}

// UpstreamName is the display name of an upstream ("" if unknown).
func (s *Service) UpstreamName(id string) string {
	if s.fed == nil {
		return ""
	}
	info, ok := s.fed.Get(id)
	if !ok {
		return ""
	}
	return info.Name
}

// upstreamContinuation is sealed into the upstream state: the PKCE
// verifier and where to go on after the sign-in.
type upstreamContinuation struct {
	Verifier string `json:"v"`
	Flow     string `json:"f,omitempty"`
	Next     string `json:"n,omitempty"`
}

// ErrUnknownUpstream is returned for an upstream id that is not configured.
var ErrUnknownUpstream = errors.New("login: unknown upstream identity provider")

// BeginUpstreamLogin starts a sign-in through upstream id for an
// authorization flow (flowHandle) or, without one, for a local path
// (next). It returns the upstream's authorization URL and the value of the
// cookie that binds the sign-in to this browser.
func (s *Service) BeginUpstreamLogin(ctx context.Context, id, flowHandle, next string, opt federation.AuthOptions) (authURL, browser string, err error) {
	if s.fed == nil {
		return "", "", ErrUnknownUpstream
	}
	if _, ok := s.fed.Get(id); !ok {
		return "", "", ErrUnknownUpstream
	}
	state, err := secret.NewHandle()
	if err != nil {
		return "", "", err
	}
	nonce, err := secret.NewHandle()
	if err != nil {
		return "", "", err
	}
	if browser, err = secret.NewHandle(); err != nil {
		return "", "", err
	}
	cont := upstreamContinuation{Verifier: oauth2.GenerateVerifier(), Flow: flowHandle, Next: next}
	plain, err := json.Marshal(cont)
	if err != nil {
		return "", "", err
	}
	sealed, err := s.ring.Seal(purposeUpstreamState, plain)
	if err != nil {
		return "", "", err
	}
	authURL, err = s.fed.AuthCodeURL(id, state, nonce, cont.Verifier, opt)
	if err != nil {
		return "", "", err
	}
	now := s.now().UTC()
	if err := s.store.CreateUpstreamState(ctx, &storage.UpstreamState{
		ID: secret.HashHandle(state), UpstreamID: id, BrowserHash: secret.HashHandle(browser),
		Nonce: nonce, Sealed: sealed, CreatedAt: now, ExpiresAt: now.Add(upstreamStateLifespan),
	}); err != nil {
		return "", "", err
	}
	return authURL, browser, nil
}

// UpstreamResult is a finished upstream sign-in.
type UpstreamResult struct {
	User *storage.User
	// Flow is the authorization flow to continue, or "" (then Next).
	Flow string
	Next string
	// Outcome is "login", "linked" or "created".
	Outcome string
}

// SignInRejected is an upstream sign-in gatehouse refused. Reason is short
// and machine-readable (for the audit log); Message is for the person.
type SignInRejected struct {
	Reason  string
	Message string
	// Flow, when known, lets the error page lead back to the login page.
	Flow string
	Next string
}

func (e *SignInRejected) Error() string { return "login: upstream sign-in refused: " + e.Reason }

// FinishUpstreamLogin handles the upstream's callback: it consumes the
// state (single use, bound to this browser and this upstream), exchanges
// the code, verifies the ID token and resolves the person to a gatehouse
// user, linking or creating one as allowed. errCode is the upstream's
// error parameter, if it sent one. Every refusal is a *SignInRejected and
// is audited; nothing is created or linked then.
func (s *Service) FinishUpstreamLogin(ctx context.Context, id, state, code, errCode, errDesc, browser string) (*UpstreamResult, error) {
	reject := func(reason, msg string, cont *upstreamContinuation, details map[string]string) error {
		r := &SignInRejected{Reason: reason, Message: msg}
		if cont != nil {
			r.Flow, r.Next = cont.Flow, cont.Next
		}
		if details == nil {
			details = map[string]string{}
		}
		details["reason"] = reason
		s.metrics.login(methodFederated, outcomeFailed)
		s.audit.Record(ctx, audit.Event{Type: AuditFederatedReject, Actor: "anonymous", Subject: "upstream:" + id, IP: reqctx.ClientIP(ctx), Details: details})
		return r
	}
	if s.fed == nil {
		return nil, ErrUnknownUpstream
	}
	if _, ok := s.fed.Get(id); !ok {
		return nil, ErrUnknownUpstream
	}
	if state == "" || len(state) > 200 {
		return nil, reject("state_missing", "This sign-in link is incomplete. Start again from the application.", nil, nil)
	}
	st, err := s.store.ConsumeUpstreamState(ctx, secret.HashHandle(state))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, reject("state_unknown", "This sign-in has expired or was already used. Start again from the application.", nil, nil)
	} else if err != nil {
		return nil, err
	}
	var cont upstreamContinuation
	plain, err := s.ring.Open(purposeUpstreamState, st.Sealed)
	if err == nil {
		err = json.Unmarshal(plain, &cont)
	}
	if err != nil {
		return nil, reject("state_unreadable", "This sign-in has expired. Start again from the application.", nil, nil)
	}
	switch {
	case st.UpstreamID != id:
		return nil, reject("state_upstream_mismatch", "This sign-in answer does not belong to this sign-in. Start again.", &cont, nil)
	case browser == "" || secret.HashHandle(browser) != st.BrowserHash:
		return nil, reject("state_other_browser", "This sign-in was started in another browser (or its cookie is gone). Start again.", &cont, nil)
	case errCode != "":
		rej := federation.RejectionFromCallbackError(errCode, errDesc)
		return nil, reject(rej.Reason, rejectionMessage(rej.Reason, s.UpstreamName(id)), &cont, map[string]string{"upstream_error": audit.ClipID(errCode)})
	case code == "":
		return nil, reject("code_missing", "The sign-in answer is incomplete. Start again.", &cont, nil)
	}

	ident, err := s.fed.Exchange(ctx, id, code, cont.Verifier, st.Nonce)
	if err != nil {
		var rej *federation.Rejection
		if errors.As(err, &rej) {
			s.log.WarnContext(ctx, "upstream sign-in refused", "upstream", id, "reason", rej.Reason, "err", rej.Err)
			return nil, reject(rej.Reason, rejectionMessage(rej.Reason, s.UpstreamName(id)), &cont, nil)
		}
		return nil, err
	}
	user, outcome, reason, err := s.resolveFederatedUser(ctx, ident)
	if err != nil {
		return nil, err
	}
	if reason != "" {
		return nil, reject(reason, rejectionMessage(reason, s.UpstreamName(id)), &cont, map[string]string{"upstream_subject": audit.ClipID(ident.Subject)})
	}
	typ := map[string]string{"login": AuditFederatedLogin, "linked": AuditFederatedLinked, "created": AuditFederatedCreated}[outcome]
	s.metrics.login(methodFederated, outcomeSucceeded)
	s.audit.Record(ctx, audit.Event{
		Type: typ, Actor: "user:" + user.ID, Subject: "upstream:" + id, IP: reqctx.ClientIP(ctx),
		Details: map[string]string{"upstream_subject": audit.ClipID(ident.Subject)},
	})
	return &UpstreamResult{User: user, Flow: cont.Flow, Next: cont.Next, Outcome: outcome}, nil
}

func rejectionMessage(reason, upstream string) string {
	switch reason {
	case "email_not_verified":
		return upstream + " has not verified your e-mail address, so it cannot be used to sign in here."
	case "account_email_not_verified":
		return "An account here uses your e-mail address, but that address has not been verified, so " + upstream +
			" cannot sign in to it. Sign in with its password (or reset the password by e-mail) first."
	case "no_account":
		return "There is no account for you here, and new accounts cannot be created through " + upstream + "."
	case "user_disabled":
		return "This account is disabled."
	case "domain_not_allowed", "hd_mismatch":
		return "Accounts of your domain cannot sign in here."
	case "upstream_unavailable", "exchange_failed", "upstream_timeout":
		return upstream + " could not be reached to finish the sign-in. Try again in a moment."
	case "retry":
		return "Another sign-in of yours was finishing at the same moment. Try again."
	case "access_denied":
		return "You did not allow the sign-in at " + upstream + "."
	case "login_required", "upstream_error":
		return "The sign-in was not completed at " + upstream + ". Start again."
	}
	return "The sign-in through " + upstream + " could not be verified. Start again."
}

// resolveFederatedUser finds the gatehouse user of an upstream identity:
// the one it is linked to; else the existing user with the same, verified
// e-mail (linked now); else a new user when the upstream allows sign-up.
// A refusal comes back as a reason with a nil error.
func (s *Service) resolveFederatedUser(ctx context.Context, ident *federation.Identity) (*storage.User, string, string, error) {
	now := s.now().UTC()
	fi, err := s.store.FederatedIdentity(ctx, ident.UpstreamID, ident.Subject)
	switch {
	case err == nil:
		u, err := s.store.UserByID(ctx, fi.UserID)
		if errors.Is(err, storage.ErrNotFound) {
			return nil, "", "no_account", nil
		} else if err != nil {
			return nil, "", "", err
		}
		if u.Disabled {
			return nil, "", "user_disabled", nil
		}
		if err := s.store.TouchFederatedIdentity(ctx, ident.UpstreamID, ident.Subject, ident.Email, now); err != nil {
			return nil, "", "", err
		}
		return u, "login", "", nil
	case !errors.Is(err, storage.ErrNotFound):
		return nil, "", "", err
	}

	link := &storage.FederatedIdentity{
		UpstreamID: ident.UpstreamID, Subject: ident.Subject, Email: ident.Email, CreatedAt: now, LastLoginAt: now,
	}
	if ident.Email != "" {
		existing, err := s.store.UserByEmail(ctx, ident.Email)
		switch {
		case err == nil:
			// Linking on an unverified e-mail would hand the account to
			// whoever typed that address at the upstream.
			if !ident.EmailVerified {
				return nil, "", "email_not_verified", nil
			}
			// Nor on an account whose own address was never verified:
			// whoever created it (a sign-up with someone else's address)
			// would get the upstream person's sign-in ("pre-account
			// takeover", Sudhodanan & Paverd, USENIX Security 2022).
			if !existing.EmailVerified {
				return nil, "", "account_email_not_verified", nil
			}
			if existing.Disabled {
				return nil, "", "user_disabled", nil
			}
			link.UserID = existing.ID
			err := s.store.CreateFederatedIdentity(ctx, link)
			if errors.Is(err, storage.ErrConflict) {
				// A concurrent sign-in of the same person linked it first.
				return nil, "", "retry", nil
			} else if err != nil {
				return nil, "", "", fmt.Errorf("link upstream identity: %w", err)
			}
			return existing, "linked", "", nil
		case !errors.Is(err, storage.ErrNotFound):
			return nil, "", "", err
		}
	}
	if !s.fed.AllowSignup(ident.UpstreamID) {
		return nil, "", "no_account", nil
	}
	u := &storage.User{
		ID: uuid.NewString(), Email: strings.ToLower(ident.Email), EmailVerified: ident.Email != "" && ident.EmailVerified,
		Name: truncateName(ident.Name), Roles: []string{}, CreatedAt: now, UpdatedAt: now,
	}
	err = s.store.InTx(ctx, func(ctx context.Context) error {
		if err := s.store.CreateUser(ctx, u); err != nil {
			return err
		}
		link.UserID = u.ID
		return s.store.CreateFederatedIdentity(ctx, link)
	})
	if errors.Is(err, storage.ErrConflict) {
		// Another sign-in of the same person won the race; the next try
		// finds the link.
		return nil, "", "retry", nil
	} else if err != nil {
		return nil, "", "", fmt.Errorf("create federated user: %w", err)
	}
	return u, "created", "", nil
}

func truncateName(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 200 {
		return s[:200]
	}
	return s
}

// LinkedIdentity is a federated identity with its upstream's name, for the
// account page.
type LinkedIdentity struct {
	*storage.FederatedIdentity
	UpstreamName string
}

// LinkedIdentities lists a user's upstream identities.
func (s *Service) LinkedIdentities(ctx context.Context, userID string) ([]LinkedIdentity, error) {
	ids, err := s.store.FederatedIdentitiesOfUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	out := make([]LinkedIdentity, 0, len(ids))
	for _, fi := range ids {
		name := s.UpstreamName(fi.UpstreamID)
		if name == "" {
			name = fi.UpstreamID
		}
		out = append(out, LinkedIdentity{FederatedIdentity: fi, UpstreamName: name})
	}
	return out, nil
}

// ErrLastSignInMethod refuses to unlink the only way a user can sign in.
var ErrLastSignInMethod = errors.New("login: this is the only way to sign in to this account")

// CanUnlink reports whether a user keeps a way to sign in without one
// identity: a password (while password sign-in is on) or another identity.
func (s *Service) CanUnlink(u *storage.User, linked int) bool {
	return linked > 1 || (u.PasswordHash != "" && s.PasswordLogin())
}

// UnlinkIdentity removes one of the user's upstream identities, unless it
// is their last way to sign in.
func (s *Service) UnlinkIdentity(ctx context.Context, u *storage.User, upstreamID, subject string) error {
	ids, err := s.store.FederatedIdentitiesOfUser(ctx, u.ID)
	if err != nil {
		return err
	}
	found := false
	for _, fi := range ids {
		if fi.UpstreamID == upstreamID && fi.Subject == subject {
			found = true
		}
	}
	if !found {
		return storage.ErrNotFound
	}
	if !s.CanUnlink(u, len(ids)) {
		// A passkey signs the person in as well.
		keys, err := s.store.PasskeysOfUser(ctx, u.ID)
		if err != nil {
			return err
		}
		if len(keys) == 0 {
			return ErrLastSignInMethod
		}
	}
	if err := s.store.DeleteFederatedIdentity(ctx, u.ID, upstreamID, subject); err != nil {
		return err
	}
	s.audit.Record(ctx, audit.Event{
		Type: AuditFederatedUnlink, Actor: "user:" + u.ID, Subject: "upstream:" + upstreamID, IP: reqctx.ClientIP(ctx),
		Details: map[string]string{"upstream_subject": audit.ClipID(subject)},
	})
	return nil
}
