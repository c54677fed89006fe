// Package bunstore is gatehouse's storage backend for SQLite and PostgreSQL,
// written once against bun. The bun models stay private: callers see only
// the domain types and interfaces of package storage (and fosite's).
//
// SQLite (pure Go, modernc.org/sqlite through bun's sqliteshim) runs with
// two pools: one writer connection that every write and every transaction
// goes through, so concurrent requests queue in Go instead of failing with
// SQLITE_BUSY, and a pool of query-only readers for reads outside a
// transaction. PostgreSQL uses one pgx-backed pool for both.
package bunstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/handler/pkce"
	fositestorage "github.com/ory/fosite/storage"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	"github.com/uptrace/bun/driver/sqliteshim"

	"github.com/gatehouse-dev/gatehouse/internal/ttlcache"
	"github.com/gatehouse-dev/gatehouse/migrations"
	"github.com/gatehouse-dev/gatehouse/storage"
)

// Interface guards: fosite's compose package type-asserts its storage at
// run time and panics on a miss; these move that failure to compile time.
var (
	_ storage.Store                      = (*Store)(nil)
	_ fosite.ClientManager               = (*Store)(nil)
	_ oauth2.CoreStorage                 = (*Store)(nil)
	_ oauth2.TokenRevocationStorage      = (*Store)(nil)
	_ openid.OpenIDConnectRequestStorage = (*Store)(nil)
	_ pkce.PKCERequestStorage            = (*Store)(nil)
	_ fositestorage.Transactional        = (*Store)(nil)
)

// Options tune a Store. The zero value is usable.
type Options struct {
	// Now is the clock for created/updated times, expiry checks and
	// refresh-token rotation times. Default time.Now.
	Now func() time.Time
	// ClientCacheTTL bounds how long a client read from the database is
	// served from this process's memory; changes made by other instances
	// become visible after at most this long, or sooner with WatchClients.
	// Default 10s; negative disables the cache.
	ClientCacheTTL time.Duration
	// MaxOpenConns is the PostgreSQL pool size (at least 2: Migrate holds
	// one connection for its lock while it migrates on another), or the
	// number of SQLite reader connections. Default 20.
	MaxOpenConns int
	// Logger receives migration progress. Default slog.Default().
	Logger *slog.Logger
	// SQLiteBusyTimeout is how long a SQLite write waits for a lock held
	// by another process (or a checkpoint) before it fails with
	// SQLITE_BUSY, which callers see as storage.ErrUnavailable. Default
	// 10s; tests shorten it.
	SQLiteBusyTimeout time.Duration
}

const (
	defaultClientCacheTTL = 10 * time.Second
	defaultMaxOpenConns   = 20
	// sqliteBusyTimeout is how long SQLite waits for a lock held by another
	// process (or a checkpoint) before it gives up with SQLITE_BUSY.
	sqliteBusyTimeout = 10 * time.Second
	// postgresConnectTimeout bounds opening a PostgreSQL connection when
	// neither the DSN's connect_timeout nor PGCONNECT_TIMEOUT sets one. Without it a server that drops
	// packets (rather than refusing) holds each request until its own
	// deadline; with it, requests answer 503 after at most this long, and
	// well within the request timeout.
	postgresConnectTimeout = 5 * time.Second
)

