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
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/internal/suggest"
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
	// verbose lets the commands other than serve log below warnings
	// (their INFO lines, audit events among them); see commandLogger.
	verbose bool
	stdin   io.Reader
	stdout  io.Writer
	stderr  io.Writer
	// now is the commands' clock (the janitor's); tests move it.
	now func() time.Time
	// serving, when set, is told the issuer and the bound addresses once
	// serve has built the service and is about to answer on them (tests
	// wait for it instead of polling).
	serving func(issuer string, public, admin net.Addr)
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
	root.PersistentFlags().BoolVar(&g.verbose, "verbose", false, "log informational lines and audit events on standard error (commands other than serve show only warnings and errors without it)")
	// A mistyped variable would leave its default in place unseen, so every
	// command names the unknown ones; serve logs them with its logger.
	root.PersistentPreRun = func(cmd *cobra.Command, _ []string) {
		if cmd.Name() == "serve" {
			return
		}
		for _, msg := range config.UnknownEnv(os.Environ()) {
			fmt.Fprintln(g.stderr, "gatehouse: warning:", msg)
		}
	}
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
	// Added now rather than by Execute, so that the walk below covers it.
	root.InitDefaultCompletionCmd()
	refuseUnknownSubcommands(root)
	return root
}

// refuseUnknownSubcommands makes every command group (root included)
// fail on an argument that names none of its commands, with the nearest
// one as a suggestion. cobra does that only at the top level: a group
// without a Run of its own prints its help and exits 0 on any argument,
// so `gatehouse clients craete` looked like success. A group given no
// argument still prints its help.
func refuseUnknownSubcommands(cmd *cobra.Command) {
	if !cmd.HasSubCommands() {
		return
	}
	if cmd.Run == nil && cmd.RunE == nil {
		cmd.Args = unknownSubcommand
		cmd.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	}
	for _, sub := range cmd.Commands() {
		refuseUnknownSubcommands(sub)
	}
}

// unknownSubcommand is the Args check of a command group: any argument
// is a command name that does not exist (the existing ones were matched
// before the group was chosen).
func unknownSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	var names []string
	for _, sub := range cmd.Commands() {
		if sub.IsAvailableCommand() {
			names = append(names, sub.Name())
			names = append(names, sub.Aliases...)
		}
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if n := suggest.Nearest(args[0], names); n != "" {
		msg += fmt.Sprintf(" (did you mean %s?)", n)
	}
	return fmt.Errorf("%s\nrun '%s --help' for its commands", msg, cmd.CommandPath())
}
