-- Client ownership, API keys and the audit trail (SQLite).
--
-- Same conventions as the earlier migrations. The new columns of existing
-- tables are NOT NULL with a default, so the rows of an existing database
-- keep loading: no client has an owner and no access token was minted with
-- an API key.

-- owner_id is the user who owns the client ('' for none). It is not a
-- foreign key: deleting a user clears it instead (DeleteUser).
ALTER TABLE clients ADD COLUMN owner_id TEXT NOT NULL DEFAULT '';
CREATE INDEX clients_owner_id_idx ON clients (owner_id);

-- api_key_id is the API key that minted the access token ('' for none):
-- revoking the key deletes its tokens.
ALTER TABLE oauth2_access ADD COLUMN api_key_id TEXT NOT NULL DEFAULT '';
CREATE INDEX oauth2_access_api_key_id_idx ON oauth2_access (api_key_id);

-- API keys: extra, independently revocable secrets of a client. The id is
-- part of the key, so a key is found by primary key; secret_hash is the
-- keyed hash of its secret part (never the key). scopes is a JSON array;
-- expires_at is NULL for a key that does not expire, last_used_at NULL
-- until first use, revoked_at NULL while the key is usable. The foreign
-- key makes a key for an unknown client fail in both dialects alike.
CREATE TABLE api_keys (
    id           TEXT        PRIMARY KEY NOT NULL,
    client_id    TEXT        NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    name         TEXT        NOT NULL DEFAULT '',
    scopes       TEXT        NOT NULL DEFAULT '[]',
    secret_hash  TEXT        NOT NULL,
    created_by   TEXT        NOT NULL DEFAULT '',
    created_at   TIMESTAMP   NOT NULL,
    expires_at   TIMESTAMP,
    last_used_at TIMESTAMP,
    revoked_at   TIMESTAMP
);
CREATE INDEX api_keys_client_id_idx ON api_keys (client_id);

-- The audit trail; details is a JSON object of strings. Rows are only
-- appended (querying and retention come later).
CREATE TABLE audit_events (
    id        TEXT        PRIMARY KEY NOT NULL,
    time      TIMESTAMP   NOT NULL,
    type      TEXT        NOT NULL,
    actor     TEXT        NOT NULL DEFAULT '',
    subject   TEXT        NOT NULL DEFAULT '',
    client_id TEXT        NOT NULL DEFAULT '',
    ip        TEXT        NOT NULL DEFAULT '',
    details   TEXT        NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_time_idx ON audit_events (time);
CREATE INDEX audit_events_type_idx ON audit_events (type);
