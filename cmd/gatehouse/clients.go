package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/provider/secret"
	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
)

func newClientsCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "clients", Short: "Manage OAuth 2.0 clients"}
	cmd.AddCommand(newClientsCreateCommand(g), newClientsListCommand(g), newClientsGetCommand(g),
		newClientsUpdateCommand(g), newClientsRotateSecretCommand(g), newClientsDeleteCommand(g))
	return cmd
}

// toClientJSON is a client in RFC 7591 names with its owner_id
// (admin.ClientView); client_secret only when one was just issued.
func toClientJSON(c *storage.Client, plainSecret string) admin.ClientView {
	return admin.ClientViewOf(c, plainSecret)
}

// withStoreLog opens the configured, migrated database for a CLI command
// and hands fn the command's logger.
func (g *globals) withStoreLog(cmd *cobra.Command, needSecret bool, fn func(store *bunstore.Store, ring *secret.Keyring, log *slog.Logger) error) error {
	return g.withEnv(cmd, needSecret, func(_ config.Config, store *bunstore.Store, ring *secret.Keyring, log *slog.Logger) error {
		return fn(store, ring, log)
	})
}

// withEnv is withStoreLog that also hands fn the loaded configuration.
// ring, when needSecret, carries the hash key (withPepper).
func (g *globals) withEnv(cmd *cobra.Command, needSecret bool, fn func(cfg config.Config, store *bunstore.Store, ring *secret.Keyring, log *slog.Logger) error) error {
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
	log := g.commandLogger(cfg)
	store, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer store.Close()
	if err := checkSchema(ctx, store, log); err != nil {
		return err
	}
	if ring != nil {
		if ring, err = withPepper(ctx, store, ring); err != nil {
			return err
		}
	}
	return fn(cfg, store, ring, log)
}

// clientFlags are the flags that describe a client, shared by create and
// update.
type clientFlags struct {
	spec  admin.ClientSpec
	scope string
	jwks  string
	owner string // e-mail address; resolveOwner turns it into spec.OwnerID
	// refreshWindow is --refresh-retry-window; only a given flag sets
	// spec.RefreshRetryWindow (unset follows the server).
	refreshWindow time.Duration
}

