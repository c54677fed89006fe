-- The authenticator of mfa-user (the shared file's person), in PostgreSQL's bytea literal.
INSERT INTO user_totp (user_id, secret, last_step, created_at, confirmed_at)
VALUES ('mfa-user', '\x00010203'::bytea, 59000000, '2026-12-09 10:00:00+00:00', '2026-12-09 10:01:00+00:00');
