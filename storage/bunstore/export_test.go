package bunstore

import "github.com/uptrace/bun"

// Hooks for the external tests (package bunstore_test, which can import
// bunstoretest without an import cycle).

func ParseDSN(dsn string) (dialect, target string, err error) { return parseDSN(dsn) }

func MapErr(op string, err error) error { return mapErr(op, err) }

func SQLiteURI(path string, readOnly bool) string { return sqliteURI(path, readOnly) }

// WriterDB and ReaderDB expose the pools for assertions on the stored
// rows and connection settings.
func (s *Store) WriterDB() *bun.DB { return s.wdb }
func (s *Store) ReaderDB() *bun.DB { return s.rdb }
