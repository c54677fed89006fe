-- Rows as a binary whose newest migration was
-- 20261211000201_client_dpop_bound_access_tokens wrote them: a client
-- that must use DPoP.
INSERT INTO clients (id, secret_hash, name, redirect_uris, grant_types, response_types, scopes, audience, public, token_endpoint_auth_method, dpop_bound_access_tokens, created_at, updated_at)
VALUES ('dpop-client', 'h', 'DPoP client', '[]', '["client_credentials"]', '[]', '["tools:read"]', '[]', FALSE, 'client_secret_basic', TRUE, '2026-12-11 11:00:00+00:00', '2026-12-11 11:00:00+00:00');
