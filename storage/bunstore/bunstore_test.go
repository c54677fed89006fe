package bunstore_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"

	"github.com/gatehouse-dev/gatehouse/internal/testservices"
	"github.com/gatehouse-dev/gatehouse/storage"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore"
	"github.com/gatehouse-dev/gatehouse/storage/bunstore/bunstoretest"
	"github.com/gatehouse-dev/gatehouse/storage/conformance"
)

func TestConformance(t *testing.T) {
	bunstoretest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		conformance.RunTests(t, func(t *testing.T, now func() time.Time) storage.Store {
			return bunstoretest.Open(t, dialect, bunstore.Options{Now: now})
		})
	})
}

func TestParseDSN(t *testing.T) {
	tests := []struct {
		dsn, dialect, target string
		wantErr              bool
	}{
		{dsn: "sqlite:///abs/x.db", dialect: "sqlite", target: "/abs/x.db"},
		{dsn: "sqlite://./data/x.db", dialect: "sqlite", target: "./data/x.db"},
		{dsn: "sqlite://x.db", dialect: "sqlite", target: "x.db"},
		{dsn: "postgres://u:p@h:5432/db?sslmode=disable", dialect: "postgres", target: "postgres://u:p@h:5432/db?sslmode=disable"},
		{dsn: "postgresql://h/db", dialect: "postgres", target: "postgresql://h/db"},
		{dsn: "sqlite://", wantErr: true},
		{dsn: "sqlite://:memory:", wantErr: true},
		{dsn: "sqlite://file:x.db", wantErr: true},
		{dsn: "sqlite:///x.db?_pragma=foo", wantErr: true},
		{dsn: "mysql://u:p@h/db", wantErr: true},
		{dsn: "/plain/path.db", wantErr: true},
		{dsn: "", wantErr: true},
	}
	for _, tc := range tests {
		dialect, target, err := bunstore.ParseDSN(tc.dsn)
		if tc.wantErr {
			if err == nil {
				t.Errorf("ParseDSN(%q) = %q, %q; want an error", tc.dsn, dialect, target)
			}
			continue
		}
		if err != nil || dialect != tc.dialect || target != tc.target {
			t.Errorf("ParseDSN(%q) = %q, %q, %v; want %q, %q", tc.dsn, dialect, target, err, tc.dialect, tc.target)
		}
	}
}

func TestOpenErrorsDoNotLeakTheDSN(t *testing.T) {
	_, err := bunstore.Open(context.Background(), "mysql://admin:hunter2@db.example/gh", bunstore.Options{})
	if err == nil {
		t.Fatal("Open with a mysql DSN succeeded")
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error leaks the password: %v", err)
	}
}

func TestSQLiteURIEscapesPath(t *testing.T) {
	uri := bunstore.SQLiteURI("/tmp/we?ird#na%me.db", false)
	if !strings.HasPrefix(uri, "file:/tmp/we%3Fird%23na%25me.db?") {
		t.Errorf("SQLiteURI = %q", uri)
	}
	if !strings.Contains(uri, "_txlock=immediate") || strings.Contains(uri, "query_only") {
		t.Errorf("writer URI %q: want _txlock=immediate and no query_only", uri)
	}
	if r := bunstore.SQLiteURI("/x.db", true); !strings.Contains(r, "query_only") {
		t.Errorf("reader URI %q lacks query_only", r)
	}
}

func TestSQLiteOpenCreatesPrivateParentDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	s, err := bunstore.Open(context.Background(), "sqlite://"+filepath.Join(dir, "x.db"), bunstore.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatalf("stat parent dir: %v", err)
	}
	if perm := fi.Mode().Perm(); perm != 0o700 {
		t.Errorf("parent dir mode = %o, want 700", perm)
	}
	if s.Dialect() != "sqlite" {
		t.Errorf("Dialect() = %q", s.Dialect())
	}
}

