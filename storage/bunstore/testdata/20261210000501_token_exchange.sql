-- Rows as a binary whose newest migration was 20261210000501_token_exchange
-- wrote them: a client that may exchange tokens, impersonation allowed,
-- ID tokens accepted as subject tokens.
INSERT INTO clients (id, secret_hash, name, redirect_uris, grant_types, response_types, scopes, audience, public, token_endpoint_auth_method, token_exchange_impersonation, token_exchange_subject_types, created_at, updated_at)
VALUES ('exchange-client', 'h', 'Exchange client', '[]', '["urn:ietf:params:oauth:grant-type:token-exchange"]', '[]', '["tools:read"]', '[]', FALSE, 'client_secret_basic', TRUE, '["urn:ietf:params:oauth:token-type:id_token"]', '2026-12-10 11:00:00+00:00', '2026-12-10 11:00:00+00:00');
