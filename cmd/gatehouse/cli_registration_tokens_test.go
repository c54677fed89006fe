package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/provider/secret"
)

func TestCLIRegistrationTokens(t *testing.T) {
	cliEnv(t)
	if _, _, err := cli(t, "", "migrate"); err != nil {
		t.Fatal(err)
	}
	var tok map[string]interface{}
	before := time.Now()
	cliJSON(t, &tok, "", "registration-tokens", "create", "--name", "partners", "--json")
	plain, _ := tok["token"].(string)
	if !secret.CheckOpaque(admin.PrefixRegistrationToken, plain) || tok["state"] != "active" || tok["name"] != "partners" {
		t.Fatalf("create: %v", tok)
	}
	exp, err := time.Parse(time.RFC3339Nano, tok["expires_at"].(string))
	if err != nil || exp.Before(before.Add(719*time.Hour)) || exp.After(time.Now().Add(721*time.Hour)) {
		t.Fatalf("default expiry %v: %v", tok["expires_at"], err)
	}
	var forever map[string]interface{}
	cliJSON(t, &forever, "", "registration-tokens", "create", "--name", "forever", "--expires-in", "0", "--json")
	if forever["expires_at"] != nil {
		t.Fatalf("--expires-in 0: %v", forever)
	}
	out, _, err := cli(t, "", "registration-tokens", "create", "--name", "text", "--expires-in", "1h")
	if err != nil || !strings.Contains(out, "gth_it_") || !strings.Contains(out, "shown only now") {
		t.Fatalf("create (text): %q %v", out, err)
	}

	// The token is stored only as its keyed hash, and is found by it.
	st, ring := cliStore(t)
	found, err := admin.FindRegistrationToken(context.Background(), st, ring, plain)
	if err != nil || found.ID != tok["id"] || strings.Contains(found.Hash, plain) {
		t.Fatalf("stored token: %+v %v", found, err)
	}

	var list []map[string]interface{}
	cliJSON(t, &list, "", "registration-tokens", "list", "--json")
	if len(list) != 3 || list[0]["name"] != "partners" {
		t.Fatalf("list: %v", list)
	}
	if out, _, _ := cli(t, "", "registration-tokens", "list", "--json"); strings.Contains(out, "gth_it_") || strings.Contains(out, "hs256") {
		t.Fatalf("list shows token material: %s", out)
	}
	if out, _, err := cli(t, "", "registration-tokens", "revoke", tok["id"].(string)); err != nil || !strings.Contains(out, "revoked") {
		t.Fatalf("revoke: %q %v", out, err)
	}
	cliJSON(t, &list, "", "registration-tokens", "list", "--json")
	if list[0]["state"] != "revoked" || list[0]["revoked_at"] == nil || list[1]["state"] != "active" {
		t.Fatalf("after revoke: %v", list)
	}
	if out, _, err := cli(t, "", "registration-tokens", "list"); err != nil || !strings.Contains(out, "revoked") || !strings.Contains(out, "never") {
		t.Fatalf("list (table): %q %v", out, err)
	}
	if _, _, err := cli(t, "", "registration-tokens", "revoke", "no-such-token"); err == nil || !strings.Contains(err.Error(), "no registration token") {
		t.Fatalf("revoke unknown: %v", err)
	}
	var ue usageError
	if _, _, err := cli(t, "", "registration-tokens", "create"); err == nil {
		t.Fatal("create without --name")
	}
	if _, _, err := cli(t, "", "registration-tokens", "create", "--name", "x", "--expires-in", "-1h"); !errors.As(err, &ue) {
		t.Fatalf("negative lifetime: %v", err)
	}
	t.Setenv("GATEHOUSE_SECRET", "")
	if _, _, err := cli(t, "", "registration-tokens", "create", "--name", "x"); !errors.As(err, &ue) {
		t.Fatalf("create without a system secret: %v", err)
	}
}
