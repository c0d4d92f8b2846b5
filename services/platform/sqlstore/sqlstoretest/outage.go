package sqlstoretest

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/iechor/sso/services/platform/opaque"
)

// Database is a PostgreSQL database of one test's own, which the test may take away and bring back
// without touching the shared server or any other test: outage tests use it.
type Database struct {
	// DSN connects to the database.
	DSN   string
	name  string
	admin *sql.DB
}

// PostgresDatabase creates a new, empty database on the test server for t and drops it when t
// ends. When the server cannot be reached, the test is skipped (or failed under CI) by testenv.
func PostgresDatabase(t testing.TB) *Database {
	t.Helper()
	base := requirePostgres(t)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	name := "t_" + opaque.LowerToken(10)
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		_ = admin.Close()
		t.Fatalf("create database: %v", err)
	}
	d := &Database{name: name, admin: admin}
	t.Cleanup(func() {
		_, _ = admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
		_ = admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	q := u.Query()
	q.Del("search_path")
	u.RawQuery = q.Encode()
	d.DSN = u.String()
	return d
}

// Stop makes the database refuse new connections and ends every connection open to it, as an
// outage of the database would.
func (d *Database) Stop(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := d.admin.ExecContext(ctx, fmt.Sprintf("ALTER DATABASE %s ALLOW_CONNECTIONS false", d.name)); err != nil {
		t.Fatalf("stop database: %v", err)
	}
	if _, err := d.admin.ExecContext(ctx,
		"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", d.name); err != nil {
		t.Fatalf("end connections: %v", err)
	}
}

// Start lets the database take connections again.
func (d *Database) Start(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := d.admin.ExecContext(ctx, fmt.Sprintf("ALTER DATABASE %s ALLOW_CONNECTIONS true", d.name)); err != nil {
		t.Fatalf("start database: %v", err)
	}
}
