-- dpop_bound_access_tokens (RFC 9449 §5.2): the client must present a
-- DPoP proof with every token request, so that every access token it gets
-- is bound to its key. Off for every existing client.
ALTER TABLE clients ADD COLUMN dpop_bound_access_tokens BOOLEAN NOT NULL DEFAULT FALSE;
