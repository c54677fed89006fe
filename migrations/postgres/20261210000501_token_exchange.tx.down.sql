ALTER TABLE clients DROP COLUMN token_exchange_subject_types;
ALTER TABLE clients DROP COLUMN token_exchange_impersonation;
