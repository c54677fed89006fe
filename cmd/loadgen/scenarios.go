// The scenarios cc_token, exchange, introspect and get (one request per
// measured unit), and buildScenarios, which builds every scenario the flags name.

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"
)

type scenario struct {
	name  string
	build func() (*http.Request, error)
	check func(status int, body []byte) bool
	// flow, when set, replaces build/check: the measured unit is then one
	// whole multi-request flow run by worker w (its own user agent), and
	// the flow counts its own errors in ct. It returns whether the flow
	// succeeded.
	flow func(w int, client *http.Client, ct *counters) bool
	// maxReqs bounds the HTTP requests of one unit (1 without flow), so
	// the time budget can allow for a unit in flight at the deadline.
	maxReqs int
	// prepare, when set, completes worker w's request after build (with
	// -dpop, the worker's DPoP proof). Like build, it is not timed.
	prepare func(w int, req *http.Request) error
	// answer, when set, sees every answer of worker w before check.
	// taken: a challenge the worker took up (a DPoP server nonce, RFC
	// 9449 §8), neither timed nor an error; err: the answer is an error,
	// for that reason.
	answer func(w, status int, h http.Header, body []byte) (taken bool, err error)
	// dpop marks a scenario whose requests carry DPoP proofs.
	dpop bool
}

func tokenForm(c config) (body []byte, authz string) {
	v := url.Values{}
	v.Set("grant_type", "client_credentials")
	if c.scope != "" {
		v.Set("scope", c.scope)
	}
	if c.audience != "" {
		v.Set("audience", c.audience)
	}
	if c.extraForm != "" {
		extra, err := url.ParseQuery(c.extraForm)
		if err != nil {
			fatalf("bad -extra-form: %v", err)
		}
		for k, vs := range extra {
			for _, x := range vs {
				v.Add(k, x)
			}
		}
	}
	switch c.authMethod {
	case "basic":
		authz = basic(c.clientID, c.clientSecret)
	case "post":
		v.Set("client_id", c.clientID)
		v.Set("client_secret", c.clientSecret)
	default:
		fatalf("bad -auth %q (basic|post)", c.authMethod)
	}
	return []byte(v.Encode()), authz
}

var (
	needleAccessToken = []byte(`"access_token"`)
	needleActive      = []byte(`"active":true`)
	needleActive2     = []byte(`"active": true`)
	// needleIssuedTokenType: a token exchange answer (RFC 8693 §2.2.1).
	needleIssuedTokenType = []byte(`"issued_token_type"`)
)

func fetchToken(c config) (string, error) {
	body, authz := tokenForm(c)
	req, err := postForm(c.tokenURL, body, authz)()
	if err != nil {
		return "", err
	}
	cl := newClient(1, c.reqTimeout)
	resp, err := cl.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("token endpoint answered %d: %s", resp.StatusCode, truncate(b, 300))
	}
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(b, &tr); err != nil || tr.AccessToken == "" {
		return "", fmt.Errorf("no access_token in token response: %s", truncate(b, 300))
	}
	return tr.AccessToken, nil
}

// RFC 8693 identifiers the exchange scenario sends.
const (
	grantTokenExchange   = "urn:ietf:params:oauth:grant-type:token-exchange"
	tokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
)

// newExchange builds the exchange scenario: each request exchanges one
// access token (RFC 8693 §2.1), fetched once before the runs with the
// client's client_credentials grant, for a new one. The client must be
// allowed both grants. With -exchange-actor a second such token is the
// actor token (delegation: two token lookups and one INSERT per request);
// without, the exchange is an impersonation (one lookup), which the client
// must be allowed too.
func newExchange(c config) (scenario, error) {
	if c.tokenURL == "" || c.clientID == "" {
		return scenario{}, errors.New("exchange needs -token-url, -client-id, -client-secret")
	}
	if err := requireLoopback(c.tokenURL); err != nil {
		return scenario{}, err
	}
	subject, err := fetchToken(c)
	if err != nil {
		return scenario{}, fmt.Errorf("exchange: obtaining the subject token: %w", err)
	}
	v := url.Values{}
	v.Set("grant_type", grantTokenExchange)
	v.Set("subject_token", subject)
	v.Set("subject_token_type", tokenTypeAccessToken)
	if c.exchangeActor {
		actor, err := fetchToken(c)
		if err != nil {
			return scenario{}, fmt.Errorf("exchange: obtaining the actor token: %w", err)
		}
		v.Set("actor_token", actor)
		v.Set("actor_token_type", tokenTypeAccessToken)
	}
	if c.scope != "" {
		v.Set("scope", c.scope)
	}
	authz := basic(c.clientID, c.clientSecret)
	if c.authMethod == "post" {
		v.Set("client_id", c.clientID)
		v.Set("client_secret", c.clientSecret)
		authz = ""
	}
	return scenario{name: "exchange", build: postForm(c.tokenURL, []byte(v.Encode()), authz),
		check: func(st int, b []byte) bool { return st == 200 && bytes.Contains(b, needleIssuedTokenType) }}, nil
}

// withDPoP makes sc send a fresh DPoP proof (RFC 9449 §4.2) with every
// request, signed with its worker's key, and count as a success only a
// DPoP-bound token (§5: token_type DPoP).
func withDPoP(sc *scenario, c config) error {
	workers := 1 // the check before the runs, with no -conns
	if len(c.conns) > 0 {
		workers = max(workers, slices.Max(c.conns))
	}
	p, err := newDPoPProver(c.tokenURL, workers, nil)
	if err != nil {
		return err
	}
	sc.prepare, sc.answer, sc.dpop = p.prepare, p.answer, true
	sc.check = func(st int, b []byte) bool {
		return st == 200 && (bytes.Contains(b, needleDPoPTokenType) || bytes.Contains(b, needleDPoPTokenType2))
	}
	return nil
}