func (o Options) withDefaults() Options {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ClientCacheTTL == 0 {
		o.ClientCacheTTL = defaultClientCacheTTL
	}
	if o.MaxOpenConns <= 0 {
		o.MaxOpenConns = defaultMaxOpenConns
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.SQLiteBusyTimeout <= 0 {
		o.SQLiteBusyTimeout = sqliteBusyTimeout
	}
	return o
}

// Store implements storage.Store on SQLite or PostgreSQL.
type Store struct {
	dialect string
	// wdb takes every write and every transaction; rdb takes plain reads.
	// They are the same *bun.DB on PostgreSQL.
	wdb, rdb *bun.DB
	opts     Options
	log      *slog.Logger
	clients  *ttlcache.Cache[string, *storage.Client]
	// resources is the set of registered resources (resources.go).
	resources *ttlcache.Cache[struct{}, resourceSet]

	// migrateMu serialises Migrate calls of this process; other processes
	// are kept out by an advisory lock (PostgreSQL) or the write lock of
	// each migration transaction (SQLite).
	migrateMu sync.Mutex
	// janitorMu lets one janitor run at a time in this process (on
	// SQLite the only lock; PostgreSQL adds an advisory lock).
	janitorMu sync.Mutex
	closeOnce sync.Once
	closeErr  error
}

// Open connects to the database named by dsn: "sqlite://<path>" (the parent
// directory is created with mode 0700 if missing) or "postgres://..." /
// "postgresql://...". It checks that the database answers; it does not
// migrate (see Migrate and CheckSchema).
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	dialect, target, err := parseDSN(dsn)
	if err != nil {
		return nil, err
	}
	s := &Store{
		dialect:   dialect,
		opts:      opts,
		log:       opts.Logger,
		clients:   newClientCache(opts.ClientCacheTTL, opts.Now),
		resources: newResourceCache(opts.ClientCacheTTL, opts.Now),
	}
	switch dialect {
	case migrations.SQLite:
		err = s.openSQLite(target)
	case migrations.Postgres:
		err = s.openPostgres(target)
	}
	if err != nil {
		return nil, err
	}
	if err := s.Ping(ctx); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("cannot reach the %s database: %w", dialect, err)
	}
	return s, nil
}

// parseDSN splits a DSN into its dialect and what that dialect's driver
// needs: a file path for SQLite, the unchanged URL for PostgreSQL. Errors
// never echo the DSN, which may hold a password.
func parseDSN(dsn string) (dialect, target string, err error) {
	switch {
	case strings.HasPrefix(dsn, "sqlite://"):
		path := strings.TrimPrefix(dsn, "sqlite://")
		switch {
		case path == "":
			return "", "", errors.New("sqlite DSN has no file path (want sqlite:///abs/path.db or sqlite://./rel/path.db)")
		case strings.ContainsAny(path, "?#"):
			return "", "", errors.New("sqlite DSN must not carry parameters; gatehouse sets the pragmas itself")
		case path == ":memory:" || strings.HasPrefix(path, "file:"):
			return "", "", errors.New("sqlite DSN must name a file (in-memory databases cannot be shared by the reader and writer pools)")
		}
		return migrations.SQLite, path, nil
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return migrations.Postgres, dsn, nil
	}
	scheme := "none"
	if i := strings.Index(dsn, "://"); i > 0 {
		scheme = dsn[:i]
	}
	return "", "", fmt.Errorf("unsupported DSN scheme %q (want sqlite://<path> or postgres://...)", scheme)
}

// sqliteURI builds a modernc.org/sqlite DSN. The "file:" form is handed to
// SQLite as a URI, so the characters that are special in a URI path are
// escaped.
func sqliteURI(path string, readOnly bool, busyTimeout time.Duration) string {
	escaped := strings.NewReplacer("%", "%25", "?", "%3F", "#", "%23").Replace(path)
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", max(busyTimeout.Milliseconds(), 1)))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	if readOnly {
		// A reader must never write: everything that writes goes through
		// the single writer connection, or SQLITE_BUSY comes back.
		q.Add("_pragma", "query_only(1)")
	} else {
		// Take the write lock at BEGIN, not at the first write, so a
		// transaction never has to upgrade a read lock (which fails with
		// SQLITE_BUSY instead of waiting).
		q.Set("_txlock", "immediate")
	}
	return "file:" + escaped + "?" + q.Encode()
}

