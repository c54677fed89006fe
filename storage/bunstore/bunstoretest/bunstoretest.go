// Package bunstoretest gives tests a migrated, isolated bunstore.Store on
// every available dialect: SQLite always (a file in the test's temporary
// directory), PostgreSQL when GATEHOUSE_TEST_POSTGRES_DSN is set (a fresh
// schema per store, dropped when the test ends, so tests can run in
// parallel and leave nothing behind).
//
//	bunstoretest.ForEachDialect(t, func(t *testing.T, dialect string) {
//		t.Parallel() // each store has a database of its own
//		s := bunstoretest.Open(t, dialect, bunstore.Options{})
//		...
//	})
package bunstoretest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/internal/testservices"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
)

// EnvPostgresDSN names the environment variable with the PostgreSQL server
// to test against, e.g.
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable.
const EnvPostgresDSN = testservices.EnvPostgresDSN

// Dialects lists the dialects tests can run on: "sqlite", plus "postgres"
// when EnvPostgresDSN is set.
func Dialects() []string {
	if os.Getenv(EnvPostgresDSN) != "" {
		return []string{"sqlite", "postgres"}
	}
	return []string{"sqlite"}
}

// ForEachDialect runs fn as a subtest, named after the dialect, for each of
// Dialects(). Whether the subtests run in parallel is fn's choice: it calls
// t.Parallel() when it shares nothing with the other dialect's run. A
// PostgreSQL variant left out is counted for the package's note
// (testservices.Main).
func ForEachDialect(t *testing.T, fn func(t *testing.T, dialect string)) {
	t.Helper()
	dialects := Dialects()
	if !slices.Contains(dialects, "postgres") {
		testservices.PostgresOmitted()
	}
	for _, d := range dialects {
		t.Run(d, func(t *testing.T) { fn(t, d) })
	}
}

// Open returns a migrated store on a database of its own. It is closed and
// its database removed when the test ends. For "postgres" without
// EnvPostgresDSN the test is skipped.
func Open(t testing.TB, dialect string, opts bunstore.Options) *bunstore.Store {
	t.Helper()
	dsn := NewMigratedDSN(t, dialect)
	ctx := context.Background()
	if opts.Logger == nil {
		// Keep test output free of one migration line per store.
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s, err := bunstore.Open(ctx, dsn, opts)
	if err != nil {
		t.Fatalf("bunstoretest: open %s store: %v", dialect, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("bunstoretest: close %s store: %v", dialect, err)
		}
	})
	// Nothing to apply on a migrated database: this checks it is one, as
	// the server does when it starts.
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("bunstoretest: migrate %s store: %v", dialect, err)
	}
	return s
}

// NewMigratedDSN is NewDSN of a database that has every migration
// applied. A SQLite database is a copy of one migrated once per test
// binary (migratedSQLite): applying the migrations costs ~20 ms, and ~0.4 s
// under -race, where the pure-Go SQLite is instrumented; copying the file
// costs neither.
func NewMigratedDSN(t testing.TB, dialect string) string {
	t.Helper()
	if dialect != "sqlite" {
		dsn := NewDSN(t, dialect)
		migrateDSN(t, dsn)
		return dsn
	}
	db, err := migratedSQLite()
	if err != nil {
		t.Fatalf("bunstoretest: migrate the SQLite template: %v", err)
	}
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	if err := os.WriteFile(path, db, 0o600); err != nil {
		t.Fatalf("bunstoretest: %v", err)
	}
	return "sqlite://" + path
}

// migratedSQLite is the file of a SQLite database with every migration
// applied, made on first use and kept for the test binary's life (the
// binary's migrations never change while it runs).
var migratedSQLite = sync.OnceValues(func() ([]byte, error) {
	dir, err := os.MkdirTemp("", "bunstoretest-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "gatehouse.db")
	ctx := context.Background()
	s, err := bunstore.Open(ctx, "sqlite://"+path, bunstore.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	if err := s.Migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	// Closing the last connection checkpoints the write-ahead log into
	// the file and removes it, so the file alone is the database.
	if err := s.Close(); err != nil {
		return nil, err
	}
	if _, err := os.Stat(path + "-wal"); err == nil {
		return nil, errors.New("the write-ahead log outlived the store")
	}
	return os.ReadFile(path)
})

// migrateDSN applies every migration to the database at dsn.
func migrateDSN(t testing.TB, dsn string) {
	t.Helper()
	ctx := context.Background()
	s, err := bunstore.Open(ctx, dsn, bunstore.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("bunstoretest: open to migrate: %v", err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("bunstoretest: migrate: %v", err)
	}
}

// NewDSN returns the DSN of a new, empty (unmigrated) database of the
// dialect, removed when the test ends: a file path in t.TempDir() for
// SQLite, a fresh schema (selected with search_path) for PostgreSQL.
func NewDSN(t testing.TB, dialect string) string {
	t.Helper()
	switch dialect {
	case "sqlite":
		return "sqlite://" + filepath.Join(t.TempDir(), "gatehouse.db")
	case "postgres":
		return newPostgresSchema(t, testservices.PostgresDSNFor(t, "skipping the PostgreSQL variant"))
	default:
		t.Fatalf("bunstoretest: unknown dialect %q", dialect)
		return ""
	}
}

func newPostgresSchema(t testing.TB, base string) string {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("bunstoretest: %s is not a URL: %v", EnvPostgresDSN, err)
	}
	schema := "gh_" + randomHex(t, 8)

	exec := func(sql string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, sql)
		return err
	}
	// The name is generated from hex digits: safe to splice in.
	if err := exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("bunstoretest: create schema: %v", err)
	}
	t.Cleanup(func() {
		if err := exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			t.Errorf("bunstoretest: drop schema %s: %v", schema, err)
		}
	})

	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("bunstoretest: random: %v", err)
	}
	return hex.EncodeToString(b)
}