// checkDPoP makes one request of sc as worker 0 before the runs (taking up
// a nonce challenge first if the server sends one), so that a server or
// client without DPoP fails here with the reason, not as a run of errors.
func checkDPoP(sc scenario, timeout time.Duration) error {
	cl := newClient(1, timeout)
	defer cl.CloseIdleConnections()
	for range 2 {
		req, err := sc.build()
		if err == nil {
			err = sc.prepare(0, req)
		}
		if err != nil {
			return err
		}
		resp, err := cl.Do(req)
		if err != nil {
			return err
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if err != nil {
			return err
		}
		taken, err := sc.answer(0, resp.StatusCode, resp.Header, b)
		switch {
		case taken:
			continue
		case err != nil:
			return fmt.Errorf("%w: %s", err, truncate(b, 300))
		case sc.check(resp.StatusCode, b):
			return nil
		case resp.StatusCode == http.StatusOK:
			// Never print the body: it holds the token.
			var tr struct {
				TokenType string `json:"token_type"`
			}
			_ = json.Unmarshal(b, &tr)
			return fmt.Errorf("the token endpoint answered token_type %q, not DPoP: does the server support DPoP?", truncate([]byte(tr.TokenType), 40))
		default:
			return fmt.Errorf("the token endpoint answered %d: %s", resp.StatusCode, truncate(b, 300))
		}
	}
	return errors.New("use_dpop_nonce twice")
}

func buildScenarios(c config) ([]scenario, error) {
	var out []scenario
	for _, name := range c.scenarios {
		switch name {
		case "cc_token":
			if c.tokenURL == "" || c.clientID == "" {
				return nil, errors.New("cc_token needs -token-url, -client-id, -client-secret")
			}
			if err := requireLoopback(c.tokenURL); err != nil {
				return nil, err
			}
			body, authz := tokenForm(c)
			sc := scenario{name: name, build: postForm(c.tokenURL, body, authz),
				check: func(st int, b []byte) bool { return st == 200 && bytes.Contains(b, needleAccessToken) }}
			if c.dpop {
				if err := withDPoP(&sc, c); err != nil {
					return nil, err
				}
				if err := checkDPoP(sc, c.reqTimeout); err != nil {
					return nil, fmt.Errorf("cc_token -dpop: %w", err)
				}
			}
			out = append(out, sc)
		case "exchange":
			sc, err := newExchange(c)
			if err != nil {
				return nil, err
			}
			out = append(out, sc)
		case "introspect":
			if c.introspectURL == "" || c.tokenURL == "" {
				return nil, errors.New("introspect needs -introspect-url and -token-url (a token is obtained first)")
			}
			if err := requireLoopback(c.introspectURL); err != nil {
				return nil, err
			}
			if err := requireLoopback(c.tokenURL); err != nil {
				return nil, err
			}
			tok, err := fetchToken(c)
			if err != nil {
				return nil, fmt.Errorf("introspect: obtaining a token: %w", err)
			}
			var authz string
			switch {
			case c.introspectAuth == "none" || c.introspectAuth == "":
			case c.introspectAuth == "client":
				authz = basic(c.clientID, c.clientSecret)
			case strings.HasPrefix(c.introspectAuth, "basic:"):
				up := strings.SplitN(strings.TrimPrefix(c.introspectAuth, "basic:"), ":", 2)
				if len(up) != 2 {
					return nil, errors.New("-introspect-auth basic:USER:PASS")
				}
				authz = basic(up[0], up[1])
			case strings.HasPrefix(c.introspectAuth, "bearer:"):
				authz = "Bearer " + strings.TrimPrefix(c.introspectAuth, "bearer:")
			default:
				return nil, fmt.Errorf("bad -introspect-auth %q", c.introspectAuth)
			}
			v := url.Values{}
			v.Set("token", tok)
			v.Set("token_type_hint", "access_token")
			body := []byte(v.Encode())
			out = append(out, scenario{name: name, build: postForm(c.introspectURL, body, authz),
				check: func(st int, b []byte) bool {
					return st == 200 && (bytes.Contains(b, needleActive) || bytes.Contains(b, needleActive2))
				}})
			fmt.Fprintf(os.Stderr, "# introspect: token len=%d jwt=%v\n", len(tok), strings.Count(tok, ".") == 2 && !strings.HasPrefix(tok, "ory_"))
		case "authcode":
			sc, err := newAuthcode(c)
			if err != nil {
				return nil, err
			}
			out = append(out, sc)
		case "get":
			if c.getURL == "" {
				return nil, errors.New("get needs -get-url")
			}
			if err := requireLoopback(c.getURL); err != nil {
				return nil, err
			}
			u := c.getURL
			out = append(out, scenario{name: name,
				build: func() (*http.Request, error) {
					req, err := http.NewRequest(http.MethodGet, u, nil)
					if err == nil {
						req.Header.Set("Accept", "application/json")
					}
					return req, err
				},
				check: func(st int, b []byte) bool { return st == 200 && len(b) > 0 }})
		default:
			return nil, fmt.Errorf("unknown scenario %q", name)
		}
	}
	return out, nil
}
