-- Rows as a binary whose newest migration was 20261209000101_mail_outbox
-- wrote them: a message waiting for a retry and a dead letter.
INSERT INTO mail_outbox (id, recipient, subject, attempts, created_at, next_attempt_at, last_error)
VALUES ('waiting-mail', 'first@example.com', 'Reset your password', 1, '2026-12-09 10:00:00+00:00',
    '2026-12-09 10:01:00+00:00', '421 try again later');
INSERT INTO mail_outbox (id, recipient, subject, attempts, created_at, next_attempt_at, last_error, dead_at)
VALUES ('dead-mail', 'gone@example.com', 'Verify your address', 3, '2026-12-09 10:00:00+00:00',
    '2026-12-09 10:00:00+00:00', '550 no such user', '2026-12-09 11:00:00+00:00');
