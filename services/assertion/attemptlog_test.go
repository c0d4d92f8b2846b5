package assertion

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/iechor/sso/services/assertion/store"
	"github.com/iechor/sso/services/platform/logging"
	"github.com/iechor/sso/services/platform/sqlstore/sqlstoretest"
)

func newTestAttemptLog(t *testing.T) (*attemptLog, store.Store) {
	st, err := store.NewSQL(context.Background(), sqlstoretest.Backends()[0].Open(t))
	if err != nil {
		t.Fatal(err)
	}
	return newAttemptLog(st, logging.Discard()), st
}

func attempt(i int) store.Attempt {
	return store.Attempt{ID: fmt.Sprintf("att_%04d", i), Connection: "companies/acme/connections/conn_1",
		Time: time.Now().Add(time.Duration(i) * time.Microsecond), Reason: "BAD_AUDIENCE"}
}

func listAll(t *testing.T, st store.Store) []store.Attempt {
	got, err := st.ListAttempts(context.Background(), store.ListQuery{Connection: "companies/acme/connections/conn_1", Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestAttemptsAddedBeforeAFlushAreWrittenByIt(t *testing.T) {
	l, st := newTestAttemptLog(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); <-l.done }()
	go l.run(ctx)
	var wg sync.WaitGroup
	for i := range 250 {
		wg.Add(1)
		go func() { defer wg.Done(); l.Add(attempt(i)) }()
	}
	wg.Wait()
	l.Flush(context.Background())
	if got := listAll(t, st); len(got) != 250 {
		t.Fatalf("%d attempts written after the flush, want 250", len(got))
	}
}

func TestStoppingWritesWhatIsQueued(t *testing.T) {
	l, st := newTestAttemptLog(t)
	ctx, cancel := context.WithCancel(context.Background())
	for i := range 30 {
		l.Add(attempt(i)) // queued before the writer runs
	}
	go l.run(ctx)
	cancel()
	<-l.done
	if got := listAll(t, st); len(got) != 30 {
		t.Fatalf("%d attempts written at stop, want 30", len(got))
	}
	l.Flush(context.Background()) // after the stop, a flush returns at once
}

func TestAFullQueueWritesInsteadOfDropping(t *testing.T) {
	l, st := newTestAttemptLog(t) // no writer running: the queue fills
	for i := range attemptQueue + 5 {
		l.Add(attempt(i))
	}
	if got := listAll(t, st); len(got) != 5 {
		t.Fatalf("%d attempts written past a full queue, want 5", len(got))
	}
}
