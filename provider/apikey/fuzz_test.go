package apikey_test

import (
	"errors"
	"hash/crc32"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/provider/apikey"
)

// FuzzParse checks that Parse never panics and accepts exactly the strings
// an independent reading of the format accepts; whatever it accepts splits
// into parts that rebuild the same string. The seed corpus is in
// testdata/fuzz/FuzzParse (run: go test -fuzz FuzzParse ./provider/apikey).
func FuzzParse(f *testing.F) {
	key, _, _, err := apikey.Mint()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(key)
	f.Fuzz(func(t *testing.T, s string) {
		id, secretPart, err := apikey.Parse(s)
		want := wellFormed(s)
		if err != nil {
			if !errors.Is(err, apikey.ErrMalformed) {
				t.Fatalf("Parse(%q): error %v is not ErrMalformed", s, err)
			}
			if want {
				t.Fatalf("Parse(%q) refused a well-formed key", s)
			}
			return
		}
		if !want {
			t.Fatalf("Parse(%q) accepted a malformed key", s)
		}
		if len(id) != apikey.IDLen || len(secretPart) != apikey.SecretLen {
			t.Fatalf("Parse(%q): parts of lengths %d and %d", s, len(id), len(secretPart))
		}
		unsum := apikey.Prefix + id + secretPart
		if rebuilt := unsum + apikey.Checksum(unsum); rebuilt != s {
			t.Fatalf("Parse(%q) parts rebuild %q", s, rebuilt)
		}
	})
}

// wellFormed is the format read from its description, written apart from
// the package's code: it decodes the checksum where Parse encodes one.
func wellFormed(s string) bool {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	if len(s) != 78 || s[:7] != "gth_ak_" {
		return false
	}
	for _, r := range s[7:] {
		if !strings.ContainsRune(alphabet, r) {
			return false
		}
	}
	var sum uint64
	for _, c := range []byte(s[72:]) {
		sum = sum*62 + uint64(strings.IndexByte(alphabet, c))
	}
	return sum == uint64(crc32.ChecksumIEEE([]byte(s[:72])))
}
