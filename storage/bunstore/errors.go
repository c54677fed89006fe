package bunstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/ory/fosite"

	"github.com/gatehouse-dev/gatehouse/storage"
)

// SQLite primary result codes (the low byte of an extended code).
const (
	sqliteIOErr      = 10
	sqliteBusy       = 5
	sqliteLocked     = 6
	sqliteNoMem      = 7
	sqliteFull       = 13
	sqliteCantOpen   = 14
	sqliteConstraint = 19
	// Extended codes of SQLITE_CONSTRAINT.
	sqliteConstraintForeignKey = sqliteConstraint | 3<<8
	sqliteConstraintPrimaryKey = sqliteConstraint | 6<<8
	sqliteConstraintUnique     = sqliteConstraint | 8<<8
)

// errorClass is what a database error means to gatehouse.
type errorClass int

const (
	classOther errorClass = iota
	classNotFound
	classConflict
	classMissingReference
	classSerialization
	classUnavailable
	// classBusy is SQLite's SQLITE_BUSY / SQLITE_LOCKED after busy_timeout:
	// another process (or a checkpoint) held the lock too long. Nothing was
	// written, and the request may be retried: the database is
	// unavailable for now (503), and still a serialization failure for
	// fosite's retry logic.
	classBusy
)

// mapErr is the single translation from driver errors to the storage
// vocabulary; every method sends its database errors through it. op names
// the operation for the message. The result always wraps a sentinel the
// caller can test with errors.Is, and keeps the driver error as a cause
// where it helps an operator (never for "not found").
func mapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	// Errors this package already classified pass through with context.
	if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrConflict) ||
		errors.Is(err, storage.ErrUnavailable) || errors.Is(err, fosite.ErrSerializationFailure) {
		return fmt.Errorf("%s: %w", op, err)
	}
	switch classify(err) {
	case classNotFound:
		return fmt.Errorf("%s: %w", op, storage.ErrNotFound)
	case classConflict:
		return fmt.Errorf("%s: %w: %w", op, storage.ErrConflict, err)
	case classMissingReference:
		// A foreign key names a row that does not exist (a login session
		// for an unknown user): the referenced record was not found.
		return fmt.Errorf("%s: referenced record: %w: %w", op, storage.ErrNotFound, err)
	case classSerialization:
		return fmt.Errorf("%s: %w: %w", op, fosite.ErrSerializationFailure, err)
	case classUnavailable:
		return fmt.Errorf("%s: %w: %w", op, storage.ErrUnavailable, err)
	case classBusy:
		return fmt.Errorf("%s: %w: %w: %w", op, storage.ErrUnavailable, fosite.ErrSerializationFailure, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

func classify(err error) errorClass {
	if errors.Is(err, sql.ErrNoRows) {
		return classNotFound
	}
	// Failing to connect at all (refused, unknown host, bad password,
	// missing database, or no answer within the connect timeout, which
	// carries context.DeadlineExceeded) makes the database unavailable,
	// whatever the server said. Only a caller that gave up is not.
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) && !errors.Is(err, context.Canceled) {
		return classUnavailable
	}
	// A cancelled or timed-out request is the caller's doing; keep it
	// recognisable as such rather than calling the database unavailable.
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return classOther
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return classifyPostgres(pgErr.Code)
	}
	// modernc.org/sqlite's *sqlite.Error; matched by method so that this
	// package does not depend on the driver's concrete type.
	var sqliteErr interface{ Code() int }
	if errors.As(err, &sqliteErr) {
		return classifySQLite(sqliteErr.Code())
	}

	var netErr net.Error
	switch {
	case errors.As(err, &netErr),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE),
		errors.Is(err, driver.ErrBadConn),
		// pgx's "conn closed": a pooled connection whose server went
		// away (restart, failover) before this query was sent.
		errors.Is(err, pgconn.ErrConnClosed),
		errors.Is(err, sql.ErrConnDone),
		errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF):
		return classUnavailable
	}
	// database/sql does not export its "database is closed" error.
	if strings.Contains(err.Error(), "sql: database is closed") {
		return classUnavailable
	}
	return classOther
}

// classifyPostgres maps SQLSTATE codes
// (https://www.postgresql.org/docs/current/errcodes-appendix.html).
func classifyPostgres(code string) errorClass {
	switch {
	case code == "23505": // unique_violation
		return classConflict
	case code == "23503": // foreign_key_violation
		return classMissingReference
	case code == "40001", code == "40P01": // serialization_failure, deadlock_detected
		return classSerialization
	case strings.HasPrefix(code, "08"), // connection exception
		strings.HasPrefix(code, "53"), // insufficient resources: disk full, out of memory, too many connections
		strings.HasPrefix(code, "58"), // system error: I/O error, undefined file
		code == "57P01",               // admin_shutdown (pg_ctl stop -m fast)
		code == "57P02",               // crash_shutdown (another backend crashed)
		code == "57P03",               // cannot_connect_now (starting up, shutting down, in recovery)
		code == "25006":               // read_only_sql_transaction: a write reached a standby during a failover
		return classUnavailable
	}
	return classOther
}

// classifySQLite maps (extended) result codes
// (https://www.sqlite.org/rescode.html).
func classifySQLite(code int) errorClass {
	switch code {
	case sqliteConstraintUnique, sqliteConstraintPrimaryKey:
		return classConflict
	case sqliteConstraintForeignKey:
		return classMissingReference
	}
	switch code & 0xff {
	case sqliteBusy, sqliteLocked:
		return classBusy
	case sqliteIOErr, sqliteCantOpen, sqliteFull, sqliteNoMem:
		return classUnavailable
	}
	return classOther
}

// namesNoRow reports whether key cannot be the key of any row, so a lookup
// by it answers ErrNotFound without a query: PostgreSQL refuses a NUL and
// invalid UTF-8 in text, and bun fails a query holding a NUL closed (a
// syntax error on both databases), which would otherwise surface as a
// server error. The HTTP routes refuse such ids first; this keeps any
// other path to the lookups (fosite's client authentication, a future
// route) from turning bad input into a 500.
func namesNoRow(key string) bool {
	return strings.IndexByte(key, 0) >= 0 || !utf8.ValidString(key)
}

// notFound builds the error of a lookup or conditional write that matched
// no row.
func notFound(op string) error {
	return fmt.Errorf("%s: %w", op, storage.ErrNotFound)
}

// requireRow turns "the statement matched no row" into ErrNotFound; the
// conditional writes use it to pick exactly one winner among concurrent
// callers.
func requireRow(op string, res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return mapErr(op, err)
	}
	if n == 0 {
		return notFound(op)
	}
	return nil
}
