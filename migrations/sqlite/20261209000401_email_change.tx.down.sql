ALTER TABLE email_verifications DROP COLUMN previous_email;
