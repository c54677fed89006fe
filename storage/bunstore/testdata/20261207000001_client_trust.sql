-- Rows as a binary whose newest migration was 20261207000001_client_trust
-- wrote them: a first-party client that may introspect any token and
-- serves an API, and an API key a user made through an app.
INSERT INTO clients (id, secret_hash, name, redirect_uris, grant_types, response_types, scopes,
    allowed_origins, public, token_endpoint_auth_method, skip_consent, first_party,
    introspect_any_token, resources, created_at, updated_at)
VALUES ('trusted-client', 'trusted-hash', 'Trusted client', '[]', '["client_credentials"]', '[]',
    '["gatehouse:admin"]', '[]', FALSE, 'client_secret_basic', FALSE, TRUE,
    TRUE, '["https://api.example"]', '2026-12-01 10:00:00+00:00', '2026-12-01 10:00:00+00:00');

INSERT INTO api_keys (id, client_id, name, scopes, secret_hash, created_by, created_via, created_at)
VALUES ('trusted-key', 'trusted-client', 'Console key', '["apikeys"]', 'key-hash', 'user:someone', 'console',
    '2026-12-01 10:00:00+00:00');
