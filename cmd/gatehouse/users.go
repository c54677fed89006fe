package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
)

func newUsersCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "users", Short: "Manage people who sign in"}
	cmd.AddCommand(newUsersCreateCommand(g), newUsersListCommand(g),
		newUsersSetDisabledCommand(g, true), newUsersSetDisabledCommand(g, false), newUsersUnlockCommand(g), newUsersResetMFACommand(g),
		newUsersSessionsCommand(g), newUsersEndSessionCommand(g), newUsersSendVerificationCommand(g))
	return cmd
}

func newUsersCreateCommand(g *globals) *cobra.Command {
	var spec admin.UserSpec
	var passwordStdin, asJSON bool
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
			return g.withAdmin(cmd, false, func(a *admin.Admin, _ *bunstore.Store) error {
				u, err := a.CreateUser(cmd.Context(), nil, spec)
				var ve *admin.ValidationError
				switch {
				case errors.As(err, &ve):
					return usageError{err}
				case errors.Is(err, storage.ErrConflict):
					return fmt.Errorf("a user with e-mail %s already exists", strings.ToLower(strings.TrimSpace(spec.Email)))
				case err != nil:
					return err
				}
				if asJSON {
					return json.NewEncoder(g.stdout).Encode(admin.UserViewOf(u))
				}
				fmt.Fprintf(g.stdout, "created user %s (%s)\n", u.Email, u.ID)
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&spec.Email, "email", "", "e-mail address (required)")
	f.BoolVar(&passwordStdin, "password-stdin", false, "read the password from the first line of standard input")
	f.StringVar(&spec.Name, "name", "", "display name")
	f.StringArrayVar(&spec.Roles, "role", nil, "role such as admin (repeatable)")
	f.BoolVar(&spec.EmailVerified, "email-verified", false, "mark the e-mail address as verified")
	f.BoolVar(&asJSON, "json", false, "print the user as JSON")
	_ = cmd.MarkFlagRequired("email")
	return cmd
}

func newUsersListCommand(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List users (never their password hashes)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withAdmin(cmd, false, func(a *admin.Admin, _ *bunstore.Store) error {
				users, err := allPages(cmd.Context(), a.ListUsers)
				if err != nil {
					return err
				}
				if asJSON {
					out := make([]admin.UserView, 0, len(users))
					for _, u := range users {
						out = append(out, admin.UserViewOf(u))
					}
					return json.NewEncoder(g.stdout).Encode(out)
				}
				tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "USER ID\tEMAIL\tNAME\tROLES\tVERIFIED\tDISABLED\tCREATED")
				for _, u := range users {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%t\t%t\t%s\n", u.ID, u.Email, u.Name, strings.Join(u.Roles, ","),
						u.EmailVerified, u.Disabled, u.CreatedAt.Format(time.RFC3339))
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	return cmd
}

// findUser resolves an e-mail address (anything with an @) or a user id.
func findUser(ctx context.Context, store *bunstore.Store, ref string) (*storage.User, error) {
	var u *storage.User
	var err error
	if strings.Contains(ref, "@") {
		u, err = store.UserByEmail(ctx, ref)
	} else {
		u, err = store.UserByID(ctx, ref)
	}
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("no user %q", ref)
	}
	return u, err
}

func newUsersSetDisabledCommand(g *globals, disable bool) *cobra.Command {
	use, short, done := "enable EMAIL|ID", "Let a disabled user sign in again", "enabled"
	if disable {
		use, short, done = "disable EMAIL|ID", "Stop a user from signing in and sign them out of every browser", "disabled"
	}
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withAdmin(cmd, false, func(a *admin.Admin, store *bunstore.Store) error {
				ctx := cmd.Context()
				u, err := findUser(ctx, store, args[0])
				if err != nil {
					return err
				}
				if u, err = a.SetUserDisabled(ctx, nil, u.ID, disable); err != nil {
					return err
				}
				fmt.Fprintf(g.stdout, "%s user %s (%s)\n", done, u.Email, u.ID)
				if disable {
					fmt.Fprintln(g.stdout, "They are signed out of every browser; their tokens no longer refresh.")
				}
				return nil
			})
		},
	}
}

func newUsersResetMFACommand(g *globals) *cobra.Command {
	var email string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "reset-mfa",
		Short: "Remove a user's second factors (authenticator app, recovery codes) and end their sessions",
		Long: "Remove a user's second factors, for a person who lost their authenticator and their\n" +
			"recovery codes, and end all their sessions (their apps are told). Their next sign-in\n" +
			"asks for the password only, or sets up a new authenticator where one is required.\n" +
			"Records an mfa.reset audit event.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !strings.Contains(email, "@") {
				return usageError{errors.New("--email must be an e-mail address")}
			}
			return g.withAdmin(cmd, false, func(a *admin.Admin, store *bunstore.Store) error {
				ctx := cmd.Context()
				u, err := findUser(ctx, store, email)
				if err != nil {
					return err
				}
				u, res, err := a.ResetSecondFactors(ctx, nil, u.ID)
				if err != nil {
					return err
				}
				if asJSON {
					return json.NewEncoder(g.stdout).Encode(admin.SecondFactorResetViewOf(u, res))
				}
				if res.Removed {
					fmt.Fprintf(g.stdout, "removed the second factors of user %s (%s)", u.Email, u.ID)
				} else {
					fmt.Fprintf(g.stdout, "user %s (%s) had no second factor", u.Email, u.ID)
				}
				fmt.Fprintf(g.stdout, "; ended %d sessions\n", res.SessionsEnded)
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&email, "email", "", "e-mail address of the user (required)")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON")
	_ = cmd.MarkFlagRequired("email")
	return cmd
}

func newUsersUnlockCommand(g *globals) *cobra.Command {
	var email string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "unlock",
		Short: "Lift the locks that failed password sign-ins put on a user, and clear their counts",
		Long: "Lift the lock that failed password sign-ins put on a user (login.max_failures failures lock\n" +
			"the account for browsers it does not know for login.lockout, each lock in a row twice as\n" +
			"long) and clear the count, and those of the user's known browsers, on every instance at\n" +
			"once. Prints whether the account was locked; records a login.unlocked audit event.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !strings.Contains(email, "@") {
				return usageError{errors.New("--email must be an e-mail address")}
			}
			return g.withAdmin(cmd, false, func(a *admin.Admin, store *bunstore.Store) error {
				ctx := cmd.Context()
				u, err := findUser(ctx, store, email)
				if err != nil {
					return err
				}
				u, res, err := a.UnlockLogin(ctx, nil, u.ID)
				if err != nil {
					return err
				}
				if asJSON {
					return json.NewEncoder(g.stdout).Encode(admin.LoginUnlockViewOf(u, res))
				}
				switch {
				case res.WasLocked:
					fmt.Fprintf(g.stdout, "unlocked user %s (%s): it was locked until %s after %d failed sign-ins\n",
						u.Email, u.ID, res.LockedUntil.UTC().Format(time.RFC3339), res.Failures)
				case res.Failures > 0:
					fmt.Fprintf(g.stdout, "user %s (%s) was not locked; cleared %d failed sign-ins\n", u.Email, u.ID, res.Failures)
				default:
					fmt.Fprintf(g.stdout, "user %s (%s) was not locked\n", u.Email, u.ID)
				}
				if res.Devices > 0 {
					fmt.Fprintf(g.stdout, "cleared the failed sign-ins of %d known browsers\n", res.Devices)
				}
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&email, "email", "", "e-mail address of the user (required)")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON")
	_ = cmd.MarkFlagRequired("email")
	return cmd
}
