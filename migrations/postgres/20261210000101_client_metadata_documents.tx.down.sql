ALTER TABLE clients DROP COLUMN document_gone_at;
ALTER TABLE clients DROP COLUMN document_fresh_until;
ALTER TABLE clients DROP COLUMN metadata_document;
