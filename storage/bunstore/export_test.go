package bunstore

import (
	"context"

	"github.com/uptrace/bun"
)

// Hooks for the external tests (package bunstore_test, which can import
// bunstoretest without an import cycle).

func ParseDSN(dsn string) (dialect, target string, err error) { return parseDSN(dsn) }

func MapErr(op string, err error) error { return mapErr(op, err) }

func SQLiteURI(path string, readOnly bool) string { return sqliteURI(path, readOnly) }

// WriterDB and ReaderDB expose the pools for assertions on the stored
// rows and connection settings.
func (s *Store) WriterDB() *bun.DB { return s.wdb }
func (s *Store) ReaderDB() *bun.DB { return s.rdb }

// MigrateTo applies the known migrations up to and including the one
// named (its version), as an older binary would have.
func (s *Store) MigrateTo(ctx context.Context, name string) error {
	m, err := s.migrator()
	if err != nil {
		return err
	}
	if err := m.Init(ctx); err != nil {
		return err
	}
	ms, err := s.migrations()
	if err != nil {
		return err
	}
	for _, mig := range ms.Sorted() {
		if mig.Name > name {
			break
		}
		if err := m.RunMigration(ctx, mig.Name); err != nil {
			return err
		}
	}
	return nil
}
