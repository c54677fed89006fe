package bunstore

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/migrate"

	"github.com/gatehouse-dev/gatehouse/migrations"
)

// Schema check errors; CheckSchema wraps them with the counts.
var (
	ErrSchemaNotMigrated = errors.New("the database schema is not up to date")
	ErrSchemaTooNew      = errors.New("this gatehouse is older than the database schema")
)

const (
	// migrationsTable is bun/migrate's default bookkeeping table.
	migrationsTable = "bun_migrations"
	// migrationLockKey is the PostgreSQL advisory lock taken around a
	// migration run ("migr" in ASCII), paired with a hash of the schema
	// (hashtext(current_schema())) so that deployments in different
	// schemas of one database do not queue behind each other. An advisory
	// lock belongs to a session, so it goes away with a process that dies
	// holding it, which bun's table-based lock does not.
	migrationLockKey int32 = 0x6d696772
)

// errAppliedMeanwhile aborts a migration that another process applied
// after this process read the migration status.
var errAppliedMeanwhile = errors.New("migration was applied concurrently")

// Migrate applies the migrations this binary knows and the database lacks.
// It is safe to run from several processes at once: on PostgreSQL they
// queue on an advisory lock held by one dedicated connection for the whole
// run; on SQLite each migration transaction takes the write lock at BEGIN
// and first checks that nobody applied it meanwhile.
//
// Each migration is recorded in the same transaction as its statements, so
// a crash cannot leave a migration applied but unrecorded.
func (s *Store) Migrate(ctx context.Context) error {
	ms, err := s.migrations()
	if err != nil {
		return err
	}
	return s.migrate(ctx, ms)
}

// migrate applies the migrations of ms that the database lacks.
func (s *Store) migrate(ctx context.Context, ms *migrate.Migrations) error {
	s.migrateMu.Lock()
	defer s.migrateMu.Unlock()

	unlock, err := s.lockMigrations(ctx)
	if err != nil {
		return err
	}
	defer unlock()

	m := s.migrator(ms)
	if err := m.Init(ctx); err != nil {
		return mapErr("create migrations table", err)
	}
	// Another process may apply a migration between this one's status read
	// and its transaction (SQLite has no migration lock): then this one
	// starts over. Each such collision means another process made
	// progress, so as many attempts as there are migrations always suffice
	// (a fixed 3 did not once there were twenty, with eight processes).
	maxAttempts := len(ms.Sorted()) + 1
	for attempt := 1; ; attempt++ {
		group, err := m.Migrate(ctx)
		if errors.Is(err, errAppliedMeanwhile) && attempt < maxAttempts {
			continue
		}
		if err != nil {
			return mapErr("migrate", err)
		}
		if !group.IsZero() {
			s.log.InfoContext(ctx, "applied database migrations",
				"dialect", s.dialect, "group", group.ID, "migrations", group.Migrations.String())
		}
		return nil
	}
}

// SchemaStatus reports how many migrations the database has applied and
// how many this binary knows.
func (s *Store) SchemaStatus(ctx context.Context) (applied, known int, err error) {
	st, err := s.schemaState(ctx)
	if err != nil {
		return 0, 0, err
	}
	return len(st.applied), st.known, nil
}

// CheckSchema returns nil when the database has exactly the migrations this
// binary knows, an error wrapping ErrSchemaTooNew when it has migrations
// this binary does not know, and one wrapping ErrSchemaNotMigrated when
// some are missing.
func (s *Store) CheckSchema(ctx context.Context) error {
	st, err := s.schemaState(ctx)
	if err != nil {
		return err
	}
	// Missing migrations first: ErrSchemaTooNew alone means everything this
	// binary needs is there (a rolling upgrade in progress).
	if st.missing > 0 {
		return fmt.Errorf("%w: %d of %d migrations applied", ErrSchemaNotMigrated, st.known-st.missing, st.known)
	}
	if len(st.unknown) > 0 {
		return fmt.Errorf("%w: it has %d migration(s) this binary does not know (%s); upgrade gatehouse",
			ErrSchemaTooNew, len(st.unknown), strings.Join(st.unknown, ", "))
	}
	return nil
}

type schemaState struct {
	applied []string // names of applied migrations
	known   int      // migrations this binary has
	missing int      // known but not applied
	unknown []string // applied but not known
}

