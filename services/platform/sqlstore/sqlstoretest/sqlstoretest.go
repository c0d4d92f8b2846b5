// Package sqlstoretest gives each test a fresh, empty durable store on every backend: a new SQLite
// file, and a new PostgreSQL schema on the test server, dropped when the test ends. Store conformance
// suites run once per backend with it.
package sqlstoretest

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/iechor/sso/services/platform/opaque"
	"github.com/iechor/sso/services/platform/sqlstore"
	"github.com/iechor/sso/services/platform/testenv"
)

// Backend opens fresh stores of one kind.
type Backend struct {
	Name string
	// DSN returns a connection string to a new, empty database for t.
	DSN func(t testing.TB) string
}

// Open returns a new, empty store on b, closed when t ends.
func (b Backend) Open(t testing.TB) *sqlstore.DB {
	t.Helper()
	db, err := sqlstore.Open(context.Background(), b.DSN(t), sqlstore.Options{MaxOpenConns: 30})
	if err != nil {
		t.Fatalf("open %s: %v", b.Name, err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// Backends lists SQLite and PostgreSQL.
func Backends() []Backend {
	return []Backend{
		{Name: "sqlite", DSN: SQLiteDSN},
		{Name: "postgres", DSN: PostgresDSN},
	}
}

// Run runs fn once per backend as a subtest named after it. The subtests run in parallel with each
// other (each has stores of its own): fn must not share anything between backends, and the caller
// must not expect them to have finished when Run returns — only when the calling test ends.
func Run(t *testing.T, fn func(t *testing.T, b Backend)) {
	for _, b := range Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			fn(t, b)
		})
	}
}

// SQLiteDSN returns a new SQLite file in t's temporary folder.
func SQLiteDSN(t testing.TB) string {
	return "sqlite:" + filepath.Join(t.TempDir(), "store.db")
}

var (
	pgOnce sync.Once
	pgErr  error
)

// PostgresDSN returns a connection string to a new schema on the test server, dropped when t ends.
// When the server cannot be reached, the test is skipped (or failed under CI) by testenv.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	base := requirePostgres(t)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	schema := "t_" + opaque.LowerToken(10)
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		_ = admin.Close()
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		_, _ = admin.Exec("DROP SCHEMA " + schema + " CASCADE")
		_ = admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return fmt.Sprint(u)
}

// requirePostgres returns the test server's URL once it has answered a ping, and skips (or, under
// CI, fails) t when it cannot be reached.
func requirePostgres(t testing.TB) string {
	t.Helper()
	base := testenv.PostgresURL()
	pgOnce.Do(func() {
		db, err := sql.Open("pgx", base)
		if err != nil {
			pgErr = err
			return
		}
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		pgErr = db.PingContext(ctx)
	})
	if pgErr != nil {
		testenv.Unavailable(t, "postgres", pgErr)
	}
	return base
}
