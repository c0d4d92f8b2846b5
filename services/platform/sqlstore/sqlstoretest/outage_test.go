package sqlstoretest_test

import (
	"context"
	"testing"
	"time"

	"github.com/iechor/sso/services/platform/sqlstore"
	"github.com/iechor/sso/services/platform/sqlstore/sqlstoretest"
)

func TestADatabaseTakenAwayRefusesAndComesBack(t *testing.T) {
	t.Parallel()
	d := sqlstoretest.PostgresDatabase(t)
	db, err := sqlstore.Open(context.Background(), d.DSN, sqlstore.Options{MaxOpenConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ping := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		return db.PingContext(ctx)
	}
	if err := ping(); err != nil {
		t.Fatalf("a new database should answer: %v", err)
	}
	d.Stop(t)
	if err := ping(); err == nil {
		t.Fatal("a stopped database answered")
	}
	d.Start(t)
	if err := ping(); err != nil {
		t.Fatalf("a restarted database should answer without reopening the pool: %v", err)
	}
}
