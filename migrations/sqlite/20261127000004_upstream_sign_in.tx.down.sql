DROP TABLE IF EXISTS upstream_states;
DROP TABLE IF EXISTS federated_identities;
ALTER TABLE login_sessions DROP COLUMN acr;
ALTER TABLE login_sessions DROP COLUMN amr;
