-- RFC 8693 token exchange policy per client.
--
-- token_exchange_impersonation: the client may exchange a token without an
-- actor token (impersonation, RFC 8693 §1.1). Only an operator sets it;
-- without it every exchange must name its actor.
ALTER TABLE clients ADD COLUMN token_exchange_impersonation BOOLEAN NOT NULL DEFAULT FALSE;
-- token_exchange_subject_types: the token types (RFC 8693 §3) the client
-- may present as subject tokens (JSON list); empty: access tokens only.
ALTER TABLE clients ADD COLUMN token_exchange_subject_types TEXT NOT NULL DEFAULT '[]';
