package handlers

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/provider/dpop"
)

// FuzzOwnAPIsCredential: whatever Authorization and DPoP headers a
// request to userinfo, the key API or the admin API brings, with a
// DPoP-bound token or without, the answer is a 2xx or 4xx, never a 5xx
// or a panic; and a refusal always carries the Bearer and DPoP
// challenges. api picks the API (0 userinfo, 1 the key API, 2 the admin
// API); mode bit 0 sends the proof twice, bit 1 uses POST.
func FuzzOwnAPIsCredential(f *testing.F) {
	const issuer = "http://127.0.0.1:8080"
	fx := newFixture(f, issuer)
	c, secret := fx.client(f, admin.ClientSpec{Name: "robot", Scopes: []string{provider.ScopeAdmin, provider.ScopeAPIKeys}, FirstParty: true})
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	prover, err := dpop.NewProver(key, "ES256")
	if err != nil {
		f.Fatal(err)
	}
	tokenProof, err := prover.Proof(http.MethodPost, issuer+provider.PathToken, "", "")
	if err != nil {
		f.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, provider.PathToken, strings.NewReader("grant_type=client_credentials&scope=gatehouse:admin"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set(dpop.HeaderName, tokenProof)
	req.SetBasicAuth(c.ID, secret)
	rec := fx.do(req)
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &tok); err != nil || tok.TokenType != dpop.TokenType {
		f.Fatalf("token: %d %s", rec.Code, rec.Body.String())
	}
	at := tok.AccessToken
	good, err := prover.Proof(http.MethodGet, issuer+provider.PathUserinfo, at, "")
	if err != nil {
		f.Fatal(err)
	}
	adminGood, err := prover.Proof(http.MethodGet, issuer+"/admin/clients", at, "")
	if err != nil {
		f.Fatal(err)
	}
	adminEcho := fx.h.Admin(nil)
	for _, seed := range []struct {
		auth, proof string
		api, mode   byte
	}{
		{"DPoP " + at, adminGood, 2, 0}, {"DPoP " + at, good, 0, 0}, {"dpop " + at, good, 0, 0}, {"DPoP " + at, good, 2, 0}, {"DPoP " + at, good, 1, 1},
		{"Bearer " + at, "", 0, 0}, {"Bearer " + at, good, 1, 0}, {"DPoP " + at, good, 0, 1}, {"DPoP " + at, "", 2, 2},
		{"DPoP", good, 0, 0}, {"DPoP  ", "", 1, 0}, {"DPoP " + at + " x", good, 2, 0}, {"DPoP gth_at_x.y", good, 0, 0},
		{"DPoP " + at, "a.b.c", 0, 0}, {"DPoP " + at, "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6Im5vbmUifQ.e30.", 1, 0},
		{"DPoP " + at, strings.Repeat("a", 9000), 2, 0}, {"DPoP " + at, "%ff\x00", 0, 0}, {"", good, 0, 0}, {"Basic eDp5", "", 2, 0},
	} {
		f.Add(seed.auth, seed.proof, seed.api, seed.mode)
	}
	f.Fuzz(func(t *testing.T, auth, proof string, api, mode byte) {
		method := http.MethodGet
		if mode&2 != 0 {
			method = http.MethodPost
		}
		path, e := provider.PathUserinfo, fx.e
		switch api % 3 {
		case 1:
			path = PathAPIKeys
		case 2:
			path, e = "/admin/clients", adminEcho
		}
		req, err := http.NewRequest(method, "http://127.0.0.1:8080"+path, nil)
		if err != nil {
			return
		}
		req.Header.Set("Authorization", auth)
		if proof != "" {
			req.Header.Add(dpop.HeaderName, proof)
			if mode&1 != 0 {
				req.Header.Add(dpop.HeaderName, proof)
			}
		}
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s with %q and %q: status %d: %s", method, path, auth, proof, rec.Code, rec.Body.String())
		}
		if rec.Code == http.StatusUnauthorized {
			chs := strings.Join(rec.Header().Values("WWW-Authenticate"), "\n")
			if !strings.Contains(chs, "Bearer") || !strings.Contains(chs, `DPoP `) || !strings.Contains(chs, `algs="ES256`) {
				t.Fatalf("%s %s with %q: challenges %q", method, path, auth, chs)
			}
		}
	})
}
