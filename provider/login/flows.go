package login

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/gatehouse-dev/gatehouse/internal/reqctx"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/audit"
	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// Step is what an authorization request needs next from the user.
type Step int

// FlowState is what already happened within one authorization flow.
type FlowState struct {
	// LoggedIn: the user signed in within this flow, which satisfies
	// prompt=login and max_age.
	LoggedIn bool
	// Consented: the user allowed the request within this flow, which
	// satisfies prompt=consent.
	Consented bool
}

// NextStep decides what ar needs before a code can be issued. login is the
// browser's current sign-in (nil if none). With prompt=none, a needed step
// becomes the error to return to the client (login_required,
// consent_required).
func (s *Service) NextStep(ctx context.Context, ar fosite.AuthorizeRequester, login *provider.Login, st FlowState) (Step, error) {
	form := ar.GetRequestForm()
	prompts, err := provider.ParsePrompt(form.Get("prompt"))
	if err != nil {
		return 0, err
	}
	maxAge, hasMaxAge, err := provider.ParseMaxAge(form.Get("max_age"))
	if err != nil {
		return 0, err
	}
	none := slices.Contains(prompts, "none")

	needLogin := login == nil
	if login != nil && !st.LoggedIn {
		if slices.Contains(prompts, "login") {
			needLogin = true
		}
		if hasMaxAge && s.now().Sub(login.Session.AuthTime) > time.Duration(maxAge)*time.Second {
			needLogin = true
		}
	}
	if needLogin {
		if none {
			return 0, fosite.ErrLoginRequired.WithHint("The user is not signed in (or must sign in again) and prompt=none was requested.")
		}
		if slices.Contains(prompts, "create") {
			// Initiating User Registration 1.0 §4: the app asked for the
			// account creation page (accepted only with sign-up on).
			return StepSignup, nil
		}
		return StepLogin, nil
	}

	// A second factor, when this sign-in needs one and the session has
	// none yet: a step-up, which keeps the session (RFC 8176 amr "mfa").
	if !provider.MultiFactor(login.Session.AMR) {
		need, err := s.SecondFactorRequired(ctx, login.User, ar)
		if err != nil {
			return 0, err
		}
		if need {
			if none {
				return 0, fosite.ErrLoginRequired.WithHint("The sign-in needs a second factor and prompt=none was requested.")
			}
			return StepSecondFactor, nil
		}
	}

	if st.Consented {
		return StepDone, nil
	}
	client, ok := provider.StorageClient(ar.GetClient())
	if !ok {
		return 0, fosite.ErrServerError.WithDebug("unexpected client type")
	}
	if client.SkipConsent {
		return StepDone, nil
	}
	needConsent := slices.Contains(prompts, "consent")
	if !needConsent {
		covered, err := s.consentCovers(ctx, login.User.ID, client.ID, provider.RequestConsentScopes(ar))
		if err != nil {
			return 0, err
		}
		needConsent = !covered
	}
	if needConsent {
		if none {
			return 0, fosite.ErrConsentRequired.WithHint("The user has not allowed this client these scopes and prompt=none was requested.")
		}
		return StepConsent, nil
	}
	return StepDone, nil
}

func (s *Service) consentCovers(ctx context.Context, userID, clientID string, scopes fosite.Arguments) (bool, error) {
	g, err := s.store.ConsentGrant(ctx, userID, clientID)
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	for _, sc := range provider.ConsentScopes(scopes) {
		if !slices.Contains(g.Scopes, sc) {
			return false, nil
		}
	}
	return true, nil
}

