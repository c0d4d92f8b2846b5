package assertion

import (
	"context"
	"log/slog"
	"time"

	"github.com/iechor/sso/services/assertion/store"
)

// attemptLog writes the sign-in attempts of the admin's log in the background, in batches, so that a
// sign-in does not wait for its record and the store takes one statement for many sign-ins. A
// record was never a condition of the sign-in (a store failure is logged, not refused); here it
// follows within a few milliseconds. When the queue is full, Add writes itself rather than drop.
type attemptLog struct {
	store  store.Store
	log    *slog.Logger
	queue  chan store.Attempt
	flushc chan chan struct{}
	done   chan struct{}
}

const (
	attemptQueue = 4096
	attemptBatch = 100
	// attemptLinger is how long the writer waits for more attempts before writing a batch.
	attemptLinger = 5 * time.Millisecond
)

func newAttemptLog(st store.Store, log *slog.Logger) *attemptLog {
	return &attemptLog{store: st, log: log, queue: make(chan store.Attempt, attemptQueue),
		flushc: make(chan chan struct{}), done: make(chan struct{})}
}

// Add queues an attempt.
func (l *attemptLog) Add(a store.Attempt) {
	select {
	case l.queue <- a:
	default:
		l.write([]store.Attempt{a})
	}
}

// Flush returns once every attempt queued before it is written: a replica lists its own attempts
// as soon as it has made them.
func (l *attemptLog) Flush(ctx context.Context) {
	ack := make(chan struct{})
	select {
	case l.flushc <- ack:
	case <-l.done:
		return
	case <-ctx.Done():
		return
	}
	select {
	case <-ack:
	case <-ctx.Done():
	}
}

// run writes batches until ctx ends, then writes what is left and closes done.
func (l *attemptLog) run(ctx context.Context) {
	defer close(l.done)
	batch := make([]store.Attempt, 0, attemptBatch)
	for {
		select {
		case a := <-l.queue:
			batch = append(batch, a)
			// Gather what arrives within the linger, up to a batch.
			timer := time.NewTimer(attemptLinger)
		gather:
			for len(batch) < attemptBatch {
				select {
				case a := <-l.queue:
					batch = append(batch, a)
				case <-timer.C:
					break gather
				}
			}
			timer.Stop()
			l.write(batch)
			batch = batch[:0]
		case ack := <-l.flushc:
			batch = l.drain(batch)
			l.write(batch)
			batch = batch[:0]
			close(ack)
		case <-ctx.Done():
			l.write(l.drain(batch))
			return
		}
	}
}

// drain adds everything queued now to batch.
func (l *attemptLog) drain(batch []store.Attempt) []store.Attempt {
	for {
		select {
		case a := <-l.queue:
			batch = append(batch, a)
		default:
			return batch
		}
	}
}

func (l *attemptLog) write(batch []store.Attempt) {
	for len(batch) > 0 {
		n := min(len(batch), attemptBatch)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := l.store.RecordAttempts(ctx, batch[:n]); err != nil {
			l.log.Error("recording sign-in attempts", "count", n, "err", err)
		}
		cancel()
		batch = batch[n:]
	}
}
