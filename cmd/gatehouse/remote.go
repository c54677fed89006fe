package main

// What the HTTP client commands (perform, introspect, revoke) share. Unlike
// the other commands, which open the database, these talk to a running
// gatehouse like any OAuth client would: they find its endpoints in the
// discovery document and authenticate as a client.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/spf13/cobra"
	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/provider"
)

// Environment variables the client commands read, so secrets need not be
// on the command line (where other users of the machine can see them in
// the process list). They are not configuration keys: config.Load ignores
// GATEHOUSE_* names it does not know.
const (
	envClientSecret = "GATEHOUSE_CLIENT_SECRET"
	envAPIKey       = "GATEHOUSE_API_KEY"
)

const (
	// defaultRequestTimeout bounds each HTTP request of the client commands.
	defaultRequestTimeout = 30 * time.Second
	// maxResponseBody bounds what is read of any answer.
	maxResponseBody = 1 << 20
	// maxTokenLen bounds a token read from standard input (a JWT access
	// token with many claims is a few kilobytes).
	maxTokenLen = 64 << 10
)

const (
	authBasic = "client_secret_basic"
	authPost  = "client_secret_post"
)

// remoteFlags are the flags of the commands that talk to a running
// gatehouse over HTTP.
type remoteFlags struct {
	endpoint     string
	clientID     string
	clientSecret string
	authMethod   string
	timeout      time.Duration
	asJSON       bool
}

// register adds the shared flags; --timeout's meaning differs by command.
func (rf *remoteFlags) register(cmd *cobra.Command, timeout time.Duration, timeoutHelp string) {
	f := cmd.Flags()
	f.DurationVar(&rf.timeout, "timeout", timeout, timeoutHelp)
	f.StringVar(&rf.endpoint, "endpoint", "", "issuer URL of the running gatehouse (default: the configured issuer, GATEHOUSE_ISSUER, else http://localhost:8080, with --dev on the port of GATEHOUSE_LISTEN)")
	f.StringVar(&rf.clientID, "client-id", "", "the client to act as")
	f.StringVar(&rf.clientSecret, "client-secret", "", "the client's secret (default: $"+envClientSecret+"; prefer the variable: arguments show in process lists)")
	f.StringVar(&rf.authMethod, "auth-method", authBasic, "how to send the secret: client_secret_basic (HTTP Basic) or client_secret_post (form)")
	_ = cmd.MarkFlagRequired("client-id")
}

// resolve fills in the defaults: the endpoint from the configuration and
// the secret from the environment.
func (rf *remoteFlags) resolve(cmd *cobra.Command, g *globals) error {
	if rf.endpoint == "" {
		cfg, err := config.Load(g.configPath, os.Environ())
		if err != nil {
			return usageError{err}
		}
		rf.endpoint = cfg.Issuer
		// Where `serve --dev` with the same configuration publishes.
		if g.dev && cfg.Issuer == config.Default().Issuer {
			if _, port, err := net.SplitHostPort(cfg.Listen); err == nil && port != "0" {
				rf.endpoint = "http://" + net.JoinHostPort("localhost", port)
			}
		}
	}
	rf.endpoint = strings.TrimRight(rf.endpoint, "/")
	if u, err := url.Parse(rf.endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usageError{fmt.Errorf("--endpoint %q is not an http(s) URL", rf.endpoint)}
	}
	if !cmd.Flags().Changed("client-secret") {
		rf.clientSecret = os.Getenv(envClientSecret)
	}
	if rf.authMethod != authBasic && rf.authMethod != authPost {
		return usageError{fmt.Errorf("--auth-method must be %s or %s", authBasic, authPost)}
	}
	if rf.timeout <= 0 {
		return usageError{errors.New("--timeout must be positive")}
	}
	return nil
}

// authStyle is the x/oauth2 form of the authentication method. A client
// without a secret is public: its id goes in the form.
func (rf *remoteFlags) authStyle() oauth2.AuthStyle {
	if rf.clientSecret == "" || rf.authMethod == authPost {
		return oauth2.AuthStyleInParams
	}
	return oauth2.AuthStyleInHeader
}

