package passkey_test

import (
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse-dev/gatehouse/internal/clocktest"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/passkey"
	"github.com/gatehouse-dev/gatehouse/provider/providertest"
	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore/bunstoretest"
)

const (
	testIssuer = "https://id.example.com"
	testRPID   = "id.example.com"
)

type fixture struct {
	store *bunstore.Store
	clk   *clocktest.Clock
	log   *providertest.AuditLog
	s     *passkey.Service
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{clk: clocktest.New(time.Now().UTC().Truncate(time.Second))}
	f.store = bunstoretest.Open(t, "sqlite", bunstore.Options{Now: f.clk.Now})
	f.log = providertest.NewAuditLog(t, f.clk.Now)
	f.s = f.instance(t)
	return f
}

// instance is another gatehouse instance's passkeys on the fixture's
// database (nothing shared in memory).
func (f *fixture) instance(t *testing.T) *passkey.Service {
	t.Helper()
	s, err := passkey.New(passkey.Options{
		Store: f.store, Issuer: testIssuer, PasswordLogin: true, Audit: f.log.Recorder, Now: f.clk.Now,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// user creates a person; password "" makes one without a password (the
// hash is never checked on these paths).
func (f *fixture) user(t *testing.T, withPassword bool) *storage.User {
	t.Helper()
	u := &storage.User{ID: uuid.NewString(), Email: uuid.NewString() + "@example.com", CreatedAt: f.clk.Now(), UpdatedAt: f.clk.Now()}
	if withPassword {
		u.PasswordHash = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$aGFzaA" // never verified here
	}
	if err := f.store.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u
}

// register adds a passkey of a new software authenticator to u.
func (f *fixture) register(t *testing.T, s *passkey.Service, u *storage.User, name string) (*providertest.SoftKey, *storage.Passkey) {
	t.Helper()
	k := providertest.NewSoftKey(t, testRPID, testIssuer)
	cer, err := s.BeginRegistration(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.FinishRegistration(context.Background(), u, cer.Handle, name, k.Create(t, cer.Options))
	if err != nil {
		t.Fatalf("FinishRegistration: %v", err)
	}
	return k, p
}

func (f *fixture) signIn(t *testing.T, s *passkey.Service, k *providertest.SoftKey) (*storage.User, provider.LoginMethod, error) {
	t.Helper()
	cer, err := s.BeginLogin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s.FinishLogin(context.Background(), cer.Handle, k.Get(t, cer.Options))
}

// TestPasswordlessSignIn: a registered passkey signs its person in with
// amr hwk (device-bound) or swk (backup-eligible), user and mfa, acr phr.
func TestPasswordlessSignIn(t *testing.T) {
	f := newFixture(t)
	u := f.user(t, false)
	k, p := f.register(t, f.s, u, "Laptop")
	if p.Name != "Laptop" || !p.UserVerified || p.BackupEligible || !slices.Equal(p.Transports, []string{"internal"}) {
		t.Fatalf("registered passkey = %+v", p)
	}
	got, method, err := f.signIn(t, f.s, k)
	if err != nil || got.ID != u.ID {
		t.Fatalf("FinishLogin = %v, %v", got, err)
	}
	if !slices.Equal(method.AMR, []string{"hwk", "user", "mfa"}) || method.ACR != "phr" {
		t.Fatalf("method = %+v; want amr hwk user mfa, acr phr", method)
	}
	keys, _ := f.store.PasskeysOfUser(context.Background(), u.ID)
	if keys[0].SignCount != 1 || !keys[0].LastUsedAt.Equal(f.clk.Now()) {
		t.Fatalf("after the sign-in: %+v; want count 1 and last used now", keys[0])
	}

	synced := f.user(t, false)
	ks := providertest.NewSoftKey(t, testRPID, testIssuer)
	ks.BackupEligible = true
	cer, _ := f.s.BeginRegistration(context.Background(), synced)
	if _, err := f.s.FinishRegistration(context.Background(), synced, cer.Handle, "Phone", ks.Create(t, cer.Options)); err != nil {
		t.Fatal(err)
	}
	if _, method, err := f.signIn(t, f.s, ks); err != nil || method.AMR[0] != "swk" {
		t.Fatalf("synced passkey: %+v, %v; want swk", method, err)
	}
	providertest.WantEvents(t, f.log.Events(), "passkey.registered", "login.succeeded", "passkey.registered", "login.succeeded")
}

// TestCeremonyOnAnotherInstance: a ceremony begun on one instance finishes
// on another: the state is in the database.
func TestCeremonyOnAnotherInstance(t *testing.T) {
	f := newFixture(t)
	other := f.instance(t)
	u := f.user(t, false)
	k := providertest.NewSoftKey(t, testRPID, testIssuer)
	cer, err := f.s.BeginRegistration(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.FinishRegistration(context.Background(), u, cer.Handle, "Key", k.Create(t, cer.Options)); err != nil {
		t.Fatalf("registration finished elsewhere: %v", err)
	}
	login, err := other.BeginLogin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got, _, err := f.s.FinishLogin(context.Background(), login.Handle, k.Get(t, login.Options)); err != nil || got.ID != u.ID {
		t.Fatalf("sign-in finished elsewhere: %v, %v", got, err)
	}
}

// TestCeremonySingleUseAndShortLived: a ceremony is finished once, within
// its lifetime, by the finish of its own kind and person.
func TestCeremonySingleUseAndShortLived(t *testing.T) {
	f := newFixture(t)
	u := f.user(t, false)
	k, _ := f.register(t, f.s, u, "Key")
	ctx := context.Background()

	cer, _ := f.s.BeginLogin(ctx)
	response := k.Get(t, cer.Options)
	if _, _, err := f.s.FinishLogin(ctx, cer.Handle, response); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.s.FinishLogin(ctx, cer.Handle, response); !errors.Is(err, passkey.ErrFailed) {
		t.Fatalf("the same ceremony again: %v, want ErrFailed", err)
	}

	cer, _ = f.s.BeginLogin(ctx)
	f.clk.Advance(passkey.DefaultChallengeLifetime + time.Second)
	if _, _, err := f.s.FinishLogin(ctx, cer.Handle, k.Get(t, cer.Options)); !errors.Is(err, passkey.ErrFailed) {
		t.Fatalf("an expired ceremony: %v, want ErrFailed", err)
	}

	// A registration's ceremony is no sign-in's, and another person's
	// registration is not this one's.
	reg, _ := f.s.BeginRegistration(ctx, u)
	if _, _, err := f.s.FinishLogin(ctx, reg.Handle, k.Get(t, reg.Options)); !errors.Is(err, passkey.ErrFailed) {
		t.Fatalf("a registration ceremony finished as a sign-in: %v", err)
	}
	reg, _ = f.s.BeginRegistration(ctx, u)
	mallory := f.user(t, true)
	if _, err := f.s.FinishRegistration(ctx, mallory, reg.Handle, "Stolen", providertest.NewSoftKey(t, testRPID, testIssuer).Create(t, reg.Options)); !errors.Is(err, passkey.ErrRegistrationFailed) {
		t.Fatalf("another person's registration ceremony: %v, want ErrRegistrationFailed", err)
	}
	if _, _, err := f.s.FinishLogin(ctx, "", k.Get(t, cer.Options)); !errors.Is(err, passkey.ErrFailed) {
		t.Fatalf("no ceremony: %v", err)
	}
	// An assertion for another origin (a phishing site) fails.
	cer, _ = f.s.BeginLogin(ctx)
	k.Origin = "https://id.example.com.evil.example"
	if _, _, err := f.s.FinishLogin(ctx, cer.Handle, k.Get(t, cer.Options)); !errors.Is(err, passkey.ErrFailed) {
		t.Fatalf("an assertion made for another origin: %v", err)
	}
}

// TestClonedCounterRefused: an assertion whose signature counter is not
// above the stored one (WebAuthn §6.1.1) is refused, the passkey marked
// and the event audited; the passkey stays refused afterwards.
func TestClonedCounterRefused(t *testing.T) {
	f := newFixture(t)
	u := f.user(t, false)
	k, _ := f.register(t, f.s, u, "Key")
	if _, _, err := f.signIn(t, f.s, k); err != nil {
		t.Fatal(err)
	}
	clone := *k // a copy of the key, behind by one use
	if _, _, err := f.signIn(t, f.s, k); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.signIn(t, f.s, &clone); !errors.Is(err, passkey.ErrPossiblyCloned) {
		t.Fatalf("a counter that did not go up: %v, want ErrPossiblyCloned", err)
	}
	keys, _ := f.store.PasskeysOfUser(context.Background(), u.ID)
	if !keys[0].CloneWarning || keys[0].SignCount != 2 {
		t.Fatalf("after the clone: %+v; want marked, count kept at 2", keys[0])
	}
	if _, _, err := f.signIn(t, f.s, k); !errors.Is(err, passkey.ErrPossiblyCloned) {
		t.Fatalf("the marked passkey signed in: %v", err)
	}
	providertest.WantEvents(t, f.log.Events(), "passkey.registered", "login.succeeded", "login.succeeded",
		"passkey.clone_suspected", "login.failed passkey_possibly_cloned", "login.failed passkey_possibly_cloned")
}

// TestLastSignInMethodStays: a person without a password keeps their last
// passkey; with a password (or another passkey) it can go.
func TestLastSignInMethodStays(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	u := f.user(t, false)
	_, p1 := f.register(t, f.s, u, "One")
	if err := f.s.Remove(ctx, u, p1.ID); !errors.Is(err, passkey.ErrLastSignInMethod) {
		t.Fatalf("removing the only way to sign in: %v", err)
	}
	_, p2 := f.register(t, f.s, u, "Two")
	if err := f.s.Remove(ctx, u, p1.ID); err != nil {
		t.Fatalf("removing one of two: %v", err)
	}
	if err := f.s.Remove(ctx, u, p2.ID); !errors.Is(err, passkey.ErrLastSignInMethod) {
		t.Fatalf("removing the last one left: %v", err)
	}
	withPassword := f.user(t, true)
	_, p := f.register(t, f.s, withPassword, "Only")
	if err := f.s.Remove(ctx, withPassword, p.ID); err != nil {
		t.Fatalf("a person with a password removing their passkey: %v", err)
	}
	if err := f.s.Remove(ctx, u, p.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("removing someone else's passkey: %v", err)
	}
}

// TestSecondFactor: the second-factor pair checks an assertion of the
// known person's own passkeys (allowCredentials lists them) and returns
// the amr to add.
func TestSecondFactor(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	u := f.user(t, true)
	if _, err := f.s.BeginSecondFactor(ctx, u); !errors.Is(err, passkey.ErrNoPasskeys) {
		t.Fatalf("no passkeys: %v", err)
	}
	k, p := f.register(t, f.s, u, "Key")
	cer, err := f.s.BeginSecondFactor(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	o := providertest.ParseWebAuthnOptions(t, cer.Options)
	if len(o.PublicKey.AllowCredentials) != 1 || o.PublicKey.AllowCredentials[0].ID != base64.RawURLEncoding.EncodeToString(p.CredentialID) {
		t.Fatalf("allowCredentials = %+v; want the person's passkey", o.PublicKey.AllowCredentials)
	}
	amr, err := f.s.FinishSecondFactor(ctx, u, cer.Handle, k.Get(t, cer.Options))
	if err != nil || !slices.Equal(amr, []string{"hwk", "user"}) {
		t.Fatalf("FinishSecondFactor = %q, %v", amr, err)
	}
	// Another person's key does not pass for this person's.
	other := f.user(t, true)
	ko, _ := f.register(t, f.s, other, "Other")
	cer, _ = f.s.BeginSecondFactor(ctx, u)
	if _, err := f.s.FinishSecondFactor(ctx, u, cer.Handle, ko.Get(t, cer.Options)); !errors.Is(err, passkey.ErrFailed) {
		t.Fatalf("another person's passkey as a second factor: %v", err)
	}
	cer, _ = f.s.BeginSecondFactor(ctx, u)
	if _, err := f.s.FinishSecondFactor(ctx, other, cer.Handle, ko.Get(t, cer.Options)); !errors.Is(err, passkey.ErrFailed) {
		t.Fatalf("a ceremony of another person: %v", err)
	}
}

// TestIssuerOnAnIPAddress: an issuer on an IP address cannot be a relying
// party (its id must be a domain); the caller leaves passkeys out.
func TestIssuerOnAnIPAddress(t *testing.T) {
	f := newFixture(t)
	for _, iss := range []string{"http://127.0.0.1:8080", "https://[::1]"} {
		if _, err := passkey.New(passkey.Options{Store: f.store, Issuer: iss}); !errors.Is(err, passkey.ErrIssuerNotDomain) {
			t.Errorf("issuer %s: %v, want ErrIssuerNotDomain", iss, err)
		}
	}
}
