package apikey_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/provider/apikey"
)

const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

func mint(t testing.TB) (key, id, secretPart string) {
	t.Helper()
	key, id, secretPart, err := apikey.Mint()
	if err != nil {
		t.Fatal(err)
	}
	return key, id, secretPart
}

func TestMintFormat(t *testing.T) {
	if apikey.KeyLen != 78 {
		t.Fatalf("KeyLen = %d, want 78", apikey.KeyLen)
	}
	seenKeys := map[string]bool{}
	seenIDs := map[string]bool{}
	counts := map[byte]int{}
	const n = 5000
	for range n {
		key, id, secretPart := mint(t)
		if len(key) != 78 || !strings.HasPrefix(key, "gth_ak_") || !apikey.LooksLikeKey(key) {
			t.Fatalf("bad key %q", key)
		}
		if len(id) != apikey.IDLen || len(secretPart) != apikey.SecretLen {
			t.Fatalf("id %q / secret of length %d", id, len(secretPart))
		}
		if key[len("gth_ak_"):len("gth_ak_")+apikey.IDLen+apikey.SecretLen] != id+secretPart {
			t.Fatalf("key %q does not embed id and secret in order", key)
		}
		for i := len("gth_ak_"); i < len(key); i++ {
			if strings.IndexByte(alphabet, key[i]) < 0 {
				t.Fatalf("key %q has a non-base62 character at %d", key, i)
			}
			if i < len(key)-apikey.ChecksumLen {
				counts[key[i]]++
			}
		}
		pid, psecret, err := apikey.Parse(key)
		if err != nil || pid != id || psecret != secretPart {
			t.Fatalf("Parse(%q) = %q, %q, %v", key, pid, psecret, err)
		}
		if seenKeys[key] || seenIDs[id] {
			t.Fatalf("duplicate key or id after %d mints", len(seenKeys))
		}
		seenKeys[key], seenIDs[id] = true, true
	}
	// Every character should be used about equally often (a skew would mean
	// a biased generator and fewer bits than claimed): each of the 62
	// expects n*65/62 ≈ 5242 uses; allow ±15%.
	want := float64(n*(apikey.IDLen+apikey.SecretLen)) / 62
	for i := range len(alphabet) {
		if got := float64(counts[alphabet[i]]); got < want*0.85 || got > want*1.15 {
			t.Errorf("character %q used %v times, want about %v", alphabet[i], got, want)
		}
	}
}

func TestLooksLikeKey(t *testing.T) {
	for s, want := range map[string]bool{
		"gth_ak_":          true,
		"gth_ak_whatever":  true,
		"gth_cs_abc":       false,
		"GTH_AK_abc":       false,
		"":                 false,
		" gth_ak_abc":      false,
		"client-secret-01": false,
	} {
		if got := apikey.LooksLikeKey(s); got != want {
			t.Errorf("LooksLikeKey(%q) = %v", s, got)
		}
	}
}

// TestParseRejectsEveryTypo changes each character of a key to every other
// printable ASCII character (and a few non-ASCII bytes): the checksum, the
// prefix or the alphabet check must catch each one.
func TestParseRejectsEveryTypo(t *testing.T) {
	for range 5 {
		key, _, _ := mint(t)
		for i := range len(key) {
			for c := byte(0); c < 255; c++ {
				if c == key[i] || (c > 0x7e && c != 0x80 && c != 0xc3 && c != 0xff) {
					continue
				}
				typo := key[:i] + string([]byte{c}) + key[i+1:]
				if _, _, err := apikey.Parse(typo); !errors.Is(err, apikey.ErrMalformed) {
					t.Fatalf("typo %q (position %d) accepted: %v", typo, i, err)
				}
			}
		}
	}
}

func TestParseRejectsTruncatedAndExtended(t *testing.T) {
	key, _, _ := mint(t)
	for n := range len(key) {
		if _, _, err := apikey.Parse(key[:n]); !errors.Is(err, apikey.ErrMalformed) {
			t.Fatalf("prefix of length %d accepted", n)
		}
		if _, _, err := apikey.Parse(key[len(key)-n:]); !errors.Is(err, apikey.ErrMalformed) {
			t.Fatalf("suffix of length %d accepted", n)
		}
	}
	for _, bad := range []string{key + "0", " " + key, key + "\n", key[:40] + key[41:] + "0"} {
		if _, _, err := apikey.Parse(bad); !errors.Is(err, apikey.ErrMalformed) {
			t.Fatalf("%q accepted", bad)
		}
	}
}

func TestParseRejectsOtherShapes(t *testing.T) {
	key, _, _ := mint(t)
	body := key[len("gth_ak_"):]
	for name, bad := range map[string]string{
		"empty":                  "",
		"client secret prefix":   "gth_cs_" + body,
		"upper-case prefix":      "GTH_AK_" + body,
		"no prefix, same length": "xxxxxxx" + body,
		"swapped id and secret":  "gth_ak_" + body[apikey.IDLen:apikey.IDLen+apikey.SecretLen] + body[:apikey.IDLen] + body[len(body)-apikey.ChecksumLen:],
		"unicode":                "gth_ak_" + strings.Repeat("é", 35) + "0",
		"all zeros wrong sum":    "gth_ak_" + strings.Repeat("0", 71),
	} {
		if _, _, err := apikey.Parse(bad); !errors.Is(err, apikey.ErrMalformed) {
			t.Errorf("%s: %q accepted", name, bad)
		}
	}
	// The checksum covers the prefix too: a body with a correct checksum
	// under another prefix is refused.
	unsum := "gth_ak_" + strings.Repeat("A", apikey.IDLen+apikey.SecretLen)
	if _, _, err := apikey.Parse(unsum + apikey.Checksum(unsum)); err != nil {
		t.Fatalf("hand-built key refused: %v", err)
	}
	other := "gth_cs_" + strings.Repeat("A", apikey.IDLen+apikey.SecretLen)
	if _, _, err := apikey.Parse("gth_ak_" + other[7:] + apikey.Checksum(other)); err == nil {
		t.Fatal("checksum computed without the prefix accepted")
	}
}

func BenchmarkParse(b *testing.B) {
	key, _, _ := mint(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := apikey.Parse(key); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseMalformed(b *testing.B) {
	key, _, _ := mint(b)
	bad := key[:len(key)-1] + "!"
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := apikey.Parse(bad); err == nil {
			b.Fatal("accepted")
		}
	}
}

func BenchmarkMint(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, _, _, err := apikey.Mint(); err != nil {
			b.Fatal(err)
		}
	}
}

// TestKnownKey pins the format with a key built by another implementation
// (Python's zlib.crc32), so that secret scanners can check the checksum.
func TestKnownKey(t *testing.T) {
	const key = "gth_ak_EXAMPLEKEYID0000000000NOTaREALsecretNOTaREALsecretNOTaREALsecret01yuRgv"
	id, secretPart, err := apikey.Parse(key)
	if err != nil || id != "EXAMPLEKEYID0000000000" || secretPart != "NOTaREALsecretNOTaREALsecretNOTaREALsecret0" {
		t.Fatalf("Parse = %q, %q, %v", id, secretPart, err)
	}
}

func TestValidID(t *testing.T) {
	_, id, _ := mint(t)
	if !apikey.ValidID(id) {
		t.Fatalf("minted id %q refused", id)
	}
	for _, bad := range []string{"", id[1:], id + "0", id[:21] + "-", id[:21] + "é"[:1], "../../../etc/passwd0000"} {
		if apikey.ValidID(bad) {
			t.Errorf("ValidID(%q) = true", bad)
		}
	}
}
