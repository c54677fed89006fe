package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/spf13/cobra"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/gatehouse-dev/gatehouse/provider"
	"github.com/gatehouse-dev/gatehouse/provider/secret"
)

func newPerformCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "perform",
		Short: "Run an OAuth 2.0 flow against a running gatehouse and print the tokens",
	}
	cmd.AddCommand(newPerformClientCredentialsCommand(g), newPerformAuthorizationCodeCommand(g), newPerformDeviceCodeCommand(g))
	return cmd
}

// scopeList accepts --scope a,b (split by the flag) and --scope "a b" (the
// form the other commands take).
func scopeList(in []string) []string {
	var out []string
	for _, s := range in {
		out = append(out, strings.Fields(s)...)
	}
	return out
}

func newPerformClientCredentialsCommand(g *globals) *cobra.Command {
	var rf remoteFlags
	var apiKey string
	var scopes, audiences []string
	var resource string
	cmd := &cobra.Command{
		Use:   "client-credentials",
		Short: "Get an access token with the client credentials grant and print it",
		Long: "Get an access token with the client credentials grant from a running gatehouse.\n" +
			"The token is printed alone on standard output (details go to standard error), so\n" +
			"TOKEN=$(gatehouse perform client-credentials ...) works; --json prints the whole response.\n\n" +
			"The client authenticates with its secret or with one of its API keys (gth_ak_...). Both are\n" +
			"best given in the environment, $" + envClientSecret + " or $" + envAPIKey + ", since arguments\n" +
			"show in process lists.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := rf.resolve(cmd, g); err != nil {
				return err
			}
			f := cmd.Flags()
			switch {
			case f.Changed("api-key") && f.Changed("client-secret"):
				return usageError{errors.New("give --client-secret or --api-key, not both")}
			case f.Changed("api-key"):
				rf.clientSecret = apiKey
			case f.Changed("client-secret"):
			case os.Getenv(envAPIKey) != "" && rf.clientSecret != "":
				return usageError{fmt.Errorf("both $%s and $%s are set; unset one or give --client-secret or --api-key", envClientSecret, envAPIKey)}
			case os.Getenv(envAPIKey) != "":
				rf.clientSecret = os.Getenv(envAPIKey)
			}
			if rf.clientSecret == "" {
				return usageError{fmt.Errorf("client_credentials needs the client's secret or an API key: set $%s or $%s (or --client-secret / --api-key)", envClientSecret, envAPIKey)}
			}
			hc := &http.Client{Timeout: rf.timeout}
			ctx := context.WithValue(cmd.Context(), oauth2.HTTPClient, hc)
			d, err := discover(ctx, hc, rf.endpoint)
			if err != nil {
				return err
			}
			tokenURL, err := need("token_endpoint", d.TokenEndpoint)
			if err != nil {
				return err
			}
			conf := clientcredentials.Config{
				ClientID: rf.clientID, ClientSecret: rf.clientSecret, TokenURL: tokenURL,
				Scopes: scopeList(scopes), AuthStyle: rf.authStyle(),
			}
			conf.EndpointParams = url.Values{}
			if len(audiences) > 0 {
				conf.EndpointParams["audience"] = audiences
			}
			if resource != "" {
				conf.EndpointParams.Set("resource", resource)
			}
			tok, err := conf.Token(ctx)
			if err != nil {
				return retrieveError("token endpoint", err)
			}
			return printAccessToken(g, tok, rf.asJSON)
		},
	}
	rf.register(cmd, defaultRequestTimeout, "time limit of each HTTP request")
	f := cmd.Flags()
	f.StringVar(&apiKey, "api-key", "", "authenticate with this API key of the client instead of its secret (default: $"+envAPIKey+")")
	f.StringSliceVar(&scopes, "scope", nil, `scopes to ask for, "a,b" or "a b" (default: all the client's, or the API key's)`)
	f.StringArrayVar(&audiences, "audience", nil, "audience to ask for; must be registered on the client (repeatable)")
	f.StringVar(&resource, "resource", "", "the protected resource (RFC 8707) the token is for: its audience, exactly")
	f.BoolVar(&rf.asJSON, "json", false, "print the token response as JSON (access_token, token_type, expires_in, expiry, scope)")
	return cmd
}

// callbackPath is where the loopback server waits for the browser.
const callbackPath = "/callback"

type authCodeFlags struct {
	remoteFlags
	scopes []string
	port   int
	open   bool
	noPAR  bool
}

