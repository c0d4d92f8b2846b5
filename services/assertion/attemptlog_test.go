package assertion

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/iechor/sso/services/assertion/internal/store"
	"github.com/iechor/sso/services/platform/logging"
	"github.com/iechor/sso/services/platform/sqlstore"
	"github.com/iechor/sso/services/platform/sqlstore/sqlstoretest"
)

const logConn = "companies/acme/connections/conn_1"

func sqliteStore(t *testing.T) store.Store {
	t.Helper()
	st, err := store.NewSQL(context.Background(), sqlstoretest.Backends()[0].Open(t))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// postgresStore is a store on a PostgreSQL database of the test's own, which the test may stop.
func postgresStore(t *testing.T) (store.Store, *sqlstoretest.Database) {
	t.Helper()
	d := sqlstoretest.PostgresDatabase(t)
	db, err := sqlstore.Open(context.Background(), d.DSN, sqlstore.Options{MaxOpenConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	st, err := store.NewSQL(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	return st, d
}

// lockedBuffer collects log output written from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// fastLog is a writer whose retries come quickly, so that tests of outages take seconds.
func fastLog(st store.Store, log *slog.Logger, queue int) *attemptLog {
	l := newAttemptLog(st, log, queue, 2*time.Second, nil)
	l.retryMin, l.retryMax = 20*time.Millisecond, 200*time.Millisecond
	return l
}

func running(t *testing.T, l *attemptLog) {
	ctx, cancel := context.WithCancel(context.Background())
	go l.run(ctx)
	t.Cleanup(func() { cancel(); <-l.done })
}

func attempt(i int) store.Attempt {
	return store.Attempt{ID: fmt.Sprintf("att_%04d", i), Connection: logConn, Result: store.Validated,
		Time: time.Now().UTC().Truncate(time.Microsecond).Add(time.Duration(i) * time.Microsecond)}
}

func signedIn(i int) store.Outcome {
	return store.Outcome{AttemptID: fmt.Sprintf("att_%04d", i), Connection: logConn, Time: time.Now().UTC(), Result: store.SignedIn}
}

func listAll(t *testing.T, st store.Store) []store.Attempt {
	t.Helper()
	got, err := st.ListAttempts(context.Background(), store.ListQuery{Connection: logConn, Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// signedInCount counts the listed attempts whose outcome says the person got a code.
func signedInCount(as []store.Attempt) int {
	n := 0
	for _, a := range as {
		if a.Finished != nil && a.Finished.Result == store.SignedIn {
			n++
		}
	}
	return n
}

func TestRecordsAddedBeforeAFlushAreWrittenByIt(t *testing.T) {
	t.Parallel()
	st := sqliteStore(t)
	l := fastLog(st, logging.Discard(), 1000)
	running(t, l)
	var wg sync.WaitGroup
	for i := range 250 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.Add(attempt(i))
			l.AddOutcome(signedIn(i))
		}()
	}
	wg.Wait()
	l.Flush(context.Background())
	if got := listAll(t, st); len(got) != 250 || signedInCount(got) != 250 {
		t.Fatalf("%d attempts (%d signed in) written after the flush, want 250 each", len(got), signedInCount(got))
	}
}

func TestStoppingWritesWhatIsQueued(t *testing.T) {
	t.Parallel()
	st := sqliteStore(t)
	l := fastLog(st, logging.Discard(), 1000)
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

func TestAFullQueueDropsCountsAndLogsRatherThanMakeSignInsWait(t *testing.T) {
	t.Parallel()
	st := sqliteStore(t)
	var logs lockedBuffer
	l := fastLog(st, slog.New(slog.NewJSONHandler(&logs, nil)), 100) // no writer running: the queue fills
	start := time.Now()
	for i := range 105 {
		l.Add(attempt(i))
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("adding to a full queue took %v", d)
	}
	if n := testutil.ToFloat64(l.dropped); n != 5 {
		t.Fatalf("dropped counter %v, want 5", n)
	}
	for i := 100; i < 105; i++ {
		if !strings.Contains(logs.String(), fmt.Sprintf(`"attempt":"att_%04d"`, i)) {
			t.Fatalf("dropped attempt %d not logged:\n%s", i, logs.String())
		}
	}
	if got := listAll(t, st); len(got) != 0 {
		t.Fatalf("%d attempts written past a full queue by the caller itself", len(got))
	}
	running(t, l)
	l.Flush(context.Background())
	if got := listAll(t, st); len(got) != 100 {
		t.Fatalf("%d queued attempts written, want 100", len(got))
	}
}

func TestAStoreOutageDelaysRecordsAndLosesNone(t *testing.T) {
	t.Parallel()
	st, db := postgresStore(t)
	l := fastLog(st, logging.Discard(), 1000)
	running(t, l)
	db.Stop(t)
	for i := range 50 {
		l.Add(attempt(i))
		l.AddOutcome(signedIn(i))
	}
	deadline := time.Now().Add(10 * time.Second)
	for testutil.ToFloat64(l.failures) < 3 {
		if time.Now().After(deadline) {
			t.Fatal("the writer did not retry against the stopped database")
		}
		time.Sleep(20 * time.Millisecond)
	}
	db.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l.Flush(ctx)
	if got := listAll(t, st); len(got) != 50 || signedInCount(got) != 50 {
		t.Fatalf("after the outage %d attempts (%d signed in), want 50 each", len(got), signedInCount(got))
	}
	if n := testutil.ToFloat64(l.dropped); n != 0 {
		t.Fatalf("%v records dropped", n)
	}
}

func TestAStoppingWriterTriesForABoundedTimeThenLogsWhatItCouldNotWrite(t *testing.T) {
	t.Parallel()
	st, db := postgresStore(t)
	var logs lockedBuffer
	l := fastLog(st, slog.New(slog.NewJSONHandler(&logs, nil)), 1000)
	l.stopTimeout = 500 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	go l.run(ctx)
	db.Stop(t)
	for i := range 3 {
		l.Add(attempt(i))
	}
	l.AddOutcome(signedIn(0))
	cancel()
	select {
	case <-l.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the stopping writer kept trying past its bound")
	}
	out := logs.String()
	for i := range 3 {
		if !strings.Contains(out, fmt.Sprintf(`"msg":"sign-in attempt not recorded: the service stopped while the store was failing","attempt":"att_%04d"`, i)) {
			t.Fatalf("attempt %d not logged as lost:\n%s", i, out)
		}
	}
	if !strings.Contains(out, `"msg":"sign-in outcome not recorded: the service stopped while the store was failing","attempt":"att_0000"`) {
		t.Fatalf("the outcome not logged as lost:\n%s", out)
	}
}

// refusingOne is the real store, except that it refuses any write holding the attempt poison:
// a record that no retry will ever get in.
type refusingOne struct {
	store.Store
	poison string
}

func (r refusingOne) Record(ctx context.Context, as []store.Attempt, os []store.Outcome) error {
	for _, a := range as {
		if a.ID == r.poison {
			return errors.New("refused")
		}
	}
	return r.Store.Record(ctx, as, os)
}

func TestARecordTheStoreRefusesIsDroppedWithoutHoldingBackTheOthers(t *testing.T) {
	t.Parallel()
	st := sqliteStore(t)
	var logs lockedBuffer
	l := fastLog(refusingOne{st, "att_0001"}, slog.New(slog.NewJSONHandler(&logs, nil)), 1000)
	running(t, l)
	for i := range 3 {
		l.Add(attempt(i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	l.Flush(ctx)
	got := listAll(t, st)
	if len(got) != 2 || got[0].ID != "att_0002" || got[1].ID != "att_0000" {
		t.Fatalf("listed %+v, want the two good attempts", got)
	}
	if n := testutil.ToFloat64(l.dropped); n != 1 || !strings.Contains(logs.String(), `"attempt":"att_0001"`) {
		t.Fatalf("dropped %v, logs:\n%s", n, logs.String())
	}
}
