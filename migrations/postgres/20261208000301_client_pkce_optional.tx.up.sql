-- pkce_optional: an operator lets a confidential client obtain
-- authorization codes without PKCE (every other client must send it,
-- RFC 9700 §2.1.1). New and defaulted, so the previous release keeps
-- working on this schema during a rolling upgrade: it never reads the
-- column and still asks every client for PKCE.
ALTER TABLE clients ADD COLUMN pkce_optional BOOLEAN NOT NULL DEFAULT FALSE;