func newPerformAuthorizationCodeCommand(g *globals) *cobra.Command {
	var af authCodeFlags
	cmd := &cobra.Command{
		Use:   "authorization-code",
		Short: "Sign in through the browser (authorization code + PKCE) and print the tokens",
		Long: "Sign in through the browser with the authorization code flow (PKCE S256, state, nonce) and\n" +
			"print the tokens. A callback server listens on the loopback address; the client must have the\n" +
			"redirect URI http://127.0.0.1/callback registered: gatehouse matches loopback redirect URIs on\n" +
			"any port (RFC 8252 §7.3), so that one entry covers --port 0 (a random free port). Or register\n" +
			"http://127.0.0.1:PORT/callback and give --port PORT. (localhost is not matched on any port.)\n\n" +
			"The request is pushed to the server first (PAR, RFC 9126), so a wrong secret, redirect URI or\n" +
			"scope is reported here rather than in the browser; the URL printed then works once and only\n" +
			"for a short while (90s by default). --no-par puts the request in the URL instead.\n\n" +
			"The URL is printed on standard error; --open also starts the system's browser on it.\n" +
			"A confidential client's secret comes from $" + envClientSecret + " (or --client-secret);\n" +
			"without one the client is treated as public. The ID token is verified (signature, issuer,\n" +
			"audience, expiry, nonce) before anything is printed.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return af.run(cmd, g)
		},
	}
	af.register(cmd, 5*time.Minute, "how long to wait for the browser to come back to the callback")
	f := cmd.Flags()
	f.StringSliceVar(&af.scopes, "scope", []string{provider.ScopeOpenID, provider.ScopeOfflineAccess}, `scopes to ask for, "a,b" or "a b"`)
	f.IntVar(&af.port, "port", 0, "loopback port of the callback server (0: a random free port)")
	f.BoolVar(&af.open, "open", false, "start the system's browser on the URL (xdg-open, open or rundll32); by default nothing is run")
	f.BoolVar(&af.noPAR, "no-par", false, "put the request in the authorization URL instead of pushing it first (PAR)")
	f.BoolVar(&af.asJSON, "json", false, "print the tokens as JSON, with the verified ID token's claims")
	return cmd
}

// callbackResult is what the browser brought back.
type callbackResult struct {
	code string
	err  error
}

func (af *authCodeFlags) run(cmd *cobra.Command, g *globals) error {
	if err := af.resolve(cmd, g); err != nil {
		return err
	}
	if af.port < 0 || af.port > 65535 {
		return usageError{fmt.Errorf("--port %d is not a port (0-65535)", af.port)}
	}
	// Each HTTP request is bounded on its own; --timeout is the wait for
	// the person at the browser.
	hc := &http.Client{Timeout: defaultRequestTimeout}
	ctx := context.WithValue(cmd.Context(), oauth2.HTTPClient, hc)
	d, err := discover(ctx, hc, af.endpoint)
	if err != nil {
		return err
	}
	authURL, err := need("authorization_endpoint", d.AuthorizationEndpoint)
	if err != nil {
		return err
	}
	tokenURL, err := need("token_endpoint", d.TokenEndpoint)
	if err != nil {
		return err
	}
	usePAR := !af.noPAR && d.PushedAuthorizationRequestEndpoint != ""
	if !usePAR && d.RequirePushedAuthorizationRequests {
		return usageError{errors.New("the server requires pushed authorization requests; drop --no-par")}
	}

	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(af.port)))
	if err != nil {
		return fmt.Errorf("cannot listen for the callback on 127.0.0.1:%d: %w", af.port, err)
	}
	defer ln.Close()
	redirectURI := fmt.Sprintf("http://%s%s", ln.Addr().String(), callbackPath)

	conf := &oauth2.Config{
		ClientID: af.clientID, ClientSecret: af.clientSecret, RedirectURL: redirectURI,
		Scopes:   scopeList(af.scopes),
		Endpoint: oauth2.Endpoint{AuthURL: authURL, TokenURL: tokenURL, AuthStyle: af.authStyle()},
	}
	verifier := oauth2.GenerateVerifier()
	state, err := secret.NewHandle()
	if err != nil {
		return err
	}
	nonce, err := secret.NewHandle()
	if err != nil {
		return err
	}
	browserURL := conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce))
	validFor := ""
	if usePAR {
		if browserURL, validFor, err = af.push(ctx, hc, d.PushedAuthorizationRequestEndpoint, browserURL); err != nil {
			return err
		}
	}

	results := make(chan callbackResult, 1)
	srv := &http.Server{
		Handler:           callbackHandler(state, d.Issuer, d.AuthorizationResponseISSParameterSupported, results),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() { _ = srv.Serve(ln) }()
	defer func() {
		// Let a page being written finish; then close whatever is left.
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if srv.Shutdown(sctx) != nil {
			_ = srv.Close()
		}
	}()

	fmt.Fprintf(g.stderr, "Open this URL in a browser%s:\n\n    %s\n\n", validFor, browserURL)
	fmt.Fprintf(g.stderr, "Waiting up to %s for the browser to come back to %s ...\n", af.timeout, redirectURI)
	if af.open {
		if err := openBrowser(browserURL); err != nil {
			fmt.Fprintf(g.stderr, "Could not start a browser (%v); open the URL yourself.\n", err)
		}
	}

	timer := time.NewTimer(af.timeout)
	defer timer.Stop()
	var res callbackResult
	select {
	case res = <-results:
	case <-timer.C:
		return fmt.Errorf("no callback within %s (--timeout). If the browser showed an error about the redirect_uri, %s",
			af.timeout, af.redirectHint(redirectURI))
	case <-ctx.Done():
		return fmt.Errorf("stopped while waiting for the callback: %w", context.Cause(ctx))
	}
	if res.err != nil {
		return res.err
	}

	tok, err := conf.Exchange(ctx, res.code, oauth2.VerifierOption(verifier))
	if err != nil {
		return retrieveError("token endpoint", err)
	}
	out := newTokenOutput(tok)
	subject := ""
	if out.IDToken != "" {
		claims, err := verifyIDToken(ctx, d, af.clientID, out.IDToken, nonce)
		if err != nil {
			return err
		}
		out.IDTokenClaims = claims
		subject, _ = claims["sub"].(string)
	}
	if af.asJSON {
		return json.NewEncoder(g.stdout).Encode(out)
	}
	return printFields(g.stdout, [][2]string{
		{"access_token", out.AccessToken},
		{"token_type", out.TokenType},
		{"expires_in", out.expiryText()},
		{"scope", clean(out.Scope)},
		{"refresh_token", out.RefreshToken},
		{"id_token", out.IDToken},
		{"subject", clean(subject)},
	})
}

