package provider

import (
	"github.com/ory/fosite"

	"github.com/gatehouse-dev/gatehouse/storage"
)

// keyClient is a client as one request authenticated it with an API key:
// the stored client, narrowed to the key's scopes (fosite checks requested
// scopes against GetScopes: invalid_scope beyond the key's), and the key.
// It lives for one request and is never stored.
type keyClient struct {
	*storage.Client
	keyID  string
	scopes fosite.Arguments
}

var (
	_ fosite.Client              = (*keyClient)(nil)
	_ fosite.OpenIDConnectClient = (*keyClient)(nil)
)

// GetScopes are the key's scopes (within the client's).
func (c *keyClient) GetScopes() fosite.Arguments { return c.scopes }

// StorageClient returns the stored client behind the client of a request:
// the client itself, or the one an API key authenticated as. false for a
// client of another type (none exists outside tests).
func StorageClient(c fosite.Client) (*storage.Client, bool) {
	switch c := c.(type) {
	case *storage.Client:
		return c, true
	case *keyClient:
		return c.Client, true
	}
	return nil, false
}

// apiKeyOf returns the id of the API key that authenticated a request's
// client, or "" when it authenticated otherwise.
func apiKeyOf(c fosite.Client) string {
	if kc, ok := c.(*keyClient); ok {
		return kc.keyID
	}
	return ""
}
