-- E-mail verification links: at most one per person (a newer link
-- replaces the older), found by the keyed hash of the link's token. email
-- is the address the link was sent to: it verifies that address only, so
-- a link outlived by an address change verifies nothing.
CREATE TABLE email_verifications (
    user_id    TEXT        PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash TEXT        NOT NULL UNIQUE,
    email      TEXT        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
