DROP TABLE IF EXISTS webauthn_challenges;
DROP TABLE IF EXISTS passkeys;
