ALTER TABLE clients DROP COLUMN require_mfa;
DROP TABLE IF EXISTS recovery_codes;
DROP TABLE IF EXISTS user_totp;
