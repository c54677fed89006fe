-- gatehouse initial schema (SQLite).
--
-- Conventions, shared with the PostgreSQL migration:
--  * lists (redirect URIs, scopes, roles, ...) are JSON arrays in TEXT;
--  * times are UTC (TIMESTAMP text written by bun as "2006-01-02 15:04:05.999999+00:00",
--    which sorts correctly as text);
--  * tokens are never stored: the fosite tables are keyed by the token
--    signature, or by a SHA-256 of it where the key would be long (access
--    tokens) or secret (the raw authorization code of the OIDC table);
--  * booleans are stored as 0/1 (BOOLEAN affinity), binary data as BLOB;
--  * primary keys are declared NOT NULL: SQLite would otherwise accept
--    NULL in a non-integer primary key;
--  * expires_at is indexed wherever the janitor deletes by it.

CREATE TABLE clients (
    id                           TEXT        PRIMARY KEY NOT NULL,
    secret_hash                  TEXT        NOT NULL DEFAULT '',
    name                         TEXT        NOT NULL DEFAULT '',
    redirect_uris                TEXT        NOT NULL DEFAULT '[]',
    post_logout_redirect_uris    TEXT        NOT NULL DEFAULT '[]',
    grant_types                  TEXT        NOT NULL DEFAULT '[]',
    response_types               TEXT        NOT NULL DEFAULT '[]',
    scopes                       TEXT        NOT NULL DEFAULT '[]',
    audience                     TEXT        NOT NULL DEFAULT '[]',
    allowed_origins              TEXT        NOT NULL DEFAULT '[]',
    public                       BOOLEAN     NOT NULL DEFAULT FALSE,
    token_endpoint_auth_method   TEXT        NOT NULL DEFAULT '',
    id_token_signed_response_alg TEXT        NOT NULL DEFAULT '',
    skip_consent                 BOOLEAN     NOT NULL DEFAULT FALSE,
    created_at                   TIMESTAMP   NOT NULL,
    updated_at                   TIMESTAMP   NOT NULL
);

-- email is NULL (not '') for a user without one, so that the UNIQUE
-- constraint allows any number of them.
CREATE TABLE users (
    id             TEXT        PRIMARY KEY NOT NULL,
    email          TEXT        UNIQUE,
    email_verified BOOLEAN     NOT NULL DEFAULT FALSE,
    name           TEXT        NOT NULL DEFAULT '',
    password_hash  TEXT        NOT NULL DEFAULT '',
    roles          TEXT        NOT NULL DEFAULT '[]',
    disabled       BOOLEAN     NOT NULL DEFAULT FALSE,
    created_at     TIMESTAMP   NOT NULL,
    updated_at     TIMESTAMP   NOT NULL
);

CREATE TABLE login_sessions (
    id         TEXT        PRIMARY KEY NOT NULL,
    user_id    TEXT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    auth_time  TIMESTAMP   NOT NULL,
    expires_at TIMESTAMP   NOT NULL,
    created_at TIMESTAMP   NOT NULL
);
CREATE INDEX login_sessions_expires_at_idx ON login_sessions (expires_at);
CREATE INDEX login_sessions_user_id_idx ON login_sessions (user_id);

CREATE TABLE consent_grants (
    user_id    TEXT        NOT NULL,
    client_id  TEXT        NOT NULL,
    scopes     TEXT        NOT NULL DEFAULT '[]',
    created_at TIMESTAMP   NOT NULL,
    updated_at TIMESTAMP   NOT NULL,
    PRIMARY KEY (user_id, client_id)
);
CREATE INDEX consent_grants_client_id_idx ON consent_grants (client_id);

CREATE TABLE auth_flows (
    id           TEXT        PRIMARY KEY NOT NULL,
    client_id    TEXT        NOT NULL,
    form         TEXT        NOT NULL DEFAULT '',
    requested_at TIMESTAMP   NOT NULL,
    expires_at   TIMESTAMP   NOT NULL,
    user_id      TEXT,
    auth_time    TIMESTAMP
);
CREATE INDEX auth_flows_expires_at_idx ON auth_flows (expires_at);
CREATE INDEX auth_flows_client_id_idx ON auth_flows (client_id);

CREATE TABLE signing_keys (
    kid          TEXT        PRIMARY KEY NOT NULL,
    algorithm    TEXT        NOT NULL,
    state        TEXT        NOT NULL CHECK (state IN ('next', 'current', 'retired')),
    private_key  BLOB        NOT NULL,
    public_key   TEXT        NOT NULL,
    created_at   TIMESTAMP   NOT NULL,
    activated_at TIMESTAMP,
    retired_at   TIMESTAMP
);
-- At most one current signing key per algorithm: instances that start together
-- race to insert one, and the losers get a unique violation.
CREATE UNIQUE INDEX signing_keys_one_current_idx ON signing_keys (algorithm) WHERE state = 'current';

-- fosite request tables. expires_at is NULL for a token that never
-- expires (fosite leaves the expiry unset when a lifespan is -1).
-- Only access and refresh rows are looked up by request_id (revocation)
-- and by (client_id, subject) (revoking a user's grant for a client; the
-- index also serves DeleteClient); the other tables only need client_id.

