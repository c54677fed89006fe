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
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
)

// EnvPostgresDSN names the environment variable with the PostgreSQL server
// to test against, e.g.
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable.
const EnvPostgresDSN = "GATEHOUSE_TEST_POSTGRES_DSN"

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
// t.Parallel() when it shares nothing with the other dialect's run.
func ForEachDialect(t *testing.T, fn func(t *testing.T, dialect string)) {
	t.Helper()
	for _, d := range Dialects() {
		t.Run(d, func(t *testing.T) { fn(t, d) })
	}
}

// Open returns a migrated store on a database of its own. It is closed and
// its database removed when the test ends. For "postgres" without
// EnvPostgresDSN the test is skipped.
func Open(t testing.TB, dialect string, opts bunstore.Options) *bunstore.Store {
	t.Helper()
	dsn := NewDSN(t, dialect)
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
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("bunstoretest: migrate %s store: %v", dialect, err)
	}
	return s
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
		base := os.Getenv(EnvPostgresDSN)
		if base == "" {
			t.Skipf("%s is not set: skipping the PostgreSQL variant", EnvPostgresDSN)
		}
		return newPostgresSchema(t, base)
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
