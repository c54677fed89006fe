package keys

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	josev4 "github.com/go-jose/go-jose/v4"
	"github.com/ory/fosite/token/jwt"

	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore/bunstoretest"
)

var quiet = slog.New(slog.DiscardHandler)

const testSecret = "keys-test-secret-keys-test-secret-0123456789"

func newManager(t *testing.T, store Store, secretValue string) *Manager {
	t.Helper()
	ring, err := secret.NewKeyring(secretValue, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(context.Background(), Options{Store: store, Keyring: ring, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestNewCreatesOneCurrentKeyPerAlgorithm(t *testing.T) {
	store := bunstoretest.Open(t, "sqlite", bunstore.Options{})
	m := newManager(t, store, testSecret)
	var set josev4.JSONWebKeySet
	if err := json.Unmarshal(m.JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 2 {
		t.Fatalf("JWKS has %d keys, want 2", len(set.Keys))
	}
	for _, k := range set.Keys {
		if !k.IsPublic() || k.Use != "sig" || k.KeyID == "" {
			t.Fatalf("JWKS entry %+v: must be a public signing key with a kid", k)
		}
	}
	if strings.Contains(string(m.JWKS()), `"d"`) {
		t.Fatal("JWKS leaks private key material")
	}
	rows, _ := store.SigningKeys(context.Background())
	for _, r := range rows {
		if strings.Contains(string(r.PrivateKey), "PRIVATE") || len(r.PrivateKey) < 100 {
			t.Fatalf("private key of %s is not sealed", r.KID)
		}
	}
	// A second start loads the same keys instead of adding more.
	m2 := newManager(t, store, testSecret)
	if string(m2.JWKS()) != string(m.JWKS()) {
		t.Fatal("a restart changed the key set")
	}
}

// Several instances starting together on one database end with one
// current key per algorithm.
func TestConcurrentStartsAgree(t *testing.T) {
	bunstoretest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		store := bunstoretest.Open(t, dialect, bunstore.Options{})
		ring, _ := secret.NewKeyring(testSecret, nil)
		var wg sync.WaitGroup
		jwks := make([]string, 4)
		for i := range jwks {
			wg.Add(1)
			go func() {
				defer wg.Done()
				m, err := New(context.Background(), Options{Store: store, Keyring: ring, Logger: quiet})
				if err != nil {
					t.Error(err)
					return
				}
				jwks[i] = string(m.JWKS())
			}()
		}
		wg.Wait()
		rows, err := store.SigningKeys(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		current := map[string]int{}
		for _, r := range rows {
			if r.State == storage.KeyStateCurrent {
				current[r.Algorithm]++
			}
		}
		if current[RS256] != 1 || current[ES256] != 1 {
			t.Fatalf("current keys per algorithm: %v", current)
		}
		for _, j := range jwks[1:] {
			if j != jwks[0] {
				t.Fatal("instances disagree on the key set")
			}
		}
	})
}

func TestWrongSecretFailsLoudly(t *testing.T) {
	store := bunstoretest.Open(t, "sqlite", bunstore.Options{})
	newManager(t, store, testSecret)
	ring, _ := secret.NewKeyring("a-completely-different-secret-0123456789", nil)
	_, err := New(context.Background(), Options{Store: store, Keyring: ring, Logger: quiet})
	if err == nil || !strings.Contains(err.Error(), "GATEHOUSE_OLD_SECRETS") {
		t.Fatalf("want an error naming the fix, got %v", err)
	}
	// With the old secret listed, the keys open.
	ring, _ = secret.NewKeyring("a-completely-different-secret-0123456789", []string{testSecret})
	if _, err := New(context.Background(), Options{Store: store, Keyring: ring, Logger: quiet}); err != nil {
		t.Fatalf("old secret listed: %v", err)
	}
}

func TestSignerChoosesKeyByKid(t *testing.T) {
	ctx := context.Background()
	store := bunstoretest.Open(t, "sqlite", bunstore.Options{})
	m := newManager(t, store, testSecret)
	s := m.Signer()
	esKID, _ := m.CurrentKID(ES256)
	rsKID, _ := m.CurrentKID(RS256)
	claims := jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Minute).Unix()}

	for _, tc := range []struct {
		name      string
		header    map[string]interface{}
		wantAlg   string
		wantKID   string
		wantExtra string
	}{
		{"no kid signs RS256", map[string]interface{}{}, RS256, rsKID, ""},
		{"ES256 kid", map[string]interface{}{"kid": esKID}, ES256, esKID, ""},
		{"unknown kid falls back to RS256", map[string]interface{}{"kid": "gone"}, RS256, rsKID, ""},
		{"alg in the header is ignored", map[string]interface{}{"kid": esKID, "alg": "none", "typ": "at+jwt"}, ES256, esKID, "at+jwt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, sig, err := s.Generate(ctx, claims, &jwt.Headers{Extra: tc.header})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasSuffix(tok, "."+sig) {
				t.Fatal("signature is not the last segment")
			}
			parsed, err := s.Decode(ctx, tok)
			if err != nil {
				t.Fatal(err)
			}
			if parsed.Header["alg"] != tc.wantAlg || parsed.Header["kid"] != tc.wantKID {
				t.Fatalf("header %v, want alg %s kid %s", parsed.Header, tc.wantAlg, tc.wantKID)
			}
			if tc.wantExtra != "" && parsed.Header["typ"] != tc.wantExtra {
				t.Fatalf("typ %v", parsed.Header["typ"])
			}
			if got, err := s.Validate(ctx, tok); err != nil || got != sig {
				t.Fatalf("validate: %q %v", got, err)
			}
		})
	}
}