// push sends the authorization request's parameters to the PAR endpoint
// and returns the short URL that refers to them, with how long it works.
func (af *authCodeFlags) push(ctx context.Context, hc *http.Client, parURL, fullURL string) (string, string, error) {
	if _, err := need("pushed_authorization_request_endpoint", parURL); err != nil {
		return "", "", err
	}
	full, err := url.Parse(fullURL)
	if err != nil {
		return "", "", err
	}
	form := full.Query()
	form.Del("client_id") // authenticate adds it when it belongs in the form
	body, err := af.postForm(ctx, hc, "pushed authorization request endpoint", parURL, form)
	if err != nil {
		var oe *oauthError
		if errors.As(err, &oe) && strings.Contains(oe.description, "redirect_uri") {
			oe.hint = af.redirectHint(form.Get("redirect_uri"))
		}
		return "", "", err
	}
	var resp struct {
		RequestURI string `json:"request_uri"`
		ExpiresIn  int64  `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &resp); err != nil || resp.RequestURI == "" {
		return "", "", fmt.Errorf("the pushed authorization request endpoint answered without a request_uri: %.200q", body)
	}
	q := full.Query()
	for k := range q {
		q.Del(k)
	}
	q.Set("client_id", af.clientID)
	q.Set("request_uri", resp.RequestURI)
	full.RawQuery = q.Encode()
	validFor := " (it works once"
	if resp.ExpiresIn > 0 {
		validFor += fmt.Sprintf(", within %s", time.Duration(resp.ExpiresIn)*time.Second)
	}
	return full.String(), validFor + ")", nil
}

// redirectHint tells what to register on the client for the loopback
// redirect URI used.
func (af *authCodeFlags) redirectHint(used string) string {
	h := fmt.Sprintf("register the redirect URI http://127.0.0.1%s on client %s: gatehouse accepts it on any port (RFC 8252)", callbackPath, af.clientID)
	if af.port != 0 {
		h += fmt.Sprintf(", or register exactly %s", used)
	} else {
		h += fmt.Sprintf(", or register http://127.0.0.1:PORT%s and run with --port PORT", callbackPath)
	}
	return h
}

// callbackHandler answers the browser's return to the loopback server and
// hands the first result to results. Later requests (a reload) get a page
// only.
func callbackHandler(state, issuer string, issRequired bool, results chan<- callbackResult) http.Handler {
	var once sync.Once
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+callbackPath, func(w http.ResponseWriter, r *http.Request) {
		res := readCallback(r.URL.Query(), state, issuer, issRequired)
		first := false
		once.Do(func() { first = true })
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Referrer-Policy", "no-referrer")
		w.Header().Set("Content-Security-Policy", "default-src 'none'")
		msg := "Signed in. You can close this tab and return to the terminal."
		status := http.StatusOK
		switch {
		case !first:
			msg, status = "This sign-in was already handled. You can close this tab.", http.StatusConflict
		case res.err != nil:
			msg, status = "Sign-in failed: "+res.err.Error()+"\n\nYou can close this tab; the terminal shows the error too.", http.StatusBadRequest
		}
		w.WriteHeader(status)
		fmt.Fprintf(w, "<!doctype html><meta charset=\"utf-8\"><title>gatehouse</title><pre>%s</pre>\n", html.EscapeString(msg))
		// The page is out before the command learns the result: on an
		// error it returns at once and stops this server.
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		if first {
			results <- res
		}
	})
	return mux
}

// readCallback checks the authorization response (RFC 6749 §4.1.2, RFC
// 9207) and returns its code or the reason it cannot be used.
func readCallback(q url.Values, state, issuer string, issRequired bool) callbackResult {
	if q.Get("state") != state {
		return callbackResult{err: errors.New("the callback's state does not match the request's: it did not come from this sign-in (a stale tab, or a forged request); nothing was exchanged")}
	}
	// The iss parameter (RFC 9207) defends against mix-up attacks: a code
	// must not go to another server's token endpoint.
	iss := q.Get("iss")
	if iss != "" && iss != issuer {
		return callbackResult{err: fmt.Errorf("the callback's issuer %q is not %q; nothing was exchanged", clean(iss), issuer)}
	}
	if e := q.Get("error"); e != "" {
		msg := "the authorization server answered " + clean(e)
		if d := q.Get("error_description"); d != "" {
			msg += ": " + clean(d)
		}
		if e == "access_denied" {
			msg += " (the sign-in or the consent was declined)"
		}
		return callbackResult{err: errors.New(msg)}
	}
	code := q.Get("code")
	if code == "" {
		return callbackResult{err: errors.New("the callback carries neither a code nor an error")}
	}
	// A server that advertises iss must send it with a code. (An error
	// response without it is still shown: it carries nothing to misuse,
	// and other servers may leave it off errors.)
	if iss == "" && issRequired {
		return callbackResult{err: fmt.Errorf("the callback lacks the iss parameter the server promises (RFC 9207); nothing was exchanged")}
	}
	return callbackResult{code: code}
}

// verifyIDToken checks the ID token with go-oidc (signature from the
// server's JWKS, issuer, audience, expiry) and the nonce, and returns its
// claims.
func verifyIDToken(ctx context.Context, d *provider.Discovery, clientID, raw, nonce string) (map[string]any, error) {
	jwksURL, err := need("jwks_uri", d.JWKSURI)
	if err != nil {
		return nil, err
	}
	pc := oidc.ProviderConfig{
		IssuerURL: d.Issuer, AuthURL: d.AuthorizationEndpoint, TokenURL: d.TokenEndpoint,
		UserInfoURL: d.UserinfoEndpoint, JWKSURL: jwksURL, Algorithms: d.IDTokenSigningAlgValuesSupported,
	}
	hc, _ := ctx.Value(oauth2.HTTPClient).(*http.Client)
	op := pc.NewProvider(oidc.ClientContext(ctx, hc))
	idt, err := op.Verifier(&oidc.Config{ClientID: clientID}).Verify(ctx, raw)
	if err != nil {
		return nil, fmt.Errorf("the ID token failed verification: %w", err)
	}
	if idt.Nonce != nonce {
		return nil, errors.New("the ID token's nonce is not the request's: it was not issued for this sign-in")
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return nil, fmt.Errorf("the ID token's claims: %w", err)
	}
	return claims, nil
}

// openBrowser starts the system's URL handler on u without a shell. u is
// the server's authorization endpoint, checked to be http(s) by need.
func openBrowser(u string) error {
	var c *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		c = exec.Command("open", u)
	case "windows":
		c = exec.Command("rundll32", "url.dll,FileProtocolHandler", u)
	default:
		c = exec.Command("xdg-open", u)
	}
	c.Stdout, c.Stderr = io.Discard, io.Discard
	if err := c.Start(); err != nil {
		return err
	}
	go func() { _ = c.Wait() }()
	return nil
}
