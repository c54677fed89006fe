package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/provider"
)

func newIntrospectCommand(g *globals) *cobra.Command {
	var rf remoteFlags
	cmd := &cobra.Command{
		Use:   "introspect TOKEN",
		Short: "Ask a running gatehouse whether a token is active (RFC 7662)",
		Long: "Ask a running gatehouse whether a token (access token, refresh token or API key) is active,\n" +
			"authenticated as a confidential client, the way it authenticates at the token endpoint\n" +
			"(--auth-method). The server answers only about tokens of that client, tokens issued for it\n" +
			"(its --resource), or any token if the client was created with --introspect-any-token.\n" +
			"TOKEN \"-\" reads the token from standard input, so it stays out of process lists.\n" +
			"The secret comes from --client-secret or $" + envClientSecret + ".\n" +
			"Exit status 0 for an active and an inactive token alike; the output says which.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := rf.resolve(cmd, g); err != nil {
				return err
			}
			if rf.clientSecret == "" {
				return usageError{errors.New("introspection needs a confidential client: give its secret with $" + envClientSecret + " or --client-secret")}
			}
			body, err := rf.postToken(cmd.Context(), g.stdin, args[0], "introspection_endpoint",
				func(d *provider.Discovery) string { return d.IntrospectionEndpoint }, nil)
			if err != nil {
				return err
			}
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.UseNumber() // keep exp and friends as the server wrote them
			var resp map[string]any
			if err := dec.Decode(&resp); err != nil || resp == nil {
				return fmt.Errorf("the introspection endpoint answered something other than a JSON object: %.200q", body)
			}
			if _, ok := resp["active"].(bool); !ok {
				return fmt.Errorf("the introspection endpoint's answer has no boolean \"active\": %.200q", body)
			}
			if rf.asJSON {
				return json.NewEncoder(g.stdout).Encode(resp)
			}
			return printIntrospection(g.stdout, resp)
		},
	}
	rf.register(cmd, defaultRequestTimeout, "time limit of each HTTP request")
	cmd.Flags().BoolVar(&rf.asJSON, "json", false, "print the introspection response as it came (one JSON object)")
	return cmd
}

func newRevokeCommand(g *globals) *cobra.Command {
	var rf remoteFlags
	var hint string
	cmd := &cobra.Command{
		Use:   "revoke TOKEN",
		Short: "Revoke an access or refresh token at a running gatehouse (RFC 7009)",
		Long: "Revoke an access or refresh token of the client at a running gatehouse (RFC 7009); revoking\n" +
			"either token of a grant revokes the whole grant. TOKEN \"-\" reads the token from standard input,\n" +
			"so it stays out of process lists. The secret comes from --client-secret or $" + envClientSecret + "\n" +
			"(none for a public client). The server answers the same for a token it does not know (RFC 7009 §2.2).",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := rf.resolve(cmd, g); err != nil {
				return err
			}
			if hint != "" && hint != "access_token" && hint != "refresh_token" {
				return usageError{errors.New("--token-type-hint must be access_token or refresh_token")}
			}
			var extra url.Values
			if hint != "" {
				extra = url.Values{"token_type_hint": {hint}}
			}
			if _, err := rf.postToken(cmd.Context(), g.stdin, args[0], "revocation_endpoint",
				func(d *provider.Discovery) string { return d.RevocationEndpoint }, extra); err != nil {
				return err
			}
			fmt.Fprintln(g.stdout, "revoked")
			return nil
		},
	}
	rf.register(cmd, defaultRequestTimeout, "time limit of each HTTP request")
	cmd.Flags().StringVar(&hint, "token-type-hint", "", "access_token or refresh_token (optional)")
	return cmd
}
