// Package testservices names the external services some tests use
// (PostgreSQL, Redis), skips those tests when the service's variable is
// not set, and says so once per test binary.
//
// A skipped test shows only under `go test -v`, so without a note a local
// run could pass with the PostgreSQL half of the suite never started. A
// package whose tests skip this way runs them through Main:
//
//	func TestMain(m *testing.M) { os.Exit(testservices.Main(m)) }
//
// and prints, after its tests, e.g. "note: 12 PostgreSQL tests skipped:
// set GATEHOUSE_TEST_POSTGRES_DSN (e.g. postgres://...) to run them".
// (go test shows a passing package's output with -v, with -json, or when
// it tests the package of the current directory.)
package testservices

import (
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"testing"
)

// The environment variables that name the services.
const (
	EnvPostgresDSN = "GATEHOUSE_TEST_POSTGRES_DSN"
	EnvRedisURL    = "GATEHOUSE_TEST_REDIS_URL"
)

// service is one external service and how many tests skipped it.
type service struct {
	name, env, example string
	// skipped counts the tests (or dialect variants) of this test binary
	// not run for want of the service. Package-level because TestMain,
	// which reports it, cannot be handed anything by the tests.
	skipped atomic.Int64
}

var (
	postgres = &service{name: "PostgreSQL", env: EnvPostgresDSN, example: "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"}
	redis    = &service{name: "Redis", env: EnvRedisURL, example: "redis://127.0.0.1:6379/0"}
)

// PostgresDSN returns the PostgreSQL server to test against, or skips t
// (counted for the note) when none is set.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	return postgres.require(t, "")
}

// PostgresDSNFor is PostgresDSN with why the test needs PostgreSQL,
// for the skip message.
func PostgresDSNFor(t testing.TB, why string) string {
	t.Helper()
	return postgres.require(t, why)
}

// RedisURL returns the Redis server to test against, or skips t (counted
// for the note) when none is set.
func RedisURL(t testing.TB) string {
	t.Helper()
	return redis.require(t, "")
}

// PostgresOmitted counts a PostgreSQL variant of a test that was not even
// started because EnvPostgresDSN is not set (a test run for each
// available dialect).
func PostgresOmitted() { postgres.skipped.Add(1) }

func (s *service) require(t testing.TB, why string) string {
	t.Helper()
	v := os.Getenv(s.env)
	if v == "" {
		s.skipped.Add(1)
		msg := s.env + " is not set"
		if why != "" {
			msg += ": " + why
		}
		t.Skip(msg + " (e.g. " + s.example + ")")
	}
	return v
}

// Main runs the tests, then writes the note (Note) to standard output;
// it returns m.Run's exit code.
func Main(m *testing.M) int {
	code := m.Run()
	Note(os.Stdout)
	return code
}

// Note writes one line for each service that tests skipped, saying how
// many and what to set; nothing when none was skipped.
func Note(w io.Writer) {
	for _, s := range []*service{postgres, redis} {
		if n := s.skipped.Load(); n > 0 {
			fmt.Fprintf(w, "note: %d %s %s skipped: set %s (e.g. %s) to run %s\n",
				n, s.name, plural(n, "test", "tests"), s.env, s.example, plural(n, "it", "them"))
		}
	}
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
