package admin

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/provider/providertest"
	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// registrationToken makes an initial access token as an operator does.
func (f *fixture) registrationToken(t *testing.T, name string, expiresIn time.Duration) (*storage.RegistrationToken, string) {
	t.Helper()
	rt, plain, err := f.a.CreateRegistrationToken(context.Background(), nil, name, expiresIn)
	if err != nil {
		t.Fatal(err)
	}
	return rt, plain
}

func TestRegistrationTokens(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	if _, _, err := NewRegistrationToken(" ", 0, f.Ring, f.Clock.Now()); err == nil {
		t.Fatal("empty name accepted")
	}
	if _, _, err := NewRegistrationToken("x", -time.Second, f.Ring, f.Clock.Now()); err == nil {
		t.Fatal("negative lifetime accepted")
	}
	rt, plain := f.registrationToken(t, "partners", time.Hour)
	if !secret.CheckOpaque(PrefixRegistrationToken, plain) || strings.Contains(rt.Hash, plain) || !strings.HasPrefix(rt.Hash, "hs256:") {
		t.Fatalf("token %q stored as %q", plain, rt.Hash)
	}
	// The hash is secret.Hasher's construction with the client-secret keys.
	if secret.NewHasher(f.Ring).HashString(plain) != rt.Hash {
		t.Fatal("hash differs from secret.Hasher's")
	}
	got, err := FindRegistrationToken(ctx, f.Store, f.Ring, plain)
	if err != nil || got.ID != rt.ID || got.Name != "partners" {
		t.Fatalf("find: %+v %v", got, err)
	}
	last := "x" // the tampered token must differ from plain
	if strings.HasSuffix(plain, "x") {
		last = "y"
	}
	for _, bad := range []string{"", "gth_it_x", strings.Replace(plain, "gth_it_", "gth_cs_", 1), plain[:len(plain)-1] + last} {
		if _, err := FindRegistrationToken(ctx, f.Store, f.Ring, bad); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	// After the system secret is rotated the token is found under the old key.
	rotated, _ := secret.NewKeyring("a-brand-new-system-secret-for-the-rotation-test", []string{providertest.Secret})
	if got, err := FindRegistrationToken(ctx, f.Store, rotated, plain); err != nil || got.ID != rt.ID {
		t.Fatalf("after rotation: %v", err)
	}
	unrelated, _ := secret.NewKeyring("a-brand-new-system-secret-for-the-rotation-test", nil)
	if _, err := FindRegistrationToken(ctx, f.Store, unrelated, plain); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("found without the old secret: %v", err)
	}

	if s := RegistrationTokenState(rt, f.Clock.Now()); s != RegistrationTokenActive {
		t.Fatal(s)
	}
	if s := RegistrationTokenState(rt, f.Clock.Now().Add(time.Hour)); s != RegistrationTokenExpired {
		t.Fatal(s)
	}
	forever, _ := f.registrationToken(t, "forever", 0)
	if !forever.ExpiresAt.IsZero() || RegistrationTokenState(forever, f.Clock.Now().Add(24*365*time.Hour)) != RegistrationTokenActive {
		t.Fatalf("a token without expiry: %+v", forever)
	}
	forever.RevokedAt = f.Clock.Now()
	if RegistrationTokenState(forever, f.Clock.Now()) != RegistrationTokenRevoked {
		t.Fatal("revoked token not revoked")
	}
}
