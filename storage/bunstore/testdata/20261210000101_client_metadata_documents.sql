-- Rows as a binary whose newest migration was
-- 20261210000101_client_metadata_documents wrote them: the stored copy of a
-- client's metadata document, fresh until noon.
INSERT INTO clients (id, secret_hash, name, redirect_uris, grant_types, response_types, scopes,
    allowed_origins, public, token_endpoint_auth_method, skip_consent, metadata_document, document_fresh_until,
    created_at, updated_at)
VALUES ('https://app.example/client.json', '', 'Document client', '["http://127.0.0.1:33418/callback"]',
    '["authorization_code"]', '["code"]', '["openid"]', '[]', TRUE, 'none', FALSE, TRUE, '2026-12-10 12:00:00+00:00',
    '2026-12-10 10:00:00+00:00', '2026-12-10 10:00:00+00:00');
