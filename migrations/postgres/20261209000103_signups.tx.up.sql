-- Self-service sign-ups waiting for the person to open the link e-mailed
-- to the address: the account is made only then. Found by the keyed hash
-- of the link's token; the password is kept as its argon2id hash.
CREATE TABLE signups (
    token_hash    TEXT        PRIMARY KEY NOT NULL,
    email         TEXT        NOT NULL,
    name          TEXT        NOT NULL DEFAULT '',
    password_hash TEXT        NOT NULL,
    flow          TEXT        NOT NULL DEFAULT '',
    created_at    TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX signups_expires_at_idx ON signups (expires_at);
