package resourceserver

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/sync/singleflight"
)

// What the authorization server's metadata says (RFC 8414 §2), as far as a
// resource server needs it.
type asMetadata struct {
	Issuer                string `json:"issuer"`
	JWKSURI               string `json:"jwks_uri"`
	IntrospectionEndpoint string `json:"introspection_endpoint"`
}

// keyCache holds the authorization server's metadata and signing keys.
// A fetch is shared by every request that needs it (single flight) and
// runs past the request that started it (its own timeout), so that one
// caller giving up does not fail the others.
type keyCache struct {
	flight singleflight.Group

	mu          sync.Mutex
	meta        *asMetadata
	metaAt      time.Time
	metaTriedAt time.Time // the last fetch of meta, successful or not
	keys        []jose.JSONWebKey
	keysAt      time.Time // when keys were fetched; zero: never
	triedAt     time.Time // the last fetch of keys, successful or not
}

// metadataURL is where the issuer's RFC 8414 metadata is: the well-known
// suffix goes between the host and the issuer's path (RFC 8414 §3.1).
func metadataURL(issuer string) string {
	u, _ := url.Parse(issuer) // checked at New
	path := strings.TrimSuffix(u.EscapedPath(), "/")
	u.Path, u.RawPath = "", ""
	return strings.TrimSuffix(u.String(), "/") + "/.well-known/oauth-authorization-server" + path
}

// endpoints returns the JWKS URI and introspection endpoint: as configured,
// or from the issuer's metadata (cached for KeysTTL).
func (a *Authenticator) endpoints(ctx context.Context) (jwksURI, introspection string, err error) {
	if a.opts.JWKSURI != "" && (a.opts.IntrospectionEndpoint != "" || a.opts.ClientID == "") {
		return a.opts.JWKSURI, a.opts.IntrospectionEndpoint, nil
	}
	c := &a.keys
	now := a.opts.Clock()
	c.mu.Lock()
	meta, fresh := c.meta, c.meta != nil && now.Sub(c.metaAt) < a.opts.KeysTTL
	// A failed fetch is not retried before KeysRefreshInterval: while the
	// authorization server is down, requests do not each knock.
	justTried := !c.metaTriedAt.IsZero() && now.Sub(c.metaTriedAt) < a.opts.KeysRefreshInterval
	c.mu.Unlock()
	if !fresh && justTried && meta == nil {
		return "", "", fmt.Errorf("%w: authorization server metadata not fetched yet", ErrUnavailable)
	}
	if !fresh && !justTried {
		v, err, _ := c.flight.Do("metadata", func() (any, error) {
			c.mu.Lock()
			c.metaTriedAt = now
			c.mu.Unlock()
			var m asMetadata
			if err := a.getJSON(context.WithoutCancel(ctx), metadataURL(a.opts.Issuer), maxMetadataBytes, &m); err != nil {
				return nil, err
			}
			// RFC 8414 §3.3: the metadata's issuer must be the one asked
			// for, or the document is not to be used.
			if m.Issuer != a.opts.Issuer {
				return nil, fmt.Errorf("%w: metadata issuer %q is not %q", ErrUnavailable, m.Issuer, a.opts.Issuer)
			}
			for _, e := range []string{m.JWKSURI, m.IntrospectionEndpoint} {
				if e != "" && checkURL("endpoint", e, true) != nil {
					return nil, fmt.Errorf("%w: metadata names endpoint %q", ErrUnavailable, e)
				}
			}
			return &m, nil
		})
		if err != nil && meta == nil {
			return "", "", err
		}
		if err == nil {
			meta = v.(*asMetadata)
			c.mu.Lock()
			c.meta, c.metaAt = meta, now
			c.mu.Unlock()
		} else {
			// Keep using what the server said last while it is unreachable.
			a.opts.Logger.WarnContext(ctx, "resourceserver: authorization server metadata not refreshed", "error", err)
		}
	}
	jwksURI, introspection = meta.JWKSURI, meta.IntrospectionEndpoint
	if a.opts.JWKSURI != "" {
		jwksURI = a.opts.JWKSURI
	}
	if a.opts.IntrospectionEndpoint != "" {
		introspection = a.opts.IntrospectionEndpoint
	}
	return jwksURI, introspection, nil
}

