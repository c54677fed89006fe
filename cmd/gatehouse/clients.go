package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
)

func newClientsCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "clients", Short: "Manage OAuth 2.0 clients"}
	cmd.AddCommand(newClientsCreateCommand(g), newClientsListCommand(g), newClientsDeleteCommand(g))
	return cmd
}

// clientJSON is a client in RFC 7591 names (client_secret only at creation).
type clientJSON struct {
	ClientID                 string   `json:"client_id"`
	ClientSecret             string   `json:"client_secret,omitempty"`
	ClientIDIssuedAt         int64    `json:"client_id_issued_at"`
	ClientSecretExpiresAt    *int64   `json:"client_secret_expires_at,omitempty"`
	ClientName               string   `json:"client_name"`
	RedirectURIs             []string `json:"redirect_uris"`
	PostLogoutRedirectURIs   []string `json:"post_logout_redirect_uris"`
	GrantTypes               []string `json:"grant_types"`
	ResponseTypes            []string `json:"response_types"`
	Scope                    string   `json:"scope"`
	Audience                 []string `json:"audience,omitempty"`
	TokenEndpointAuthMethod  string   `json:"token_endpoint_auth_method"`
	IDTokenSignedResponseAlg string   `json:"id_token_signed_response_alg"`
	AllowedOrigins           []string `json:"allowed_cors_origins"`
	SkipConsent              bool     `json:"skip_consent"`
}

func toClientJSON(c *storage.Client, plainSecret string) clientJSON {
	out := clientJSON{
		ClientID: c.ID, ClientSecret: plainSecret, ClientIDIssuedAt: c.CreatedAt.Unix(),
		ClientName: c.Name, RedirectURIs: c.RedirectURIs, PostLogoutRedirectURIs: c.PostLogoutRedirectURIs,
		GrantTypes: c.GrantTypes, ResponseTypes: c.ResponseTypes, Scope: strings.Join(c.Scopes, " "),
		Audience: c.Audience, TokenEndpointAuthMethod: c.GetTokenEndpointAuthMethod(),
		IDTokenSignedResponseAlg: c.IDTokenAlg(), AllowedOrigins: c.AllowedOrigins, SkipConsent: c.SkipConsent,
	}
	if plainSecret != "" {
		never := int64(0) // RFC 7591: 0 = the secret does not expire
		out.ClientSecretExpiresAt = &never
	}
	return out
}

// withStore opens the configured, migrated database for a CLI command.
func (g *globals) withStore(cmd *cobra.Command, needSecret bool, fn func(store *bunstore.Store, ring *secret.Keyring) error) error {
	ctx := cmd.Context()
	cfg, err := g.loadConfig(needSecret)
	if err != nil {
		return err
	}
	var ring *secret.Keyring
	if needSecret {
		if ring, err = secret.NewKeyring(cfg.Secret, cfg.OldSecrets); err != nil {
			return usageError{err}
		}
	}
	store, err := openStore(ctx, cfg, newLogger(cfg, g.stderr))
	if err != nil {
		return err
	}
	defer store.Close()
	if err := store.CheckSchema(ctx); err != nil {
		return err
	}
	return fn(store, ring)
}

func newClientsCreateCommand(g *globals) *cobra.Command {
	var spec provider.ClientSpec
	var scope string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Register a client; its secret is printed once",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			spec.Scopes = strings.Fields(scope)
			return g.withStore(cmd, true, func(store *bunstore.Store, ring *secret.Keyring) error {
				c, plain, err := provider.BuildClient(spec, secret.NewHasher(ring), time.Now())
				if err != nil {
					return usageError{fmt.Errorf("invalid client:\n%w", indent(err))}
				}
				if err := store.CreateClient(cmd.Context(), c); err != nil {
					return err
				}
				if asJSON {
					return json.NewEncoder(g.stdout).Encode(toClientJSON(c, plain))
				}
				fmt.Fprintf(g.stdout, "client_id:     %s\n", c.ID)
				if plain != "" {
					fmt.Fprintf(g.stdout, "client_secret: %s\n", plain)
					fmt.Fprintln(g.stdout, "The secret is shown only now; store it safely.")
				}
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&spec.Name, "name", "", "name shown to users on the consent page (required)")
	f.StringArrayVar(&spec.GrantTypes, "grant-type", nil, "authorization_code, refresh_token or client_credentials (repeatable; default: authorization_code+refresh_token with redirect URIs, else client_credentials)")
	f.StringArrayVar(&spec.RedirectURIs, "redirect-uri", nil, "exact redirect URI: https, or http on a loopback host (repeatable)")
	f.StringArrayVar(&spec.PostLogoutRedirectURIs, "post-logout-redirect-uri", nil, "where RP-initiated logout may return to (repeatable)")
	f.StringVar(&scope, "scope", "", `space-separated scopes the client may request (default for sign-in clients: "openid profile email offline_access")`)
	f.StringArrayVar(&spec.Audience, "audience", nil, "audience the client may request (repeatable)")
	f.BoolVar(&spec.Public, "public", false, "public client (browser or native app): no secret, token_endpoint_auth_method none, PKCE")
	f.StringVar(&spec.TokenEndpointAuthMethod, "token-endpoint-auth-method", "", "client_secret_basic (default) or client_secret_post; none for --public")
	f.StringVar(&spec.IDTokenSignedResponseAlg, "id-token-signed-response-alg", "", "RS256 (default) or ES256")
	f.BoolVar(&spec.SkipConsent, "skip-consent", false, "first-party client: never show the consent page")
	f.StringArrayVar(&spec.AllowedOrigins, "allowed-origin", nil, "browser origin allowed to call the token, revocation and userinfo endpoints (repeatable)")
	f.BoolVar(&asJSON, "json", false, "print the client as JSON (RFC 7591 field names)")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

func newClientsListCommand(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List clients",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withStore(cmd, false, func(store *bunstore.Store, _ *secret.Keyring) error {
				clients, err := store.ListClients(cmd.Context(), storage.Page{})
				if err != nil {
					return err
				}
				if asJSON {
					out := make([]clientJSON, 0, len(clients))
					for _, c := range clients {
						out = append(out, toClientJSON(c, ""))
					}
					return json.NewEncoder(g.stdout).Encode(out)
				}
				tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "CLIENT ID\tNAME\tGRANT TYPES\tPUBLIC\tCREATED")
				for _, c := range clients {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%t\t%s\n", c.ID, c.Name, strings.Join(c.GrantTypes, ","), c.Public, c.CreatedAt.Format(time.RFC3339))
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	return cmd
}

func newClientsDeleteCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "delete CLIENT_ID",
		Short: "Delete a client with all its tokens, codes and consent grants",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withStore(cmd, false, func(store *bunstore.Store, _ *secret.Keyring) error {
				err := store.DeleteClient(cmd.Context(), args[0])
				if errors.Is(err, storage.ErrNotFound) {
					return fmt.Errorf("no client with id %q", args[0])
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(g.stdout, "deleted client %s\n", args[0])
				return nil
			})
		},
	}
}
