package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/provider/apikey"
	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
)

// newAPIKeysCommand manages API keys: extra, independently revocable
// secrets of confidential clients, limited to their own scopes.
func newAPIKeysCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "apikeys",
		Short: "Manage API keys (revocable secrets of a client for client_credentials, limited to their scopes)",
	}
	cmd.AddCommand(newAPIKeysCreateCommand(g), newAPIKeysListCommand(g), newAPIKeysRevokeCommand(g))
	return cmd
}

// apiKeyUsage turns bad input into a usage error (exit 2).
func apiKeyUsage(err error) error {
	if errors.Is(err, admin.ErrAPIKeyInput) {
		return usageError{err}
	}
	return err
}

func newAPIKeysCreateCommand(g *globals) *cobra.Command {
	var spec admin.APIKeySpec
	var scope string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Make an API key for a client; the key is printed once",
		Long: "Make an API key for a confidential client that uses client_credentials. The key works wherever\n" +
			"the client's secret does for client_credentials (HTTP Basic client_id:KEY or client_secret_post),\n" +
			"limited to the key's scopes. It is printed only now.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			spec.Scopes = strings.Fields(scope)
			if spec.ExpiresIn < 0 {
				return usageError{errors.New("--expires-in must not be negative (0: the key does not expire)")}
			}
			return g.withAdmin(cmd, true, func(a *admin.Admin, _ *bunstore.Store) error {
				k, plain, err := a.CreateAPIKey(cmd.Context(), nil, spec)
				if err != nil {
					return apiKeyUsage(noClient(spec.ClientID, err))
				}
				if asJSON {
					return json.NewEncoder(g.stdout).Encode(admin.APIKeyViewOf(k, plain, time.Now()))
				}
				tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintf(tw, "id:\t%s\n", k.ID)
				fmt.Fprintf(tw, "key:\t%s\n", plain)
				fmt.Fprintf(tw, "client_id:\t%s\n", k.ClientID)
				fmt.Fprintf(tw, "name:\t%s\n", k.Name)
				fmt.Fprintf(tw, "scopes:\t%s\n", strings.Join(k.Scopes, " "))
				fmt.Fprintf(tw, "expires:\t%s\n", timeOrNever(k.ExpiresAt))
				if err := tw.Flush(); err != nil {
					return err
				}
				fmt.Fprintln(g.stdout, "The key is shown only now; store it safely. Use it as the client's secret for client_credentials.")
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&spec.ClientID, "client", "", "id of the client the key belongs to (required)")
	f.StringVar(&spec.Name, "name", "", "name of the key, e.g. what uses it (required)")
	f.StringVar(&scope, "scope", "", "space-separated scopes of the key, a subset of the client's (default: all of them)")
	f.DurationVar(&spec.ExpiresIn, "expires-in", 0, "how long the key works, e.g. 720h (default 0: until revoked)")
	f.BoolVar(&asJSON, "json", false, "print the key as JSON")
	_ = cmd.MarkFlagRequired("client")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

func newAPIKeysListCommand(g *globals) *cobra.Command {
	var clientID string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List API keys, newest first (never the keys themselves)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withAdmin(cmd, false, func(a *admin.Admin, _ *bunstore.Store) error {
				keys, err := a.APIKeys(cmd.Context(), clientID)
				if err != nil {
					return noClient(clientID, err)
				}
				now := time.Now()
				if asJSON {
					out := make([]admin.APIKeyView, 0, len(keys))
					for _, k := range keys {
						out = append(out, admin.APIKeyViewOf(k, "", now))
					}
					return json.NewEncoder(g.stdout).Encode(out)
				}
				tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tCLIENT ID\tNAME\tSCOPES\tSTATE\tCREATED\tEXPIRES\tLAST USED\tREVOKED")
				for _, k := range keys {
					revoked := "-"
					if !k.RevokedAt.IsZero() {
						revoked = k.RevokedAt.UTC().Format(time.RFC3339)
					}
					lastUsed := "never"
					if !k.LastUsedAt.IsZero() {
						lastUsed = k.LastUsedAt.UTC().Format(time.RFC3339)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.ClientID, k.Name, strings.Join(k.Scopes, " "),
						apikey.State(k, now), k.CreatedAt.UTC().Format(time.RFC3339), timeOrNever(k.ExpiresAt), lastUsed, revoked)
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().StringVar(&clientID, "client", "", "only the keys of this client")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	return cmd
}

func newAPIKeysRevokeCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an API key and every access token it minted",
		Long: "Revoke an API key: the tokens it minted stop working at once, and a running server refuses\n" +
			"the key itself within its API key cache lifetime (10 s).",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withAdmin(cmd, false, func(a *admin.Admin, _ *bunstore.Store) error {
				err := a.RevokeAPIKey(cmd.Context(), nil, args[0])
				if errors.Is(err, storage.ErrNotFound) {
					return fmt.Errorf("no API key with id %q", args[0])
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(g.stdout, "revoked API key %s\n", args[0])
				return nil
			})
		},
	}
}

// timeOrNever formats an optional time.
func timeOrNever(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}
