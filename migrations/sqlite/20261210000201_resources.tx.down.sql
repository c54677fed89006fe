ALTER TABLE clients DROP COLUMN default_resource;
DROP TABLE IF EXISTS resources;
