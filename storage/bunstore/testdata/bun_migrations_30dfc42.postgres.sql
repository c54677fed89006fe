-- The bookkeeping rows of a PostgreSQL schema migrated by commit 30dfc42,
-- whose migration files were still named 20261127000002_issue3 ...
-- 20261127000006_issue7: `gatehouse migrate` of that commit on an empty
-- schema (ghrec_main), dumped with
--   pg_dump --data-only --column-inserts -t ghrec_main.bun_migrations
-- with the schema name taken out of the table name. Kept as taken;
-- TestMigrationsAreKnownByVersion reads it.
INSERT INTO bun_migrations (id, name, group_id, migrated_at) VALUES (1, '20261127000001', 1, '2026-12-07 02:13:25.20147+00');
INSERT INTO bun_migrations (id, name, group_id, migrated_at) VALUES (3, '20261127000002', 1, '2026-12-07 02:13:25.34932+00');
INSERT INTO bun_migrations (id, name, group_id, migrated_at) VALUES (5, '20261127000003', 1, '2026-12-07 02:13:25.381783+00');
INSERT INTO bun_migrations (id, name, group_id, migrated_at) VALUES (7, '20261127000004', 1, '2026-12-07 02:13:25.411881+00');
INSERT INTO bun_migrations (id, name, group_id, migrated_at) VALUES (9, '20261127000005', 1, '2026-12-07 02:13:25.429189+00');
INSERT INTO bun_migrations (id, name, group_id, migrated_at) VALUES (11, '20261127000006', 1, '2026-12-07 02:13:25.438263+00');
INSERT INTO bun_migrations (id, name, group_id, migrated_at) VALUES (13, '20261207000001', 1, '2026-12-07 02:13:25.481023+00');
INSERT INTO bun_migrations (id, name, group_id, migrated_at) VALUES (15, '20261207000002', 1, '2026-12-07 02:13:25.496564+00');
