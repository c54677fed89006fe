-- Passkeys (WebAuthn credentials) and the state of WebAuthn ceremonies
-- under way (sqlite).
--
-- Both tables are new: the previous release neither reads nor writes them,
-- so it keeps working on this schema during a rolling upgrade.

-- One row per credential record (WebAuthn Level 3 §4). Byte strings are
-- base64url text (credential_id, public_key) or hex (aaguid), the same in
-- both dialects. credential_id is unique across all people: an
-- authenticator's credential belongs to one account (§7.1 step 26).
CREATE TABLE passkeys (
    id                 TEXT        PRIMARY KEY NOT NULL,
    user_id            TEXT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id      TEXT        NOT NULL UNIQUE,
    name               TEXT        NOT NULL,
    public_key         TEXT        NOT NULL,
    attestation_type   TEXT        NOT NULL DEFAULT '',
    attestation_format TEXT        NOT NULL DEFAULT '',
    aaguid             TEXT        NOT NULL DEFAULT '',
    sign_count         INTEGER     NOT NULL DEFAULT 0,
    transports         TEXT        NOT NULL DEFAULT '[]',
    user_verified      BOOLEAN     NOT NULL DEFAULT FALSE,
    backup_eligible    BOOLEAN     NOT NULL DEFAULT FALSE,
    backup_state       BOOLEAN     NOT NULL DEFAULT FALSE,
    clone_warning      BOOLEAN     NOT NULL DEFAULT FALSE,
    created_at         TIMESTAMP   NOT NULL,
    last_used_at       TIMESTAMP
);
CREATE INDEX passkeys_user_id_idx ON passkeys (user_id);

-- A ceremony between its begin and its finish, on any instance: used once
-- (deleted as it is read), a few minutes long. id is the SHA-256 of the
-- handle in the browser's cookie.
CREATE TABLE webauthn_challenges (
    id         TEXT        PRIMARY KEY NOT NULL,
    kind       TEXT        NOT NULL,
    user_id    TEXT        NOT NULL DEFAULT '',
    data       TEXT        NOT NULL,
    created_at TIMESTAMP   NOT NULL,
    expires_at TIMESTAMP   NOT NULL
);
CREATE INDEX webauthn_challenges_expires_at_idx ON webauthn_challenges (expires_at);
