package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/storage"
)

func newUsersCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "users", Short: "Manage people who sign in"}
	cmd.AddCommand(newUsersCreateCommand(g))
	return cmd
}

type userJSON struct {
	ID            string    `json:"id"`
	Email         string    `json:"email"`
	EmailVerified bool      `json:"email_verified"`
	Name          string    `json:"name,omitempty"`
	Roles         []string  `json:"roles"`
	CreatedAt     time.Time `json:"created_at"`
}

func newUsersCreateCommand(g *globals) *cobra.Command {
	var spec provider.UserSpec
	var passwordStdin, verified, asJSON bool
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create a user (the password is read from standard input)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !passwordStdin {
				return usageError{errors.New("--password-stdin is required: passwords are never taken from the command line")}
			}
			line, err := bufio.NewReader(g.stdin).ReadString('\n')
			if err != nil && line == "" {
				return usageError{errors.New("no password on standard input")}
			}
			spec.Password = strings.TrimRight(line, "\r\n")
			u, err := provider.BuildUser(spec, time.Now())
			if err != nil {
				return usageError{err}
			}
			u.EmailVerified = verified
			ctx := cmd.Context()
			cfg, err := g.loadConfig(false)
			if err != nil {
				return err
			}
			store, err := openStore(ctx, cfg, newLogger(cfg, g.stderr))
			if err != nil {
				return err
			}
			defer store.Close()
			if err := store.CheckSchema(ctx); err != nil {
				return err
			}
			if err := store.CreateUser(ctx, u); err != nil {
				if errors.Is(err, storage.ErrConflict) {
					return fmt.Errorf("a user with e-mail %s already exists", u.Email)
				}
				return err
			}
			out := userJSON{ID: u.ID, Email: u.Email, EmailVerified: u.EmailVerified, Name: u.Name, Roles: u.Roles, CreatedAt: u.CreatedAt}
			if asJSON {
				return json.NewEncoder(g.stdout).Encode(out)
			}
			fmt.Fprintf(g.stdout, "created user %s (%s)\n", u.Email, u.ID)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&spec.Email, "email", "", "e-mail address (required)")
	f.BoolVar(&passwordStdin, "password-stdin", false, "read the password from the first line of standard input")
	f.StringVar(&spec.Name, "name", "", "display name")
	f.StringArrayVar(&spec.Roles, "role", nil, "role such as admin (repeatable)")
	f.BoolVar(&verified, "email-verified", false, "mark the e-mail address as verified")
	f.BoolVar(&asJSON, "json", false, "print the user as JSON")
	_ = cmd.MarkFlagRequired("email")
	return cmd
}
