-- The signing keys of the 20261127000004_upstream_sign_in fixture, the
-- kind that binary made (current ones, retired later; no next key), newest
-- first: a current key per algorithm (ES256 a minute younger) and a
-- retired RS256 key. Their sealed private keys ("sealed", a NUL byte, the
-- kid and a 0xff byte) are blobs as bun writes them on SQLite.
INSERT INTO signing_keys (kid, algorithm, state, private_key, public_key, created_at, activated_at, retired_at)
VALUES
    ('old-es-current', 'ES256', 'current', X'7365616c6564006f6c642d65732d63757272656e74ff',
     '{"kid":"old-es-current"}', '2026-11-22 10:01:00+00:00', '2026-11-22 10:01:00+00:00', NULL),
    ('old-rs-current', 'RS256', 'current', X'7365616c6564006f6c642d72732d63757272656e74ff',
     '{"kid":"old-rs-current"}', '2026-11-22 10:00:00+00:00', '2026-11-22 10:00:00+00:00', NULL),
    ('old-rs-retired', 'RS256', 'retired', X'7365616c6564006f6c642d72732d72657469726564ff',
     '{"kid":"old-rs-retired"}', '2026-11-21 10:00:00+00:00', '2026-11-21 10:00:00+00:00',
     '2026-11-22 10:00:00+00:00');
