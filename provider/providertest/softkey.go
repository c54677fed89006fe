package providertest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"testing"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"
)

// SoftKey is a software authenticator for tests: it answers
// navigator.credentials.create and .get as a browser with a CTAP2
// authenticator would (WebAuthn §6.1 authenticator data, §6.5 "none"
// attestation, §6.3.3 assertion signature over authData ||
// SHA-256(clientDataJSON)), so the ceremonies are verified for real.
type SoftKey struct {
	RPID, Origin string
	id           []byte
	key          *ecdsa.PrivateKey
	userHandle   []byte
	Count        uint32
	// BackupEligible sets BE (and BS): a synced, multi-device passkey.
	BackupEligible bool
}

var b64url = base64.RawURLEncoding

func NewSoftKey(t testing.TB, rpID, origin string) *SoftKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 32)
	_, _ = rand.Read(id)
	return &SoftKey{RPID: rpID, Origin: origin, id: id, key: key}
}

const (
	flagUP = 0x01
	flagUV = 0x04
	flagBE = 0x08
	flagBS = 0x10
	flagAT = 0x40
)

func (k *SoftKey) authData(flags byte) []byte {
	rp := sha256.Sum256([]byte(k.RPID))
	flags |= flagUP | flagUV
	if k.BackupEligible {
		flags |= flagBE | flagBS
	}
	out := append(rp[:], flags)
	return binary.BigEndian.AppendUint32(out, k.Count)
}

func (k *SoftKey) clientData(typ, challenge string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": k.Origin, "crossOrigin": false})
	return b
}

// WebAuthnOptions is what the tests read of a begin's options.
type WebAuthnOptions struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		User      struct {
			ID string `json:"id"`
		} `json:"user"`
		AllowCredentials []struct {
			ID string `json:"id"`
		} `json:"allowCredentials"`
	} `json:"publicKey"`
}

func ParseWebAuthnOptions(t testing.TB, raw []byte) WebAuthnOptions {
	t.Helper()
	var o WebAuthnOptions
	if err := json.Unmarshal(raw, &o); err != nil {
		t.Fatalf("options %s: %v", raw, err)
	}
	return o
}

// Create answers a registration ceremony's options with a new
// credential (the PublicKeyCredential as JSON).
func (k *SoftKey) Create(t testing.TB, raw []byte) []byte {
	t.Helper()
	o := ParseWebAuthnOptions(t, raw)
	var err error
	if k.userHandle, err = b64url.DecodeString(o.PublicKey.User.ID); err != nil {
		t.Fatal(err)
	}
	cose, err := webauthncbor.Marshal(webauthncose.EC2PublicKeyData{
		PublicKeyData: webauthncose.PublicKeyData{KeyType: int64(webauthncose.EllipticKey), Algorithm: int64(webauthncose.AlgES256)},
		Curve:         1,
		XCoord:        k.key.PublicKey.X.FillBytes(make([]byte, 32)),
		YCoord:        k.key.PublicKey.Y.FillBytes(make([]byte, 32)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ad := k.authData(flagAT)
	ad = append(ad, make([]byte, 16)...) // AAGUID: none
	ad = binary.BigEndian.AppendUint16(ad, uint16(len(k.id)))
	ad = append(ad, k.id...)
	ad = append(ad, cose...)
	att, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": ad})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(map[string]any{
		"id": b64url.EncodeToString(k.id), "rawId": b64url.EncodeToString(k.id), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON":    b64url.EncodeToString(k.clientData("webauthn.create", o.PublicKey.Challenge)),
			"attestationObject": b64url.EncodeToString(att),
			"transports":        []string{"internal"},
		},
		"clientExtensionResults": map[string]any{},
	})
	return out
}

// Get answers an authentication ceremony's options with an assertion;
// the signature counter goes up by one first.
func (k *SoftKey) Get(t testing.TB, raw []byte) []byte {
	t.Helper()
	o := ParseWebAuthnOptions(t, raw)
	k.Count++
	ad := k.authData(0)
	cd := k.clientData("webauthn.get", o.PublicKey.Challenge)
	cdHash := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, ad...), cdHash[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(map[string]any{
		"id": b64url.EncodeToString(k.id), "rawId": b64url.EncodeToString(k.id), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON":    b64url.EncodeToString(cd),
			"authenticatorData": b64url.EncodeToString(ad),
			"signature":         b64url.EncodeToString(sig),
			"userHandle":        b64url.EncodeToString(k.userHandle),
		},
		"clientExtensionResults": map[string]any{},
	})
	return out
}