func TestSQLitePragmas(t *testing.T) {
	s := bunstoretest.Open(t, "sqlite", bunstore.Options{})
	ctx := context.Background()
	for _, tc := range []struct {
		pragma string
		want   string
	}{
		{"journal_mode", "wal"},
		{"foreign_keys", "1"},
		{"busy_timeout", "10000"},
		{"synchronous", "1"}, // NORMAL
	} {
		for name, db := range map[string]interface {
			QueryRowContext(context.Context, string, ...any) *sql.Row
		}{"writer": s.WriterDB(), "reader": s.ReaderDB()} {
			var got string
			if err := db.QueryRowContext(ctx, "PRAGMA "+tc.pragma).Scan(&got); err != nil {
				t.Fatalf("%s PRAGMA %s: %v", name, tc.pragma, err)
			}
			if got != tc.want {
				t.Errorf("%s PRAGMA %s = %q, want %q", name, tc.pragma, got, tc.want)
			}
		}
	}
	// Readers refuse to write: every write must go through the writer.
	if _, err := s.ReaderDB().ExecContext(ctx, "DELETE FROM clients"); err == nil {
		t.Error("a reader connection accepted a write")
	}
}

// fakeSQLiteError mimics modernc.org/sqlite's *sqlite.Error.
type fakeSQLiteError int

func (e fakeSQLiteError) Error() string { return fmt.Sprintf("sqlite error %d", int(e)) }
func (e fakeSQLiteError) Code() int     { return int(e) }

func TestErrorMapping(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want []error
	}{
		{"no rows", sql.ErrNoRows, []error{storage.ErrNotFound, fosite.ErrNotFound}},
		{"pg unique", &pgconn.PgError{Code: "23505"}, []error{storage.ErrConflict}},
		{"pg foreign key", &pgconn.PgError{Code: "23503"}, []error{storage.ErrNotFound}},
		{"pg serialization", &pgconn.PgError{Code: "40001"}, []error{fosite.ErrSerializationFailure}},
		{"pg deadlock", &pgconn.PgError{Code: "40P01"}, []error{fosite.ErrSerializationFailure}},
		{"pg connection failure", &pgconn.PgError{Code: "08006"}, []error{storage.ErrUnavailable}},
		{"pg shutting down", &pgconn.PgError{Code: "57P01"}, []error{storage.ErrUnavailable}},
		{"pg conn closed", fmt.Errorf("x: %w", pgconn.ErrConnClosed), []error{storage.ErrUnavailable}},
		{"pg read only", &pgconn.PgError{Code: "25006"}, []error{storage.ErrUnavailable}},
		{"pg disk full", &pgconn.PgError{Code: "53100"}, []error{storage.ErrUnavailable}},
		{"sqlite unique", fakeSQLiteError(2067), []error{storage.ErrConflict}},
		{"sqlite primary key", fakeSQLiteError(1555), []error{storage.ErrConflict}},
		{"sqlite foreign key", fakeSQLiteError(787), []error{storage.ErrNotFound}},
		{"sqlite busy", fakeSQLiteError(5), []error{fosite.ErrSerializationFailure, storage.ErrUnavailable}},
		{"sqlite busy snapshot", fakeSQLiteError(517), []error{fosite.ErrSerializationFailure, storage.ErrUnavailable}},
		{"sqlite locked", fakeSQLiteError(6), []error{fosite.ErrSerializationFailure, storage.ErrUnavailable}},
		{"sqlite cannot open", fakeSQLiteError(14), []error{storage.ErrUnavailable}},
		{"bad conn", fmt.Errorf("query: %w", sql.ErrConnDone), []error{storage.ErrUnavailable}},
		{"closed pool", errors.New("sql: database is closed"), []error{storage.ErrUnavailable}},
		{"cancelled", context.Canceled, []error{context.Canceled}},
	}
	for _, tc := range tests {
		got := bunstore.MapErr("op", tc.err)
		for _, want := range tc.want {
			if !errors.Is(got, want) {
				t.Errorf("%s: MapErr = %v, want it to match %v", tc.name, got, want)
			}
		}
		if tc.err != sql.ErrNoRows && !errors.Is(got, tc.err) {
			t.Errorf("%s: MapErr = %v lost the cause", tc.name, got)
		}
	}
	if errors.Is(bunstore.MapErr("op", context.Canceled), storage.ErrUnavailable) {
		t.Error("a cancelled request is reported as an unavailable database")
	}
	if bunstore.MapErr("op", nil) != nil {
		t.Error("MapErr(nil) != nil")
	}
	// Unclassified errors are still wrapped, never returned raw.
	raw := errors.New("syntax error")
	if got := bunstore.MapErr("op", raw); got == raw || !errors.Is(got, raw) {
		t.Errorf("MapErr(raw) = %v", got)
	}
}

