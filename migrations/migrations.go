// Package migrations embeds gatehouse's SQL schema migrations, one folder
// per database dialect, in bun/migrate's file naming
// (<version>_<name>.tx.up.sql runs inside a transaction).
//
// Both folders describe the same logical schema; only the column types
// differ (PostgreSQL: timestamptz, boolean, bytea; SQLite: TIMESTAMP text
// written by bun as UTC, BOOLEAN stored as 0/1, BLOB). storage/bunstore runs
// them; nothing else should.
package migrations

import (
	"embed"
	"fmt"
	"io/fs"
)

//go:embed sqlite/*.sql postgres/*.sql
var files embed.FS

// Dialect names accepted by FS.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// FS returns the migrations of one dialect ("sqlite" or "postgres"), rooted
// so that the .sql files sit at the top level, as migrate.Discover expects.
func FS(dialect string) (fs.FS, error) {
	switch dialect {
	case SQLite, Postgres:
		return fs.Sub(files, dialect)
	default:
		return nil, fmt.Errorf("migrations: unknown dialect %q (want %q or %q)", dialect, SQLite, Postgres)
	}
}
