package secret

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

const (
	s1 = "0123456789abcdef0123456789abcdef-one"
	s2 = "0123456789abcdef0123456789abcdef-two"
)

func TestKeyringRejectsShortSecrets(t *testing.T) {
	if _, err := NewKeyring("short", nil); err == nil {
		t.Fatal("short current secret accepted")
	}
	if _, err := NewKeyring(s1, []string{"short"}); err == nil {
		t.Fatal("short old secret accepted")
	}
}

func TestKeysArePurposeBound(t *testing.T) {
	k, _ := NewKeyring(s1, nil)
	if bytes.Equal(k.Key(PurposeTokenHMAC), k.Key(PurposeClientSecret)) {
		t.Fatal("two purposes derived the same key")
	}
	if len(k.Key(PurposeSigningKeys)) != 32 {
		t.Fatal("derived key is not 32 bytes")
	}
}

func TestSealOpenAcrossRotation(t *testing.T) {
	old, _ := NewKeyring(s1, nil)
	sealed, err := old.Seal(PurposeSigningKeys, []byte("private key"))
	if err != nil {
		t.Fatal(err)
	}
	rotated, _ := NewKeyring(s2, []string{s1})
	pt, err := rotated.Open(PurposeSigningKeys, sealed)
	if err != nil || string(pt) != "private key" {
		t.Fatalf("open after rotation: %q %v", pt, err)
	}
	other, _ := NewKeyring(s2, nil)
	if _, err := other.Open(PurposeSigningKeys, sealed); err != ErrOpen {
		t.Fatalf("opened without the old secret: %v", err)
	}
	if _, err := rotated.Open(PurposeTokenHMAC, sealed); err != ErrOpen {
		t.Fatal("opened under another purpose")
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := rotated.Open(PurposeSigningKeys, sealed); err != ErrOpen {
		t.Fatal("tampered value opened")
	}
	if _, err := rotated.Open(PurposeSigningKeys, []byte("x")); err != ErrOpen {
		t.Fatal("short value opened")
	}
}

func TestMACAcrossRotation(t *testing.T) {
	old, _ := NewKeyring(s1, nil)
	data := []byte("account and nonce")
	mac := old.MAC(PurposeDeviceCookie, data)
	if !old.VerifyMAC(PurposeDeviceCookie, data, mac) {
		t.Fatal("a MAC does not verify")
	}
	rotated, _ := NewKeyring(s2, []string{s1})
	if !rotated.VerifyMAC(PurposeDeviceCookie, data, mac) {
		t.Fatal("a MAC made before the rotation does not verify with the old secret listed")
	}
	if bytes.Equal(rotated.MAC(PurposeDeviceCookie, data), mac) {
		t.Fatal("a rotated keyring signs with the old secret")
	}
	other, _ := NewKeyring(s2, nil)
	for what, ok := range map[string]bool{
		"without the old secret": other.VerifyMAC(PurposeDeviceCookie, data, mac),
		"under another purpose":  rotated.VerifyMAC(PurposeTokenHMAC, data, mac),
		"of other data":          rotated.VerifyMAC(PurposeDeviceCookie, []byte("other"), mac),
		"truncated":              rotated.VerifyMAC(PurposeDeviceCookie, data, mac[:16]),
		"empty":                  rotated.VerifyMAC(PurposeDeviceCookie, data, nil),
	} {
		if ok {
			t.Errorf("a MAC verified %s", what)
		}
	}
}

func TestHasher(t *testing.T) {
	ctx := context.Background()
	old, _ := NewKeyring(s1, nil)
	h := NewHasher(old)
	hash, _ := h.Hash(ctx, []byte("gth_cs_secret"))
	if strings.Contains(string(hash), "gth_cs_secret") {
		t.Fatal("hash contains the secret")
	}
	if err := h.Compare(ctx, hash, []byte("gth_cs_secret")); err != nil {
		t.Fatalf("right secret refused: %v", err)
	}
	if err := h.Compare(ctx, hash, []byte("gth_cs_secreT")); err == nil {
		t.Fatal("wrong secret accepted")
	}
	rotated, _ := NewKeyring(s2, []string{s1})
	if err := NewHasher(rotated).Compare(ctx, hash, []byte("gth_cs_secret")); err != nil {
		t.Fatalf("old-secret hash refused after rotation: %v", err)
	}
	fresh, _ := NewKeyring(s2, nil)
	if err := NewHasher(fresh).Compare(ctx, hash, []byte("gth_cs_secret")); err == nil {
		t.Fatal("hash verified under an unrelated secret")
	}
	for _, bad := range []string{"", "hs256:", "hs256:!!!", "bcrypt$x"} {
		if err := h.Compare(ctx, []byte(bad), []byte("x")); err == nil {
			t.Fatalf("malformed hash %q accepted", bad)
		}
	}
}

func TestOpaque(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		s, err := NewOpaque(PrefixClientSecret)
		if err != nil {
			t.Fatal(err)
		}
		if len(s) != len(PrefixClientSecret)+bodyLen+checksumLen || !CheckOpaque(PrefixClientSecret, s) {
			t.Fatalf("bad secret %q", s)
		}
		if seen[s] {
			t.Fatal("duplicate secret")
		}
		seen[s] = true
		if CheckOpaque(PrefixAPIKey, s) {
			t.Fatal("accepted under the wrong prefix")
		}
		if CheckOpaque(PrefixClientSecret, s[:len(s)-1]) {
			t.Fatal("truncated secret accepted")
		}
		typo := []byte(s)
		i := len(PrefixClientSecret) + 5
		if typo[i] == 'a' {
			typo[i] = 'b'
		} else {
			typo[i] = 'a'
		}
		if CheckOpaque(PrefixClientSecret, string(typo)) {
			t.Fatalf("typo accepted: %s", typo)
		}
	}
}

