package bunstore

import (
	"context"

	"github.com/uptrace/bun"

	"github.com/gatehouse-dev/gatehouse/storage"
)

// Hooks for the external tests (package bunstore_test, which can import
// bunstoretest without an import cycle).

func ParseDSN(dsn string) (dialect, target string, err error) { return parseDSN(dsn) }

func MapErr(op string, err error) error { return mapErr(op, err) }

func SQLiteURI(path string, readOnly bool) string {
	return sqliteURI(path, readOnly, sqliteBusyTimeout)
}

// WriterDB and ReaderDB expose the pools for assertions on the stored
// rows and connection settings.
func (s *Store) WriterDB() *bun.DB { return s.wdb }
func (s *Store) ReaderDB() *bun.DB { return s.rdb }

// AllAuditEvents reads the whole audit trail back, oldest first (by ID among
// equal times), unbounded (AuditEvents returns a page, newest first).
func (s *Store) AllAuditEvents(ctx context.Context) ([]*storage.AuditEvent, error) {
	var ms []auditEventModel
	if err := s.reader(ctx).NewSelect().Model(&ms).OrderExpr("ae.time ASC, ae.id ASC").Scan(ctx); err != nil {
		return nil, mapErr("list audit events", err)
	}
	out := make([]*storage.AuditEvent, 0, len(ms))
	for i := range ms {
		ev, err := ms[i].toDomain()
		if err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	return out, nil
}

// WithWriterQueryHook attaches hook to the writer pool (which is also the
// reader pool on PostgreSQL). Call it before the store is used.
func (s *Store) WithWriterQueryHook(hook bun.QueryHook) {
	shared := s.rdb == s.wdb
	s.wdb = s.wdb.WithQueryHook(hook)
	if shared {
		s.rdb = s.wdb
	}
}

// WithReaderQueryHook attaches hook to the reader pool (which is also the
// writer pool on PostgreSQL). Call it before the store is used
// concurrently.
func (s *Store) WithReaderQueryHook(hook bun.QueryHook) {
	shared := s.rdb == s.wdb
	s.rdb = s.rdb.WithQueryHook(hook)
	if shared {
		s.wdb = s.rdb
	}
}

// MigrationLockKey is the first half of the migration advisory lock.
const MigrationLockKey = migrationLockKey
