-- Rows as a binary whose newest migration was
-- 20261127000005_token_format_key_rotation_system_keys wrote them: a client
-- with JWT access tokens, from before clients had a refresh retry window.
INSERT INTO clients (id, secret_hash, name, redirect_uris, grant_types, response_types, scopes,
    allowed_origins, public, token_endpoint_auth_method, skip_consent, owner_id, access_token_format,
    created_at, updated_at)
VALUES ('jwt-client', 'jwt-hash', 'JWT client', '["https://jwt.example/cb"]', '["authorization_code"]',
    '["code"]', '["openid"]', '[]', FALSE, 'client_secret_basic', TRUE, '', 'jwt',
    '2026-11-24 10:00:00+00:00', '2026-11-24 10:00:00+00:00');
