-- Rows as a binary whose newest migration was 20261209000102_email_verifications
-- wrote them: a verification link waiting for the first user.
INSERT INTO email_verifications (user_id, token_hash, email, created_at, expires_at)
VALUES ('first-user', 'verify-hash', 'first@example.com', '2026-12-09 10:00:00+00:00', '2099-01-01 00:00:00+00:00');
