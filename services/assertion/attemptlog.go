package assertion

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/iechor/sso/services/assertion/internal/store"
	"github.com/iechor/sso/services/platform/metrics"
)

// attemptLog writes the admin's sign-in log in the background, in batches, so that a sign-in does
// not wait for its record and the store takes one statement for many sign-ins. A record is never a
// condition of a sign-in, but it must not be lost either: while the store fails, the writer keeps
// the batch it holds and tries again with capped exponential backoff, and what arrives meanwhile
// waits in a bounded queue. Past the bound a record is dropped, counted and logged — never silently,
// and never by making sign-ins wait on a store that is down.
//
// Records are written in the order they were added (one writer, one queue, each batch in one
// transaction, attempts before outcomes), so an outcome is never written before its attempt here;
// from another replica it may be, which the store allows (see store.Store).
type attemptLog struct {
	store store.Store
	log   *slog.Logger
	queue chan logEntry
	done  chan struct{}

	// retryMin is the first wait after a failed write; each next wait doubles, up to retryMax.
	retryMin, retryMax time.Duration
	// stopTimeout bounds how long a stopping writer keeps trying to write what it holds.
	stopTimeout time.Duration

	dropped  prometheus.Counter
	failures prometheus.Counter
}

// logEntry is one record of the log, or (flushed set) a marker closed once everything queued
// before it is written.
type logEntry struct {
	attempt *store.Attempt
	outcome *store.Outcome
	flushed chan struct{}
}

const (
	attemptBatch = 100
	// attemptLinger is how long the writer waits for more records before writing a batch.
	attemptLinger = 5 * time.Millisecond
	// attemptWriteTimeout bounds one write of a batch.
	attemptWriteTimeout = 5 * time.Second
)

func newAttemptLog(st store.Store, log *slog.Logger, queue int, stopTimeout time.Duration, reg *metrics.Registry) *attemptLog {
	l := &attemptLog{
		store: st, log: log, queue: make(chan logEntry, queue), done: make(chan struct{}),
		retryMin: 100 * time.Millisecond, retryMax: 5 * time.Second, stopTimeout: stopTimeout,
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sso_assertion_attempt_records_dropped_total",
			Help: "Sign-in log records (attempts and outcomes) dropped because the writer's queue was full.",
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sso_assertion_attempt_write_failures_total",
			Help: "Failed writes of a batch of sign-in log records; the batch is retried.",
		}),
	}
	if reg != nil {
		reg.MustRegister(l.dropped, l.failures, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sso_assertion_attempt_queue_length",
			Help: "Sign-in log records waiting to be written.",
		}, func() float64 { return float64(len(l.queue)) }))
	}
	return l
}

// Add queues an attempt.
func (l *attemptLog) Add(a store.Attempt) { l.add(logEntry{attempt: &a}) }

// AddOutcome queues how a validated attempt ended.
func (l *attemptLog) AddOutcome(o store.Outcome) { l.add(logEntry{outcome: &o}) }

func (l *attemptLog) add(e logEntry) {
	select {
	case <-l.done:
		l.lost(e, "the writer has stopped")
		return
	default:
	}
	select {
	case l.queue <- e:
	default:
		l.dropped.Inc()
		l.lost(e, "the queue is full")
	}
}

// lost logs a record that will not be written, with what the admin's log would have said.
func (l *attemptLog) lost(e logEntry, why string) {
	switch {
	case e.attempt != nil:
		a := e.attempt
		l.log.Error("sign-in attempt not recorded: "+why, "attempt", a.ID, "connection", a.Connection,
			"time", a.Time, "result", a.Result, "reason", a.Reason, "check", a.Check, "email", a.Email)
	case e.outcome != nil:
		o := e.outcome
		l.log.Error("sign-in outcome not recorded: "+why, "attempt", o.AttemptID, "connection", o.Connection,
			"time", o.Time, "result", o.Result, "reason", o.Reason, "check", o.Check)
	}
}

// Flush returns once every record queued before it is written, or when ctx ends: a replica lists
// its own attempts as soon as it has made them.
func (l *attemptLog) Flush(ctx context.Context) {
	marker := logEntry{flushed: make(chan struct{})}
	select {
	case l.queue <- marker:
	case <-l.done:
		return
	case <-ctx.Done():
		return
	}
	select {
	case <-marker.flushed:
	case <-l.done:
	case <-ctx.Done():
	}
}

