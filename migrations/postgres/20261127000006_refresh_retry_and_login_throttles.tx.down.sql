DROP INDEX IF EXISTS audit_events_subject_idx;
DROP TABLE IF EXISTS login_throttles;
DROP TABLE IF EXISTS refresh_successors;
ALTER TABLE clients DROP COLUMN refresh_retry_window_ms;
