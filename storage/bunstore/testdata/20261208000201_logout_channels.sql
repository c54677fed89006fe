-- Rows as a binary whose newest migration was 20261208000201_logout_channels
-- wrote them: a client with both logout endpoints, a login session with its
-- sid and browser in which that client got a code, and a back-channel
-- notification waiting for it.
INSERT INTO clients (id, secret_hash, name, redirect_uris, grant_types, response_types, scopes,
    allowed_origins, public, token_endpoint_auth_method, skip_consent, backchannel_logout_uri,
    backchannel_logout_session_required, frontchannel_logout_uri, frontchannel_logout_session_required,
    created_at, updated_at)
VALUES ('logout-client', 'logout-hash', 'Logout client', '["https://rp.example/cb"]', '["authorization_code"]',
    '["code"]', '["openid"]', '[]', FALSE, 'client_secret_basic', FALSE, 'https://rp.example/bc',
    TRUE, 'https://rp.example/fc', TRUE, '2026-12-08 10:00:00+00:00', '2026-12-08 10:00:00+00:00');

INSERT INTO login_sessions (id, user_id, auth_time, expires_at, created_at, sid, user_agent, ip)
VALUES ('logout-session', 'first-user', '2026-12-08 10:00:00+00:00', '2099-01-01 00:00:00+00:00',
    '2026-12-08 10:00:00+00:00', 'logout-sid', 'Test browser', '192.0.2.7');

INSERT INTO login_session_clients (session_id, client_id, created_at)
VALUES ('logout-session', 'logout-client', '2026-12-08 10:00:00+00:00');

INSERT INTO logout_deliveries (id, client_id, subject, sid, attempts, created_at, next_attempt_at, last_error)
VALUES ('logout-delivery', 'logout-client', 'first-user', 'logout-sid', 1, '2026-12-08 10:00:00+00:00',
    '2026-12-08 10:01:00+00:00', '503 Service Unavailable');