func (cf *clientFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&cf.spec.Name, "name", "", "name shown to users on the consent page")
	f.StringArrayVar(&cf.spec.GrantTypes, "grant-type", nil, "authorization_code, refresh_token, client_credentials, urn:ietf:params:oauth:grant-type:jwt-bearer (identity assertions) or urn:ietf:params:oauth:grant-type:token-exchange (RFC 8693; repeatable; default: authorization_code+refresh_token with redirect URIs, else client_credentials)")
	f.StringArrayVar(&cf.spec.RedirectURIs, "redirect-uri", nil, "exact redirect URI: https, or http on a loopback host (repeatable)")
	f.StringArrayVar(&cf.spec.PostLogoutRedirectURIs, "post-logout-redirect-uri", nil, "where RP-initiated logout may return to (repeatable)")
	f.StringVar(&cf.scope, "scope", "", `space-separated scopes the client may request (default for sign-in clients: "openid profile email offline_access")`)
	f.StringArrayVar(&cf.spec.Audience, "audience", nil, "resource (RFC 8707) or audience the client may request; when given, the only ones it may (repeatable)")
	f.BoolVar(&cf.spec.Public, "public", false, "public client (browser or native app): no secret, token_endpoint_auth_method none, PKCE")
	f.StringVar(&cf.spec.TokenEndpointAuthMethod, "token-endpoint-auth-method", "", "client_secret_basic (default), client_secret_post or private_key_jwt; none for --public")
	f.StringVar(&cf.spec.TokenEndpointAuthSigningAlg, "token-endpoint-auth-signing-alg", "", "private_key_jwt assertion algorithm (RS256 default; RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512)")
	f.StringVar(&cf.spec.RequestObjectSigningAlg, "request-object-signing-alg", "", "the only algorithm the client's signed request objects (RFC 9101) may use (default: any of RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512)")
	f.StringVar(&cf.jwks, "jwks", "", `the client's public keys for private_key_jwt: a JWK Set as JSON, or @FILE to read it from a file`)
	f.StringVar(&cf.spec.JWKSURI, "jwks-uri", "", "https URL where the client publishes its public keys for private_key_jwt")
	f.StringVar(&cf.spec.IDTokenSignedResponseAlg, "id-token-signed-response-alg", "", "RS256 (default) or ES256")
	f.BoolVar(&cf.spec.SkipConsent, "skip-consent", false, "never show the consent page for this client")
	f.BoolVar(&cf.spec.FirstParty, "first-party", false, "your own client: the only kind that may be allowed scopes that manage gatehouse (apikeys, gatehouse:*)")
	f.BoolVar(&cf.spec.RequireMFA, "require-mfa", false, "ask every sign-in to this client for a second factor (a signed-in person without one steps up)")
	f.BoolVar(&cf.spec.PKCEOptional, "pkce-optional", false, "let this confidential client get authorization codes without PKCE (weaker: only for clients that cannot send it)")
	f.BoolVar(&cf.spec.IntrospectAnyToken, "introspect-any-token", false, "may introspect tokens issued to any client (default: only its own and those issued for its --resource)")
	f.BoolVar(&cf.spec.TokenExchangeImpersonation, "token-exchange-impersonation", false, "may exchange tokens without an actor token (RFC 8693 impersonation; default: every exchange names its actor)")
	f.StringArrayVar(&cf.spec.TokenExchangeSubjectTypes, "token-exchange-subject-type", nil, "token type (RFC 8693) the client may exchange: urn:ietf:params:oauth:token-type:access_token, ...:id_token or ...:jwt (repeatable; default: access tokens only)")
	f.BoolVar(&cf.spec.DPoPBoundAccessTokens, "dpop-bound-access-tokens", false, "every token request must carry a DPoP proof (RFC 9449 §5.2), so every access token is bound to the client's key")
	f.StringArrayVar(&cf.spec.Resources, "resource", nil, "resource indicator (RFC 8707 URI) of an API this client serves: it may introspect tokens issued for it (repeatable)")
	f.StringVar(&cf.spec.DefaultResource, "default-resource", "", `resource (RFC 8707) a request that names none gets a token for: a registered resource or one in --audience ("" for none)`)
	f.StringArrayVar(&cf.spec.AllowedOrigins, "allowed-origin", nil, "browser origin allowed to call the token, revocation and userinfo endpoints (repeatable)")
	f.StringVar(&cf.spec.LogoURI, "logo-uri", "", "https URL of the client's logo, shown on the consent page")
	f.StringVar(&cf.spec.ClientURI, "client-uri", "", "https URL of the client's home page")
	f.StringVar(&cf.spec.PolicyURI, "policy-uri", "", "https URL of the client's privacy policy")
	f.StringVar(&cf.spec.TosURI, "tos-uri", "", "https URL of the client's terms of service")
	f.StringArrayVar(&cf.spec.Contacts, "contact", nil, "e-mail address of someone responsible for the client (repeatable)")
	f.BoolVar(&cf.spec.RequirePushedAuthorizationRequests, "require-par", false, "authorization requests must be pushed first (PAR, RFC 9126)")
	f.StringVar(&cf.spec.AccessTokenFormat, "access-token-format", "", "jwt (RFC 9068) or opaque; empty follows access_tokens.format")
	f.DurationVar(&cf.refreshWindow, "refresh-retry-window", 0, "the client's own refresh retry window (0s to 60s; default: the server's refresh_retry_window)")
	f.StringVar(&cf.owner, "owner", "", `e-mail address of the user who owns the client and may manage its API keys ("" for none)`)
	f.StringVar(&cf.spec.BackchannelLogoutURI, "backchannel-logout-uri", "", "where a logout token is POSTed when a session in which the client got tokens ends (https, or http on loopback)")
	f.BoolVar(&cf.spec.BackchannelLogoutSessionRequired, "backchannel-logout-session-required", false, "the client needs the sid claim in logout tokens")
	f.StringVar(&cf.spec.FrontchannelLogoutURI, "frontchannel-logout-uri", "", "page the signed-out page loads in an iframe (same origin as a redirect URI)")
	f.BoolVar(&cf.spec.FrontchannelLogoutSessionRequired, "frontchannel-logout-session-required", false, "add iss and sid to the front-channel logout URI")
}

