-- RFC 8693 token exchange policy per client.
--
-- token_exchange_impersonation: the client may exchange a token without an
-- actor token (impersonation, RFC 8693 §1.1). Only an operator sets it;
-- without it every exchange must name its actor.
ALTER TABLE clients ADD COLUMN token_exchange_impersonation BOOLEAN NOT NULL DEFAULT FALSE;
