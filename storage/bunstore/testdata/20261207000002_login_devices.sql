-- Rows as a binary whose newest migration was 20261207000002_login_devices
-- wrote them: an account record after two locks, and the failure record of
-- a known browser of that account.
INSERT INTO login_throttles (account, failures, locks, last_failure_at, locked_until, device_of)
VALUES
    ('fedcba9876543210', 0, 2, '2026-12-02 10:00:00+00:00', NULL, NULL),
    ('fedcba9876543210/phone', 1, 0, '2026-12-02 10:00:00+00:00', NULL, 'fedcba9876543210');