// RememberConsent records that the user allowed the client these scopes,
// adding to what was allowed before, and audits it (consent.given with
// the scopes allowed now). Management scopes are never part of a consent
// (provider.ConsentScopes).
func (s *Service) RememberConsent(ctx context.Context, userID, clientID string, scopes []string) error {
	scopes = provider.ConsentScopes(scopes)
	now := s.now().UTC()
	g, err := s.store.ConsentGrant(ctx, userID, clientID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		g = &storage.ConsentGrant{UserID: userID, ClientID: clientID, CreatedAt: now}
	case err != nil:
		return err
	}
	for _, sc := range scopes {
		if !slices.Contains(g.Scopes, sc) {
			g.Scopes = append(g.Scopes, sc)
		}
	}
	g.UpdatedAt = now
	if err := s.store.SaveConsentGrant(ctx, g); err != nil {
		return err
	}
	s.audit.Record(ctx, audit.Event{
		Type: audit.ConsentGiven, Actor: audit.UserSubject(userID), Subject: audit.UserSubject(userID),
		ClientID: clientID, IP: reqctx.ClientIP(ctx), Details: map[string]string{"scopes": strings.Join(scopes, " ")},
	})
	return nil
}

// StartFlow stores an authorization request that needs the user and returns
// the handle that the login and consent pages carry.
func (s *Service) StartFlow(ctx context.Context, ar fosite.AuthorizeRequester) (string, error) {
	handle, err := secret.NewHandle()
	if err != nil {
		return "", err
	}
	requestedAt := ar.GetRequestedAt().UTC()
	// A pushed request's parameters are already merged into the form; its
	// request_uri was used up, so the flow resumes from the parameters.
	form := url.Values{}
	for k, v := range ar.GetRequestForm() {
		if k != "request_uri" {
			form[k] = v
		}
	}
	f := &storage.AuthFlow{
		ID:          secret.HashHandle(handle),
		ClientID:    ar.GetClient().GetID(),
		Form:        form.Encode(),
		RequestedAt: requestedAt,
		ExpiresAt:   s.now().UTC().Add(s.flowLifespan),
	}
	if err := s.store.CreateAuthFlow(ctx, f); err != nil {
		return "", fmt.Errorf("login: store flow: %w", err)
	}
	return handle, nil
}

// Flow loads a flow by its handle.
func (s *Service) Flow(ctx context.Context, handle string) (*storage.AuthFlow, error) {
	if handle == "" || len(handle) > 100 {
		return nil, provider.ErrFlowNotFound
	}
	f, err := s.store.AuthFlow(ctx, secret.HashHandle(handle))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, provider.ErrFlowNotFound
	}
	return f, err
}

// SetFlowLogin records that u signed in within the flow.
func (s *Service) SetFlowLogin(ctx context.Context, handle, userID string, authTime time.Time) error {
	err := s.store.SetAuthFlowLogin(ctx, secret.HashHandle(handle), userID, authTime.UTC().Truncate(time.Second))
	if errors.Is(err, storage.ErrNotFound) {
		return provider.ErrFlowNotFound
	}
	return err
}

// Deny consumes the flow in which the user refused the client the scopes
// and audits it (consent.denied); the caller then sends access_denied to
// the client.
func (s *Service) Deny(ctx context.Context, flowHandle, userID, clientID string, scopes []string) error {
	err := s.store.DeleteAuthFlow(ctx, secret.HashHandle(flowHandle))
	if errors.Is(err, storage.ErrNotFound) {
		return provider.ErrFlowNotFound
	}
	if err != nil {
		return err
	}
	s.audit.Record(ctx, audit.Event{
		Type: audit.ConsentDenied, Actor: audit.UserSubject(userID), Subject: audit.UserSubject(userID),
		ClientID: clientID, IP: reqctx.ClientIP(ctx), Details: map[string]string{"scopes": strings.Join(scopes, " ")},
	})
	return nil
}

const (
	// StepDone: nothing; the authorization can be completed.
	StepDone Step = iota
	// StepLogin: the user must sign in (again).
	StepLogin
	// StepConsent: the user must allow the client's scopes.
	StepConsent
	// StepSecondFactor: the user signed in with one factor and must give a
	// second (or enrol one).
	StepSecondFactor
	// StepSignup: the app asked for the sign-up page (prompt=create); the
	// person may still sign in from there.
	StepSignup
)
