package main

import (
	"context"
	"errors"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// TestCLIUnknownSubcommandFails: a mistyped command fails (exit 1, not
// the usage exit 2 of a bad flag) in every command group, naming the
// nearest command, instead of printing the group's help and succeeding.
func TestCLIUnknownSubcommandFails(t *testing.T) {
	_, _, err := cli(t, "", "clients", "craete")
	var ue usageError
	if err == nil || errors.As(err, &ue) {
		t.Fatalf("clients craete: %v, want a plain error (exit 1)", err)
	}
	for _, want := range []string{`unknown command "craete" for "gatehouse clients"`, "did you mean create?"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("clients craete: %q lacks %q", err, want)
		}
	}
	if _, _, err := cli(t, "", "serv"); err == nil || !strings.Contains(err.Error(), "did you mean serve?") {
		t.Errorf("serv: %v", err)
	}

	// Every group, found by walking the tree, so a group added later is
	// covered too.
	var groups [][]string
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		if c.HasSubCommands() {
			groups = append(groups, path)
		}
		for _, sub := range c.Commands() {
			walk(sub, append(append([]string(nil), path...), sub.Name()))
		}
	}
	walk(newRootCommand(strings.NewReader(""), nil, nil), nil)
	if len(groups) < 8 {
		t.Fatalf("found only %d command groups: %v", len(groups), groups)
	}
	for _, g := range groups {
		args := append(append([]string(nil), g...), "no-such-command")
		out, _, err := cli(t, "", args...)
		if err == nil || !strings.Contains(err.Error(), "unknown command \"no-such-command\"") {
			t.Errorf("%v: %v (output %q)", args, err, out)
		}
		// The group alone still shows its commands.
		if out, _, err := cli(t, "", g...); err != nil || !strings.Contains(out, "Available Commands") {
			t.Errorf("%v: %v, output %q", g, err, out)
		}
	}
}

// TestCLIUnknownSubcommandExitCode runs the built command: the shell sees
// exit status 1 and the message on standard error.
func TestCLIUnknownSubcommandExitCode(t *testing.T) {
	bin := buildGatehouse(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "clients", "craete")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v, want status 1", err)
	}
	if !strings.Contains(stderr.String(), "did you mean create?") {
		t.Errorf("stderr: %q", stderr.String())
	}
}

// TestCLIWarnsAboutUnknownEnvironment: not only serve names a mistyped
// GATEHOUSE_ variable; a command run against the default database
// because of one says why.
func TestCLIWarnsAboutUnknownEnvironment(t *testing.T) {
	cliEnv(t)
	if _, _, err := cli(t, "", "migrate"); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GATEHOUSE_DNS", "postgres://db.example/gatehouse")
	_, stderr, err := cli(t, "", "users", "list")
	if err != nil {
		t.Fatal(err)
	}
	const want = "unknown environment variable GATEHOUSE_DNS is ignored (did you mean GATEHOUSE_DSN?)"
	if !strings.Contains(stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, stderr)
	}
	// Variables of the tests and of the HTTP client commands are no typo.
	t.Setenv("GATEHOUSE_CLIENT_SECRET", "x")
	if _, stderr, _ := cli(t, "", "users", "list"); strings.Contains(stderr, "GATEHOUSE_CLIENT_SECRET") {
		t.Errorf("warned about a client command's variable:\n%s", stderr)
	}
}

// TestCLIQuietUnlessVerbose: commands other than serve print what they
// did on standard output; their INFO log lines (migrations applied, audit
// events) appear on standard error only with --verbose, while warnings
// still do.
func TestCLIQuietUnlessVerbose(t *testing.T) {
	cliEnv(t)
	t.Setenv("GATEHOUSE_LOG_LEVEL", "info")
	t.Setenv("GATEHOUSE_LOG_FORMAT", "text")
	t.Setenv("GATEHOUSE_LOG_LEVL", "debug")
	_, stderr, err := cli(t, "", "migrate")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stderr, "level=INFO") {
		t.Errorf("migrate logged INFO without --verbose:\n%s", stderr)
	}
	if !strings.Contains(stderr, "GATEHOUSE_LOG_LEVL") {
		t.Errorf("the warning went missing too:\n%s", stderr)
	}
	_, stderr, err = cli(t, "", "clients", "create", "--name", "quiet")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stderr, "audit event") || strings.Contains(stderr, "level=INFO") {
		t.Errorf("clients create logged without --verbose:\n%s", stderr)
	}
	_, stderr, err = cli(t, "", "--verbose", "clients", "create", "--name", "loud")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr, "audit event") || !strings.Contains(stderr, "client.created") {
		t.Errorf("clients create --verbose did not log its audit event:\n%s", stderr)
	}
}

// TestCLIErrorsNameNoInternalPackage: what goes wrong with the database
// is said in the user's words, naming the setting, never as
// "bunstore: ..." or "storage: ...".
func TestCLIErrorsNameNoInternalPackage(t *testing.T) {
	dir := cliEnv(t)
	// A port nobody listens on: connecting is refused at once.
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "postgres://gatehouse@" + closed.Addr().String() + "/gatehouse?sslmode=disable&connect_timeout=5"
	closed.Close()
	for _, tc := range []struct {
		dsn  string
		args []string
		want []string
	}{
		{"sqlite://" + filepath.Join(dir, "fresh.db"), []string{"users", "list"}, []string{"database schema is not up to date", "gatehouse migrate"}},
		{"sqlite://" + filepath.Join(dir, "x.db") + "?mode=memory", []string{"users", "list"}, []string{"GATEHOUSE_DSN", "must not carry parameters"}},
		{refused, []string{"migrate"}, []string{"GATEHOUSE_DSN", "cannot reach the postgres database", "database unavailable"}},
	} {
		t.Setenv("GATEHOUSE_DSN", tc.dsn)
		_, _, err := cli(t, "", tc.args...)
		if err == nil {
			t.Errorf("%s %v succeeded", tc.dsn, tc.args)
			continue
		}
		for _, want := range tc.want {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%v: %q lacks %q", tc.args, err, want)
			}
		}
		for _, internal := range []string{"bunstore", "storage:"} {
			if strings.Contains(err.Error(), internal) {
				t.Errorf("%v: %q names %q", tc.args, err, internal)
			}
		}
	}
}
