DROP TABLE IF EXISTS device_authorizations;
