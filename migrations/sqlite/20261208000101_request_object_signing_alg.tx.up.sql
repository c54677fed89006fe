-- The algorithm a client signs its request objects with (RFC 9101, OpenID
-- Connect Registration §2 request_object_signing_alg) (SQLite).
--
-- '' means any of the asymmetric algorithms gatehouse accepts; a value
-- pins one, and a request object signed otherwise is refused.
ALTER TABLE clients ADD COLUMN request_object_signing_alg TEXT NOT NULL DEFAULT '';