func (s *Store) schemaState(ctx context.Context) (schemaState, error) {
	ms, err := s.migrations()
	if err != nil {
		return schemaState{}, err
	}
	var st schemaState
	known := make(map[string]bool)
	for _, m := range ms.Sorted() {
		known[m.Name] = true
	}
	st.known = len(known)

	exists, err := s.tableExists(ctx, migrationsTable)
	if err != nil {
		return schemaState{}, err
	}
	if exists {
		err := s.reader(ctx).NewRaw("SELECT DISTINCT name FROM ? ORDER BY name", bun.Ident(migrationsTable)).
			Scan(ctx, &st.applied)
		if err != nil {
			return schemaState{}, mapErr("read applied migrations", err)
		}
	}
	applied := make(map[string]bool)
	for _, name := range st.applied {
		applied[name] = true
		if !known[name] {
			st.unknown = append(st.unknown, name)
		}
	}
	for name := range known {
		if !applied[name] {
			st.missing++
		}
	}
	return st, nil
}

func (s *Store) tableExists(ctx context.Context, table string) (bool, error) {
	var q *bun.RawQuery
	switch s.dialect {
	case migrations.Postgres:
		// to_regclass resolves the name through search_path, as the
		// queries do.
		q = s.reader(ctx).NewRaw("SELECT to_regclass(?) IS NOT NULL", table)
	default:
		q = s.reader(ctx).NewRaw("SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = ?", table)
	}
	var exists bool
	if err := q.Scan(ctx, &exists); err != nil {
		return false, mapErr("check migrations table", err)
	}
	return exists, nil
}

func (s *Store) migrations() (*migrate.Migrations, error) {
	fsys, err := migrations.FS(s.dialect)
	if err != nil {
		return nil, err
	}
	ms := migrate.NewMigrations()
	if err := ms.Discover(fsys); err != nil {
		return nil, fmt.Errorf("read embedded migrations: %w", err)
	}
	return ms, nil
}

func (s *Store) migrator(ms *migrate.Migrations) *migrate.Migrator {
	return migrate.NewMigrator(s.wdb, ms,
		migrate.WithTableName(migrationsTable),
		// Record a migration only once it ran; recordApplied already did
		// so inside its transaction, and the upsert makes bun's own
		// record a no-op.
		migrate.WithMarkAppliedOnSuccess(true),
		migrate.WithUpsert(true),
		migrate.BeforeMigration(s.checkNotApplied),
		migrate.AfterMigration(s.recordApplied),
	)
}

// checkNotApplied runs first in each migration's transaction (.tx.up.sql):
// on SQLite the transaction holds the write lock, so a migration another
// process applied since the status read is seen here.
func (s *Store) checkNotApplied(ctx context.Context, db bun.IConn, m *migrate.Migration) error {
	var n int
	err := s.wdb.NewRaw("SELECT count(*) FROM ? WHERE name = ?", bun.Ident(migrationsTable), m.Name).
		Conn(db).Scan(ctx, &n)
	if err != nil {
		return err
	}
	if n > 0 {
		return errAppliedMeanwhile
	}
	return nil
}

// recordApplied runs last in each migration's transaction and records it
// there, atomically with its statements.
func (s *Store) recordApplied(ctx context.Context, db bun.IConn, m *migrate.Migration) error {
	_, err := s.wdb.NewRaw(
		"INSERT INTO ? (name, group_id, migrated_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING",
		bun.Ident(migrationsTable), m.Name, m.GroupID, s.now(),
	).Conn(db).Exec(ctx)
	return err
}

// lockMigrations takes the PostgreSQL advisory lock on a connection of its
// own and returns the function that releases it. SQLite needs none.
func (s *Store) lockMigrations(ctx context.Context) (unlock func(), err error) {
	if s.dialect != migrations.Postgres {
		return func() {}, nil
	}
	conn, err := s.wdb.Conn(ctx)
	if err != nil {
		return nil, mapErr("migration lock: get connection", err)
	}
	if _, err := conn.NewRaw("SELECT pg_advisory_lock(?, hashtext(current_schema()))", migrationLockKey).Exec(ctx); err != nil {
		_ = conn.Close()
		return nil, mapErr("migration lock", err)
	}
	return func() {
		// Release even if ctx was cancelled meanwhile.
		uctx := context.WithoutCancel(ctx)
		if _, err := conn.NewRaw("SELECT pg_advisory_unlock(?, hashtext(current_schema()))", migrationLockKey).Exec(uctx); err != nil {
			s.log.WarnContext(ctx, "releasing the migration lock failed; dropping its connection", "err", err)
			// Never return a connection that may still hold the lock to
			// the pool: ending its session releases the lock.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		_ = conn.Close()
	}, nil
}
