-- Rows as a binary whose newest migration was 20261209000201_second_factors
-- wrote them: a person with a confirmed authenticator and two recovery
-- codes (one used), and a client that requires a second factor.
INSERT INTO users (id, email, name, roles, created_at, updated_at)
VALUES ('mfa-user', 'mfa-user@example.com', 'MFA user', '[]', '2026-12-09 10:00:00+00:00', '2026-12-09 10:00:00+00:00');
INSERT INTO recovery_codes (user_id, code_hash, created_at, used_at)
VALUES ('mfa-user', 'hash-unused', '2026-12-09 10:01:00+00:00', NULL),
       ('mfa-user', 'hash-used', '2026-12-09 10:01:00+00:00', '2026-12-09 11:00:00+00:00');
INSERT INTO clients (id, secret_hash, name, redirect_uris, grant_types, response_types, scopes,
    allowed_origins, public, token_endpoint_auth_method, skip_consent, require_mfa, created_at, updated_at)
VALUES ('mfa-client', 'mfa-hash', 'MFA client', '["https://mfa.example/cb"]',
    '["authorization_code"]', '["code"]', '["openid"]', '[]', FALSE, 'client_secret_basic', FALSE, TRUE,
    '2026-12-09 10:00:00+00:00', '2026-12-09 10:00:00+00:00');
