package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/oauth2"
)

// defaultDeviceWait bounds how long perform device-code waits for the
// person: a little more than the server's longest code lifetime (30m).
const defaultDeviceWait = 15 * time.Minute

func newPerformDeviceCodeCommand(g *globals) *cobra.Command {
	var rf remoteFlags
	var scopes []string
	var resource string
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "device-code",
		Short: "Sign in with the device authorization grant (RFC 8628) and print the access token",
		Long: "Ask a running gatehouse for a device code and a user code, print the verification URI and\n" +
			"the user code on standard error, and poll the token endpoint until the person approves or\n" +
			"denies on another device, the code expires, or --wait passes. The access token is printed\n" +
			"alone on standard output; --json prints the whole response. A public client needs only\n" +
			"--client-id; a confidential one its secret ($" + envClientSecret + ").",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := rf.resolve(cmd, g); err != nil {
				return err
			}
			if wait <= 0 {
				return usageError{errors.New("--wait must be positive")}
			}
			hc := &http.Client{Timeout: rf.timeout}
			ctx, cancel := context.WithTimeout(context.WithValue(cmd.Context(), oauth2.HTTPClient, hc), wait)
			defer cancel()
			d, err := discover(ctx, hc, rf.endpoint)
			if err != nil {
				return err
			}
			deviceURL, err := need("device_authorization_endpoint", d.DeviceAuthorizationEndpoint)
			if err != nil {
				return err
			}
			tokenURL, err := need("token_endpoint", d.TokenEndpoint)
			if err != nil {
				return err
			}
			conf := &oauth2.Config{
				ClientID: rf.clientID, ClientSecret: rf.clientSecret, Scopes: scopeList(scopes),
				Endpoint: oauth2.Endpoint{DeviceAuthURL: deviceURL, TokenURL: tokenURL, AuthStyle: rf.authStyle()},
			}
			var opts []oauth2.AuthCodeOption
			if resource != "" {
				opts = append(opts, oauth2.SetAuthURLParam("resource", resource))
			}
			// x/oauth2's DeviceAuth sends client_id alone; a confidential
			// client authenticates there as at the token endpoint (RFC 8628
			// §3.1), so its secret is added here.
			authOpts := opts
			if rf.clientSecret != "" {
				if rf.authStyle() == oauth2.AuthStyleInParams {
					authOpts = append(authOpts, oauth2.SetAuthURLParam("client_secret", rf.clientSecret))
				} else {
					hc.Transport = basicAuthAt{url: deviceURL, id: rf.clientID, secret: rf.clientSecret, next: http.DefaultTransport}
				}
			}
			da, err := conf.DeviceAuth(ctx, authOpts...)
			if err != nil {
				return retrieveError("device authorization endpoint", err)
			}
			fmt.Fprintf(g.stderr, "On a phone or computer, open\n  %s\nand enter the code\n  %s\n", da.VerificationURI, da.UserCode)
			if da.VerificationURIComplete != "" {
				fmt.Fprintf(g.stderr, "or open\n  %s\n", da.VerificationURIComplete)
			}
			fmt.Fprintln(g.stderr, "Waiting for approval...")
			// DeviceAccessToken polls at the interval, slows down when
			// told (RFC 8628 §3.5) and stops at the code's expiry or ctx's.
			tok, err := conf.DeviceAccessToken(ctx, da, opts...)
			if errors.Is(err, context.DeadlineExceeded) {
				return fmt.Errorf("no decision within --wait %s or the code's lifetime; run the command again", wait)
			}
			if err != nil {
				return retrieveError("token endpoint", err)
			}
			return printAccessToken(g, tok, rf.asJSON)
		},
	}
	rf.register(cmd, defaultRequestTimeout, "time limit of each HTTP request")
	f := cmd.Flags()
	f.StringSliceVar(&scopes, "scope", nil, `scopes to ask for, "a,b" or "a b"`)
	f.StringVar(&resource, "resource", "", "the protected resource (RFC 8707) the token is for")
	f.DurationVar(&wait, "wait", defaultDeviceWait, "give up after this long")
	f.BoolVar(&rf.asJSON, "json", false, "print the token response as JSON")
	return cmd
}

// basicAuthAt adds HTTP Basic client credentials (form-encoded first, RFC
// 6749 §2.3.1) to the requests made to url.
type basicAuthAt struct {
	url, id, secret string
	next            http.RoundTripper
}

func (b basicAuthAt) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.String() == b.url {
		r = r.Clone(r.Context())
		r.SetBasicAuth(url.QueryEscape(b.id), url.QueryEscape(b.secret))
	}
	return b.next.RoundTrip(r)
}
