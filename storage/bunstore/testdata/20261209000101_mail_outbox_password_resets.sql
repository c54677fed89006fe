-- Rows as a binary whose newest migration was 20261209000101_mail_outbox_password_resets
-- wrote them: a message waiting for a retry and a dead letter.
INSERT INTO mail_outbox (id, recipient, subject, attempts, created_at, next_attempt_at, last_error)
VALUES ('waiting-mail', 'first@example.com', 'Reset your password', 1, '2026-12-09 10:00:00+00:00',
    '2026-12-09 10:01:00+00:00', '421 try again later');
INSERT INTO mail_outbox (id, recipient, subject, attempts, created_at, next_attempt_at, last_error, dead_at)
VALUES ('dead-mail', 'gone@example.com', 'Verify your address', 3, '2026-12-09 10:00:00+00:00',
    '2026-12-09 10:00:00+00:00', '550 no such user', '2026-12-09 11:00:00+00:00');

INSERT INTO password_resets (user_id, token_hash, password_mac, created_at, expires_at)
VALUES ('first-user', 'reset-hash', 'mac', '2026-12-09 10:00:00+00:00', '2099-01-01 00:00:00+00:00');
