package admin

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/login"
	"github.com/gatehouse-dev/gatehouse/provider/providertest"
	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore/bunstoretest"
)

// fixture is the engine on a real store with the administration over it,
// wired as the server wires them.
type fixture struct {
	*providertest.Fixture
	a *Admin
	// signIn is sign-in on the same store.
	signIn *login.Service
	// log has what the administration and sign-in recorded.
	log *providertest.AuditLog
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureOn(t, bunstoretest.Open(t, "sqlite", bunstore.Options{}))
}

// newFixtureOn builds on store; mods adjust sign-in's options.
func newFixtureOn(t *testing.T, store *bunstore.Store, mods ...func(*login.Options)) *fixture {
	t.Helper()
	var log *providertest.AuditLog
	pf := providertest.NewOn(t, store, providertest.Ring(t), func(o *provider.Options) {
		log = providertest.NewAuditLog(t, o.Now)
		o.Audit = log.Recorder
	})
	lo := login.Options{Store: store, Keyring: pf.Ring, SessionLifespan: time.Hour, FlowLifespan: time.Minute,
		Audit: log.Recorder, Now: pf.Clock.Now, Logger: pf.Logger}
	for _, m := range mods {
		m(&lo)
	}
	signIn, err := login.New(lo)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Options{Store: store, Keyring: pf.Ring, APIKeys: pf.APIKeys, Audit: log.Recorder,
		Bearer: pf.P, Grants: signIn, Now: pf.Clock.Now, Logger: pf.Logger})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{Fixture: pf, a: a, signIn: signIn, log: log}
}

// client stores a client made by the administration and returns it with
// its secret.
func (f *fixture) client(t *testing.T, spec ClientSpec) (*storage.Client, string) {
	t.Helper()
	c, plain, err := f.a.CreateClient(context.Background(), nil, spec)
	if err != nil {
		t.Fatal(err)
	}
	return c, plain
}

// user stores a person with the password "correct horse battery".
func (f *fixture) user(t *testing.T, email string, roles ...string) *storage.User {
	t.Helper()
	u, err := f.a.CreateUser(context.Background(), nil, UserSpec{Email: email, Password: "correct horse battery", Roles: roles})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// bearer is an access token presented with the Bearer scheme.
func bearer(token string) provider.Credential { return provider.Credential{Token: token} }
