-- Rows as a binary whose newest migration was
-- 20261210000401_device_authorizations wrote them: a device authorization
-- a person approved, polled once.
INSERT INTO clients (id, secret_hash, name, redirect_uris, grant_types, response_types, scopes, audience, public, token_endpoint_auth_method, created_at, updated_at)
VALUES ('device-client', '', 'TV app', '[]', '["urn:ietf:params:oauth:grant-type:device_code"]', '[]', '["openid"]', '[]', TRUE, 'none', '2026-12-10 10:00:00+00:00', '2026-12-10 10:00:00+00:00');
INSERT INTO device_authorizations (signature, user_code, client_id, scopes, resources, requested_at, expires_at, interval_ms, last_polled_at, polls, status, session_id, user_id, granted_scopes, auth_time, amr)
VALUES ('device-sig', 'BCDFGHJK', 'device-client', '["openid"]', '[]', '2026-12-10 10:00:00+00:00', '2099-12-10 10:10:00+00:00', 5000, '2026-12-10 10:00:06+00:00', 1, 'approved', 'device-session', 'device-user', '["openid"]', '2026-12-10 09:59:00+00:00', '["pwd"]');
