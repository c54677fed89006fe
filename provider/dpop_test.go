package provider

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"

	"github.com/gatehouse-dev/gatehouse/provider/dpop"
)

// newTestProver is a DPoP client with a fresh ES256 key.
func newTestProver(t *testing.T) *dpop.Prover {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p, err := dpop.NewProver(key, "ES256")
	if err != nil {
		t.Fatal(err)
	}
	return p
}
