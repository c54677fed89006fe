package login

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// Device cookies, after OWASP's "Slow Down Online Guessing Attacks with
// Device Cookies": a browser that signs in to an account gets a signed
// entry naming the account. A password sign-in from a browser with a valid
// entry for the typed account is judged by that browser's own failure
// record only; every other browser is judged by the account-wide record.
// So an attacker who guesses from anywhere else can lock the account for
// unknown browsers, but never the owner's own browsers, and a stolen
// entry buys no more guesses than the lock of its own record allows.
//
// One cookie holds up to maxDeviceAccounts entries (the accounts signed in
// to most recently first), each
//
//	base64url(account (32 bytes) || nonce (16) || issued at (8, Unix seconds) || MAC (32))
//
// joined by ".", where account is the decoded Account of the e-mail
// and MAC is HMAC-SHA256 under the system secret's PurposeDeviceCookie key
// (old secrets still verify). The failure record of a known browser is
// keyed by the SHA-256 of its nonce.

// DeviceCookieLifetime is how long a browser stays known to an account
// after it last signed in there (the cookie's expiry, and the oldest entry
// accepted).
const DeviceCookieLifetime = 365 * 24 * time.Hour

const (
	// maxDeviceAccounts is how many accounts one browser is known to.
	maxDeviceAccounts = 5
	deviceNonceLen    = 16
	deviceSignedLen   = sha256.Size + deviceNonceLen + 8
	deviceEntryLen    = deviceSignedLen + sha256.Size
	// deviceEncodedLen is the length of an entry in unpadded base64url.
	deviceEncodedLen = (deviceEntryLen*8 + 5) / 6
	// maxDeviceCookieLen bounds what is parsed: a longer cookie is ignored.
	maxDeviceCookieLen = maxDeviceAccounts * (deviceEncodedLen + 1)
)

// deviceEntry is one verified entry of a device cookie.
type deviceEntry struct {
	account string // Account, hex
	device  string // the key of the browser's failure record
	encoded string // the entry as it was in the cookie
}

// deviceEntries returns the valid entries of a device cookie, in its
// order: those whose MAC verifies and that are not older than
// DeviceCookieLifetime at now. Anything else is skipped, not an error: a
// browser with a damaged or forged cookie is simply unknown.
func (s *Service) deviceEntries(cookie string, now time.Time) []deviceEntry {
	if cookie == "" || len(cookie) > maxDeviceCookieLen {
		return nil
	}
	parts := strings.Split(cookie, ".")
	if len(parts) > maxDeviceAccounts {
		parts = parts[:maxDeviceAccounts]
	}
	var out []deviceEntry
	for _, enc := range parts {
		raw, err := base64.RawURLEncoding.DecodeString(enc)
		if err != nil || len(raw) != deviceEntryLen {
			continue
		}
		signed, mac := raw[:deviceSignedLen], raw[deviceSignedLen:]
		if !s.ring.VerifyMAC(secret.PurposeDeviceCookie, signed, mac) {
			continue
		}
		issued := time.Unix(int64(binary.BigEndian.Uint64(signed[sha256.Size+deviceNonceLen:])), 0)
		if now.Sub(issued) > DeviceCookieLifetime {
			continue
		}
		nonceHash := sha256.Sum256(signed[sha256.Size : sha256.Size+deviceNonceLen])
		out = append(out, deviceEntry{
			account: hex.EncodeToString(signed[:sha256.Size]),
			device:  hex.EncodeToString(nonceHash[:]),
			encoded: enc,
		})
	}
	return out
}

// knownDevice returns the device under which the browser's device cookie
// knows account, or "" when it does not.
func (s *Service) knownDevice(cookie, account string, now time.Time) string {
	for _, e := range s.deviceEntries(cookie, now) {
		if e.account == account {
			return e.device
		}
	}
	return ""
}

// RememberDevice returns the device cookie for a browser that presented
// cookie ("" for none) and has just signed in as u: a new entry for u's
// account (a new nonce, so each sign-in starts the browser's failure
// record afresh) followed by the browser's other valid entries, at most
// maxDeviceAccounts. Set it for DeviceCookieLifetime.
func (s *Service) RememberDevice(cookie string, u *storage.User) (string, error) {
	now := s.now()
	account, err := hex.DecodeString(Account(u.Email))
	if err != nil {
		return "", fmt.Errorf("login: device cookie: %w", err)
	}
	signed := make([]byte, 0, deviceEntryLen)
	signed = append(signed, account...)
	nonce := make([]byte, deviceNonceLen)
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("login: device cookie: random: %w", err)
	}
	signed = append(signed, nonce...)
	signed = binary.BigEndian.AppendUint64(signed, uint64(now.Unix()))
	entry := append(signed, s.ring.MAC(secret.PurposeDeviceCookie, signed)...)
	entries := []string{base64.RawURLEncoding.EncodeToString(entry)}
	for _, e := range s.deviceEntries(cookie, now) {
		if e.account != Account(u.Email) && len(entries) < maxDeviceAccounts {
			entries = append(entries, e.encoded)
		}
	}
	return strings.Join(entries, "."), nil
}
