package login

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/storage"
)

func TestNextStep(t *testing.T) {
	f := newLoginFixture(t, testLockout)
	ctx := context.Background()
	c := &storage.Client{ID: "web", Name: "web", RedirectURIs: []string{"https://a.example/cb"}, GrantTypes: []string{provider.GrantAuthorizationCode},
		ResponseTypes: []string{"code"}, Scopes: []string{"openid", "email", "profile"}, CreatedAt: f.clock(), UpdatedAt: f.clock()}
	if err := f.store.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	u := f.user(t, "carol@example.com", "carols password", nil)
	_, signedIn, err := f.s.Start(ctx, u, f.clock().Add(-time.Hour), provider.MethodPassword)
	if err != nil {
		t.Fatal(err)
	}

	// An authorization request of c as the engine hands it over (its
	// checks passed): openid email, with extra parameters.
	step := func(extra url.Values, l *provider.Login, st FlowState) (Step, error) {
		form := url.Values{"scope": {"openid email"}}
		for k, v := range extra {
			form[k] = v
		}
		ar := fosite.NewAuthorizeRequest()
		ar.Client, ar.Form, ar.RequestedScope = c, form, strings.Fields(form.Get("scope"))
		return f.s.NextStep(ctx, ar, l, st)
	}
	if s, err := step(nil, nil, FlowState{}); s != StepLogin || err != nil {
		t.Fatalf("no session: %v %v", s, err)
	}
	if _, err := step(url.Values{"prompt": {"none"}}, nil, FlowState{}); !errors.Is(err, fosite.ErrLoginRequired) {
		t.Fatalf("prompt=none without session: %v", err)
	}
	if s, _ := step(nil, signedIn, FlowState{}); s != StepConsent {
		t.Fatalf("no consent yet: %v", s)
	}
	if _, err := step(url.Values{"prompt": {"none"}}, signedIn, FlowState{}); !errors.Is(err, fosite.ErrConsentRequired) {
		t.Fatalf("prompt=none without consent: %v", err)
	}
	if err := f.s.RememberConsent(ctx, u.ID, c.ID, []string{"openid", "email"}); err != nil {
		t.Fatal(err)
	}
	if s, _ := step(nil, signedIn, FlowState{}); s != StepDone {
		t.Fatalf("remembered consent: %v", s)
	}
	if s, _ := step(url.Values{"scope": {"openid email profile"}}, signedIn, FlowState{}); s != StepConsent {
		t.Fatalf("new scope: %v", s)
	}
	if s, _ := step(url.Values{"prompt": {"login"}}, signedIn, FlowState{}); s != StepLogin {
		t.Fatalf("prompt=login: %v", s)
	}
	if s, _ := step(url.Values{"prompt": {"login"}}, signedIn, FlowState{LoggedIn: true}); s != StepDone {
		t.Fatalf("prompt=login after signing in: %v", s)
	}
	if s, _ := step(url.Values{"max_age": {"60"}}, signedIn, FlowState{}); s != StepLogin {
		t.Fatalf("max_age exceeded (signed in an hour ago): %v", s)
	}
	if s, _ := step(url.Values{"max_age": {"7200"}}, signedIn, FlowState{}); s != StepDone {
		t.Fatalf("max_age satisfied: %v", s)
	}
	for _, bad := range []url.Values{{"prompt": {"none login"}}, {"prompt": {"select_account"}}, {"max_age": {"-1"}}, {"max_age": {"soon"}}} {
		if _, err := step(bad, signedIn, FlowState{}); !errors.Is(err, fosite.ErrInvalidRequest) {
			t.Errorf("%v: %v", bad, err)
		}
	}
}
