-- DPoP proofs already used (RFC 9449 §11.1), when no Redis is configured:
-- a proof is accepted once on any instance sharing the database. key is a
-- hash of the proof's key thumbprint and jti (fixed size, nothing secret);
-- a row lives until the proof would be too old anyway (expires_at), then
-- the janitor deletes it (through the index), and a proof with the same
-- key may take its place. A new table: the previous release never reads
-- it.
CREATE TABLE dpop_proofs (
    key        TEXT      PRIMARY KEY NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX dpop_proofs_expires_at_idx ON dpop_proofs (expires_at);