// resolveOwner turns --owner (an e-mail address) into spec.OwnerID, when
// it was given: "" means no owner, an unknown address is a usage error.
func (cf *clientFlags) resolveOwner(cmd *cobra.Command, users storage.UserStore) error {
	if !cmd.Flags().Changed("owner") {
		return nil
	}
	email := strings.TrimSpace(cf.owner)
	if email == "" {
		cf.spec.OwnerID = ""
		return nil
	}
	u, err := users.UserByEmail(cmd.Context(), email)
	if errors.Is(err, storage.ErrNotFound) {
		return usageError{fmt.Errorf("--owner: no user has the e-mail address %q", email)}
	} else if err != nil {
		return err
	}
	cf.spec.OwnerID = u.ID
	return nil
}

// resolve finishes the parsed flags: the scope list and the key set.
func (cf *clientFlags) resolve(stdin io.Reader) error {
	cf.spec.Scopes = strings.Fields(cf.scope)
	cf.spec.JWKS = cf.jwks
	if path, ok := strings.CutPrefix(cf.jwks, "@"); ok {
		var b []byte
		var err error
		if path == "-" {
			b, err = io.ReadAll(io.LimitReader(stdin, 1<<20))
		} else {
			b, err = os.ReadFile(path)
		}
		if err != nil {
			return usageError{fmt.Errorf("--jwks: %w", err)}
		}
		cf.spec.JWKS = string(b)
	}
	return nil
}

// apply copies into spec the fields whose flags were given on the command
// line, leaving the others as they are.
func (cf *clientFlags) apply(cmd *cobra.Command, spec *admin.ClientSpec) {
	f := cmd.Flags()
	for name, set := range cf.setters(spec) {
		if f.Changed(name) {
			set()
		}
	}
	// Moving between private_key_jwt and a secret drops what only the
	// old method used, unless given again.
	if f.Changed("token-endpoint-auth-method") && spec.TokenEndpointAuthMethod != provider.AuthMethodPrivateKeyJWT && !f.Changed("token-endpoint-auth-signing-alg") {
		spec.TokenEndpointAuthSigningAlg = ""
	}
	if f.Changed("jwks") && spec.JWKS != "" && !f.Changed("jwks-uri") {
		spec.JWKSURI = ""
	}
	if f.Changed("jwks-uri") && spec.JWKSURI != "" && !f.Changed("jwks") {
		spec.JWKS = ""
	}
}

