// The command line: the flags, their checks, and the usage-error exit.

package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

type config struct {
	tokenURL       string
	clientID       string
	clientSecret   string
	authMethod     string // basic | post
	scope          string
	audience       string
	extraForm      string
	dpop           bool // cc_token: a DPoP proof (RFC 9449) on every request
	exchangeActor  bool // exchange: present an actor token (delegation)
	introspectURL  string
	introspectAuth string // none | client | basic:user:pass | bearer:TOKEN
	getURL         string
	scenarios      []string
	conns          []int
	duration       time.Duration
	warmup         time.Duration
	pause          time.Duration
	reps           int
	reqTimeout     time.Duration
	label          string
	serverPID      int
	auxComm        string
	jsonOut        string
	repsOnStdout   bool
	// authcode scenario
	authorizeURL  string
	redirectURI   string
	username      string
	password      string
	passwordFile  string
	authcodeFresh bool
	authcodeLogin string // password | passkey | totp
	// authcodeAccounts: with totp, the pool of accounts (-username with
	// %d, numbered from 1), all with the one password.
	authcodeAccounts int
}

// parseFlags reads the command line args into a config through fs and
// checks it. An error is a usage error: main reports it with exit status 2,
// as fs itself does for a flag it cannot parse (flag.ExitOnError).
func parseFlags(fs *flag.FlagSet, args []string) (config, error) {
	var c config
	var scen, conns string
	fs.StringVar(&c.tokenURL, "token-url", "", "token endpoint URL (required for cc_token and introspect)")
	fs.StringVar(&c.clientID, "client-id", "", "client id (client_credentials grant)")
	fs.StringVar(&c.clientSecret, "client-secret", "", "client secret")
	fs.StringVar(&c.authMethod, "auth", "basic", "client authentication at the token endpoint: basic (client_secret_basic) or post (client_secret_post); authcode also none (a public client: client_id only)")
	fs.StringVar(&c.scope, "scope", "", "optional scope parameter")
	fs.StringVar(&c.audience, "audience", "", "optional audience parameter")
	fs.StringVar(&c.extraForm, "extra-form", "", "optional extra form parameters, URL-encoded (a=b&c=d)")
	fs.BoolVar(&c.dpop, "dpop", false, "cc_token: send a fresh DPoP proof (RFC 9449, ES256, one P-256 key per worker) with every request, take up the server's use_dpop_nonce challenges, and count as a success only 200 with token_type DPoP")
	fs.BoolVar(&c.exchangeActor, "exchange-actor", false, "exchange: also present an actor token (delegation); without, the exchange is an impersonation")
	fs.StringVar(&c.introspectURL, "introspect-url", "", "introspection endpoint URL (enables the introspect scenario)")
	fs.StringVar(&c.introspectAuth, "introspect-auth", "none", "auth for introspection: none | client (basic with the client id/secret) | basic:USER:PASS | bearer:TOKEN")
	fs.StringVar(&c.getURL, "get-url", "", "URL for the trivial GET baseline scenario, e.g. http://127.0.0.1:4444/.well-known/jwks.json")
	fs.StringVar(&c.authorizeURL, "authorize-url", "", "authorization endpoint URL (enables the authcode scenario; also needs -token-url, -client-id, -client-secret, -redirect-uri, -username and a password)")
	fs.StringVar(&c.redirectURI, "redirect-uri", "", "authcode: the client's registered redirect URI; never contacted, the code is read from the Location header")
	fs.StringVar(&c.username, "username", "", "authcode: the user's e-mail (login form input)")
	fs.StringVar(&c.password, "password", "", "authcode: the user's password (visible in ps; prefer -password-file)")
	fs.StringVar(&c.passwordFile, "password-file", "", "authcode: read the user's password from the first line of this file")
	fs.BoolVar(&c.authcodeFresh, "authcode-fresh-session", true, "authcode: start every flow with an empty cookie jar, so each flow signs in with the password (false: keep the browser session, later flows skip the login form)")
	fs.StringVar(&c.authcodeLogin, "authcode-login", loginPassword, "authcode: how each flow signs in: password; passkey (a passkey is registered on the -username account first, through its account pages; the server's issuer host must be a domain name, e.g. localhost); totp (password, then a code from an authenticator app, turned on first for every account of the pool)")
	fs.IntVar(&c.authcodeAccounts, "authcode-accounts", 1, "authcode with -authcode-login totp: the number of accounts, -username with %d (1..N); a code is accepted once, so an account signs in once per 30 s: give about flows/s x 30 accounts. The accounts must have no second factor yet")
	fs.StringVar(&scen, "scenarios", "", "comma-separated list among cc_token,exchange,introspect,get,authcode (default: every scenario whose URL is set)")
	fs.StringVar(&conns, "conns", "1,16,64", "comma-separated concurrency sweep (closed loop, one keep-alive connection per worker)")
	fs.DurationVar(&c.duration, "duration", 20*time.Second, "measured duration of one run (max 10m)")
	fs.DurationVar(&c.warmup, "warmup", 3*time.Second, "unmeasured warm-up before each run (same concurrency)")
	fs.DurationVar(&c.pause, "pause", 2*time.Second, "idle pause between runs")
	fs.IntVar(&c.reps, "reps", 3, "repetitions of each (scenario, conns); reps are interleaved across the conns sweep")
	fs.DurationVar(&c.reqTimeout, "timeout", 10*time.Second, "per-request timeout")
	fs.StringVar(&c.label, "label", "", "free-form label printed on every line (e.g. hydra-pg-opaque)")
	fs.IntVar(&c.serverPID, "server-pid", 0, "PID of the server process: report its CPU% and max RSS")
	fs.StringVar(&c.auxComm, "aux-comm", "", "process name (comm) whose CPU is summed over all its processes, e.g. postgres")
	fs.StringVar(&c.jsonOut, "json", "", "also write every rep result as JSON to this file")
	fs.BoolVar(&c.repsOnStdout, "reps-stdout", false, "also print rep lines on stdout")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}

	for _, s := range strings.Split(conns, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 4096 {
			return config{}, fmt.Errorf("bad -conns value %q", s)
		}
		c.conns = append(c.conns, n)
	}
	if scen == "" {
		if c.tokenURL != "" {
			c.scenarios = append(c.scenarios, "cc_token")
		}
		if c.introspectURL != "" {
			c.scenarios = append(c.scenarios, "introspect")
		}
		if c.getURL != "" {
			c.scenarios = append(c.scenarios, "get")
		}
		if c.authorizeURL != "" {
			c.scenarios = append(c.scenarios, "authcode")
		}
	} else {
		for _, s := range strings.Split(scen, ",") {
			if s = strings.TrimSpace(s); s != "" {
				c.scenarios = append(c.scenarios, s)
			}
		}
	}
	if len(c.scenarios) == 0 {
		return config{}, errors.New("nothing to do: set -token-url, -introspect-url, -get-url or -authorize-url")
	}
	if c.dpop && !slices.Contains(c.scenarios, "cc_token") {
		return config{}, errors.New("-dpop applies to the cc_token scenario only")
	}
	if c.duration <= 0 || c.duration > 10*time.Minute {
		return config{}, errors.New("-duration must be in (0, 10m]")
	}
	if c.reps < 1 || c.reps > 20 {
		return config{}, errors.New("-reps must be in [1, 20]")
	}
	if c.warmup < 0 || c.warmup > time.Minute {
		return config{}, errors.New("-warmup must be in [0, 1m]")
	}
	switch c.authcodeLogin {
	case loginPassword, loginPasskey, loginTOTP:
	default:
		return config{}, fmt.Errorf("bad -authcode-login %q (password|passkey|totp)", c.authcodeLogin)
	}
	if c.authcodeAccounts < 1 || c.authcodeAccounts > 100000 {
		return config{}, errors.New("-authcode-accounts must be in [1, 100000]")
	}
	if c.authcodeAccounts > 1 && (c.authcodeLogin != loginTOTP || strings.Count(c.username, "%d") != 1) {
		return config{}, errors.New("-authcode-accounts > 1 needs -authcode-login totp and a -username with one %d")
	}
	if c.authcodeLogin != loginPassword && !c.authcodeFresh {
		return config{}, errors.New("-authcode-login passkey|totp measures sign-ins: it needs -authcode-fresh-session=true")
	}
	if c.passwordFile != "" {
		if c.password != "" {
			return config{}, errors.New("-password and -password-file are exclusive")
		}
		b, err := os.ReadFile(c.passwordFile)
		if err != nil {
			return config{}, fmt.Errorf("-password-file: %v", err)
		}
		// First line, as `gatehouse users create --password-stdin` reads it.
		c.password = strings.TrimRight(strings.SplitN(string(b), "\n", 2)[0], "\r")
	}
	return c, nil
}

// fatalf reports a usage error and exits with status 2, as the flag package
// does for a flag it cannot parse.
func fatalf(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "loadgen: "+f+"\n", a...)
	os.Exit(2)
}
