-- Rows as a binary whose newest migration was 20261208000301_client_pkce_optional
-- wrote them: a confidential client an operator let go without PKCE.
INSERT INTO clients (id, secret_hash, name, redirect_uris, grant_types, response_types, scopes,
    allowed_origins, public, token_endpoint_auth_method, skip_consent, pkce_optional, created_at, updated_at)
VALUES ('legacy-oidc-client', 'legacy-hash', 'Legacy OIDC client', '["https://legacy.example/cb"]',
    '["authorization_code"]', '["code"]', '["openid"]', '[]', FALSE, 'client_secret_basic', FALSE, TRUE,
    '2026-12-08 10:00:00+00:00', '2026-12-08 10:00:00+00:00');
