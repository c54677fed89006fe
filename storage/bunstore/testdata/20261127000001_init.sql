-- Rows as a binary whose newest migration was 20261127000001_init wrote
-- them: only the columns that schema has. Like every fixture here, the
-- literals are bun's in both dialects: UTC times as
-- '2006-01-02 15:04:05+00:00', booleans as TRUE and FALSE.
INSERT INTO clients (id, secret_hash, name, redirect_uris, grant_types, response_types, scopes,
    allowed_origins, public, token_endpoint_auth_method, skip_consent, created_at, updated_at)
VALUES ('first-client', 'first-hash', 'First client', '["https://first.example/cb"]', '["authorization_code"]',
    '["code"]', '["openid"]', '["https://first.example"]', FALSE, 'client_secret_post', TRUE,
    '2026-11-20 10:00:00+00:00', '2026-11-20 10:00:00+00:00');

INSERT INTO users (id, email, name, roles, created_at, updated_at)
VALUES ('first-user', 'first@example.com', 'First user', '["admin"]',
    '2026-11-20 10:00:00+00:00', '2026-11-20 10:00:00+00:00');
