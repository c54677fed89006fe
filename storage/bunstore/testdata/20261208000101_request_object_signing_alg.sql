-- Rows as a binary whose newest migration was
-- 20261208000101_request_object_signing_alg wrote them: a client whose
-- request objects must be signed with PS256.
INSERT INTO clients (id, secret_hash, name, redirect_uris, grant_types, response_types, scopes,
    allowed_origins, public, token_endpoint_auth_method, skip_consent, request_object_signing_alg,
    created_at, updated_at)
VALUES ('jar-client', 'jar-hash', 'JAR client', '["https://jar.example/cb"]', '["authorization_code"]', '["code"]',
    '["openid"]', '[]', FALSE, 'client_secret_basic', FALSE, 'PS256',
    '2026-12-08 10:00:00+00:00', '2026-12-08 10:00:00+00:00');
