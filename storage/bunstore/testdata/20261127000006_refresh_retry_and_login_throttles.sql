-- Rows as a binary whose newest migration was
-- 20261127000006_refresh_retry_and_login_throttles wrote them: an account
-- locked after five failed sign-ins (from before locks were counted and
-- browsers had records of their own), and clients from before clients were
-- first-party: operator clients (no registration access token) allowed a
-- management scope or not, and registered clients allowed one.
INSERT INTO login_throttles (account, failures, last_failure_at, locked_until)
VALUES ('0123456789abcdef', 5, '2026-11-25 10:00:00+00:00', '2026-11-25 10:01:00+00:00');

INSERT INTO clients (id, secret_hash, name, redirect_uris, grant_types, response_types, scopes,
    allowed_origins, public, token_endpoint_auth_method, skip_consent, registration_access_token_hash,
    created_at, updated_at)
VALUES
    ('operator-admin', 'hash', 'operator-admin', '[]', '["client_credentials"]', '[]',
     '["gatehouse:admin","api"]', '[]', FALSE, 'client_secret_basic', FALSE, '',
     '2026-11-25 10:00:00+00:00', '2026-11-25 10:00:00+00:00'),
    ('operator-keys', 'hash', 'operator-keys', '[]', '["client_credentials"]', '[]',
     '["openid","apikeys"]', '[]', FALSE, 'client_secret_basic', FALSE, '',
     '2026-11-25 10:00:00+00:00', '2026-11-25 10:00:00+00:00'),
    ('operator-plain', 'hash', 'operator-plain', '[]', '["client_credentials"]', '[]',
     '["openid","api"]', '[]', FALSE, 'client_secret_basic', FALSE, '',
     '2026-11-25 10:00:00+00:00', '2026-11-25 10:00:00+00:00'),
    ('registered-keys', 'hash', 'registered-keys', '[]', '["client_credentials"]', '[]',
     '["openid","apikeys"]', '[]', FALSE, 'client_secret_basic', FALSE, 'rat-hash',
     '2026-11-25 10:00:00+00:00', '2026-11-25 10:00:00+00:00'),
    ('registered-admin', 'hash', 'registered-admin', '[]', '["client_credentials"]', '[]',
     '["gatehouse:admin"]', '[]', FALSE, 'client_secret_basic', FALSE, 'rat-hash',
     '2026-11-25 10:00:00+00:00', '2026-11-25 10:00:00+00:00');