func TestUnavailable(t *testing.T) {
	ctx := context.Background()
	t.Run("bad password", func(t *testing.T) {
		base := testservices.PostgresDSN(t)
		// A role that does not exist fails at connect time.
		dsn := strings.Replace(base, "postgres://postgres@", "postgres://no_such_role_gh:pw@", 1)
		if dsn == base {
			t.Skip("cannot derive a DSN with another role")
		}
		_, err := bunstore.Open(ctx, dsn, bunstore.Options{})
		if !errors.Is(err, storage.ErrUnavailable) {
			t.Fatalf("Open with an unknown role: %v, want ErrUnavailable", err)
		}
		if strings.Contains(err.Error(), ":pw@") {
			t.Errorf("error leaks the password: %v", err)
		}
	})
	t.Run("closed port", func(t *testing.T) {
		_, err := bunstore.Open(ctx, "postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=5", bunstore.Options{})
		if !errors.Is(err, storage.ErrUnavailable) {
			t.Fatalf("Open on a closed port: %v, want ErrUnavailable", err)
		}
	})
	bunstoretest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		s, err := bunstore.Open(ctx, bunstoretest.NewDSN(t, dialect), bunstore.Options{ClientCacheTTL: -1})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if err := s.Ping(ctx); !errors.Is(err, storage.ErrUnavailable) {
			t.Errorf("Ping after Close: %v, want ErrUnavailable", err)
		}
		if _, err := s.ClientByID(ctx, "x"); !errors.Is(err, storage.ErrUnavailable) {
			t.Errorf("ClientByID after Close: %v, want ErrUnavailable", err)
		}
		if _, err := s.BeginTX(ctx); !errors.Is(err, storage.ErrUnavailable) {
			t.Errorf("BeginTX after Close: %v, want ErrUnavailable", err)
		}
	})
}

func TestMigrate(t *testing.T) {
	bunstoretest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		ctx := context.Background()
		dsn := bunstoretest.NewDSN(t, dialect)
		s, err := bunstore.Open(ctx, dsn, bunstore.Options{})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer s.Close()

		applied, known, err := s.SchemaStatus(ctx)
		if err != nil || applied != 0 || known < 1 {
			t.Fatalf("SchemaStatus before Migrate = %d, %d, %v", applied, known, err)
		}
		if err := s.CheckSchema(ctx); !errors.Is(err, bunstore.ErrSchemaNotMigrated) {
			t.Fatalf("CheckSchema before Migrate: %v, want ErrSchemaNotMigrated", err)
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("second Migrate: %v", err)
		}
		applied, known2, err := s.SchemaStatus(ctx)
		if err != nil || applied != known || known2 != known {
			t.Fatalf("SchemaStatus after Migrate = %d, %d, %v; want %d, %d", applied, known2, err, known, known)
		}
		if err := s.CheckSchema(ctx); err != nil {
			t.Fatalf("CheckSchema after Migrate: %v", err)
		}
		var rows int
		if err := s.WriterDB().NewRaw("SELECT count(*) FROM bun_migrations").Scan(ctx, &rows); err != nil {
			t.Fatal(err)
		}
		if rows != known {
			t.Errorf("bun_migrations has %d rows, want %d (one per migration)", rows, known)
		}

		// A migration from a newer binary.
		if _, err := s.WriterDB().NewRaw(
			"INSERT INTO bun_migrations (name, group_id, migrated_at) VALUES ('29991231000000', 99, ?)", time.Now().UTC(),
		).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		if err := s.CheckSchema(ctx); !errors.Is(err, bunstore.ErrSchemaTooNew) {
			t.Fatalf("CheckSchema with an unknown migration: %v, want ErrSchemaTooNew", err)
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("Migrate with an unknown migration applied: %v", err)
		}
	})
}

// Several processes (here: stores) starting together all migrate; exactly
// one applies the schema and nobody fails.
func TestMigrateInParallel(t *testing.T) {
	bunstoretest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		ctx := context.Background()
		dsn := bunstoretest.NewDSN(t, dialect)
		const n = 4
		stores := make([]*bunstore.Store, n)
		for i := range stores {
			s, err := bunstore.Open(ctx, dsn, bunstore.Options{MaxOpenConns: 2})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer s.Close()
			stores[i] = s
		}
		var wg sync.WaitGroup
		errs := make([]error, 2*n)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = stores[i%n].Migrate(ctx)
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("Migrate %d: %v", i, err)
			}
		}
		if err := stores[0].CheckSchema(ctx); err != nil {
			t.Errorf("CheckSchema: %v", err)
		}
	})
}

