// The command line: the flags, their checks, and the usage-error exit.

package main

import (
	"flag"
	"fmt"
	"os"
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
}

func parseFlags() config {
	var c config
	var scen, conns string
	flag.StringVar(&c.tokenURL, "token-url", "", "token endpoint URL (required for cc_token and introspect)")
	flag.StringVar(&c.clientID, "client-id", "", "client id (client_credentials grant)")
	flag.StringVar(&c.clientSecret, "client-secret", "", "client secret")
	flag.StringVar(&c.authMethod, "auth", "basic", "client authentication at the token endpoint: basic (client_secret_basic) or post (client_secret_post)")
	flag.StringVar(&c.scope, "scope", "", "optional scope parameter")
	flag.StringVar(&c.audience, "audience", "", "optional audience parameter")
	flag.StringVar(&c.extraForm, "extra-form", "", "optional extra form parameters, URL-encoded (a=b&c=d)")
	flag.StringVar(&c.introspectURL, "introspect-url", "", "introspection endpoint URL (enables the introspect scenario)")
	flag.StringVar(&c.introspectAuth, "introspect-auth", "none", "auth for introspection: none | client (basic with the client id/secret) | basic:USER:PASS | bearer:TOKEN")
	flag.StringVar(&c.getURL, "get-url", "", "URL for the trivial GET baseline scenario, e.g. http://127.0.0.1:4444/.well-known/jwks.json")
	flag.StringVar(&c.authorizeURL, "authorize-url", "", "authorization endpoint URL (enables the authcode scenario; also needs -token-url, -client-id, -client-secret, -redirect-uri, -username and a password)")
	flag.StringVar(&c.redirectURI, "redirect-uri", "", "authcode: the client's registered redirect URI; never contacted, the code is read from the Location header")
	flag.StringVar(&c.username, "username", "", "authcode: the user's e-mail (login form input)")
	flag.StringVar(&c.password, "password", "", "authcode: the user's password (visible in ps; prefer -password-file)")
	flag.StringVar(&c.passwordFile, "password-file", "", "authcode: read the user's password from the first line of this file")
	flag.BoolVar(&c.authcodeFresh, "authcode-fresh-session", true, "authcode: start every flow with an empty cookie jar, so each flow signs in with the password (false: keep the browser session, later flows skip the login form)")
	flag.StringVar(&scen, "scenarios", "", "comma-separated list among cc_token,introspect,get,authcode (default: every scenario whose URL is set)")
	flag.StringVar(&conns, "conns", "1,16,64", "comma-separated concurrency sweep (closed loop, one keep-alive connection per worker)")
	flag.DurationVar(&c.duration, "duration", 20*time.Second, "measured duration of one run (max 10m)")
	flag.DurationVar(&c.warmup, "warmup", 3*time.Second, "unmeasured warm-up before each run (same concurrency)")
	flag.DurationVar(&c.pause, "pause", 2*time.Second, "idle pause between runs")
	flag.IntVar(&c.reps, "reps", 3, "repetitions of each (scenario, conns); reps are interleaved across the conns sweep")
	flag.DurationVar(&c.reqTimeout, "timeout", 10*time.Second, "per-request timeout")
	flag.StringVar(&c.label, "label", "", "free-form label printed on every line (e.g. hydra-pg-opaque)")
	flag.IntVar(&c.serverPID, "server-pid", 0, "PID of the server process: report its CPU% and max RSS")
	flag.StringVar(&c.auxComm, "aux-comm", "", "process name (comm) whose CPU is summed over all its processes, e.g. postgres")
	flag.StringVar(&c.jsonOut, "json", "", "also write every rep result as JSON to this file")
	flag.BoolVar(&c.repsOnStdout, "reps-stdout", false, "also print rep lines on stdout")
	flag.Parse()

	for _, s := range strings.Split(conns, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 4096 {
			fatalf("bad -conns value %q", s)
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
		fatalf("nothing to do: set -token-url, -introspect-url, -get-url or -authorize-url")
	}
	if c.duration <= 0 || c.duration > 10*time.Minute {
		fatalf("-duration must be in (0, 10m]")
	}
	if c.reps < 1 || c.reps > 20 {
		fatalf("-reps must be in [1, 20]")
	}
	if c.warmup < 0 || c.warmup > time.Minute {
		fatalf("-warmup must be in [0, 1m]")
	}
	if c.passwordFile != "" {
		if c.password != "" {
			fatalf("-password and -password-file are exclusive")
		}
		b, err := os.ReadFile(c.passwordFile)
		if err != nil {
			fatalf("-password-file: %v", err)
		}
		// First line, as `gatehouse users create --password-stdin` reads it.
		c.password = strings.TrimRight(strings.SplitN(string(b), "\n", 2)[0], "\r")
	}
	return c
}

func fatalf(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "loadgen: "+f+"\n", a...)
	os.Exit(2)
}
