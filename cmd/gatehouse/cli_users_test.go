package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage"
)

func TestCLIUsersListDisable(t *testing.T) {
	cliEnv(t)
	if _, _, err := cli(t, "", "migrate"); err != nil {
		t.Fatal(err)
	}
	var gina, hal map[string]interface{}
	cliJSON(t, &gina, "gina's password\n", "users", "create", "--email", "gina@example.com", "--password-stdin", "--role", "admin", "--email-verified", "--json")
	cliJSON(t, &hal, "hal's password!\n", "users", "create", "--email", "hal@example.com", "--password-stdin", "--name", "Hal", "--json")
	if gina["email_verified"] != true || gina["disabled"] != false {
		t.Fatalf("created: %v", gina)
	}

	var list []map[string]interface{}
	cliJSON(t, &list, "", "users", "list", "--json")
	if len(list) != 2 || list[0]["email"] != "gina@example.com" || list[1]["name"] != "Hal" {
		t.Fatalf("list: %v", list)
	}
	out, _, err := cli(t, "", "users", "list")
	if err != nil || !strings.Contains(out, "hal@example.com") || strings.Contains(out, "argon2") {
		t.Fatalf("list table: %q %v", out, err)
	}
	if out, _, _ := cli(t, "", "users", "list", "--json"); strings.Contains(out, "argon2") || strings.Contains(out, "password") && !strings.Contains(out, "has_password") {
		t.Fatalf("list shows password material: %s", out)
	}

	// disable by e-mail signs Hal out; enable by id.
	st, _ := cliStore(t)
	ctx := context.Background()
	halID := hal["id"].(string)
	sess := &storage.LoginSession{ID: secret.HashHandle("cli-test-session"), UserID: halID, AuthTime: time.Now(), ExpiresAt: time.Now().Add(time.Hour), CreatedAt: time.Now()}
	if err := st.CreateLoginSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	if out, _, err := cli(t, "", "users", "disable", "HAL@example.com"); err != nil || !strings.Contains(out, "disabled user hal@example.com") {
		t.Fatalf("disable: %q %v", out, err)
	}
	if _, err := st.LoginSession(ctx, sess.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("still signed in after disable: %v", err)
	}
	if u, _ := st.UserByID(ctx, halID); !u.Disabled {
		t.Fatal("not disabled")
	}
	cliJSON(t, &list, "", "users", "list", "--json")
	if list[1]["disabled"] != true {
		t.Fatalf("list after disable: %v", list)
	}
	if out, _, err := cli(t, "", "users", "enable", halID); err != nil || !strings.Contains(out, "enabled") {
		t.Fatalf("enable: %q %v", out, err)
	}
	if u, _ := st.UserByID(ctx, halID); u.Disabled {
		t.Fatal("still disabled")
	}
	for _, ref := range []string{"nobody@example.com", "no-such-id"} {
		if _, _, err := cli(t, "", "users", "disable", ref); err == nil || !strings.Contains(err.Error(), "no user") {
			t.Fatalf("disable %s: %v", ref, err)
		}
	}
}
