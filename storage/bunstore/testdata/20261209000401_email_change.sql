-- Rows as a binary whose newest migration was 20261209000401_email_change
-- wrote them: a change of the sessions user's address waiting for its link.
INSERT INTO email_verifications (user_id, token_hash, email, previous_email, created_at, expires_at)
VALUES ('sessions-user', 'change-hash', 'moved@example.com', 'sessions-user@example.com', '2026-12-09 10:00:00+00:00', '2099-01-01 00:00:00+00:00');
