-- Rows as a binary whose newest migration was 20261210000201_resources
-- wrote them: a registered resource, and a client whose requests without
-- a resource get tokens for it.
INSERT INTO resources (id, name, scopes, access_token_format, access_token_lifetime_ms, signing_alg, created_at, updated_at)
VALUES ('https://mcp.example/mcp', 'MCP server', '["tools:read"]', 'jwt', 300000, 'ES256', '2026-12-10 10:00:00+00:00', '2026-12-10 10:00:00+00:00');
INSERT INTO clients (id, secret_hash, name, redirect_uris, grant_types, response_types, scopes, audience, public, token_endpoint_auth_method, default_resource, created_at, updated_at)
VALUES ('resource-client', 'h', 'Resource client', '[]', '["client_credentials"]', '[]', '["tools:read"]', '[]', FALSE, 'client_secret_basic', 'https://mcp.example/mcp', '2026-12-10 10:00:00+00:00', '2026-12-10 10:00:00+00:00');
