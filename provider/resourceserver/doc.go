// Package resourceserver protects an HTTP resource server — an MCP server
// or an API — with access tokens from gatehouse (or any RFC 8414
// authorization server that issues RFC 9068 JWT access tokens or answers
// RFC 7662 introspection).
//
// It does what the MCP authorization specification (2025-11-25) asks of a
// resource server:
//
//   - publishes RFC 9728 protected resource metadata, at
//     /.well-known/oauth-protected-resource and at the path-suffixed form
//     for the resource's path (RFC 9728 §3.1);
//   - takes the access token from the Authorization header only (RFC 6750
//     §2.1; the MCP specification forbids tokens in the query string);
//   - checks that the token was issued by the configured authorization
//     server for this resource (its audience), offline for JWT access
//     tokens (RFC 9068) and by introspection (RFC 7662) for opaque ones;
//   - answers a missing or bad token with 401 and a WWW-Authenticate
//     challenge that names the resource metadata and the scopes needed
//     (RFC 9728 §5.1, RFC 6750 §3), and a token without the scope a route
//     needs with 403 insufficient_scope.
//
// gatehouse API keys (gth_ak_...) presented directly, in X-API-Key or as a
// bearer token, are checked by introspection when Options.APIKeys is set.
//
// DPoP-bound access tokens (RFC 9449) are accepted with the DPoP scheme:
// the token's binding is its cnf.jkt (in the JWT, or in the introspection
// answer, cached with it), and every request carries a proof (the DPoP
// header) signed by that key for this request — method, URL (htu; by
// default the scheme and host of Options.Resource and the request's path,
// Options.ExternalURL behind a path-rewriting proxy) and token (ath) — and
// used once (Options.DPoPReplay; a bounded in-memory cache by default, one
// shared by every instance when there are several). A bound token is
// refused with the Bearer scheme, an unbound one with the DPoP scheme;
// Options.RequireDPoP refuses bearer tokens altogether;
// Options.DPoPNonces makes proofs carry a server nonce (RFC 9449 §9). A
// refusal carries a Bearer and a DPoP challenge (only DPoP with
// RequireDPoP), the error on the one of the scheme it concerns, and the
// principal's JKT names the key.
//
// The package imports only the standard library, go-jose,
// golang.org/x/sync and gatehouse's provider/dpop (itself only the
// standard library and go-jose), so that a resource server that imports
// it does not pull in the authorization server.
//
// Typical use:
//
//	rs, err := resourceserver.New(resourceserver.Options{
//		Issuer:         "https://id.example.com",
//		Resource:       "https://mcp.example.com/mcp",
//		RequiredScopes: []string{"mcp:tools"},
//		ClientID:       os.Getenv("RS_CLIENT_ID"), // for introspection
//		ClientSecret:   os.Getenv("RS_CLIENT_SECRET"),
//	})
//	mux.Handle(resourceserver.MetadataPath+"/", rs.MetadataHandler())
//	mux.Handle(resourceserver.MetadataPath, rs.MetadataHandler())
//	mux.Handle("/mcp", rs.Middleware(mcpHandler))
//
// Revocation: a JWT access token is checked offline and stays usable
// until it expires, whatever happens at the authorization server; an
// opaque token or API key is re-checked once its cached answer
// (Options.IntrospectionCacheTTL, 30 seconds by default, never past the
// token's expiry) runs out, or at once after Forget.
package resourceserver
