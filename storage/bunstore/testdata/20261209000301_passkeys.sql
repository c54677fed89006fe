-- Rows as a binary whose newest migration was 20261209000301_passkeys
-- wrote them: a passkey of first-user that has signed in once, and a
-- sign-in ceremony under way.
INSERT INTO passkeys (id, user_id, credential_id, name, public_key, attestation_type, attestation_format,
    aaguid, sign_count, transports, user_verified, backup_eligible, backup_state, clone_warning,
    created_at, last_used_at)
VALUES ('legacy-passkey', 'first-user', 'AAECAw', 'Laptop', 'pQECAyYgASFYIA', 'none', 'none',
    '00000000000000000000000000000000', 4, '["internal"]', TRUE, FALSE, FALSE, FALSE,
    '2026-12-09 10:00:00+00:00', '2026-12-09 10:05:00+00:00');
INSERT INTO webauthn_challenges (id, kind, user_id, data, created_at, expires_at)
VALUES ('legacy-challenge', 'login', '', '{"challenge":"abc"}', '2026-12-09 10:00:00+00:00', '2026-12-09 10:05:00+00:00');
