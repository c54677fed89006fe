package main

import (
	"crypto/tls"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/provider/resourceserver"
)

// dpopClientDir holds the public client built on oauth4webapi (client.mjs)
// and its pinned packages (package-lock.json; .ci/run installs them).
const dpopClientDir = "testdata/dpop-client"

// nodeDPoPClient returns the path of node with the client's packages
// installed; it skips the test outside CI when either is missing, and
// fails it under envRequireNode.
func nodeDPoPClient(t *testing.T) string {
	t.Helper()
	missing := func(why string) {
		t.Helper()
		if os.Getenv(envRequireNode) != "" {
			t.Fatalf("%s (%s is set)", why, envRequireNode)
		}
		t.Skip(why)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("Node.js is not installed: the oauth4webapi DPoP client cannot run")
	}
	if _, err := os.Stat(filepath.Join(dpopClientDir, "node_modules", "oauth4webapi", "package.json")); err != nil {
		missing("the DPoP client's packages are not installed: run npm ci --prefix cmd/gatehouse/" + dpopClientDir)
	}
	return node
}

// TestDPoPOAuth4WebAPI: a public client built on oauth4webapi (a
// maintained third-party implementation of RFC 9449's client side) gets
// DPoP-bound tokens from gatehouse and uses them: PAR with a proof (the
// code bound to the key, §10.1), the code exchange, a refresh (a public
// client's refresh token is bound too, §5), userinfo with the DPoP scheme
// (§7), and an API behind gatehouse's resource-server package that checks
// the proof and the binding from introspection's cnf (§6.2). The same
// token as a bearer token, and the refresh token with another key, are
// refused. Run without and with server nonces (§8, §9): the library
// retries once with the nonce it was given.
func TestDPoPOAuth4WebAPI(t *testing.T) {
	t.Parallel()
	node := nodeDPoPClient(t)
	cert := newTestCert(t)
	forEachDialect(t, func(t *testing.T, dialect string) {
		for _, requireNonce := range []bool{false, true} {
			name := "no nonce"
			if requireNonce {
				name = "nonce required"
			}
			t.Run(name, func(t *testing.T) {
				runDPoPClient(t, node, cert, dialect, requireNonce)
			})
		}
	})
}

func runDPoPClient(t *testing.T, node string, cert *testCert, dialect string, requireNonce bool) {
	s := startTLSServer(t, dialect, cert, func(c *config.Config) { c.DPoP.RequireNonce = requireNonce })
	user := s.user("dana@example.com", alicePassword)

	// The API, over TLS on loopback (the client's library refuses plain
	// HTTP), checking opaque tokens by introspection.
	ln := loopbackListener(t)
	resource := "https://" + ln.Addr().String() + "/api"
	api, apiSecret := s.client(admin.ClientSpec{Name: "DPoP API", Resources: []string{resource}})
	rs, err := resourceserver.New(resourceserver.Options{
		Issuer: s.issuer, Resource: resource, ClientID: api.ID, ClientSecret: apiSecret,
		HTTPClient: &http.Client{Transport: cert.transport(), Timeout: 10 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: rs.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, _ := resourceserver.FromContext(r.Context())
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]string{"sub": p.Subject, "jkt": p.JKT, "client_id": p.ClientID})
		})),
		ReadHeaderTimeout: 5 * time.Second,
	}
	go func() { _ = srv.Serve(tls.NewListener(ln, cert.server)) }()
	t.Cleanup(func() { _ = srv.Close() })

	const redirect = "https://spa.example/callback"
	spa, _ := s.client(admin.ClientSpec{
		Name: "DPoP SPA", Public: true, RedirectURIs: []string{redirect},
		GrantTypes: []string{provider.GrantAuthorizationCode, provider.GrantRefreshToken},
		Scopes:     []string{"openid", "email", "offline_access"}, SkipConsent: true,
		Audience: []string{resource},
	})

	rp := startNodeScript(t, node, dpopClientDir, "client.mjs", "the oauth4webapi DPoP client",
		"NODE_EXTRA_CA_CERTS="+cert.pemFile, "ISSUER="+s.issuer, "CLIENT_ID="+spa.ID,
		"REDIRECT_URI="+redirect, "RESOURCE_URL="+resource)
	var authorize string
	_ = json.Unmarshal(rp.next()["authorize"], &authorize)
	if !strings.HasPrefix(authorize, s.issuer+provider.PathAuthorize+"?") || !strings.Contains(authorize, "request_uri=") {
		t.Fatalf("authorization URL %q: want a pushed request", authorize)
	}
	b := s.newBrowser()
	p := b.login(b.get(authorize), user.Email, alicePassword)
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, redirect+"?") {
		t.Fatalf("sign-in: %d %q: %.300s", p.status, p.location, p.body)
	}
	rp.send(p.location)

	var got struct {
		Sub                string            `json:"sub"`
		TokenType          string            `json:"token_type"`
		RefreshedTokenType string            `json:"refreshed_token_type"`
		UserinfoSub        string            `json:"userinfo_sub"`
		UserinfoEmail      string            `json:"userinfo_email"`
		Resource           map[string]string `json:"resource"`
		BearerStatus       int               `json:"bearer_status"`
		BearerChallenge    string            `json:"bearer_challenge"`
		OtherKeyRefresh    string            `json:"other_key_refresh"`
		NonceRetries       int               `json:"nonce_retries"`
	}
	if err := json.Unmarshal(rp.next()["result"], &got); err != nil {
		t.Fatal(err)
	}
	if got.Sub != user.ID || !strings.EqualFold(got.TokenType, "DPoP") || !strings.EqualFold(got.RefreshedTokenType, "DPoP") {
		t.Fatalf("tokens: %+v, want DPoP-bound tokens for %s", got, user.ID)
	}
	if got.UserinfoSub != user.ID || got.UserinfoEmail != user.Email {
		t.Fatalf("userinfo with the DPoP scheme: %+v", got)
	}
	if got.Resource["sub"] != user.ID || got.Resource["client_id"] != spa.ID || got.Resource["jkt"] == "" {
		t.Fatalf("the API saw %v, want %s through %s bound to a key", got.Resource, user.ID, spa.ID)
	}
	if got.BearerStatus != http.StatusUnauthorized || !strings.Contains(got.BearerChallenge, "invalid_token") {
		t.Fatalf("the bound token as a bearer token: %d %q, want 401 invalid_token", got.BearerStatus, got.BearerChallenge)
	}
	// gatehouse hands out one nonce for all clients (the one of the
	// current interval), so the client is asked once: at its first request.
	if requireNonce != (got.NonceRetries > 0) {
		t.Fatalf("the client retried %d times with a server nonce; nonce required: %v", got.NonceRetries, requireNonce)
	}
	if got.OtherKeyRefresh != "invalid_dpop_proof" {
		t.Fatalf("refresh with another key: %q, want invalid_dpop_proof", got.OtherKeyRefresh)
	}
}