// run writes batches until ctx ends, then keeps trying to write what is left for stopTimeout, logs
// what it could not write, and closes done.
func (l *attemptLog) run(ctx context.Context) {
	defer close(l.done)
	batch := make([]logEntry, 0, attemptBatch)
	for {
		select {
		case e := <-l.queue:
			batch = l.gather(append(batch[:0], e))
		case <-ctx.Done():
			l.stop(nil)
			return
		}
		if left := l.write(ctx, batch); left != nil {
			l.stop(left)
			return
		}
	}
}

// gather adds what arrives within the linger to batch, up to a full batch.
func (l *attemptLog) gather(batch []logEntry) []logEntry {
	timer := time.NewTimer(attemptLinger)
	defer timer.Stop()
	for len(batch) < attemptBatch {
		select {
		case e := <-l.queue:
			batch = append(batch, e)
		case <-timer.C:
			return batch
		}
	}
	return batch
}

// stop writes held and everything queued, trying for stopTimeout at most, and logs what is left.
func (l *attemptLog) stop(held []logEntry) {
	ctx, cancel := context.WithTimeout(context.Background(), l.stopTimeout)
	defer cancel()
	rest := append(held, l.drain()...)
	for len(rest) > 0 {
		n := min(len(rest), attemptBatch)
		if left := l.write(ctx, rest[:n]); left != nil {
			for _, e := range append(left, rest[n:]...) {
				l.lost(e, "the service stopped while the store was failing")
			}
			return
		}
		rest = rest[n:]
	}
}

// drain returns everything queued now.
func (l *attemptLog) drain() []logEntry {
	var out []logEntry
	for {
		select {
		case e := <-l.queue:
			out = append(out, e)
		default:
			return out
		}
	}
}

// write writes batch, retrying with backoff while the store fails, and returns what it had not
// written when ctx ended (nil once everything is written). A failure while the store answers pings is the batch's own (a record
// the store refuses): then each record is written alone, and one that still fails while the store
// answers is dropped and logged, so that one bad record cannot hold back every record after it.
func (l *attemptLog) write(ctx context.Context, batch []logEntry) []logEntry {
	var markers []chan struct{}
	for _, e := range batch {
		if e.flushed != nil {
			markers = append(markers, e.flushed)
		}
	}
	wait := l.retryMin
	for len(batch) > 0 {
		err := l.writeOnce(batch)
		if err == nil {
			break
		}
		l.failures.Inc()
		if l.storeAnswers() {
			if batch = l.writeEachAlone(batch); len(batch) == 0 {
				break
			}
		}
		l.log.Warn("writing the sign-in log failed; retrying", "records", len(batch), "retry_in", wait, "err", err)
		select {
		case <-ctx.Done():
			return batch
		case <-time.After(wait):
		}
		wait = min(2*wait, l.retryMax)
	}
	for _, m := range markers {
		close(m)
	}
	return nil
}

func (l *attemptLog) writeOnce(batch []logEntry) error {
	var attempts []store.Attempt
	var outcomes []store.Outcome
	for _, e := range batch {
		switch {
		case e.attempt != nil:
			attempts = append(attempts, *e.attempt)
		case e.outcome != nil:
			outcomes = append(outcomes, *e.outcome)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), attemptWriteTimeout)
	defer cancel()
	return l.store.Record(ctx, attempts, outcomes)
}

func (l *attemptLog) storeAnswers() bool {
	ctx, cancel := context.WithTimeout(context.Background(), attemptWriteTimeout)
	defer cancel()
	return l.store.Ping(ctx) == nil
}

// writeEachAlone writes the records of batch one by one, drops those the store refuses while it
// answers, and returns the rest when it stops answering (nil when none is left).
func (l *attemptLog) writeEachAlone(batch []logEntry) []logEntry {
	for i, e := range batch {
		if e.flushed != nil {
			continue
		}
		err := l.writeOnce([]logEntry{e})
		switch {
		case err == nil:
		case !l.storeAnswers():
			return batch[i:]
		default:
			l.dropped.Inc()
			l.log.Error("the store refused a sign-in log record", "err", err)
			l.lost(e, "the store refused it")
		}
	}
	return nil
}
