DROP TABLE IF EXISTS system_keys;
DROP INDEX IF EXISTS signing_keys_one_next_idx;
ALTER TABLE clients DROP COLUMN access_token_format;