// errUnknownKey is a token signed with a key the authorization server does
// not publish (after a refetch, or with the refetch rate-limited).
var errUnknownKey = errors.New("resourceserver: no published key matches the token")

// verificationKeys returns the published keys that may have signed a token
// with header kid and alg. The JWKS is fetched when it is older than
// KeysTTL, and again when no key matches — at most once per
// KeysRefreshInterval, so that made-up kids cannot make this server hammer
// the authorization server.
func (a *Authenticator) verificationKeys(ctx context.Context, kid, alg string) ([]jose.JSONWebKey, error) {
	c := &a.keys
	now := a.opts.Clock()
	c.mu.Lock()
	keys := matchingKeys(c.keys, kid, alg)
	stale := c.keysAt.IsZero() || now.Sub(c.keysAt) >= a.opts.KeysTTL
	mayFetch := c.triedAt.IsZero() || now.Sub(c.triedAt) >= a.opts.KeysRefreshInterval
	c.mu.Unlock()
	if len(keys) > 0 && !stale {
		return keys, nil
	}
	if !mayFetch {
		if len(keys) > 0 {
			return keys, nil // stale, but the last fetch just failed
		}
		return nil, errUnknownKey
	}
	_, err, _ := c.flight.Do("jwks", func() (any, error) {
		// A fetch that finished since this request looked is as good as
		// one of its own: the interval holds across racing requests.
		c.mu.Lock()
		justTried := !c.triedAt.IsZero() && a.opts.Clock().Sub(c.triedAt) < a.opts.KeysRefreshInterval
		c.mu.Unlock()
		if justTried {
			return nil, nil
		}
		fetched, err := a.fetchKeys(context.WithoutCancel(ctx))
		c.mu.Lock()
		defer c.mu.Unlock()
		c.triedAt = a.opts.Clock()
		if err == nil {
			c.keys, c.keysAt = fetched, c.triedAt
		}
		return nil, err
	})
	c.mu.Lock()
	keys = matchingKeys(c.keys, kid, alg)
	c.mu.Unlock()
	switch {
	case len(keys) > 0:
		if err != nil {
			a.opts.Logger.WarnContext(ctx, "resourceserver: JWKS not refreshed; using the keys fetched before", "error", err)
		}
		return keys, nil
	case err != nil:
		return nil, err
	}
	return nil, errUnknownKey
}

// fetchKeys fetches the JWKS and keeps its public signature keys (at most
// maxKeys).
func (a *Authenticator) fetchKeys(ctx context.Context) ([]jose.JSONWebKey, error) {
	jwksURI, _, err := a.endpoints(ctx)
	if err != nil {
		return nil, err
	}
	if jwksURI == "" {
		return nil, fmt.Errorf("%w: the authorization server publishes no jwks_uri", ErrUnavailable)
	}
	var set jose.JSONWebKeySet
	if err := a.getJSON(ctx, jwksURI, maxJWKSBytes, &set); err != nil {
		return nil, err
	}
	var keys []jose.JSONWebKey
	for _, k := range set.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		if !k.IsPublic() {
			// A published private key is a mistake of the server; only
			// its public half verifies anything.
			k = k.Public()
		}
		if !k.Valid() {
			continue
		}
		keys = append(keys, k)
		if len(keys) == maxKeys {
			break
		}
	}
	return keys, nil
}

// matchingKeys are the keys of kid (all of them when the token names no
// kid) that may verify alg: a key that states its algorithm is used for
// that one alone (RFC 7517 §4.4).
func matchingKeys(keys []jose.JSONWebKey, kid, alg string) []jose.JSONWebKey {
	var out []jose.JSONWebKey
	for _, k := range keys {
		if kid != "" && k.KeyID != kid {
			continue
		}
		if k.Algorithm != "" && k.Algorithm != alg {
			continue
		}
		out = append(out, k)
	}
	return out
}
