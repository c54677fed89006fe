ALTER TABLE api_keys DROP COLUMN created_via;
ALTER TABLE clients DROP COLUMN resources;
ALTER TABLE clients DROP COLUMN introspect_any_token;
ALTER TABLE clients DROP COLUMN first_party;
