-- Second factors (RFC 6238 TOTP and single-use recovery codes). New
-- tables only: the previous release never reads them, so it keeps
-- working on this schema during a rolling upgrade (it signs people in
-- with one factor, as it always did).
--
-- user_totp: one authenticator per person. secret is sealed (AES-256-GCM
-- under a key derived from the system secret, bound to the user); the
-- row exists unconfirmed while the person enrols (confirmed_at NULL).
-- last_step is the RFC 6238 time-step of the last accepted code:
-- accepting a code moves it forward with a compare-and-set, so one code
-- is accepted once across every instance (RFC 6238 §5.2).
CREATE TABLE user_totp (
    user_id      TEXT        PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    secret       BLOB        NOT NULL,
    last_step    BIGINT      NOT NULL DEFAULT 0,
    created_at   TIMESTAMP NOT NULL,
    confirmed_at TIMESTAMP
);
-- recovery_codes: keyed hashes (HMAC-SHA-256) of a person's recovery
-- codes; used_at is set once, atomically, when one is used.
CREATE TABLE recovery_codes (
    user_id    TEXT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  TEXT        NOT NULL,
    created_at TIMESTAMP   NOT NULL,
    used_at    TIMESTAMP,
    PRIMARY KEY (user_id, code_hash)
);
-- require_mfa: an operator makes every sign-in to this client ask for a
-- second factor. Defaulted, so the previous release ignores it.
ALTER TABLE clients ADD COLUMN require_mfa BOOLEAN NOT NULL DEFAULT FALSE;