// setters copy each flag's value into spec, by flag name.
func (cf *clientFlags) setters(spec *admin.ClientSpec) map[string]func() {
	s := &cf.spec
	return map[string]func(){
		"name":                            func() { spec.Name = s.Name },
		"grant-type":                      func() { spec.GrantTypes = s.GrantTypes },
		"redirect-uri":                    func() { spec.RedirectURIs = s.RedirectURIs },
		"post-logout-redirect-uri":        func() { spec.PostLogoutRedirectURIs = s.PostLogoutRedirectURIs },
		"scope":                           func() { spec.Scopes = s.Scopes },
		"audience":                        func() { spec.Audience = s.Audience },
		"public":                          func() { spec.Public = s.Public },
		"token-endpoint-auth-method":      func() { spec.TokenEndpointAuthMethod = s.TokenEndpointAuthMethod },
		"token-endpoint-auth-signing-alg": func() { spec.TokenEndpointAuthSigningAlg = s.TokenEndpointAuthSigningAlg },
		"request-object-signing-alg":      func() { spec.RequestObjectSigningAlg = s.RequestObjectSigningAlg },
		"jwks":                            func() { spec.JWKS = s.JWKS },
		"jwks-uri":                        func() { spec.JWKSURI = s.JWKSURI },
		"id-token-signed-response-alg":    func() { spec.IDTokenSignedResponseAlg = s.IDTokenSignedResponseAlg },
		"skip-consent":                    func() { spec.SkipConsent = s.SkipConsent },
		"first-party":                     func() { spec.FirstParty = s.FirstParty },
		"pkce-optional":                   func() { spec.PKCEOptional = s.PKCEOptional },
		"require-mfa":                     func() { spec.RequireMFA = s.RequireMFA },
		"introspect-any-token":            func() { spec.IntrospectAnyToken = s.IntrospectAnyToken },
		"resource":                        func() { spec.Resources = s.Resources },
		"token-exchange-impersonation":    func() { spec.TokenExchangeImpersonation = s.TokenExchangeImpersonation },
		"token-exchange-subject-type":     func() { spec.TokenExchangeSubjectTypes = s.TokenExchangeSubjectTypes },
		"dpop-bound-access-tokens":        func() { spec.DPoPBoundAccessTokens = s.DPoPBoundAccessTokens },
		"default-resource":                func() { spec.DefaultResource = s.DefaultResource },
		"allowed-origin":                  func() { spec.AllowedOrigins = s.AllowedOrigins },
		"logo-uri":                        func() { spec.LogoURI = s.LogoURI },
		"client-uri":                      func() { spec.ClientURI = s.ClientURI },
		"policy-uri":                      func() { spec.PolicyURI = s.PolicyURI },
		"tos-uri":                         func() { spec.TosURI = s.TosURI },
		"contact":                         func() { spec.Contacts = s.Contacts },
		"require-par":                     func() { spec.RequirePushedAuthorizationRequests = s.RequirePushedAuthorizationRequests },
		"access-token-format":             func() { spec.AccessTokenFormat = s.AccessTokenFormat },
		"refresh-retry-window":            func() { spec.RefreshRetryWindow = new(cf.refreshWindow) },
		"owner":                           func() { spec.OwnerID = s.OwnerID },
		"backchannel-logout-uri":          func() { spec.BackchannelLogoutURI = s.BackchannelLogoutURI },
		"backchannel-logout-session-required": func() {
			spec.BackchannelLogoutSessionRequired = s.BackchannelLogoutSessionRequired
		},
		"frontchannel-logout-uri": func() { spec.FrontchannelLogoutURI = s.FrontchannelLogoutURI },
		"frontchannel-logout-session-required": func() {
			spec.FrontchannelLogoutSessionRequired = s.FrontchannelLogoutSessionRequired
		},
	}
}

// changed reports whether any client flag was given.
func (cf *clientFlags) changed(cmd *cobra.Command) bool {
	for name := range cf.setters(&admin.ClientSpec{}) {
		if cmd.Flags().Changed(name) {
			return true
		}
	}
	return false
}

// invalidClient presents validation problems, one per line.
func invalidClient(err error) error {
	var ve *admin.ValidationError
	if errors.As(err, &ve) {
		return usageError{fmt.Errorf("invalid client:\n%w", indent(err))}
	}
	return err
}

