DROP TABLE IF EXISTS email_verifications;
