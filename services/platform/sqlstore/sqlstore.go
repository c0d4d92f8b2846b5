// Package sqlstore opens the durable store of a service, PostgreSQL (pgx v5) or SQLite
// (modernc.org/sqlite, pure Go), and applies the service's embedded migrations.
//
// Both backends are driven through database/sql with PostgreSQL-style $N placeholders, which both
// drivers accept, so that a service writes its queries once. Where the dialects differ (column types,
// identity columns) a service keeps one migration folder per dialect. Nothing here leaks driver
// types: callers see *sql.DB and the classification helpers below.
//
// Every error that reaches a caller has been classified once, at the driver boundary: when the
// database cannot be reached or cannot serve (refused or dropped connections, too many connections,
// a shutdown, a timeout, a locked SQLite file...), it wraps ErrUnavailable, which the error mapping
// reports as UNAVAILABLE. Nothing here decides what a caller's request deserves beyond that.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Dialect names a backend.
type Dialect string

const (
	Postgres Dialect = "postgres"
	SQLite   Dialect = "sqlite"
)

// DB is an open store.
type DB struct {
	*sql.DB
	Dialect Dialect
}

// Options tune the connection pool.
type Options struct {
	MaxOpenConns int // PostgreSQL only; 0 means 20
	// ConnectTimeout bounds opening one PostgreSQL connection when the URL sets no connect_timeout;
	// 0 means 5s. Past it, the call that needed the connection fails with ErrUnavailable.
	ConnectTimeout time.Duration
}

// Open connects to dsn: postgres://... or postgresql://... for PostgreSQL; sqlite:PATH (or a path
// ending in .db) for SQLite, whose folder is created when missing. It pings before returning.
func Open(ctx context.Context, dsn string, opts Options) (*DB, error) {
	var db *DB
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		pc, err := pgx.ParseConfig(dsn)
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		// A database host that swallows packets must not hold a call for the kernel's TCP timeout.
		if pc.ConnectTimeout == 0 {
			pc.ConnectTimeout = opts.ConnectTimeout
			if pc.ConnectTimeout <= 0 {
				pc.ConnectTimeout = 5 * time.Second
			}
		}
		sqldb := sql.OpenDB(classifyingConnector{stdlib.GetConnector(*pc)})
		n := opts.MaxOpenConns
		if n <= 0 {
			n = 20
		}
		sqldb.SetMaxOpenConns(n)
		sqldb.SetMaxIdleConns(n)
		sqldb.SetConnMaxIdleTime(5 * time.Minute)
		db = &DB{DB: sqldb, Dialect: Postgres}
	case strings.HasPrefix(dsn, "sqlite:"), strings.HasSuffix(dsn, ".db"):
		p := strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite:"), "//")
		if p == "" || strings.Contains(p, ":memory:") {
			return nil, errors.New("sqlite needs a file path: the durable store must survive restarts")
		}
		if dir := filepath.Dir(p); dir != "" {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return nil, fmt.Errorf("create sqlite folder: %w", err)
			}
		}
		q := url.Values{}
		q.Add("_pragma", "busy_timeout(10000)")
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "foreign_keys(1)")
		q.Add("_pragma", "synchronous(NORMAL)")
		// Every transaction takes the write lock when it begins, so that two writers queue on the
		// busy timeout instead of failing on a read-to-write upgrade.
		q.Set("_txlock", "immediate")
		connector, err := sqlite.NewConnector("file:" + p + "?" + q.Encode())
		if err != nil {
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		sqldb := sql.OpenDB(classifyingConnector{connector})
		sqldb.SetMaxOpenConns(8)
		db = &DB{DB: sqldb, Dialect: SQLite}
	default:
		return nil, fmt.Errorf("unsupported database URL %q: want postgres://... or sqlite:PATH", redactDSN(dsn))
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		err := db.PingContext(pctx)
		if err == nil {
			return db, nil
		}
		// A new SQLite connection switches the file to WAL, which needs a moment of exclusive
		// access: processes opening one file together wait their turn instead of failing.
		if !isRetryable(err) || pctx.Err() != nil {
			_ = db.Close()
			return nil, fmt.Errorf("connect to %s: %w", db.Dialect, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func redactDSN(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		u.User = url.User(u.User.Username())
		return u.String()
	}
	return dsn
}

// Migrate applies, in order, the migrations of service that are not applied yet. migrations holds a
// folder per dialect ("postgres", "sqlite") of files named NNNN_description.sql. Replicas that start
// at once serialize on a PostgreSQL advisory lock (SQLite: on the write lock), so each migration runs
// exactly once.
func (db *DB) Migrate(ctx context.Context, service string, migrations fs.FS) error {
	files, err := migrationFiles(migrations, string(db.Dialect))
	if err != nil {
		return err
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()

	if db.Dialect == Postgres {
		key := lockKey(service)
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", key); err != nil {
			return fmt.Errorf("take migration lock: %w", err)
		}
		defer func() {
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", key)
		}()
	}
	for _, f := range files {
		if err := db.applyOne(ctx, conn, service, migrations, f); err != nil {
			return err
		}
	}
	return nil
}

type migrationFile struct {
	version int
	path    string
}

func migrationFiles(migrations fs.FS, dir string) ([]migrationFile, error) {
	entries, err := fs.ReadDir(migrations, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations for %s: %w", dir, err)
	}
	var files []migrationFile
	seen := map[int]string{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		num, _, _ := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a positive number", e.Name())
		}
		if other, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s and %s share version %d", other, e.Name(), v)
		}
		seen[v] = e.Name()
		files = append(files, migrationFile{version: v, path: path.Join(dir, e.Name())})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].version < files[j].version })
	return files, nil
}

