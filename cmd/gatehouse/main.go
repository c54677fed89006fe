// Command gatehouse is an OAuth 2.0 / OpenID Connect provider in one binary.
//
//	gatehouse serve [--dev]
//	gatehouse migrate
//	gatehouse users create --email E --password-stdin [--name N] [--role R]... [--json]
//	gatehouse clients create --name N [--grant-type G]... [--redirect-uri U]... [--scope "a b"] [--public] [--owner EMAIL] ... [--json]
//	gatehouse clients list|get|update|rotate-secret|delete ...
//	gatehouse users list|disable|enable ...
//	gatehouse registration-tokens create|list|revoke ...
//	gatehouse apikeys create --client ID --name N [--scope "a b"] [--expires-in 720h] [--json]
//	gatehouse apikeys list [--client ID] [--json] | revoke ID
//	gatehouse keys list|rotate|reencrypt
//	gatehouse audit [--since 1h] [--until T] [--type T] [--subject S] [--client ID] [--limit N] [--json]
//	gatehouse health [--url URL]
//
// Every command reads the same configuration: --config file.yaml and
// GATEHOUSE_* environment variables (which win).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCommand(os.Stdin, os.Stdout, os.Stderr).ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gatehouse:", err)
		var ue usageError
		if errors.As(err, &ue) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// usageError marks errors caused by bad flags or configuration (exit 2).
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// globals are the flags every command shares, and what the commands run
// with (streams, clock).
type globals struct {
	configPath string
	dev        bool
	stdin      io.Reader
	stdout     io.Writer
	stderr     io.Writer
	// now is the commands' clock (the janitor's); tests move it.
	now func() time.Time
}

func newRootCommand(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	return newRootCommandOn(&globals{stdin: stdin, stdout: stdout, stderr: stderr, now: time.Now})
}

// newRootCommandOn builds the commands on g.
func newRootCommandOn(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:           "gatehouse",
		Short:         "gatehouse is an OAuth 2.0 and OpenID Connect provider",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(g.stdin)
	root.SetOut(g.stdout)
	root.SetErr(g.stderr)
	root.PersistentFlags().StringVar(&g.configPath, "config", "", "YAML configuration file (GATEHOUSE_* environment variables override it)")
	root.PersistentFlags().BoolVar(&g.dev, "dev", false, "development mode: SQLite under ./data and a generated secret stored there (never in production)")
	root.AddCommand(
		newServeCommand(g),
		newMigrateCommand(g),
		newUsersCommand(g),
		newClientsCommand(g),
		newResourcesCommand(g),
		newHealthCommand(g),
		newRegistrationTokensCommand(g),
		newAPIKeysCommand(g),
		newKeysCommand(g),
		newAuditCommand(g),
		newMailCommand(g),
		newJanitorCommand(g),
		newVersionCommand(g),
		newPerformCommand(g),
		newIntrospectCommand(g),
		newRevokeCommand(g),
	)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{err}
	})
	return root
}
