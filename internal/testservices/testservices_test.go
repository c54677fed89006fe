package testservices

import (
	"strings"
	"testing"
)

// TestSkipsAreCountedAndNoted: a test that needs an unset service is
// skipped and counted, and the note names the count and the variable.
// Not parallel: it sets the environment and reads the shared counts.
func TestSkipsAreCountedAndNoted(t *testing.T) {
	t.Setenv(EnvPostgresDSN, "")
	t.Setenv(EnvRedisURL, "redis://127.0.0.1:1/0")
	before := postgres.skipped.Load()
	t.Run("needs postgres", func(t *testing.T) {
		PostgresDSN(t)
		t.Error("ran without PostgreSQL")
	})
	PostgresOmitted()
	if got := postgres.skipped.Load() - before; got != 2 {
		t.Fatalf("counted %d PostgreSQL skips, want 2", got)
	}
	if got := RedisURL(t); got != "redis://127.0.0.1:1/0" {
		t.Fatalf("RedisURL = %q", got)
	}
	var b strings.Builder
	Note(&b)
	want := "PostgreSQL tests skipped: set GATEHOUSE_TEST_POSTGRES_DSN (e.g. postgres://"
	if !strings.HasPrefix(b.String(), "note: ") || !strings.Contains(b.String(), want) || strings.Contains(b.String(), "Redis") {
		t.Fatalf("note %q, want one line with %q", b.String(), want)
	}
	// The note of this package's own run is the one above: reset, so
	// this test binary does not claim skipped tests it does not have.
	postgres.skipped.Store(before)
}
