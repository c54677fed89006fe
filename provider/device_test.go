package provider

import (
	"strings"
	"testing"
)

// TestNormalizeUserCode: a user code is typed in any case, with or without
// its dash or spaces (RFC 8628 §6.1); anything outside its alphabet, or of
// another length, is no user code.
func TestNormalizeUserCode(t *testing.T) {
	for in, want := range map[string]string{
		"BCDF-GHJK": "BCDFGHJK", "bcdf-ghjk": "BCDFGHJK", "bcdf ghjk": "BCDFGHJK", " BcDfGhJk ": "BCDFGHJK",
		"BCDF-GHJ": "", "BCDF-GHJKL": "", "ABCD-EFGH": "", "BCDF-GHJ0": "", "BCDF/GHJK": "", "": "",
		"BCDF-GHJ\u212a": "", // KELVIN SIGN: upper-cases to nothing in the alphabet
	} {
		got, ok := NormalizeUserCode(in)
		if got != want || ok != (want != "") {
			t.Errorf("NormalizeUserCode(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for range 100 {
		c, err := newUserCode()
		if err != nil {
			t.Fatal(err)
		}
		if n, ok := NormalizeUserCode(FormatUserCode(c)); !ok || n != c {
			t.Fatalf("a new code %q does not normalise to itself: %q, %v", c, n, ok)
		}
	}
}

// FuzzNormalizeUserCode: whatever is typed, normalising never panics, and
// what it accepts is 8 letters of the alphabet.
func FuzzNormalizeUserCode(f *testing.F) {
	for _, s := range []string{"BCDF-GHJK", "bcdf ghjk", "", "ÄÖÜ-ßßßß", "BCDF\x00GHJK", strings.Repeat("B", 100)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := NormalizeUserCode(s)
		if !ok {
			return
		}
		if len(n) != userCodeLen || strings.Trim(n, userCodeAlphabet) != "" {
			t.Fatalf("NormalizeUserCode(%q) = %q", s, n)
		}
	})
}