// authenticate adds the client's credentials to a form request, as
// authStyle says: in the form, or as HTTP Basic credentials (form-encoded
// first, RFC 6749 §2.3.1, as x/oauth2 does), which setBasic sets.
func (rf *remoteFlags) authenticate(form url.Values) (setBasic func(*http.Request)) {
	if rf.authStyle() == oauth2.AuthStyleInHeader {
		return func(req *http.Request) {
			req.SetBasicAuth(url.QueryEscape(rf.clientID), url.QueryEscape(rf.clientSecret))
		}
	}
	form.Set("client_id", rf.clientID)
	if rf.clientSecret != "" {
		form.Set("client_secret", rf.clientSecret)
	}
	return func(*http.Request) {}
}

// discover reads the server's discovery document. The issuer it names
// must be the endpoint (OpenID Connect Discovery §4.3): tokens carry it,
// and every other URL comes from the document.
func discover(ctx context.Context, hc *http.Client, endpoint string) (*provider.Discovery, error) {
	u := endpoint + "/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, usageError{fmt.Errorf("--endpoint: %w", err)}
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach gatehouse at %s (set --endpoint or GATEHOUSE_ISSUER): %w", endpoint, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s answered %s; is %s the issuer URL of a running gatehouse?", u, resp.Status, endpoint)
	}
	var d provider.Discovery
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxResponseBody)).Decode(&d); err != nil {
		return nil, fmt.Errorf("%s: not a discovery document: %w", u, err)
	}
	if strings.TrimRight(d.Issuer, "/") != endpoint {
		return nil, fmt.Errorf("the server at %s says its issuer is %q; use --endpoint %s", endpoint, d.Issuer, d.Issuer)
	}
	return &d, nil
}

// need returns a discovery endpoint, or an error naming the missing field.
func need(name, value string) (string, error) {
	if value == "" {
		return "", fmt.Errorf("the server's discovery document has no %s", name)
	}
	if u, err := url.Parse(value); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return "", fmt.Errorf("the server's discovery document has an invalid %s %q", name, value)
	}
	return value, nil
}

// oauthError is an OAuth error response (RFC 6749 §5.2).
type oauthError struct {
	endpoint    string // "token endpoint", ...
	status      string
	code        string
	description string
	hint        string
}

func (e *oauthError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "the %s refused", e.endpoint)
	if e.code != "" {
		fmt.Fprintf(&b, ": %s", e.code)
		if e.description != "" {
			fmt.Fprintf(&b, ": %s", e.description)
		}
	} else {
		fmt.Fprintf(&b, " with %s", e.status)
	}
	if e.hint != "" {
		fmt.Fprintf(&b, "\n(%s)", e.hint)
	}
	return b.String()
}

// newOAuthError reads an error response.
func newOAuthError(endpoint string, status string, body []byte) *oauthError {
	e := &oauthError{endpoint: endpoint, status: status}
	var v struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if json.Unmarshal(body, &v) == nil {
		e.code, e.description = clean(v.Error), clean(v.Description)
	}
	if e.code == "invalid_client" || e.code == "request_unauthorized" || e.code == "unauthorized_client" {
		e.hint = "check --client-id and the secret, from --client-secret or $" + envClientSecret + ", and that the client may use this grant"
	}
	return e
}

// retrieveError turns x/oauth2's error into an oauthError.
func retrieveError(endpoint string, err error) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return fmt.Errorf("%s: %w", endpoint, err)
	}
	status := "an error"
	if re.Response != nil {
		status = re.Response.Status
	}
	return newOAuthError(endpoint, status, re.Body)
}

// postToken sends the token of the command's TOKEN argument (arg; "-"
// reads stdin), with extra, to the endpoint the discovery document names
// under field (introspection_endpoint, revocation_endpoint), authenticated
// as the client, and returns the body of a 2xx answer.
func (rf *remoteFlags) postToken(ctx context.Context, stdin io.Reader, arg, field string, pick func(*provider.Discovery) string, extra url.Values) ([]byte, error) {
	token, err := tokenArg(arg, stdin)
	if err != nil {
		return nil, err
	}
	hc := &http.Client{Timeout: rf.timeout}
	d, err := discover(ctx, hc, rf.endpoint)
	if err != nil {
		return nil, err
	}
	endpoint, err := need(field, pick(d))
	if err != nil {
		return nil, err
	}
	form := url.Values{"token": {token}}
	for k, v := range extra {
		form[k] = v
	}
	name := strings.ReplaceAll(strings.TrimSuffix(field, "_endpoint"), "_", " ") + " endpoint"
	return rf.postForm(ctx, hc, name, endpoint, form)
}