// Tokens are never stored in clear: the OIDC row is keyed by the SHA-256
// of the raw code, access rows by the SHA-256 of the signature.
func TestTokenKeysAreHashed(t *testing.T) {
	bunstoretest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		ctx := context.Background()
		s := bunstoretest.Open(t, dialect, bunstore.Options{})
		c := &storage.Client{ID: "c", GrantTypes: []string{"authorization_code"}}
		if err := s.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
		req := &fosite.Request{ID: "req-1", Client: c, RequestedAt: time.Now(), Session: &openid.DefaultSession{Subject: "alice"}}
		rawCode := "ory_ac_RAWCODEabcdef.signaturepart"
		if err := s.CreateOpenIDConnectSession(ctx, rawCode, req); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateAccessTokenSession(ctx, "access-sig", req); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateRefreshTokenSession(ctx, "refresh-sig", "access-sig", req); err != nil {
			t.Fatal(err)
		}

		sha := func(v string) string { s := sha256.Sum256([]byte(v)); return hex.EncodeToString(s[:]) }
		var oidcKeys []string
		if err := s.WriterDB().NewRaw("SELECT signature FROM oauth2_oidc").Scan(ctx, &oidcKeys); err != nil {
			t.Fatal(err)
		}
		if len(oidcKeys) != 1 || oidcKeys[0] != sha(rawCode) {
			t.Errorf("oauth2_oidc keys = %q, want [%q]", oidcKeys, sha(rawCode))
		}
		var leaks int
		if err := s.WriterDB().NewRaw(
			"SELECT count(*) FROM oauth2_oidc WHERE signature LIKE ? OR form LIKE ? OR request_id LIKE ?",
			"%RAWCODE%", "%RAWCODE%", "%RAWCODE%",
		).Scan(ctx, &leaks); err != nil {
			t.Fatal(err)
		}
		if leaks != 0 {
			t.Error("the raw authorization code is stored in oauth2_oidc")
		}

		var atKey, rtAccess string
		if err := s.WriterDB().NewRaw("SELECT signature FROM oauth2_access").Scan(ctx, &atKey); err != nil {
			t.Fatal(err)
		}
		if err := s.WriterDB().NewRaw("SELECT access_signature FROM oauth2_refresh").Scan(ctx, &rtAccess); err != nil {
			t.Fatal(err)
		}
		if atKey != sha("access-sig") || rtAccess != sha("access-sig") {
			t.Errorf("access keys = %q / %q, want %q", atKey, rtAccess, sha("access-sig"))
		}
	})
}

// Another instance's change becomes visible once the cache entry expires.
func TestClientCacheTTL(t *testing.T) {
	bunstoretest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		ctx := context.Background()
		dsn := bunstoretest.NewDSN(t, dialect)
		clock := conformance.NewClock(time.Now())
		a, err := bunstore.Open(ctx, dsn, bunstore.Options{Now: clock.Now, ClientCacheTTL: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		if err := a.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		b, err := bunstore.Open(ctx, dsn, bunstore.Options{Now: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		uncached, err := bunstore.Open(ctx, dsn, bunstore.Options{Now: clock.Now, ClientCacheTTL: -1})
		if err != nil {
			t.Fatal(err)
		}
		defer uncached.Close()

		if err := a.CreateClient(ctx, &storage.Client{ID: "c", Name: "old"}); err != nil {
			t.Fatal(err)
		}
		name := func(s *bunstore.Store) string {
			t.Helper()
			c, err := s.ClientByID(ctx, "c")
			if err != nil {
				t.Fatal(err)
			}
			return c.Name
		}
		if got := name(a); got != "old" {
			t.Fatalf("name = %q", got)
		}
		if err := b.UpdateClient(ctx, &storage.Client{ID: "c", Name: "new"}); err != nil {
			t.Fatal(err)
		}
		if got := name(uncached); got != "new" {
			t.Errorf("uncached store: name = %q, want new", got)
		}
		if got := name(a); got != "old" {
			t.Errorf("within the TTL: name = %q, want the cached old", got)
		}
		clock.Advance(11 * time.Second)
		if got := name(a); got != "new" {
			t.Errorf("after the TTL: name = %q, want new", got)
		}
	})
}

// A token whose client disappeared (deleted by another instance) is not
// found.
func TestTokenOfMissingClient(t *testing.T) {
	bunstoretest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		ctx := context.Background()
		s := bunstoretest.Open(t, dialect, bunstore.Options{ClientCacheTTL: -1})
		c := &storage.Client{ID: "c"}
		if err := s.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
		req := &fosite.Request{ID: "r", Client: c, RequestedAt: time.Now(), Session: &openid.DefaultSession{}}
		if err := s.CreateAccessTokenSession(ctx, "sig", req); err != nil {
			t.Fatal(err)
		}
		if _, err := s.WriterDB().NewRaw("DELETE FROM clients").Exec(ctx); err != nil {
			t.Fatal(err)
		}
		_, err := s.GetAccessTokenSession(ctx, "sig", &openid.DefaultSession{})
		if !errors.Is(err, fosite.ErrNotFound) {
			t.Errorf("GetAccessTokenSession: %v, want not found", err)
		}
	})
}

