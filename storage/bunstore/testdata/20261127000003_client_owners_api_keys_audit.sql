-- Rows as a binary whose newest migration was
-- 20261127000003_client_owners_api_keys_audit wrote them: two users, each
-- with a password login session (no recorded sign-in methods yet).
INSERT INTO users (id, email, name, roles, created_at, updated_at)
VALUES
    ('sessions-user', 'sessions-user@example.com', 'Sessions user', '["admin"]',
     '2026-11-22 10:00:00+00:00', '2026-11-22 10:00:00+00:00'),
    ('sessions-other', 'sessions-other@example.com', 'Sessions user', '["admin"]',
     '2026-11-22 10:00:00+00:00', '2026-11-22 10:00:00+00:00');

INSERT INTO login_sessions (id, user_id, auth_time, expires_at, created_at)
VALUES
    ('session-of-sessions-user', 'sessions-user', '2026-11-22 10:00:00+00:00',
     '2099-01-01 00:00:00+00:00', '2026-11-22 10:00:00+00:00'),
    ('session-of-sessions-other', 'sessions-other', '2026-11-22 10:00:00+00:00',
     '2099-01-01 00:00:00+00:00', '2026-11-22 10:00:00+00:00');