func (db *DB) applyOne(ctx context.Context, conn *sql.Conn, service string, migrations fs.FS, f migrationFile) error {
	body, err := fs.ReadFile(migrations, f.path)
	if err != nil {
		return err
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit this is a no-op
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		service TEXT NOT NULL,
		version INTEGER NOT NULL,
		applied_at_us BIGINT NOT NULL,
		PRIMARY KEY (service, version))`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations WHERE service = $1 AND version = $2", service, f.version).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return tx.Commit()
	}
	if _, err := tx.ExecContext(ctx, string(body)); err != nil {
		return fmt.Errorf("migration %s of %s: %w", f.path, service, err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (service, version, applied_at_us) VALUES ($1, $2, $3)",
		service, f.version, time.Now().UnixMicro()); err != nil {
		return err
	}
	return tx.Commit()
}

func lockKey(service string) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte("iechor-sso-migrate:" + service))
	return int64(h.Sum64() >> 1)
}

// InTx runs fn in a transaction and commits it, retrying a few times when the database reports a
// serialization failure, a deadlock or a busy SQLite file; fn must therefore be safe to run again.
func (db *DB) InTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		err = db.inTxOnce(ctx, fn)
		if err == nil || !isRetryable(err) || ctx.Err() != nil {
			return err
		}
		time.Sleep(time.Duration(attempt+1) * 5 * time.Millisecond)
	}
	return err
}

func (db *DB) inTxOnce(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

func sqliteCode(err error) int {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code()
	}
	return 0
}

func isRetryable(err error) bool {
	switch pgCode(err) {
	case "40001", "40P01":
		return true
	}
	c := sqliteCode(err)
	return c&0xff == sqlite3.SQLITE_BUSY || c&0xff == sqlite3.SQLITE_LOCKED
}

// IsUniqueViolation reports whether err is a unique or primary key constraint violation.
func IsUniqueViolation(err error) bool {
	if pgCode(err) == "23505" {
		return true
	}
	c := sqliteCode(err)
	return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

// IsForeignKeyViolation reports whether err is a foreign key constraint violation.
func IsForeignKeyViolation(err error) bool {
	return pgCode(err) == "23503" || sqliteCode(err) == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}
