package resourceserver

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
)

// MetadataPath is the well-known path of protected resource metadata
// (RFC 9728 §3).
const MetadataPath = "/.well-known/oauth-protected-resource"

// ResourceMetadataURL is where the metadata of resource is: the
// well-known path goes between the host and the resource's path
// (RFC 9728 §3.1), so https://mcp.example.com/mcp has its metadata at
// https://mcp.example.com/.well-known/oauth-protected-resource/mcp.
func ResourceMetadataURL(resource string) string {
	u, err := url.Parse(resource)
	if err != nil {
		return ""
	}
	path := resourcePath(resource)
	u.Path, u.RawPath, u.RawQuery = "", "", ""
	return strings.TrimSuffix(u.String(), "/") + MetadataPath + path
}

// resourcePath is the escaped path of resource without a trailing slash
// ("" for none).
func resourcePath(resource string) string {
	u, err := url.Parse(resource)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(u.EscapedPath(), "/")
}

// ProtectedResourceMetadata is the RFC 9728 §2 document.
type ProtectedResourceMetadata struct {
	Resource               string   `json:"resource"`
	AuthorizationServers   []string `json:"authorization_servers"`
	ScopesSupported        []string `json:"scopes_supported,omitempty"`
	BearerMethodsSupported []string `json:"bearer_methods_supported"`
	ResourceName           string   `json:"resource_name,omitempty"`
	ResourceDocumentation  string   `json:"resource_documentation,omitempty"`
	// DPoP (RFC 9728 §2): the proof algorithms accepted, and whether only
	// DPoP-bound tokens are.
	DPoPSigningAlgValuesSupported []string `json:"dpop_signing_alg_values_supported,omitempty"`
	DPoPBoundAccessTokensRequired bool     `json:"dpop_bound_access_tokens_required,omitempty"`
}

// Metadata is this resource's metadata document.
func (a *Authenticator) Metadata() ProtectedResourceMetadata {
	scopes := a.opts.ScopesSupported
	if len(scopes) == 0 {
		scopes = a.opts.RequiredScopes
	}
	return ProtectedResourceMetadata{
		Resource:             a.opts.Resource,
		AuthorizationServers: []string{a.opts.Issuer},
		ScopesSupported:      append([]string(nil), scopes...),
		// Only the Authorization header (RFC 6750 §2.1); the MCP
		// specification forbids the query string.
		BearerMethodsSupported:        []string{"header"},
		ResourceName:                  a.opts.ResourceName,
		ResourceDocumentation:         a.opts.ResourceDocumentation,
		DPoPSigningAlgValuesSupported: a.dpop.Algorithms(),
		DPoPBoundAccessTokensRequired: a.opts.RequireDPoP,
	}
}

func (a *Authenticator) metadataDocument() ([]byte, error) {
	return json.Marshal(a.Metadata())
}

// MetadataURL is the URL of this resource's metadata, as the challenges
// name it.
func (a *Authenticator) MetadataURL() string { return a.metaURL }

// MetadataHandler serves the metadata at MetadataPath and at the
// path-suffixed form of the resource (RFC 9728 §3.1): mount it on both.
// Any other path is 404; only GET and HEAD are served. The document is
// public and changes only with the configuration, so caches may keep it
// for an hour. CORS is allowed for browser-based MCP clients.
func (a *Authenticator) MetadataHandler() http.Handler {
	suffixed := MetadataPath + resourcePath(a.opts.Resource)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.EscapedPath(); p != MetadataPath && p != suffixed {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "public, max-age=3600")
		h.Set("Access-Control-Allow-Origin", "*")
		_, _ = w.Write(a.meta)
	})
}