// 64 concurrent writers, with and without transactions, on one SQLite
// file: all succeed (they queue on the single writer instead of failing
// with SQLITE_BUSY), and readers keep reading meanwhile.
func TestSQLiteConcurrentWritersNoBusy(t *testing.T) {
	ctx := context.Background()
	s := bunstoretest.Open(t, "sqlite", bunstore.Options{MaxOpenConns: 8})
	const writers, rounds = 64, 10
	var wg sync.WaitGroup
	errs := make(chan error, writers*rounds*2)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				id := fmt.Sprintf("c-%d-%d", w, r)
				err := s.InTx(ctx, func(ctx context.Context) error {
					if err := s.CreateClient(ctx, &storage.Client{ID: id}); err != nil {
						return err
					}
					return s.SaveConsentGrant(ctx, &storage.ConsentGrant{UserID: "u", ClientID: id, Scopes: []string{"openid"}})
				})
				if err != nil {
					errs <- fmt.Errorf("tx %s: %w", id, err)
				}
				if err := s.SetClientAssertionJWT(ctx, id, time.Now().Add(time.Hour)); err != nil {
					errs <- fmt.Errorf("jti %s: %w", id, err)
				}
				if _, err := s.ClientByID(ctx, id); err != nil {
					errs <- fmt.Errorf("read %s: %w", id, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	list, err := s.ListClients(ctx, storage.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != writers*rounds {
		t.Errorf("%d clients stored, want %d", len(list), writers*rounds)
	}
}

// CheckClients drops exactly the cached clients another instance changed
// or deleted, long before the TTL.
func TestCheckClientsSeesOtherInstances(t *testing.T) {
	bunstoretest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		ctx := context.Background()
		dsn := bunstoretest.NewDSN(t, dialect)
		clock := conformance.NewClock(time.Now())
		open := func() *bunstore.Store {
			s, err := bunstore.Open(ctx, dsn, bunstore.Options{Now: clock.Now, ClientCacheTTL: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
		a, b := open(), open()
		if err := a.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"kept", "renamed", "deleted"} {
			if err := a.CreateClient(ctx, &storage.Client{ID: id, Name: "old"}); err != nil {
				t.Fatal(err)
			}
		}
		name := func(id string) (string, error) {
			c, err := a.ClientByID(ctx, id)
			if err != nil {
				return "", err
			}
			return c.Name, nil
		}
		for _, id := range []string{"kept", "renamed", "deleted"} {
			if _, err := name(id); err != nil { // cached now
				t.Fatal(err)
			}
		}
		if n, err := a.CheckClients(ctx); err != nil || n != 0 {
			t.Fatalf("nothing changed: dropped %d, %v", n, err)
		}

		clock.Advance(time.Second)
		if err := b.UpdateClient(ctx, &storage.Client{ID: "renamed", Name: "new"}); err != nil {
			t.Fatal(err)
		}
		if err := b.DeleteClient(ctx, "deleted"); err != nil {
			t.Fatal(err)
		}
		if got, _ := name("renamed"); got != "old" {
			t.Fatalf("before the check a serves its cache: %q", got)
		}
		if n, err := a.CheckClients(ctx); err != nil || n != 2 {
			t.Fatalf("after b's changes: dropped %d, %v; want 2", n, err)
		}
		if got, err := name("renamed"); err != nil || got != "new" {
			t.Fatalf("renamed: %q %v", got, err)
		}
		if _, err := name("deleted"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("deleted: %v, want ErrNotFound", err)
		}
		if got, err := name("kept"); err != nil || got != "old" {
			t.Fatalf("kept: %q %v", got, err)
		}
		if n, err := a.CheckClients(ctx); err != nil || n != 0 {
			t.Fatalf("second check: dropped %d, %v", n, err)
		}
	})
}
