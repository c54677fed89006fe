package main

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
)

// RFC 6238 Appendix B (SHA-1 rows), the 8-digit values cut to the 6 digits
// gatehouse enrols (the code is the value mod 10^digits, RFC 4226 §5.3).
func TestTOTPCodeRFC6238Vectors(t *testing.T) {
	key := []byte("12345678901234567890")
	for _, tc := range []struct {
		unix int64
		want string
	}{
		{59, "287082"},
		{1111111109, "081804"},
		{1111111111, "050471"},
		{1234567890, "005924"},
		{2000000000, "279037"},
		{20000000000, "353130"},
	} {
		if got := totpCode(key, totpStep(time.Unix(tc.unix, 0))); got != tc.want {
			t.Errorf("T=%d: %s, want %s", tc.unix, got, tc.want)
		}
	}
}

// The pool hands each account out once per step, then reports itself used
// up until the next step.
func TestTOTPPoolOncePerStep(t *testing.T) {
	p := &totpPool{accounts: []*totpAccount{{username: "a", key: []byte("k1")}, {username: "b", key: []byte("k2")}}}
	now := time.Unix(1_000_000_020, 0)
	seen := map[string]bool{}
	for range 2 {
		u, code, ok := p.take(now)
		if !ok || seen[u] || len(code) != totpDigits {
			t.Fatalf("take: %q %q %v (seen %v)", u, code, ok, seen)
		}
		seen[u] = true
	}
	if u, _, ok := p.take(now.Add(5 * time.Second)); ok {
		t.Fatalf("a third sign-in in the same step got %q", u)
	}
	if _, _, ok := p.take(now.Add(totpPeriod * time.Second)); !ok {
		t.Fatal("the next step has no account")
	}
}

func TestPoolUsernames(t *testing.T) {
	if got := poolUsernames("u%d@example.com", 3); len(got) != 3 || got[0] != "u1@example.com" || got[2] != "u3@example.com" {
		t.Fatalf("%v", got)
	}
	if got := poolUsernames("one@example.com", 1); len(got) != 1 || got[0] != "one@example.com" {
		t.Fatalf("%v", got)
	}
}

type testUser struct {
	id    []byte
	creds []webauthn.Credential
}

func (u *testUser) WebAuthnID() []byte                         { return u.id }
func (u *testUser) WebAuthnName() string                       { return "bench@example.com" }
func (u *testUser) WebAuthnDisplayName() string                { return "bench" }
func (u *testUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

// The software passkey's registration and assertion are what a WebAuthn
// relying party accepts: go-webauthn (the library gatehouse verifies them
// with) runs both ceremonies over the hand-made CBOR attestation object,
// COSE key and signature, with user verification required.
func TestSoftPasskeyCeremonies(t *testing.T) {
	rp, err := webauthn.New(&webauthn.Config{RPID: "localhost", RPDisplayName: "gatehouse", RPOrigins: []string{"http://localhost:8080"}})
	if err != nil {
		t.Fatal(err)
	}
	k, err := newSoftPasskey("localhost", "http://localhost:8080")
	if err != nil {
		t.Fatal(err)
	}
	u := &testUser{id: []byte("user-handle-1")}
	options := func(v any) webauthnOptions {
		raw, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var o webauthnOptions
		if err := json.Unmarshal(raw, &o); err != nil {
			t.Fatal(err)
		}
		return o
	}

	creation, session, err := rp.BeginRegistration(u, webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
		ResidentKey: protocol.ResidentKeyRequirementRequired, UserVerification: protocol.VerificationRequired,
	}))
	if err != nil {
		t.Fatal(err)
	}
	created, err := k.create(options(creation))
	if err != nil {
		t.Fatal(err)
	}
	cc, err := protocol.ParseCredentialCreationResponseBytes(created)
	if err != nil {
		t.Fatalf("registration does not parse: %v\n%s", err, created)
	}
	cred, err := rp.CreateCredential(u, *session, cc)
	if err != nil {
		t.Fatalf("registration refused: %v", err)
	}
	u.creds = append(u.creds, *cred)

	request, session, err := rp.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 { // the counter stays 0, as a synced passkey's does, and is accepted again
		asserted, err := k.get(options(request))
		if err != nil {
			t.Fatal(err)
		}
		ca, err := protocol.ParseCredentialRequestResponseBytes(asserted)
		if err != nil {
			t.Fatalf("assertion does not parse: %v\n%s", err, asserted)
		}
		got, err := rp.ValidateDiscoverableLogin(func(_, handle []byte) (webauthn.User, error) {
			if string(handle) != string(u.id) {
				t.Fatalf("user handle %q", handle)
			}
			return u, nil
		}, *session, ca)
		if err != nil {
			t.Fatalf("assertion %d refused: %v", i, err)
		}
		if got.Authenticator.CloneWarning {
			t.Fatalf("assertion %d: clone warning", i)
		}
		u.creds[0] = *got
	}
}