func newClientsCreateCommand(g *globals) *cobra.Command {
	var cf clientFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Register a client; its secret is printed once",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := cf.resolve(g.stdin); err != nil {
				return err
			}
			return g.withAdmin(cmd, true, func(a *admin.Admin, store *bunstore.Store) error {
				if err := cf.resolveOwner(cmd, store); err != nil {
					return err
				}
				spec := cf.spec
				if cmd.Flags().Changed("refresh-retry-window") {
					spec.RefreshRetryWindow = new(cf.refreshWindow)
				}
				c, plain, err := a.CreateClient(cmd.Context(), nil, spec)
				if err != nil {
					return invalidClient(err)
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
	cf.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the client as JSON (RFC 7591 field names)")
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
			return g.withAdmin(cmd, false, func(a *admin.Admin, _ *bunstore.Store) error {
				clients, err := allPages(cmd.Context(), a.ListClients)
				if err != nil {
					return err
				}
				if asJSON {
					out := make([]admin.ClientView, 0, len(clients))
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

// allPages reads a paged admin listing whole.
func allPages[T any](ctx context.Context, list func(context.Context, storage.Page) ([]T, string, error)) ([]T, error) {
	var all []T
	page := storage.Page{Limit: admin.MaxPageLimit}
	for {
		items, next, err := list(ctx, page)
		if err != nil {
			return nil, err
		}
		all = append(all, items...)
		if next == "" {
			return all, nil
		}
		page.After = next
	}
}

// noClient is the error for an unknown client id.
func noClient(id string, err error) error {
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("no client with id %q", id)
	}
	return err
}

// printClient writes a client as "field: value" lines.
func printClient(w io.Writer, c *storage.Client) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	m := admin.ClientMetadataOf(c)
	rows := [][2]string{
		{"client_id", m.ClientID},
		{"client_name", m.ClientName},
		{"token_endpoint_auth_method", m.TokenEndpointAuthMethod},
		{"grant_types", strings.Join(m.GrantTypes, " ")},
		{"response_types", strings.Join(m.ResponseTypes, " ")},
		{"redirect_uris", strings.Join(m.RedirectURIs, " ")},
		{"post_logout_redirect_uris", strings.Join(m.PostLogoutRedirectURIs, " ")},
		{"scope", m.Scope},
		{"audience", strings.Join(m.Audience, " ")},
		{"allowed_cors_origins", strings.Join(m.AllowedCORSOrigins, " ")},
		{"id_token_signed_response_alg", m.IDTokenSignedResponseAlg},
		{"token_endpoint_auth_signing_alg", m.TokenEndpointAuthSigningAlg},
		{"request_object_signing_alg", m.RequestObjectSigningAlg},
		{"jwks_uri", m.JWKSURI},
		{"logo_uri", m.LogoURI},
		{"client_uri", m.ClientURI},
		{"policy_uri", m.PolicyURI},
		{"tos_uri", m.TosURI},
		{"contacts", strings.Join(m.Contacts, " ")},
		{"skip_consent", fmt.Sprint(m.SkipConsent)},
		{"first_party", fmt.Sprint(c.FirstParty)},
		{"pkce_optional", fmt.Sprint(c.PKCEOptional)},
		{"require_mfa", fmt.Sprint(c.RequireMFA)},
		{"introspect_any_token", fmt.Sprint(c.IntrospectAnyToken)},
		{"resources", strings.Join(c.Resources, " ")},
		{"token_exchange_impersonation", fmt.Sprint(c.TokenExchangeImpersonation)},
		{"token_exchange_subject_types", strings.Join(c.TokenExchangeSubjectTypes, " ")},
		{"dpop_bound_access_tokens", fmt.Sprint(m.DPoPBoundAccessTokens)},
		{"default_resource", c.DefaultResource},
		{"require_pushed_authorization_requests", fmt.Sprint(m.RequirePushedAuthorizationRequests)},
		{"access_token_format", m.AccessTokenFormat},
		{"refresh_retry_window", refreshWindowText(c.RefreshRetryWindow)},
		{"registered_by", m.RegisteredBy},
		{"backchannel_logout_uri", m.BackchannelLogoutURI},
		{"backchannel_logout_session_required", fmt.Sprint(m.BackchannelLogoutSessionRequired)},
		{"frontchannel_logout_uri", m.FrontchannelLogoutURI},
		{"frontchannel_logout_session_required", fmt.Sprint(m.FrontchannelLogoutSessionRequired)},
		{"owner_id", c.OwnerID},
		{"created_at", c.CreatedAt.UTC().Format(time.RFC3339)},
		{"updated_at", c.UpdatedAt.UTC().Format(time.RFC3339)},
	}
	if c.JWKS != "" {
		rows = append(rows, [2]string{"jwks", c.JWKS})
	}
	for _, r := range rows {
		if r[1] != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", r[0], r[1])
		}
	}
	return tw.Flush()
}

func newClientsGetCommand(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "get CLIENT_ID",
		Short: "Show a client (never its secret)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withAdmin(cmd, false, func(a *admin.Admin, _ *bunstore.Store) error {
				c, err := a.Client(cmd.Context(), args[0])
				if err != nil {
					return noClient(args[0], err)
				}
				if asJSON {
					return json.NewEncoder(g.stdout).Encode(toClientJSON(c, ""))
				}
				return printClient(g.stdout, c)
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the client as JSON (RFC 7591 field names)")
	return cmd
}

func newClientsUpdateCommand(g *globals) *cobra.Command {
	var cf clientFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "update CLIENT_ID",
		Short: "Change a client: only the flags given change (a list flag replaces the whole list)",
		Long: "Change a client's registration. Only the flags given change; a repeatable flag replaces the\n" +
			"whole list (give it once with \"\" to empty it). The id, the secret and the creation time stay.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cf.changed(cmd) {
				return usageError{errors.New("nothing to change: give at least one flag (see --help)")}
			}
			if err := cf.resolve(g.stdin); err != nil {
				return err
			}
			return g.withAdmin(cmd, false, func(a *admin.Admin, store *bunstore.Store) error {
				if err := cf.resolveOwner(cmd, store); err != nil {
					return err
				}
				updated, err := a.ChangeClient(cmd.Context(), nil, args[0], func(spec *admin.ClientSpec) { cf.apply(cmd, spec) })
				if err != nil {
					return invalidClient(noClient(args[0], err))
				}
				if asJSON {
					return json.NewEncoder(g.stdout).Encode(toClientJSON(updated, ""))
				}
				fmt.Fprintf(g.stdout, "updated client %s\n", updated.ID)
				return nil
			})
		},
	}
	cf.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the updated client as JSON")
	return cmd
}