// postForm sends an authenticated form to an endpoint and returns the
// body of a 2xx answer; anything else is an oauthError.
func (rf *remoteFlags) postForm(ctx context.Context, hc *http.Client, name, endpoint string, form url.Values) ([]byte, error) {
	setBasic := rf.authenticate(form)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	setBasic(req)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, newOAuthError(name, resp.Status, body)
	}
	return body, nil
}

// tokenArg is the TOKEN argument; "-" reads it from standard input, so it
// stays out of process lists and shell history.
func tokenArg(arg string, stdin io.Reader) (string, error) {
	if arg != "-" {
		return arg, nil
	}
	b, err := io.ReadAll(io.LimitReader(stdin, maxTokenLen+1))
	if err != nil {
		return "", fmt.Errorf("read the token from standard input: %w", err)
	}
	if len(b) > maxTokenLen {
		return "", usageError{fmt.Errorf("the token on standard input is longer than %d bytes", maxTokenLen)}
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", usageError{errors.New("no token on standard input")}
	}
	return tok, nil
}

// tokenOutput is the JSON form of a token response.
type tokenOutput struct {
	AccessToken   string         `json:"access_token"`
	TokenType     string         `json:"token_type,omitempty"`
	ExpiresIn     int64          `json:"expires_in,omitempty"`
	Expiry        string         `json:"expiry,omitempty"`
	Scope         string         `json:"scope,omitempty"`
	RefreshToken  string         `json:"refresh_token,omitempty"`
	IDToken       string         `json:"id_token,omitempty"`
	IDTokenClaims map[string]any `json:"id_token_claims,omitempty"`
}

func newTokenOutput(tok *oauth2.Token) tokenOutput {
	out := tokenOutput{AccessToken: tok.AccessToken, TokenType: tok.TokenType, ExpiresIn: tok.ExpiresIn, RefreshToken: tok.RefreshToken}
	if !tok.Expiry.IsZero() {
		out.Expiry = tok.Expiry.UTC().Format(time.RFC3339)
		if out.ExpiresIn == 0 {
			out.ExpiresIn = int64(time.Until(tok.Expiry).Round(time.Second).Seconds())
		}
	}
	out.Scope, _ = tok.Extra("scope").(string)
	out.IDToken, _ = tok.Extra("id_token").(string)
	return out
}

// printAccessToken answers a perform command that got tok: the token
// response as JSON, or the access token alone on stdout (for $(...)) and
// its type, lifetime and scope on stderr.
func printAccessToken(g *globals, tok *oauth2.Token, asJSON bool) error {
	out := newTokenOutput(tok)
	if asJSON {
		return json.NewEncoder(g.stdout).Encode(out)
	}
	fmt.Fprintln(g.stdout, out.AccessToken)
	return printFields(g.stderr, [][2]string{
		{"token_type", out.TokenType}, {"expires_in", out.expiryText()}, {"scope", clean(out.Scope)},
	})
}

// expiryText is "899s (2025-01-02T03:04:05Z)".
func (o tokenOutput) expiryText() string {
	if o.Expiry == "" {
		return "not given"
	}
	return fmt.Sprintf("%ds (%s)", o.ExpiresIn, o.Expiry)
}

// printFields writes "name: value" lines, skipping empty values.
func printFields(w io.Writer, rows [][2]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, r := range rows {
		if r[1] != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", r[0], r[1])
		}
	}
	return tw.Flush()
}

// clean makes a string from the server safe to print on a terminal:
// control characters (escape sequences) are quoted.
func clean(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) }) < 0 {
		return s
	}
	q := fmt.Sprintf("%q", s)
	return q[1 : len(q)-1]
}

// timeClaims are introspection members that are Unix times.
var timeClaims = map[string]bool{"exp": true, "iat": true, "nbf": true, "auth_time": true}

// printIntrospection writes "active" first, then the other members in
// name order; Unix times get their date.
func printIntrospection(w io.Writer, resp map[string]any) error {
	rows := [][2]string{{"active", fmt.Sprint(resp["active"] == true)}}
	names := make([]string, 0, len(resp))
	for k := range resp {
		if k != "active" {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	for _, k := range names {
		var v string
		switch x := resp[k].(type) {
		case string:
			v = x
		case json.Number:
			v = x.String()
			if n, err := x.Int64(); err == nil && timeClaims[k] {
				v = fmt.Sprintf("%d (%s)", n, time.Unix(n, 0).UTC().Format(time.RFC3339))
			}
		default:
			b, _ := json.Marshal(x)
			v = string(b)
		}
		rows = append(rows, [2]string{clean(k), clean(v)})
	}
	return printFields(w, rows)
}
