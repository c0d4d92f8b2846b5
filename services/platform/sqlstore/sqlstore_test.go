package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/iechor/sso/services/platform/sqlstore"
	"github.com/iechor/sso/services/platform/sqlstore/sqlstoretest"
)

var migrations = fstest.MapFS{
	"postgres/0001_init.sql":  {Data: []byte("CREATE TABLE things (id TEXT PRIMARY KEY, n INTEGER NOT NULL DEFAULT 0);")},
	"postgres/0002_more.sql":  {Data: []byte("ALTER TABLE things ADD COLUMN label TEXT;")},
	"sqlite/0001_init.sql":    {Data: []byte("CREATE TABLE things (id TEXT PRIMARY KEY, n INTEGER NOT NULL DEFAULT 0);")},
	"sqlite/0002_more.sql":    {Data: []byte("ALTER TABLE things ADD COLUMN label TEXT;")},
	"sqlite/README.txt":       {Data: []byte("not a migration")},
	"postgres/notes/keep.txt": {Data: []byte("folders are ignored")},
}

func TestMigrationsRunOnceEvenWhenReplicasStartTogether(t *testing.T) {
	t.Parallel()
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		dsn := b.DSN(t)
		ctx := context.Background()
		var wg sync.WaitGroup
		errs := make([]error, 5)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				db, err := sqlstore.Open(ctx, dsn, sqlstore.Options{})
				if err != nil {
					errs[i] = err
					return
				}
				defer db.Close()
				errs[i] = db.Migrate(ctx, "things", migrations)
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("replica %d: %v", i, err)
			}
		}
		db, err := sqlstore.Open(ctx, dsn, sqlstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var n int
		if err := db.QueryRow("SELECT COUNT(*) FROM schema_migrations WHERE service = 'things'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 2 {
			t.Fatalf("schema_migrations has %d rows for the service, want 2", n)
		}
		if _, err := db.Exec("INSERT INTO things (id, label) VALUES ($1, $2)", "a", "x"); err != nil {
			t.Fatalf("second migration not applied: %v", err)
		}
		// Running again applies nothing and fails nothing.
		if err := db.Migrate(ctx, "things", migrations); err != nil {
			t.Fatal(err)
		}
	})
}

func TestMigrationNamesMustBeNumbered(t *testing.T) {
	db := sqlstoretest.Backends()[0].Open(t)
	bad := fstest.MapFS{"sqlite/init.sql": {Data: []byte("SELECT 1;")}}
	if err := db.Migrate(context.Background(), "bad", bad); err == nil {
		t.Fatal("a migration without a version number was accepted")
	}
	dup := fstest.MapFS{"sqlite/0001_a.sql": {Data: []byte("SELECT 1;")}, "sqlite/0001_b.sql": {Data: []byte("SELECT 1;")}}
	if err := db.Migrate(context.Background(), "dup", dup); err == nil {
		t.Fatal("two migrations with one version were accepted")
	}
}

func TestUniqueViolationIsRecognisedOnEveryBackend(t *testing.T) {
	t.Parallel()
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		db := b.Open(t)
		ctx := context.Background()
		if err := db.Migrate(ctx, "things", migrations); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec("INSERT INTO things (id) VALUES ($1)", "a"); err != nil {
			t.Fatal(err)
		}
		_, err := db.Exec("INSERT INTO things (id) VALUES ($1)", "a")
		if !sqlstore.IsUniqueViolation(err) {
			t.Fatalf("duplicate key gave %v, not recognised as a unique violation", err)
		}
		if sqlstore.IsUniqueViolation(errors.New("other")) {
			t.Fatal("an unrelated error was taken for a unique violation")
		}
	})
}

func TestInTxRollsBackOnError(t *testing.T) {
	t.Parallel()
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		db := b.Open(t)
		ctx := context.Background()
		if err := db.Migrate(ctx, "things", migrations); err != nil {
			t.Fatal(err)
		}
		boom := errors.New("boom")
		err := db.InTx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.Exec("INSERT INTO things (id) VALUES ($1)", "a"); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("InTx returned %v, want the function's error", err)
		}
		var n int
		if err := db.QueryRow("SELECT COUNT(*) FROM things").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatal("the failed transaction left a row behind")
		}
	})
}

func TestConcurrentIncrementsInTransactionsAreNotLost(t *testing.T) {
	t.Parallel()
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		db := b.Open(t)
		ctx := context.Background()
		if err := db.Migrate(ctx, "things", migrations); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec("INSERT INTO things (id) VALUES ('c')"); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := db.InTx(ctx, func(tx *sql.Tx) error {
					_, err := tx.Exec("UPDATE things SET n = n + 1 WHERE id = 'c'")
					return err
				}); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		var n int
		if err := db.QueryRow("SELECT n FROM things WHERE id = 'c'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 20 {
			t.Fatalf("n = %d after 20 increments", n)
		}
	})
}

func TestMemoryDatabasesAreRefused(t *testing.T) {
	if _, err := sqlstore.Open(context.Background(), "sqlite::memory:", sqlstore.Options{}); err == nil {
		t.Fatal("an in-memory SQLite database was accepted as a durable store")
	}
	if _, err := sqlstore.Open(context.Background(), "mysql://x", sqlstore.Options{}); err == nil {
		t.Fatal("an unsupported URL was accepted")
	}
}
