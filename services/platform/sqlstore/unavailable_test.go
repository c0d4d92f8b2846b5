package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/iechor/sso/services/platform/opaque"
	"github.com/iechor/sso/services/platform/sqlstore"
	"github.com/iechor/sso/services/platform/sqlstore/sqlstoretest"
	"github.com/iechor/sso/services/platform/testenv"
)

// closedPort is a loopback port that refuses connections.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// silentServer accepts connections and never answers, as a host whose database hangs would.
func silentServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		<-done
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return l.Addr().String()
}

func quick() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 5*time.Second)
}

func openPostgres(t *testing.T, dsn string) *sqlstore.DB {
	t.Helper()
	ctx, cancel := quick()
	defer cancel()
	db, err := sqlstore.Open(ctx, dsn, sqlstore.Options{MaxOpenConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// pinned returns one connection of db, which database/sql will not swap for another on failure.
func pinned(t *testing.T, db *sqlstore.DB) *sql.Conn {
	t.Helper()
	ctx, cancel := quick()
	defer cancel()
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestADatabaseThatCannotServeIsUnavailable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// fail returns the error of an operation that the database cannot serve.
		fail func(t *testing.T) error
	}{
		{"a connection refused by the host", func(t *testing.T) error {
			ctx, cancel := quick()
			defer cancel()
			_, err := sqlstore.Open(ctx, "postgres://postgres@"+closedPort(t)+"/test?sslmode=disable", sqlstore.Options{})
			return err
		}},
		{"a host that accepts and never answers, past the connect timeout", func(t *testing.T) error {
			ctx, cancel := quick()
			defer cancel()
			_, err := sqlstore.Open(ctx, "postgres://postgres@"+silentServer(t)+"/test?sslmode=disable&connect_timeout=1", sqlstore.Options{})
			return err
		}},
		{"a database that refuses new connections", func(t *testing.T) error {
			d := sqlstoretest.PostgresDatabase(t)
			db := openPostgres(t, d.DSN)
			d.Stop(t)
			ctx, cancel := quick()
			defer cancel()
			_, err := db.ExecContext(ctx, "SELECT 1")
			return err
		}},
		{"a backend terminated under an open connection", func(t *testing.T) error {
			d := sqlstoretest.PostgresDatabase(t)
			db := openPostgres(t, d.DSN)
			c := pinned(t, db)
			d.Stop(t)
			ctx, cancel := quick()
			defer cancel()
			var n int
			return c.QueryRowContext(ctx, "SELECT 1").Scan(&n)
		}},
		{"a transaction whose backend is terminated before commit", func(t *testing.T) error {
			d := sqlstoretest.PostgresDatabase(t)
			db := openPostgres(t, d.DSN)
			ctx, cancel := quick()
			defer cancel()
			return db.InTx(ctx, func(tx *sql.Tx) error {
				if _, err := tx.ExecContext(ctx, "CREATE TABLE t (id INTEGER)"); err != nil {
					return err
				}
				d.Stop(t)
				_, err := tx.ExecContext(ctx, "INSERT INTO t VALUES (1)")
				return err
			})
		}},
		{"a statement stopped by the server's statement timeout", func(t *testing.T) error {
			d := sqlstoretest.PostgresDatabase(t)
			c := pinned(t, openPostgres(t, d.DSN))
			ctx, cancel := quick()
			defer cancel()
			if _, err := c.ExecContext(ctx, "SET statement_timeout = '50ms'"); err != nil {
				t.Fatal(err)
			}
			_, err := c.ExecContext(ctx, "SELECT pg_sleep(2)")
			return err
		}},
		{"too many connections for the role", func(t *testing.T) error {
			d := sqlstoretest.PostgresDatabase(t)
			dsn := limitedRole(t, d.DSN)
			db := openPostgres(t, dsn) // holds the role's one connection
			_ = pinned(t, db)
			ctx, cancel := quick()
			defer cancel()
			_, err := sqlstore.Open(ctx, dsn, sqlstore.Options{})
			return err
		}},
		{"a SQLite table locked by a read in progress on the same connection", func(t *testing.T) error {
			db := sqlstoretest.Backends()[0].Open(t)
			c := pinned(t, db)
			ctx, cancel := quick()
			defer cancel()
			if _, err := c.ExecContext(ctx, "CREATE TABLE t (id INTEGER); INSERT INTO t VALUES (1), (2)"); err != nil {
				t.Fatal(err)
			}
			rows, err := c.QueryContext(ctx, "SELECT id FROM t")
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			rows.Next()
			_, err = c.ExecContext(ctx, "DROP TABLE t")
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.fail(t)
			if !errors.Is(err, sqlstore.ErrUnavailable) || !sqlstore.IsUnavailable(err) {
				t.Fatalf("error %v (%T) is not ErrUnavailable", err, err)
			}
		})
	}
}

// limitedRole returns a connection string to the database of dsn as a new role that may hold one
// connection at a time; the role is dropped when t ends. (Superusers ignore connection limits.)
func limitedRole(t *testing.T, dsn string) string {
	t.Helper()
	admin, err := sql.Open("pgx", testenv.PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	role := "r_" + opaque.LowerToken(10)
	dbName := strings.TrimPrefix(u.Path, "/")
	for _, stmt := range []string{
		"CREATE ROLE " + role + " LOGIN CONNECTION LIMIT 1",
		"GRANT CONNECT ON DATABASE " + dbName + " TO " + role,
	} {
		if _, err := admin.Exec(stmt); err != nil {
			_ = admin.Close()
			t.Fatal(err)
		}
	}
	// Registered after the database's own cleanup, so it runs first: the role goes while the
	// database that names it in its grants still exists.
	t.Cleanup(func() {
		_, _ = admin.Exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", role)
		_, _ = admin.Exec("REVOKE CONNECT ON DATABASE " + dbName + " FROM " + role)
		_, _ = admin.Exec("DROP ROLE IF EXISTS " + role)
		_ = admin.Close()
	})
	u.User = url.User(role)
	return u.String()
}

func TestErrorsOfTheCallerOrTheQueryAreNotOutages(t *testing.T) {
	t.Parallel()
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		db := b.Open(t)
		ctx := context.Background()
		if err := db.Migrate(ctx, "things", migrations); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec("INSERT INTO things (id) VALUES ('a')"); err != nil {
			t.Fatal(err)
		}
		canceled, cancel := context.WithCancel(ctx)
		cancel()
		for name, err := range map[string]error{
			"a syntax error":        exec(db, ctx, "SELEKT 1"),
			"a duplicate key":       exec(db, ctx, "INSERT INTO things (id) VALUES ('a')"),
			"a missing table":       exec(db, ctx, "SELECT * FROM nothing"),
			"the caller's cancel":   exec(db, canceled, "SELECT 1"),
			"no rows for a lookup":  db.QueryRowContext(ctx, "SELECT id FROM things WHERE id = 'zz'").Scan(new(string)),
			"a function's own fail": db.InTx(ctx, func(*sql.Tx) error { return errors.New("boom") }),
		} {
			if err == nil {
				t.Errorf("%s: no error", name)
				continue
			}
			if sqlstore.IsUnavailable(err) {
				t.Errorf("%s: %v was taken for an outage", name, err)
			}
		}
		// A classified error still answers the questions callers ask of driver errors.
		if err := exec(db, ctx, "INSERT INTO things (id) VALUES ('a')"); !sqlstore.IsUniqueViolation(err) {
			t.Errorf("a duplicate key is no longer a unique violation: %v", err)
		}
	})
}

func exec(db *sqlstore.DB, ctx context.Context, q string) error {
	_, err := db.ExecContext(ctx, q)
	return err
}

func TestAStoppedDatabaseComesBackWithoutReopening(t *testing.T) {
	t.Parallel()
	d := sqlstoretest.PostgresDatabase(t)
	db := openPostgres(t, d.DSN)
	ctx, cancel := quick()
	defer cancel()
	if _, err := db.ExecContext(ctx, "CREATE TABLE t (id INTEGER)"); err != nil {
		t.Fatal(err)
	}
	d.Stop(t)
	if _, err := db.ExecContext(ctx, "INSERT INTO t VALUES (1)"); !sqlstore.IsUnavailable(err) {
		t.Fatalf("insert during the outage: %v", err)
	}
	d.Start(t)
	if _, err := db.ExecContext(ctx, "INSERT INTO t VALUES (2)"); err != nil {
		t.Fatalf("insert after the outage: %v", err)
	}
	var n int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM t").Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d rows (%v): the insert refused during the outage must not have happened", n, err)
	}
}

func TestOpeningAConnectionIsBoundedWhenTheURLSetsNoTimeout(t *testing.T) {
	t.Parallel()
	ctx, cancel := quick()
	defer cancel()
	start := time.Now()
	_, err := sqlstore.Open(ctx, "postgres://postgres@"+silentServer(t)+"/test?sslmode=disable", sqlstore.Options{ConnectTimeout: 300 * time.Millisecond})
	if took := time.Since(start); !sqlstore.IsUnavailable(err) || took > 2*time.Second {
		t.Fatalf("%v after %v; want ErrUnavailable after about 300 ms", err, took)
	}
}
