package sqlstore

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/iechor/sso/services/platform/sqlstore/storeerr"
)

// ErrUnavailable is returned, wrapped around the driver's error, by every operation of a DB when
// the database cannot be reached or cannot serve right now. The error mapping turns it into
// UNAVAILABLE (STORE_UNAVAILABLE), so that an outage is never reported as a bug.
var ErrUnavailable = storeerr.ErrUnavailable

// unavailableError is a driver error classified as an outage. It unwraps to both ErrUnavailable and
// the driver's error, so that database/sql still sees driver.ErrBadConn and the helpers below still
// see the PostgreSQL or SQLite code.
type unavailableError struct{ cause error }

func (e *unavailableError) Error() string   { return "database unavailable: " + e.cause.Error() }
func (e *unavailableError) Unwrap() []error { return []error{ErrUnavailable, e.cause} }

// classify marks err as ErrUnavailable when it says that the database cannot serve the call, and
// returns every other error unchanged (database/sql compares some of them, such as driver.ErrSkip
// and io.EOF, by identity).
func classify(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) || !unreachable(err) {
		return err
	}
	return &unavailableError{cause: err}
}

// classifyConnect marks a failure to open a connection: whatever the reason (refused, unknown host,
// too many connections, a database that takes no connections, a timeout), the store cannot be
// reached. Only the caller's own cancellation is left as it is.
func classifyConnect(err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, ErrUnavailable) {
		return err
	}
	return &unavailableError{cause: err}
}

// pgUnavailable are the SQLSTATE classes and codes that mean the server cannot serve the call:
// connection exceptions (08), insufficient resources such as too many connections or a full disk
// (53), an operator or crash shutdown, a server that is starting, a dropped database or an idle
// timeout (57P), a statement cancelled by statement_timeout (57014), and a server that has hit a
// system error (58).
func pgUnavailable(code string) bool {
	switch {
	case strings.HasPrefix(code, "08"), strings.HasPrefix(code, "53"), strings.HasPrefix(code, "57P"),
		strings.HasPrefix(code, "58"), code == "57014":
		return true
	}
	return false
}

// sqliteUnavailable are the SQLite primary result codes that mean the file cannot serve the call:
// another writer holds it past the busy timeout, it cannot be opened, read or written (a disk that
// failed, filled up or went read-only), or memory ran out.
func sqliteUnavailable(code int) bool {
	switch code & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_IOERR,
		sqlite3.SQLITE_FULL, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_NOMEM, sqlite3.SQLITE_PROTOCOL:
		return true
	}
	return false
}

// unreachable reports whether err, returned by an operation on an open connection, says that the
// database cannot serve it. The caller's own deadline or cancellation is not an outage: it stays a
// context error, which the error mapping reports as such.
func unreachable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pgUnavailable(pe.Code)
	}
	if c := sqliteCode(err); c != 0 {
		return sqliteUnavailable(c)
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ne net.Error
	switch {
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, pgconn.ErrConnClosed),
		errors.Is(err, io.ErrUnexpectedEOF), errors.As(err, &ne),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return true
	}
	return false
}

// IsUnavailable reports whether err means that the database cannot be reached or cannot serve
// right now.
func IsUnavailable(err error) bool { return errors.Is(err, ErrUnavailable) }
