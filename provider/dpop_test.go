package provider

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"github.com/ory/fosite"

	"github.com/gatehouse-dev/gatehouse/provider/dpop"
	"github.com/gatehouse-dev/gatehouse/storage"
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

// TestBindDPoP: what an access token is bound to, grant by grant (RFC 9449
// §5, §5.2, §10), given the key the grant is bound to already (jkt) and
// the request's proof.
func TestBindDPoP(t *testing.T) {
	proof := &dpop.Proof{JKT: "key-a"}
	other := &dpop.Proof{JKT: "key-b"}
	public := &storage.Client{ID: "spa", Public: true}
	confidential := &storage.Client{ID: "web"}
	bound := &storage.Client{ID: "agent", DPoPBoundAccessTokens: true}
	for _, tc := range []struct {
		name    string
		grant   string
		client  *storage.Client
		jkt     string
		proof   *dpop.Proof
		wantJKT string
		refused string
	}{
		{"bearer stays bearer", GrantClientCredentials, confidential, "", nil, "", ""},
		{"a proof binds", GrantClientCredentials, confidential, "", proof, "key-a", ""},
		{"dpop_bound_access_tokens without a proof", GrantClientCredentials, bound, "", nil, "", "dpop_bound_access_tokens"},
		{"dpop_bound_access_tokens with a proof", GrantClientCredentials, bound, "", proof, "key-a", ""},
		{"public refresh, same key", GrantRefreshToken, public, "key-a", proof, "key-a", ""},
		{"public refresh, other key", GrantRefreshToken, public, "key-a", other, "", "bound to"},
		{"public refresh, no proof", GrantRefreshToken, public, "key-a", nil, "", "bound to a key"},
		{"public refresh of a Bearer grant binds it", GrantRefreshToken, public, "", proof, "key-a", ""},
		{"confidential refresh rebinds", GrantRefreshToken, confidential, "key-a", other, "key-b", ""},
		{"confidential refresh back to Bearer", GrantRefreshToken, confidential, "key-a", nil, "", ""},
		{"code bound by dpop_jkt, same key", GrantAuthorizationCode, confidential, "key-a", proof, "key-a", ""},
		{"code bound by dpop_jkt, other key", GrantAuthorizationCode, confidential, "key-a", other, "", "dpop_jkt"},
		{"code bound by dpop_jkt, no proof", GrantAuthorizationCode, public, "key-a", nil, "", "dpop_jkt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sess := NewSession()
			sess.JKT = tc.jkt
			ar := fosite.NewAccessRequest(sess)
			ar.GrantTypes = fosite.Arguments{tc.grant}
			ar.Client = tc.client
			err := bindDPoP(ar, tc.proof)
			if tc.refused != "" {
				var refused *dpop.Error
				if !errors.As(err, &refused) || refused.Code != dpop.CodeInvalidProof || !strings.Contains(refused.Reason, tc.refused) {
					t.Fatalf("err = %v; want invalid_dpop_proof about %q", err, tc.refused)
				}
				return
			}
			if err != nil || sess.JKT != tc.wantJKT {
				t.Fatalf("JKT = %q, %v; want %q", sess.JKT, err, tc.wantJKT)
			}
		})
	}
}
