ALTER TABLE clients DROP COLUMN dpop_bound_access_tokens;
