package resourceserver

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/gatehouse-dev/gatehouse/provider/dpop"
)

// introspectionAnswer is the RFC 7662 §2.2 answer, as far as it is read.
type introspectionAnswer struct {
	Active    bool            `json:"active"`
	Scope     string          `json:"scope"`
	ClientID  string          `json:"client_id"`
	Sub       string          `json:"sub"`
	Aud       json.RawMessage `json:"aud"`
	Iss       string          `json:"iss"`
	Exp       int64           `json:"exp"`
	TokenType string          `json:"token_type"`
	Roles     []string        `json:"roles"`
	// Cnf is the key the token is bound to (RFC 9449 §6.2).
	Cnf map[string]json.RawMessage `json:"cnf"`
}

// audience reads aud, a string or an array of strings (RFC 7662 §2.2 and
// RFC 7519 §4.1.3).
func (in *introspectionAnswer) audience() []string {
	if len(in.Aud) == 0 {
		return nil
	}
	var one string
	if json.Unmarshal(in.Aud, &one) == nil {
		return []string{one}
	}
	var many []string
	_ = json.Unmarshal(in.Aud, &many)
	return many
}

// introspect checks an opaque token or an API key with the authorization
// server (RFC 7662), through the answer cache.
func (a *Authenticator) introspect(ctx context.Context, token string, apiKey bool) (*Principal, error) {
	if a.opts.ClientID == "" {
		return nil, invalid("an opaque token, and no client credentials to introspect it")
	}
	if apiKey && !a.opts.APIKeys {
		return nil, invalid("an API key, and API keys are not accepted")
	}
	if isOtherGatehouseCredential(token) {
		return nil, invalid("a refresh token or authorization code")
	}
	key := sha256.Sum256([]byte(token))
	if p, ok := a.answers.get(key, a.opts.Clock()); ok {
		if p == nil {
			return nil, invalid("inactive (cached)")
		}
		return p, nil
	}
	// One introspection per token at a time: concurrent first requests
	// with the same token share it.
	v, err, _ := a.answers.flight.Do(string(key[:]), func() (any, error) {
		p, err := a.askIntrospection(context.WithoutCancel(ctx), token, apiKey)
		if err != nil && !isInvalid(err) {
			return nil, err // not cached: the token may well be good
		}
		// An inactive token never becomes active again: its answer is
		// cached as well (bounded), so that a replayed bad token costs
		// one introspection per TTL.
		until := a.opts.Clock().Add(a.opts.IntrospectionCacheTTL)
		if p != nil && !p.Expiry.IsZero() && p.Expiry.Before(until) {
			until = p.Expiry
		}
		a.answers.put(key, p, until, a.opts.Clock())
		return p, err
	})
	if err != nil {
		return nil, err
	}
	return v.(*Principal), nil
}

// askIntrospection asks the introspection endpoint about token, and checks
// the answer: active, issued by the issuer, for this resource (an access
// token's aud) or an API key (token_type api_key: gatehouse tells a
// resource server about a key only when the key's client may get tokens
// for one of the resources the resource server's client serves, so its
// answer is the audience check), not expired.
func (a *Authenticator) askIntrospection(ctx context.Context, token string, apiKey bool) (*Principal, error) {
	_, endpoint, err := a.endpoints(ctx)
	if err != nil {
		return nil, err
	}
	if endpoint == "" {
		return nil, fmt.Errorf("%w: the authorization server publishes no introspection_endpoint", ErrUnavailable)
	}
	form := url.Values{"token": {token}}
	if !apiKey {
		form.Set("token_type_hint", "access_token")
	}
	var in introspectionAnswer
	if err := a.postForm(ctx, endpoint, form, maxIntrospectionBytes, &in); err != nil {
		return nil, err
	}
	if !in.Active {
		return nil, invalid("inactive")
	}
	// RFC 7662 §2.2 makes iss optional; an answer that names another
	// issuer is not about our tokens.
	if in.Iss != "" && in.Iss != a.opts.Issuer {
		return nil, invalid("iss %q", in.Iss)
	}
	// The binding, cached with the answer: a bound token is bound
	// whatever its token_type says.
	jkt, err := binding(in.Cnf)
	if err != nil {
		return nil, err
	}
	p := &Principal{
		JKT:      jkt,
		Subject:  in.Sub,
		ClientID: in.ClientID,
		Scopes:   strings.Fields(in.Scope),
		Roles:    in.Roles,
		Audience: in.audience(),
		Issuer:   a.opts.Issuer,
		Via:      ViaIntrospection,
	}
	if in.Exp != 0 {
		p.Expiry = time.Unix(in.Exp, 0)
		if a.afterLeeway(p.Expiry) {
			return nil, invalid("expired")
		}
	}
	if apiKey {
		if in.TokenType != "api_key" {
			return nil, invalid("token_type %q for an API key", in.TokenType)
		}
		p.Via = ViaAPIKey
		if p.Subject == "" {
			p.Subject = p.ClientID // a key acts as its client
		}
		return p, nil
	}
	// An access token: RFC 6750 "Bearer", or RFC 9449 §6.2 "DPoP" with
	// the key it is bound to (gatehouse names no type for a refresh token,
	// and api_key for a key).
	switch {
	case strings.EqualFold(in.TokenType, dpop.TokenType):
		if jkt == "" {
			return nil, invalid("token_type DPoP without cnf.jkt")
		}
	case !strings.EqualFold(in.TokenType, "bearer") && in.TokenType != "":
		return nil, invalid("token_type %q", in.TokenType)
	}
	if !containsString(p.Audience, a.opts.Resource) {
		return nil, invalid("aud %v does not name %s", p.Audience, a.opts.Resource)
	}
	return p, nil
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// answerCache keeps introspection answers (nil: inactive) by the SHA-256
// of the token, never the token itself, bounded in entries.
type answerCache struct {
	flight singleflight.Group
	max    int

	mu      sync.Mutex
	entries map[[sha256.Size]byte]cachedAnswer
}

type cachedAnswer struct {
	p     *Principal
	until time.Time
}

func (c *answerCache) get(key [sha256.Size]byte, now time.Time) (*Principal, bool) {
	if c.max <= 0 {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok {
		return nil, false
	}
	if !now.Before(e.until) {
		delete(c.entries, key)
		return nil, false
	}
	return e.p, true
}

func (c *answerCache) put(key [sha256.Size]byte, p *Principal, until, now time.Time) {
	if c.max <= 0 || !now.Before(until) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		for k, e := range c.entries {
			if !now.Before(e.until) {
				delete(c.entries, k)
			}
		}
		// Still full: drop arbitrary entries (map order); they are asked
		// again when next seen.
		for k := range c.entries {
			if len(c.entries) < c.max {
				break
			}
			delete(c.entries, k)
		}
	}
	c.entries[key] = cachedAnswer{p: p, until: until}
}

func (c *answerCache) forget(key [sha256.Size]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, key)
}