func newClientsRotateSecretCommand(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "rotate-secret CLIENT_ID",
		Short: "Give a confidential client a new secret (printed once); the old one stops working at once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withAdmin(cmd, true, func(a *admin.Admin, _ *bunstore.Store) error {
				c, plain, err := a.RotateClientSecret(cmd.Context(), nil, args[0])
				if err != nil {
					return invalidClient(noClient(args[0], err))
				}
				if asJSON {
					return json.NewEncoder(g.stdout).Encode(toClientJSON(c, plain))
				}
				fmt.Fprintf(g.stdout, "client_id:     %s\n", c.ID)
				fmt.Fprintf(g.stdout, "client_secret: %s\n", plain)
				fmt.Fprintln(g.stdout, "The secret is shown only now; store it safely. The old secret no longer works.")
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the client with its new secret as JSON")
	return cmd
}

func newClientsDeleteCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "delete CLIENT_ID",
		Short: "Delete a client with all its tokens, codes and consent grants",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withAdmin(cmd, false, func(a *admin.Admin, _ *bunstore.Store) error {
				if err := a.DeleteClient(cmd.Context(), nil, args[0]); err != nil {
					return noClient(args[0], err)
				}
				fmt.Fprintf(g.stdout, "deleted client %s\n", args[0])
				return nil
			})
		},
	}
}

// refreshWindowText shows a client's refresh retry window ("" when it
// follows the server's).
func refreshWindowText(w *time.Duration) string {
	if w == nil {
		return ""
	}
	return w.String()
}
