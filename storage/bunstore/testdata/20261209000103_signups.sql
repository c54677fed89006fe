-- Rows as a binary whose newest migration was 20261209000103_signups wrote
-- them: a sign-up waiting for its link.
INSERT INTO signups (token_hash, email, name, password_hash, flow, created_at, expires_at)
VALUES ('signup-hash', 'newcomer@example.com', 'New Comer', '$argon2id$v=19$m=65536,t=3,p=2$c2FsdA$aGFzaA', '',
    '2026-12-09 10:00:00+00:00', '2099-01-01 00:00:00+00:00');
