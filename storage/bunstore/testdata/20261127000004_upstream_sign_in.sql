-- Rows as a binary whose newest migration was 20261127000004_upstream_sign_in
-- wrote them: a client with an owner. Its signing keys, whose private
-- keys are blobs, are in the file of each dialect.
INSERT INTO clients (id, secret_hash, name, redirect_uris, grant_types, response_types, scopes,
    allowed_origins, public, token_endpoint_auth_method, skip_consent, owner_id, created_at, updated_at)
VALUES ('keys-client', 'keys-hash', 'Keys client', '["https://keys.example/cb"]', '["authorization_code"]',
    '["code"]', '["openid"]', '[]', FALSE, 'client_secret_basic', TRUE, 'keys-owner',
    '2026-11-23 10:00:00+00:00', '2026-11-23 10:00:00+00:00');
