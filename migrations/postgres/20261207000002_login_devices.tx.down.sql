DROP INDEX IF EXISTS login_throttles_device_of_idx;
ALTER TABLE login_throttles DROP COLUMN device_of;
ALTER TABLE login_throttles DROP COLUMN locks;
