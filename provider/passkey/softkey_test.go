package passkey_test

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

// softKey is a software authenticator for the tests: it answers
// navigator.credentials.create and .get as a browser with a CTAP2
// authenticator would (WebAuthn §6.1 authenticator data, §6.5 "none"
// attestation, §6.3.3 assertion signature over authData ||
// SHA-256(clientDataJSON)), so the ceremonies are verified for real.
type softKey struct {
	rpID, origin string
	id           []byte
	key          *ecdsa.PrivateKey
	userHandle   []byte
	count        uint32
	// backupEligible sets BE (and BS): a synced, multi-device passkey.
	backupEligible bool
}

var b64 = base64.RawURLEncoding

func newSoftKey(t *testing.T, rpID, origin string) *softKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 32)
	_, _ = rand.Read(id)
	return &softKey{rpID: rpID, origin: origin, id: id, key: key}
}

const (
	flagUP = 0x01
	flagUV = 0x04
	flagBE = 0x08
	flagBS = 0x10
	flagAT = 0x40
)

func (k *softKey) authData(flags byte) []byte {
	rp := sha256.Sum256([]byte(k.rpID))
	flags |= flagUP | flagUV
	if k.backupEligible {
		flags |= flagBE | flagBS
	}
	out := append(rp[:], flags)
	return binary.BigEndian.AppendUint32(out, k.count)
}

func (k *softKey) clientData(typ, challenge string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": k.origin, "crossOrigin": false})
	return b
}

// options reads a begin's options.
type options struct {
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

func parseOptions(t *testing.T, raw []byte) options {
	t.Helper()
	var o options
	if err := json.Unmarshal(raw, &o); err != nil {
		t.Fatalf("options %s: %v", raw, err)
	}
	return o
}

// create answers a registration ceremony's options with a new
// credential (the PublicKeyCredential as JSON).
func (k *softKey) create(t *testing.T, raw []byte) []byte {
	t.Helper()
	o := parseOptions(t, raw)
	var err error
	if k.userHandle, err = b64.DecodeString(o.PublicKey.User.ID); err != nil {
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
		"id": b64.EncodeToString(k.id), "rawId": b64.EncodeToString(k.id), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(k.clientData("webauthn.create", o.PublicKey.Challenge)),
			"attestationObject": b64.EncodeToString(att),
			"transports":        []string{"internal"},
		},
		"clientExtensionResults": map[string]any{},
	})
	return out
}

// get answers an authentication ceremony's options with an assertion;
// the signature counter goes up by one first.
func (k *softKey) get(t *testing.T, raw []byte) []byte {
	t.Helper()
	o := parseOptions(t, raw)
	k.count++
	ad := k.authData(0)
	cd := k.clientData("webauthn.get", o.PublicKey.Challenge)
	cdHash := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, ad...), cdHash[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(map[string]any{
		"id": b64.EncodeToString(k.id), "rawId": b64.EncodeToString(k.id), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(cd),
			"authenticatorData": b64.EncodeToString(ad),
			"signature":         b64.EncodeToString(sig),
			"userHandle":        b64.EncodeToString(k.userHandle),
		},
		"clientExtensionResults": map[string]any{},
	})
	return out
}
