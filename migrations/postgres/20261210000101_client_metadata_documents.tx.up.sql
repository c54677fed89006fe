-- A client whose id is the https URL of its client ID metadata document
-- (draft-ietf-oauth-client-id-metadata-document) is stored like a
-- registered one, as gatehouse's copy of that document: metadata_document
-- marks it, document_fresh_until is when the copy must be fetched again
-- before a new authorization, and document_gone_at when the document was
-- found gone (404/410), which stops new authorizations and refreshes.
-- New and defaulted, so the previous release keeps working on this schema
-- during a rolling upgrade (it never sees such a client).
ALTER TABLE clients ADD COLUMN metadata_document BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE clients ADD COLUMN document_fresh_until TIMESTAMPTZ;
ALTER TABLE clients ADD COLUMN document_gone_at TIMESTAMPTZ;