func TestPassword(t *testing.T) {
	phc, err := HashPassword("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	ok, err := VerifyPassword(phc, "correct horse battery staple")
	if !ok || err != nil {
		t.Fatalf("right password refused: %v", err)
	}
	if ok, _ := VerifyPassword(phc, "wrong"); ok {
		t.Fatal("wrong password accepted")
	}
	if ok, err := VerifyPassword(DummyPasswordHash(), "anything"); ok || err != nil {
		t.Fatalf("dummy hash: %v %v", ok, err)
	}
	for _, bad := range []string{"", "$argon2id$v=19$m=999999999,t=2,p=1$c2FsdA$aGFzaA", "$bcrypt$x", "$argon2id$v=19$m=19456,t=2,p=1$!!$!!"} {
		if ok, err := VerifyPassword(bad, "x"); ok || err == nil {
			t.Fatalf("malformed hash %q: %v %v", bad, ok, err)
		}
	}
	if _, err := HashPassword(strings.Repeat("x", MaxPasswordLen+1)); err == nil {
		t.Fatal("overlong password hashed")
	}
}

func TestPepperSurvivesSecretRotation(t *testing.T) {
	ctx := context.Background()
	pepper := []byte("0123456789abcdef0123456789abcdef")
	a, _ := NewKeyring(s1, nil)
	ha := NewHasher(a.WithPepper(pepper, PurposeClientSecret))
	hash := ha.HashString("gth_cs_x")
	// A new system secret with nothing old listed: the pepper still matches.
	b, _ := NewKeyring(s2, nil)
	if err := NewHasher(b.WithPepper(pepper, PurposeClientSecret)).Compare(ctx, []byte(hash), []byte("gth_cs_x")); err != nil {
		t.Fatalf("peppered hash after secret rotation: %v", err)
	}
	// Without the pepper (or with another) it does not.
	if err := NewHasher(b).Compare(ctx, []byte(hash), []byte("gth_cs_x")); err == nil {
		t.Fatal("verified without the pepper")
	}
	// A hash made before the pepper existed verifies while its secret is
	// configured; new hashes use the pepper.
	before := NewHasher(a).HashString("gth_cs_y")
	if err := NewHasher(a.WithPepper(pepper, PurposeClientSecret)).Compare(ctx, []byte(before), []byte("gth_cs_y")); err != nil {
		t.Fatalf("a hash from before the pepper: %v", err)
	}
	if err := NewHasher(b.WithPepper(pepper, PurposeClientSecret)).Compare(ctx, []byte(before), []byte("gth_cs_y")); err == nil {
		t.Fatal("a pre-pepper hash verified without its secret")
	}
	if ha.HashString("gth_cs_y") == before {
		t.Fatal("new hashes do not use the pepper")
	}
	// Other purposes still follow the secret.
	if bytes.Equal(a.WithPepper(pepper, PurposeClientSecret).Key(PurposeSigningKeys), b.WithPepper(pepper, PurposeClientSecret).Key(PurposeSigningKeys)) {
		t.Fatal("a non-pepper purpose derived from the pepper")
	}
}
