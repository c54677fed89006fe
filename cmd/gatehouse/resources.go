package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/provider/admin"
	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
)

func newResourcesCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "resources",
		Short: "Manage protected resources (RFC 8707): the APIs and MCP servers tokens are issued for",
	}
	cmd.AddCommand(newResourcesCreateCommand(g), newResourcesListCommand(g), newResourcesGetCommand(g),
		newResourcesUpdateCommand(g), newResourcesDeleteCommand(g))
	return cmd
}

// resourceFlags are the flags that describe a resource, shared by create
// and update.
type resourceFlags struct {
	spec  admin.ResourceSpec
	scope string
}

func (rf *resourceFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&rf.spec.Name, "name", "", "name of the resource, for operators")
	f.StringVar(&rf.scope, "scope", "", `space-separated scopes the resource understands; a token for it carries no others (OpenID Connect scopes aside)`)
	f.StringVar(&rf.spec.AccessTokenFormat, "access-token-format", "", `jwt (RFC 9068) or opaque; "" follows the client's, else access_tokens.format`)
	f.DurationVar(&rf.spec.AccessTokenLifetime, "access-token-lifetime", 0, "lifetime of access tokens for the resource (10s to 24h; 0 follows the server's)")
	f.StringVar(&rf.spec.SigningAlg, "signing-alg", "", `algorithm of its JWT access tokens: RS256 or ES256 ("" follows access_tokens.alg)`)
}

// setters copy each flag's value into spec, by flag name.
func (rf *resourceFlags) setters(spec *admin.ResourceSpec) map[string]func() {
	s := &rf.spec
	return map[string]func(){
		"name":                  func() { spec.Name = s.Name },
		"scope":                 func() { spec.Scopes = strings.Fields(rf.scope) },
		"access-token-format":   func() { spec.AccessTokenFormat = s.AccessTokenFormat },
		"access-token-lifetime": func() { spec.AccessTokenLifetime = s.AccessTokenLifetime },
		"signing-alg":           func() { spec.SigningAlg = s.SigningAlg },
	}
}

// invalidResource presents validation problems, one per line.
func invalidResource(id string, err error) error {
	var ve *admin.ValidationError
	switch {
	case errors.As(err, &ve):
		return usageError{fmt.Errorf("invalid resource:\n%w", indent(err))}
	case errors.Is(err, storage.ErrNotFound):
		return fmt.Errorf("no resource %q", id)
	case errors.Is(err, storage.ErrConflict):
		return usageError{fmt.Errorf("a resource %q is already registered; change it with gatehouse resources update", id)}
	}
	return err
}

func newResourcesCreateCommand(g *globals) *cobra.Command {
	var rf resourceFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "create RESOURCE_URI",
		Short: "Register a protected resource by its resource indicator (an absolute URI, RFC 8707 §2)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec := rf.spec
			spec.ID = args[0]
			spec.Scopes = strings.Fields(rf.scope)
			return g.withAdmin(cmd, false, func(a *admin.Admin, _ *bunstore.Store) error {
				r, err := a.CreateResource(cmd.Context(), nil, spec)
				if err != nil {
					return invalidResource(args[0], err)
				}
				if asJSON {
					return json.NewEncoder(g.stdout).Encode(admin.ResourceViewOf(r))
				}
				fmt.Fprintf(g.stdout, "created resource %s\n", r.ID)
				return nil
			})
		},
	}
	rf.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the resource as JSON")
	return cmd
}

func newResourcesListCommand(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List protected resources",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withAdmin(cmd, false, func(a *admin.Admin, _ *bunstore.Store) error {
				list, err := a.Resources(cmd.Context())
				if err != nil {
					return err
				}
				if asJSON {
					out := make([]admin.ResourceView, 0, len(list))
					for _, r := range list {
						out = append(out, admin.ResourceViewOf(r))
					}
					return json.NewEncoder(g.stdout).Encode(out)
				}
				tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "RESOURCE\tNAME\tSCOPES\tFORMAT\tLIFETIME")
				for _, r := range list {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.ID, r.Name, strings.Join(r.Scopes, " "), orDefault(r.AccessTokenFormat), lifetimeText(r.AccessTokenLifetime))
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	return cmd
}

// orDefault shows an inherited setting.
func orDefault(s string) string {
	if s == "" {
		return "(default)"
	}
	return s
}

// lifetimeText shows a resource's token lifetime.
func lifetimeText(d time.Duration) string {
	if d == 0 {
		return "(default)"
	}
	return d.String()
}

// printResource writes a resource as "field: value" lines.
func printResource(w io.Writer, r *storage.Resource) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	rows := [][2]string{
		{"resource", r.ID},
		{"resource_name", r.Name},
		{"scopes_supported", strings.Join(r.Scopes, " ")},
		{"access_token_format", orDefault(r.AccessTokenFormat)},
		{"access_token_lifetime", lifetimeText(r.AccessTokenLifetime)},
		{"access_token_signing_alg", orDefault(r.SigningAlg)},
		{"created_at", r.CreatedAt.UTC().Format(time.RFC3339)},
		{"updated_at", r.UpdatedAt.UTC().Format(time.RFC3339)},
	}
	for _, row := range rows {
		if row[1] != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", row[0], row[1])
		}
	}
	return tw.Flush()
}

func newResourcesGetCommand(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "get RESOURCE_URI",
		Short: "Show a protected resource",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withAdmin(cmd, false, func(a *admin.Admin, _ *bunstore.Store) error {
				r, err := a.Resource(cmd.Context(), args[0])
				if err != nil {
					return invalidResource(args[0], err)
				}
				if asJSON {
					return json.NewEncoder(g.stdout).Encode(admin.ResourceViewOf(r))
				}
				return printResource(g.stdout, r)
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the resource as JSON")
	return cmd
}

func newResourcesUpdateCommand(g *globals) *cobra.Command {
	var rf resourceFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "update RESOURCE_URI",
		Short: "Change a protected resource: only the flags given change",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			changed := false
			for name := range rf.setters(&admin.ResourceSpec{}) {
				changed = changed || cmd.Flags().Changed(name)
			}
			if !changed {
				return usageError{errors.New("nothing to change: give at least one flag (see --help)")}
			}
			return g.withAdmin(cmd, false, func(a *admin.Admin, _ *bunstore.Store) error {
				r, err := a.ChangeResource(cmd.Context(), nil, args[0], func(spec *admin.ResourceSpec) {
					for name, set := range rf.setters(spec) {
						if cmd.Flags().Changed(name) {
							set()
						}
					}
				})
				if err != nil {
					return invalidResource(args[0], err)
				}
				if asJSON {
					return json.NewEncoder(g.stdout).Encode(admin.ResourceViewOf(r))
				}
				fmt.Fprintf(g.stdout, "updated resource %s\n", r.ID)
				return nil
			})
		},
	}
	rf.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the updated resource as JSON")
	return cmd
}

func newResourcesDeleteCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "delete RESOURCE_URI",
		Short: "Delete a protected resource (tokens issued for it stay valid until they expire)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withAdmin(cmd, false, func(a *admin.Admin, _ *bunstore.Store) error {
				if err := a.DeleteResource(cmd.Context(), nil, args[0]); err != nil {
					return invalidResource(args[0], err)
				}
				fmt.Fprintf(g.stdout, "deleted resource %s\n", args[0])
				return nil
			})
		},
	}
}
