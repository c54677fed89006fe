package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	josev4 "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
)

// TestCLIKeys drives `keys list` and `keys rotate` against the database a
// running server uses: a rotated-in key is published first, signs after
// --now, and the retired key keeps verifying what it signed.
func TestCLIKeys(t *testing.T) {
	ctx := context.Background()
	cliEnv(t)
	if _, _, err := cli(t, "", "migrate"); err != nil {
		t.Fatal(err)
	}
	store, err := bunstore.Open(ctx, os.Getenv("GATEHOUSE_DSN"), bunstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	jwtTokens := func(c *config.Config) {
		c.Secret = os.Getenv("GATEHOUSE_SECRET")
		c.AccessTokens.Format, c.AccessTokens.SigningAlg = "jwt", "RS256"
	}
	type keyRow struct {
		KID, Alg, State                                      string
		PlannedActivation, PlannedRetirement, PlannedRemoval *time.Time
	}
	list := func() map[string]keyRow {
		t.Helper()
		var rows []struct {
			KID               string     `json:"kid"`
			Alg               string     `json:"alg"`
			State             string     `json:"state"`
			PlannedActivation *time.Time `json:"planned_activation"`
			PlannedRetirement *time.Time `json:"planned_retirement"`
			PlannedRemoval    *time.Time `json:"planned_removal"`
		}
		cliJSON(t, &rows, "", "keys", "list", "--json")
		out := map[string]keyRow{}
		for _, r := range rows {
			out[r.KID] = keyRow{r.KID, r.Alg, r.State, r.PlannedActivation, r.PlannedRetirement, r.PlannedRemoval}
		}
		return out
	}
	// token gets a client-credentials JWT access token and returns it with
	// its kid, verified against the server's JWKS.
	token := func(s *testServer, id, sec string) (string, string) {
		t.Helper()
		_, body, _ := postForm(t, s.issuer+provider.PathToken, url.Values{"grant_type": {"client_credentials"}}, id, sec)
		at, _ := body["access_token"].(string)
		h, _ := verifyAccessJWT(t, s, at, josev4.RS256)
		return at, h.KeyID
	}

	s1 := startServerOn(t, store, jwtTokens)
	c, sec := s1.client(admin.ClientSpec{Name: "jobs", Scopes: []string{"api"}})
	old, oldKID := token(s1, c.ID, sec)
	s1.stop()

	keys0 := list()
	if k := keys0[oldKID]; k.Alg != "RS256" || k.State != "current" || k.PlannedRetirement == nil {
		t.Fatalf("keys list: the signing key %s is %+v", oldKID, keys0)
	}

	var rotated []struct {
		Alg         string     `json:"alg"`
		Action      string     `json:"action"`
		CurrentKID  string     `json:"current_kid"`
		NextKID     string     `json:"next_kid"`
		RetiredKID  string     `json:"retired_kid"`
		ScheduledAt *time.Time `json:"scheduled_at"`
		Skipped     bool       `json:"skipped_prepublish"`
	}
	cliJSON(t, &rotated, "", "keys", "rotate", "--alg", "rs256", "--json")
	if len(rotated) != 1 || rotated[0].Action != "created" || rotated[0].CurrentKID != oldKID || rotated[0].NextKID == "" ||
		rotated[0].ScheduledAt == nil || rotated[0].ScheduledAt.Before(time.Now()) {
		t.Fatalf("keys rotate: %+v", rotated)
	}
	next := rotated[0].NextKID
	if k := list()[next]; k.State != "next" || k.PlannedActivation == nil || !k.PlannedActivation.Equal(*rotated[0].ScheduledAt) {
		t.Fatalf("keys list after rotate: the new key is %+v", k)
	}

	// Published, not signing yet.
	s2 := startServerOn(t, store, jwtTokens)
	if _, kid := token(s2, c.ID, sec); kid != oldKID {
		t.Fatalf("a key published a moment ago already signs: %s", kid)
	}
	jwks := fetchJWKS(t, s2)
	if len(jwks.Key(next)) != 1 || len(jwks.Key(oldKID)) != 1 {
		t.Fatalf("JWKS after rotate lacks the old or the new key: %v", jwks)
	}
	s2.stop()

	// --now: signs at once, with a warning; the old key is retired.
	rotated = nil
	out, stderr, err := cli(t, "", "keys", "rotate", "--alg", "RS256", "--now", "--json")
	if err != nil {
		t.Fatal(err, stderr)
	}
	if err := json.Unmarshal([]byte(out), &rotated); err != nil {
		t.Fatal(err, out)
	}
	if len(rotated) != 1 || rotated[0].Action != "promoted" || rotated[0].CurrentKID != next || rotated[0].RetiredKID != oldKID || !rotated[0].Skipped ||
		!strings.Contains(stderr, "WARNING") {
		t.Fatalf("keys rotate --now: %+v, stderr %q", rotated, stderr)
	}
	keys1 := list()
	if keys1[oldKID].State != "retired" || keys1[oldKID].PlannedRemoval == nil || keys1[next].State != "current" {
		t.Fatalf("keys list after --now: %+v", keys1)
	}

	s3 := startServerOn(t, store, jwtTokens)
	if _, kid := token(s3, c.ID, sec); kid != next {
		t.Fatalf("after rotate --now tokens are signed by %s, want %s", kid, next)
	}
	// The retired key stays published and verifies what it signed (each
	// server here has its own issuer URL, so only the signature is
	// checked).
	jws, err := josev4.ParseSigned(old, []josev4.SignatureAlgorithm{josev4.RS256})
	if err != nil {
		t.Fatal(err)
	}
	jwks = fetchJWKS(t, s3)
	retired := jwks.Key(oldKID)
	if len(retired) != 1 {
		t.Fatalf("the retired key %s is not published", oldKID)
	}
	if _, err := jws.Verify(retired[0]); err != nil {
		t.Fatalf("the retired key no longer verifies its token: %v", err)
	}

	if _, _, err := cli(t, "", "keys", "rotate", "--alg", "HS256"); err == nil || !strings.Contains(err.Error(), "--alg") {
		t.Fatalf("keys rotate --alg HS256: %v", err)
	}
}

func fetchJWKS(t *testing.T, s *testServer) josev4.JSONWebKeySet {
	t.Helper()
	resp, err := http.Get(s.issuer + provider.PathJWKS)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set josev4.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	return set
}
