-- The authenticator of mfa-user (the shared file's person), in SQLite's blob literal.
INSERT INTO user_totp (user_id, secret, last_step, created_at, confirmed_at)
VALUES ('mfa-user', X'00010203', 59000000, '2026-12-09 10:00:00+00:00', '2026-12-09 10:01:00+00:00');
