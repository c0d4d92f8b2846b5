package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
)

// SQLite's busy timeout is ten seconds in Open: this test makes the busy error at once on a raw
// connection and checks that the classification the driver wrapper applies recognises it.
func TestASQLiteFileHeldByAnotherWriterIsUnavailable(t *testing.T) {
	t.Parallel()
	dsn := "file:" + filepath.Join(t.TempDir(), "busy.db") + "?_pragma=busy_timeout(0)&_pragma=journal_mode(WAL)&_txlock=immediate"
	raw, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	ctx := context.Background()
	holder, err := raw.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback() // the test only holds the lock
	_, err = raw.BeginTx(ctx, nil)
	if err == nil {
		t.Fatal("a second writer began while the first held the file")
	}
	if got := classify(err); !errors.Is(got, ErrUnavailable) || !isRetryable(got) {
		t.Fatalf("busy error %v classified as %v; want ErrUnavailable that InTx still retries", err, got)
	}
}
