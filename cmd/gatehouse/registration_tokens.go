package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
)

// newRegistrationTokensCommand manages the initial access tokens that
// dynamic client registration needs under registration.policy
// initial_access_token.
func newRegistrationTokensCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "registration-tokens",
		Short: "Manage initial access tokens for dynamic client registration (RFC 7591)",
	}
	cmd.AddCommand(newRegistrationTokensCreateCommand(g), newRegistrationTokensListCommand(g), newRegistrationTokensRevokeCommand(g))
	return cmd
}

// registrationTokenJSON is a registration token as the CLI prints it; the
// token itself only at creation.
type registrationTokenJSON struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Token     string     `json:"token,omitempty"`
	State     string     `json:"state"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

func toRegistrationTokenJSON(t *storage.RegistrationToken, plain string, now time.Time) registrationTokenJSON {
	out := registrationTokenJSON{ID: t.ID, Name: t.Name, Token: plain, State: admin.RegistrationTokenState(t, now), CreatedAt: t.CreatedAt.UTC()}
	if !t.ExpiresAt.IsZero() {
		e := t.ExpiresAt.UTC()
		out.ExpiresAt = &e
	}
	if !t.RevokedAt.IsZero() {
		r := t.RevokedAt.UTC()
		out.RevokedAt = &r
	}
	return out
}

func newRegistrationTokensCreateCommand(g *globals) *cobra.Command {
	var name string
	var expiresIn time.Duration
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Make an initial access token for client registration; it is printed once",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withAdmin(cmd, true, func(a *admin.Admin, _ *bunstore.Store) error {
				now := time.Now()
				t, plain, err := a.CreateRegistrationToken(cmd.Context(), nil, name, expiresIn)
				var ve *admin.ValidationError
				if errors.As(err, &ve) {
					return usageError{err}
				} else if err != nil {
					return err
				}
				if asJSON {
					return json.NewEncoder(g.stdout).Encode(toRegistrationTokenJSON(t, plain, now))
				}
				fmt.Fprintf(g.stdout, "id:      %s\n", t.ID)
				fmt.Fprintf(g.stdout, "token:   %s\n", plain)
				if t.ExpiresAt.IsZero() {
					fmt.Fprintln(g.stdout, "expires: never")
				} else {
					fmt.Fprintf(g.stdout, "expires: %s\n", t.ExpiresAt.UTC().Format(time.RFC3339))
				}
				fmt.Fprintln(g.stdout, "The token is shown only now; give it to the client developer as a bearer token for registration.")
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "name of the token, shown as who registered each client made with it (required)")
	f.DurationVar(&expiresIn, "expires-in", 720*time.Hour, "how long the token can be used (0: until revoked)")
	f.BoolVar(&asJSON, "json", false, "print the token as JSON")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

func newRegistrationTokensListCommand(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List registration tokens (never the tokens themselves)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withAdmin(cmd, false, func(a *admin.Admin, _ *bunstore.Store) error {
				tokens, err := a.RegistrationTokens(cmd.Context())
				if err != nil {
					return err
				}
				now := time.Now()
				if asJSON {
					out := make([]registrationTokenJSON, 0, len(tokens))
					for _, t := range tokens {
						out = append(out, toRegistrationTokenJSON(t, "", now))
					}
					return json.NewEncoder(g.stdout).Encode(out)
				}
				tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tNAME\tSTATE\tCREATED\tEXPIRES")
				for _, t := range tokens {
					expires := "never"
					if !t.ExpiresAt.IsZero() {
						expires = t.ExpiresAt.UTC().Format(time.RFC3339)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, admin.RegistrationTokenState(t, now), t.CreatedAt.UTC().Format(time.RFC3339), expires)
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	return cmd
}

func newRegistrationTokensRevokeCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a registration token (clients registered with it stay)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withAdmin(cmd, false, func(a *admin.Admin, _ *bunstore.Store) error {
				err := a.RevokeRegistrationToken(cmd.Context(), nil, args[0])
				if errors.Is(err, storage.ErrNotFound) {
					return fmt.Errorf("no registration token with id %q", args[0])
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(g.stdout, "revoked registration token %s\n", args[0])
				return nil
			})
		},
	}
}