func (s *Store) openSQLite(path string) error {
	// The pragmas above are modernc.org/sqlite syntax; a build that falls
	// back to another driver would silently run without WAL, busy timeout
	// and foreign keys.
	if sqliteshim.DriverName() != "sqlite" {
		return fmt.Errorf("sqlite needs the pure-Go modernc.org/sqlite driver, this build has %q", sqliteshim.DriverName())
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("create sqlite directory: %w", err)
		}
	}
	writer, err := sql.Open(sqliteshim.ShimName, sqliteURI(path, false, s.opts.SQLiteBusyTimeout))
	if err != nil {
		return fmt.Errorf("open sqlite writer: %w", err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxIdleTime(0)
	writer.SetConnMaxLifetime(0)

	reader, err := sql.Open(sqliteshim.ShimName, sqliteURI(path, true, s.opts.SQLiteBusyTimeout))
	if err != nil {
		_ = writer.Close()
		return fmt.Errorf("open sqlite readers: %w", err)
	}
	reader.SetMaxOpenConns(s.opts.MaxOpenConns)
	reader.SetMaxIdleConns(s.opts.MaxOpenConns)
	reader.SetConnMaxIdleTime(0)
	reader.SetConnMaxLifetime(0)

	s.wdb = bun.NewDB(writer, sqlitedialect.New())
	s.rdb = bun.NewDB(reader, sqlitedialect.New())
	return nil
}

func (s *Store) openPostgres(dsn string) error {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx redacts the password in its parse errors.
		return fmt.Errorf("parse postgres DSN: %w", err)
	}
	// bun interpolates arguments into the SQL text on the client, so every
	// query reaches pgx without parameters. The simple protocol sends it in
	// one round trip; the default mode would prepare (and cache) every
	// distinct text.
	cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = postgresConnectTimeout
	}
	db := stdlib.OpenDB(*cfg)
	// A new PostgreSQL connection costs several milliseconds: keep every
	// connection of the pool open while idle.
	size := max(s.opts.MaxOpenConns, 2)
	db.SetMaxOpenConns(size)
	db.SetMaxIdleConns(size)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(time.Hour)
	s.wdb = bun.NewDB(db, pgdialect.New())
	s.rdb = s.wdb
	return nil
}

// Pools returns the store's connection pools by name, for their
// statistics (the metrics' db_name label): "primary" takes every write and
// transaction, and on PostgreSQL every read too; SQLite has a second pool,
// "reader", for reads outside a transaction. The store owns them: callers
// must not close them or change their settings.
func (s *Store) Pools() map[string]*sql.DB {
	pools := map[string]*sql.DB{"primary": s.wdb.DB}
	if s.rdb != s.wdb {
		pools["reader"] = s.rdb.DB
	}
	return pools
}

// Dialect reports "sqlite" or "postgres".
func (s *Store) Dialect() string { return s.dialect }

// Ping checks that the database answers (both pools on SQLite).
func (s *Store) Ping(ctx context.Context) error {
	if err := s.wdb.PingContext(ctx); err != nil {
		return mapErr("ping", err)
	}
	if s.rdb != s.wdb {
		if err := s.rdb.PingContext(ctx); err != nil {
			return mapErr("ping readers", err)
		}
	}
	return nil
}

// Close closes both pools. It is safe to call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		if s.rdb != nil && s.rdb != s.wdb {
			errs = append(errs, s.rdb.Close())
		}
		if s.wdb != nil {
			errs = append(errs, s.wdb.Close())
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// db is where a write goes: the transaction in ctx, or the writer pool.
func (s *Store) db(ctx context.Context) bun.IDB {
	if st := s.txFrom(ctx); st != nil {
		return st.tx
	}
	return s.wdb
}

// reader is where a read goes: the transaction in ctx (so it sees its own
// writes), or the reader pool.
func (s *Store) reader(ctx context.Context) bun.IDB {
	if st := s.txFrom(ctx); st != nil {
		return st.tx
	}
	return s.rdb
}

// now is the current time as the database will store it: UTC, with the
// microsecond precision both dialects keep. Values handed back to callers
// then compare equal to what a later read returns.
func (s *Store) now() time.Time {
	return dbTime(s.opts.Now())
}

func dbTime(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}
