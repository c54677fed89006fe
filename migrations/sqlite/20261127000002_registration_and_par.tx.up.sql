-- Dynamic client registration (RFC 7591/7592), pushed authorization
-- requests (RFC 9126), paged listings and account management (SQLite).
--
-- Same conventions as the initial migration. Every new client column is
-- NOT NULL with a default, so the clients of an existing database keep
-- loading: the RFC 7591 metadata is empty, contacts is an empty JSON
-- array and PAR is not required.

ALTER TABLE clients ADD COLUMN logo_uri TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN client_uri TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN policy_uri TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN tos_uri TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN contacts TEXT NOT NULL DEFAULT '[]';
ALTER TABLE clients ADD COLUMN jwks TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN jwks_uri TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN token_endpoint_auth_signing_alg TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN registration_access_token_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN registered_by TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN require_pushed_authorization_requests BOOLEAN NOT NULL DEFAULT FALSE;

-- Keyset paging of the listings: ORDER BY (created_at, id), resuming
-- after the last row of the previous page.
CREATE INDEX clients_created_at_id_idx ON clients (created_at, id);
CREATE INDEX users_created_at_id_idx ON users (created_at, id);

-- Deleting a user removes every token issued to them, found by subject.
-- Access and refresh tokens live long enough to need the index; codes,
-- PKCE and OIDC rows live minutes and stay small.
CREATE INDEX oauth2_access_subject_idx ON oauth2_access (subject);
CREATE INDEX oauth2_refresh_subject_idx ON oauth2_refresh (subject);

-- Initial access tokens for dynamic client registration. hash is the keyed
-- hash of the token (never the token); expires_at is NULL for a token
-- that does not expire, revoked_at NULL while it is usable.
CREATE TABLE registration_tokens (
    id         TEXT        PRIMARY KEY NOT NULL,
    name       TEXT        NOT NULL DEFAULT '',
    hash       TEXT        NOT NULL,
    created_at TIMESTAMP   NOT NULL,
    expires_at TIMESTAMP,
    revoked_at TIMESTAMP
);
CREATE UNIQUE INDEX registration_tokens_hash_idx ON registration_tokens (hash);

-- Pushed authorization requests; id is the hex SHA-256 of the request_uri.
CREATE TABLE pushed_requests (
    id         TEXT        PRIMARY KEY NOT NULL,
    client_id  TEXT        NOT NULL,
    form       TEXT        NOT NULL DEFAULT '',
    created_at TIMESTAMP   NOT NULL,
    expires_at TIMESTAMP   NOT NULL
);
CREATE INDEX pushed_requests_client_id_idx ON pushed_requests (client_id);
CREATE INDEX pushed_requests_expires_at_idx ON pushed_requests (expires_at);
