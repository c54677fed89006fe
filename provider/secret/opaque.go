package secret

import (
	"crypto/rand"
	"fmt"
	"hash/crc32"
	"math/big"
	"strings"
)

// Prefixes of the opaque secrets gatehouse mints. They are gatehouse's own
// (not GitHub's "gh"), so secret scanners can be taught to find them.
const (
	PrefixClientSecret = "gth_cs_"
	PrefixAPIKey       = "gth_ak_"
)

const (
	base62Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	bodyLen        = 43 // 256 bits in base62 need 43 characters
	checksumLen    = 6  // CRC-32 in base62
)

// NewOpaque returns prefix + 256 random bits in base62 + a 6-character
// CRC-32 checksum of everything before it. base62 keeps the value safe in
// URLs, form bodies and HTTP Basic credentials without escaping.
func NewOpaque(prefix string) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("secret: random: %w", err)
	}
	body := leftPad(base62(new(big.Int).SetBytes(b)), bodyLen)
	return prefix + body + checksum(prefix+body), nil
}

// CheckOpaque reports whether s is well formed for prefix with a correct
// checksum: a typo or a truncated secret is caught without a database
// lookup.
func CheckOpaque(prefix, s string) bool {
	rest, ok := strings.CutPrefix(s, prefix)
	if !ok || len(rest) != bodyLen+checksumLen {
		return false
	}
	for i := 0; i < len(rest); i++ {
		if strings.IndexByte(base62Alphabet, rest[i]) < 0 {
			return false
		}
	}
	body := rest[:bodyLen]
	return rest[bodyLen:] == checksum(prefix+body)
}

func checksum(s string) string {
	return leftPad(base62(new(big.Int).SetUint64(uint64(crc32.ChecksumIEEE([]byte(s))))), checksumLen)
}

func base62(n *big.Int) string {
	if n.Sign() == 0 {
		return "0"
	}
	var out []byte
	base := big.NewInt(62)
	mod := new(big.Int)
	n = new(big.Int).Set(n)
	for n.Sign() > 0 {
		n.DivMod(n, base, mod)
		out = append(out, base62Alphabet[mod.Int64()])
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return string(out)
}

func leftPad(s string, n int) string {
	if len(s) >= n {
		return s
	}
	return strings.Repeat("0", n-len(s)) + s
}
