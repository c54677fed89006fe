-- Access token formats, signing key rotation and system keys (SQLite).
--
-- Same conventions as the earlier migrations. The new client column is
-- NOT NULL with a default, so the clients of an existing database keep
-- loading and follow the server's default format.

-- access_token_format is 'jwt' (RFC 9068) or 'opaque'; '' follows the
-- server's default.
ALTER TABLE clients ADD COLUMN access_token_format TEXT NOT NULL DEFAULT '';

-- At most one next signing key per algorithm, as there is at most one
-- current key: instances that rotate together race to insert one, and the
-- losers get a unique violation. No earlier binary created next keys, so
-- an existing database holds none; one that was given two next keys of an
-- algorithm by hand fails here, and the whole migration rolls back.
CREATE UNIQUE INDEX signing_keys_one_next_idx ON signing_keys (algorithm) WHERE state = 'next';

-- gatehouse's own random keys (the pepper of the keyed hashes, ...),
-- sealed under the system secret; purpose names the key. Rotating the
-- system secret re-seals them (updated_at).
CREATE TABLE system_keys (
    purpose    TEXT        PRIMARY KEY NOT NULL,
    sealed     BLOB        NOT NULL,
    created_at TIMESTAMP   NOT NULL,
    updated_at TIMESTAMP   NOT NULL
);
