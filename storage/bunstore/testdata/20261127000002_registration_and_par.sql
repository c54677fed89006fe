-- Rows as a binary whose newest migration was
-- 20261127000002_registration_and_par wrote them: two clients with the
-- RFC 7591 metadata and PAR required, and a user. The access token, whose
-- session is a blob, is in the file of each dialect.
INSERT INTO clients (id, secret_hash, name, redirect_uris, grant_types, response_types, scopes,
    allowed_origins, public, token_endpoint_auth_method, skip_consent, contacts, registered_by,
    require_pushed_authorization_requests, created_at, updated_at)
VALUES
    ('dcr-client', 'dcr-hash', 'Registered client', '["https://dcr.example/cb"]', '["client_credentials"]',
     '[]', '["read"]', '["https://dcr.example"]', FALSE, 'client_secret_basic', TRUE,
     '["ops@dcr.example"]', 'an administrator', TRUE, '2026-11-21 10:00:00+00:00', '2026-11-21 10:00:00+00:00'),
    ('dcr-other', 'dcr-hash', 'Registered client', '["https://dcr.example/cb"]', '["client_credentials"]',
     '[]', '["read"]', '["https://dcr.example"]', FALSE, 'client_secret_basic', TRUE,
     '["ops@dcr.example"]', 'an administrator', TRUE, '2026-11-21 10:00:00+00:00', '2026-11-21 10:00:00+00:00');

INSERT INTO users (id, email, name, roles, created_at, updated_at)
VALUES ('dcr-user', 'dcr@example.com', 'Registered user', '["admin"]',
    '2026-11-21 10:00:00+00:00', '2026-11-21 10:00:00+00:00');
