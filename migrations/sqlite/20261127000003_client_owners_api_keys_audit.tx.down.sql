DROP TABLE IF EXISTS audit_events;
DROP TABLE IF EXISTS api_keys;
DROP INDEX IF EXISTS oauth2_access_api_key_id_idx;
DROP INDEX IF EXISTS clients_owner_id_idx;
ALTER TABLE oauth2_access DROP COLUMN api_key_id;
ALTER TABLE clients DROP COLUMN owner_id;