CREATE TABLE oauth2_code (
    signature          TEXT        PRIMARY KEY NOT NULL,
    request_id         TEXT        NOT NULL,
    client_id          TEXT        NOT NULL,
    subject            TEXT        NOT NULL DEFAULT '',
    requested_at       TIMESTAMP   NOT NULL,
    expires_at         TIMESTAMP,
    active             BOOLEAN     NOT NULL DEFAULT TRUE,
    requested_scopes   TEXT        NOT NULL DEFAULT '[]',
    granted_scopes     TEXT        NOT NULL DEFAULT '[]',
    requested_audience TEXT        NOT NULL DEFAULT '[]',
    granted_audience   TEXT        NOT NULL DEFAULT '[]',
    form               TEXT        NOT NULL DEFAULT '',
    session            BLOB        NOT NULL
);
CREATE INDEX oauth2_code_client_id_idx ON oauth2_code (client_id);
CREATE INDEX oauth2_code_expires_at_idx ON oauth2_code (expires_at);

CREATE TABLE oauth2_access (
    signature          TEXT        PRIMARY KEY NOT NULL,
    request_id         TEXT        NOT NULL,
    client_id          TEXT        NOT NULL,
    subject            TEXT        NOT NULL DEFAULT '',
    requested_at       TIMESTAMP   NOT NULL,
    expires_at         TIMESTAMP,
    active             BOOLEAN     NOT NULL DEFAULT TRUE,
    requested_scopes   TEXT        NOT NULL DEFAULT '[]',
    granted_scopes     TEXT        NOT NULL DEFAULT '[]',
    requested_audience TEXT        NOT NULL DEFAULT '[]',
    granted_audience   TEXT        NOT NULL DEFAULT '[]',
    form               TEXT        NOT NULL DEFAULT '',
    session            BLOB        NOT NULL
);
CREATE INDEX oauth2_access_request_id_idx ON oauth2_access (request_id);
CREATE INDEX oauth2_access_client_id_subject_idx ON oauth2_access (client_id, subject);
CREATE INDEX oauth2_access_expires_at_idx ON oauth2_access (expires_at);

CREATE TABLE oauth2_refresh (
    signature          TEXT        PRIMARY KEY NOT NULL,
    request_id         TEXT        NOT NULL,
    client_id          TEXT        NOT NULL,
    subject            TEXT        NOT NULL DEFAULT '',
    requested_at       TIMESTAMP   NOT NULL,
    expires_at         TIMESTAMP,
    active             BOOLEAN     NOT NULL DEFAULT TRUE,
    requested_scopes   TEXT        NOT NULL DEFAULT '[]',
    granted_scopes     TEXT        NOT NULL DEFAULT '[]',
    requested_audience TEXT        NOT NULL DEFAULT '[]',
    granted_audience   TEXT        NOT NULL DEFAULT '[]',
    form               TEXT        NOT NULL DEFAULT '',
    session            BLOB        NOT NULL,
    access_signature   TEXT        NOT NULL DEFAULT '',
    rotated_at         TIMESTAMP
);
CREATE INDEX oauth2_refresh_request_id_idx ON oauth2_refresh (request_id);
CREATE INDEX oauth2_refresh_client_id_subject_idx ON oauth2_refresh (client_id, subject);
CREATE INDEX oauth2_refresh_expires_at_idx ON oauth2_refresh (expires_at);

CREATE TABLE oauth2_pkce (
    signature          TEXT        PRIMARY KEY NOT NULL,
    request_id         TEXT        NOT NULL,
    client_id          TEXT        NOT NULL,
    subject            TEXT        NOT NULL DEFAULT '',
    requested_at       TIMESTAMP   NOT NULL,
    expires_at         TIMESTAMP,
    active             BOOLEAN     NOT NULL DEFAULT TRUE,
    requested_scopes   TEXT        NOT NULL DEFAULT '[]',
    granted_scopes     TEXT        NOT NULL DEFAULT '[]',
    requested_audience TEXT        NOT NULL DEFAULT '[]',
    granted_audience   TEXT        NOT NULL DEFAULT '[]',
    form               TEXT        NOT NULL DEFAULT '',
    session            BLOB        NOT NULL
);
CREATE INDEX oauth2_pkce_client_id_idx ON oauth2_pkce (client_id);
CREATE INDEX oauth2_pkce_expires_at_idx ON oauth2_pkce (expires_at);

CREATE TABLE oauth2_oidc (
    signature          TEXT        PRIMARY KEY NOT NULL,
    request_id         TEXT        NOT NULL,
    client_id          TEXT        NOT NULL,
    subject            TEXT        NOT NULL DEFAULT '',
    requested_at       TIMESTAMP   NOT NULL,
    expires_at         TIMESTAMP,
    active             BOOLEAN     NOT NULL DEFAULT TRUE,
    requested_scopes   TEXT        NOT NULL DEFAULT '[]',
    granted_scopes     TEXT        NOT NULL DEFAULT '[]',
    requested_audience TEXT        NOT NULL DEFAULT '[]',
    granted_audience   TEXT        NOT NULL DEFAULT '[]',
    form               TEXT        NOT NULL DEFAULT '',
    session            BLOB        NOT NULL
);
CREATE INDEX oauth2_oidc_client_id_idx ON oauth2_oidc (client_id);
CREATE INDEX oauth2_oidc_expires_at_idx ON oauth2_oidc (expires_at);

-- Client-assertion jti replay protection; id is the hex SHA-256 of the jti.
CREATE TABLE oauth2_jti (
    id         TEXT        PRIMARY KEY NOT NULL,
    expires_at TIMESTAMP   NOT NULL
);
CREATE INDEX oauth2_jti_expires_at_idx ON oauth2_jti (expires_at);
