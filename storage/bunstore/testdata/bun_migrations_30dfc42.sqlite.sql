-- The bookkeeping rows of a SQLite database migrated by commit 30dfc42,
-- whose migration files were still named 20261127000002_issue3 ...
-- 20261127000006_issue7: `gatehouse migrate` of that commit on an empty
-- database, dumped with
--   sqlite3 g.db ".mode insert bun_migrations" \
--     "SELECT id, name, group_id, migrated_at FROM bun_migrations ORDER BY id"
-- Kept as taken; TestMigrationsAreKnownByVersion reads it.
INSERT INTO bun_migrations VALUES(1,'20261127000001',1,'2026-12-07 02:13:23');
INSERT INTO bun_migrations VALUES(3,'20261127000002',1,'2026-12-07 02:13:23');
INSERT INTO bun_migrations VALUES(5,'20261127000003',1,'2026-12-07 02:13:23');
INSERT INTO bun_migrations VALUES(7,'20261127000004',1,'2026-12-07 02:13:23');
INSERT INTO bun_migrations VALUES(9,'20261127000005',1,'2026-12-07 02:13:23');
INSERT INTO bun_migrations VALUES(11,'20261127000006',1,'2026-12-07 02:13:23');
INSERT INTO bun_migrations VALUES(13,'20261207000001',1,'2026-12-07 02:13:23');
INSERT INTO bun_migrations VALUES(15,'20261207000002',1,'2026-12-07 02:13:23');