func TestSignerRejectsForgeries(t *testing.T) {
	ctx := context.Background()
	store := bunstoretest.Open(t, "sqlite", bunstore.Options{})
	m := newManager(t, store, testSecret)
	other := newManager(t, bunstoretest.Open(t, "sqlite", bunstore.Options{}), testSecret)
	claims := jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Minute).Unix()}

	foreign, _, err := other.Signer().Generate(ctx, claims, &jwt.Headers{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Signer().Decode(ctx, foreign); err == nil {
		t.Fatal("accepted a token signed by another key set")
	}
	good, _, _ := m.Signer().Generate(ctx, claims, &jwt.Headers{})
	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + strings.TrimRight(parts[1], "=") + "x." + parts[2]
	if _, err := m.Signer().Decode(ctx, tampered); err == nil {
		t.Fatal("accepted a tampered payload")
	}
	// alg=none with a real kid.
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"`+mustKID(t, m, RS256)+`"}`)) + "." + parts[1] + "."
	if _, err := m.Signer().Decode(ctx, none); err == nil {
		t.Fatal("accepted alg=none")
	}
	for _, junk := range []string{"", "a.b", "a.b.c.d", "not a token"} {
		if _, err := m.Signer().Validate(ctx, junk); err == nil {
			t.Fatalf("accepted %q", junk)
		}
	}
	// An expired token decodes with ValidationErrorExpired (fosite accepts
	// expired id_token_hints) but does not validate.
	expired, _, _ := m.Signer().Generate(ctx, jwt.MapClaims{"sub": "a", "exp": time.Now().Add(-time.Hour).Unix()}, &jwt.Headers{})
	_, err = m.Signer().Decode(ctx, expired)
	var ve *jwt.ValidationError
	if !errors.As(err, &ve) || !ve.Has(jwt.ValidationErrorExpired) {
		t.Fatalf("expired token: %v", err)
	}
}

func mustKID(t *testing.T, m *Manager, alg string) string {
	kid, err := m.CurrentKID(alg)
	if err != nil {
		t.Fatal(err)
	}
	return kid
}

// A rotation made by another instance on the same database is picked up by
// CheckForChanges: the new key is published and signs here too, and an
// unchanged set is not reloaded.
func TestCheckForChangesSeesOtherInstances(t *testing.T) {
	bunstoretest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		ctx := context.Background()
		store := bunstoretest.Open(t, dialect, bunstore.Options{})
		a := newManager(t, store, testSecret)
		b := newManager(t, store, testSecret)
		if changed, err := a.CheckForChanges(ctx); err != nil || changed {
			t.Fatalf("nothing changed yet: changed=%v err=%v", changed, err)
		}
		old := mustKID(t, a, ES256)
		res, err := b.Rotate(ctx, ES256, true)
		if err != nil {
			t.Fatal(err)
		}
		newKID := mustKID(t, b, ES256)
		if newKID == old {
			t.Fatalf("rotation kept kid %s (%+v)", old, res)
		}
		if strings.Contains(string(a.JWKS()), newKID) || mustKID(t, a, ES256) != old {
			t.Fatal("a knew of b's rotation before checking")
		}
		changed, err := a.CheckForChanges(ctx)
		if err != nil || !changed {
			t.Fatalf("after b rotated: changed=%v err=%v", changed, err)
		}
		if !strings.Contains(string(a.JWKS()), newKID) || !strings.Contains(string(a.JWKS()), old) {
			t.Fatalf("a's JWKS must publish the new key and keep the retired one: %s", a.JWKS())
		}
		if got := mustKID(t, a, ES256); got != newKID {
			t.Fatalf("a signs with %s, want b's new key %s", got, newKID)
		}
		if changed, err := a.CheckForChanges(ctx); err != nil || changed {
			t.Fatalf("second check: changed=%v err=%v", changed, err)
		}
	})
}
