-- Sign-in through upstream identity providers (SQLite).
--
-- Same conventions as the earlier migrations. The new columns of an
-- existing table are NOT NULL with a default, so the login sessions of an
-- existing database keep loading.

-- How the user of a login session authenticated: amr is a JSON array of
-- OpenID Connect "amr" values (empty for the sessions made before this
-- migration), acr the authentication context ('' for a password login;
-- for an upstream login it names the upstream).
ALTER TABLE login_sessions ADD COLUMN amr TEXT NOT NULL DEFAULT '[]';
ALTER TABLE login_sessions ADD COLUMN acr TEXT NOT NULL DEFAULT '';

-- An account at an upstream identity provider (the upstream's id and its
-- subject) linked to one user. The foreign key makes a link to an unknown
-- user fail in both dialects alike and removes the links with their user
-- (DeleteUser also deletes them itself). email is what the upstream said
-- at the last sign-in; last_login_at is NULL until the first sign-in
-- after the link was made.
CREATE TABLE federated_identities (
    upstream_id   TEXT        NOT NULL,
    subject       TEXT        NOT NULL,
    user_id       TEXT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email         TEXT        NOT NULL DEFAULT '',
    created_at    TIMESTAMP   NOT NULL,
    last_login_at TIMESTAMP,
    PRIMARY KEY (upstream_id, subject)
);
CREATE INDEX federated_identities_user_id_idx ON federated_identities (user_id);

-- Sign-ins waiting for the upstream's answer; id is the hex SHA-256 of
-- the state parameter, browser_hash the hex SHA-256 of the cookie that
-- binds the sign-in to its browser. sealed holds the PKCE verifier and
-- where to continue, sealed with the system secret. A state is used once:
-- it is deleted as it is read.
CREATE TABLE upstream_states (
    id           TEXT        PRIMARY KEY NOT NULL,
    upstream_id  TEXT        NOT NULL,
    browser_hash TEXT        NOT NULL,
    nonce        TEXT        NOT NULL DEFAULT '',
    sealed       BLOB        NOT NULL,
    created_at   TIMESTAMP   NOT NULL,
    expires_at   TIMESTAMP   NOT NULL
);
CREATE INDEX upstream_states_expires_at_idx ON upstream_states (expires_at);
