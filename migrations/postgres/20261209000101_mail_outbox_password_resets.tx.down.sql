DROP TABLE IF EXISTS mail_outbox;
DROP TABLE IF EXISTS password_resets;
