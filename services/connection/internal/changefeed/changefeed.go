// Package changefeed follows the store's change sequence on every replica: it polls for changes
// after the last one it saw, tells the in-process caches to drop what they hold, and hands the
// changed connections to WatchConnections subscribers.
//
// Because the sequence lives in the shared store and numbers are handed out in commit order, a change
// made through any replica reaches every replica within one poll interval. The feed never blocks on a
// slow subscriber: a subscriber's pending changes accumulate until it takes them.
package changefeed

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/iechor/sso/services/connection/internal/store"
)

// Source is the part of the store the feed reads.
type Source interface {
	LastChange(ctx context.Context) (int64, error)
	ChangesSince(ctx context.Context, seq int64, limit int) ([]store.Change, error)
	PruneChanges(ctx context.Context, before time.Time) error
}

// batch bounds one read; a longer backlog is read in several.
const batch = 500

// Retention is how long change records are kept; a replica that was down longer starts from the
// newest anyway.
const Retention = 24 * time.Hour

const pruneEvery = 10 * time.Minute

// Feed polls the change sequence.
type Feed struct {
	src      Source
	interval time.Duration
	log      *slog.Logger
	// OnPoll runs after every successful poll, with whether anything changed since the last one.
	onPoll func(changed bool)

	wake chan struct{}

	mu        sync.Mutex
	seq       int64
	started   bool
	subs      map[*Subscription]struct{}
	lastPrune time.Time
}

// New returns a feed that polls src every interval and calls onPoll (may be nil) after each poll.
func New(src Source, interval time.Duration, log *slog.Logger, onPoll func(changed bool)) *Feed {
	if onPoll == nil {
		onPoll = func(bool) {}
	}
	return &Feed{src: src, interval: interval, log: log, onPoll: onPoll, wake: make(chan struct{}, 1), subs: map[*Subscription]struct{}{}}
}

// Run polls until ctx ends.
func (f *Feed) Run(ctx context.Context) {
	t := time.NewTicker(f.interval)
	defer t.Stop()
	failing := false
	for {
		err := f.Poll(ctx)
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			f.log.Warn("reading the change sequence failed; caches are bypassed until it works again", "err", err)
			failing = true
		case err == nil && failing:
			f.log.Info("reading the change sequence works again")
			failing = false
		}
		select {
		case <-ctx.Done():
			f.closeAll()
			return
		case <-t.C:
		case <-f.wake:
		}
	}
}

// Poke makes Run poll now rather than at the next tick, after a change made by this replica.
func (f *Feed) Poke() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// Poll reads the changes after the last one seen and delivers them. The first poll only learns
// where the sequence stands: call it before serving, so that subscribers miss nothing.
func (f *Feed) Poll(ctx context.Context) error {
	f.mu.Lock()
	started, seq := f.started, f.seq
	f.mu.Unlock()
	if !started {
		last, err := f.src.LastChange(ctx)
		if err != nil {
			return err
		}
		f.mu.Lock()
		f.seq, f.started = last, true
		f.mu.Unlock()
		// Whatever a cache held before the feed started is of unknown age.
		f.onPoll(true)
		return nil
	}
	changed := false
	for {
		changes, err := f.src.ChangesSince(ctx, seq, batch)
		if err != nil {
			return err
		}
		if len(changes) == 0 {
			break
		}
		changed = true
		seq = changes[len(changes)-1].Seq
		f.mu.Lock()
		f.seq = seq
		for s := range f.subs {
			s.add(changes)
		}
		f.mu.Unlock()
		if len(changes) < batch {
			break
		}
	}
	f.onPoll(changed)
	f.prune(ctx)
	return nil
}

func (f *Feed) prune(ctx context.Context) {
	f.mu.Lock()
	due := time.Since(f.lastPrune) > pruneEvery
	if due {
		f.lastPrune = time.Now()
	}
	f.mu.Unlock()
	if due {
		if err := f.src.PruneChanges(ctx, time.Now().Add(-Retention)); err != nil && ctx.Err() == nil {
			f.log.Warn("pruning the change sequence failed", "err", err)
		}
	}
}

// Subscription receives the connections that change after it was made.
type Subscription struct {
	feed   *Feed
	notify chan struct{}
	done   chan struct{}

	mu      sync.Mutex
	pending []store.Change
	index   map[string]int
	closed  bool
}

// Subscribe returns a subscription; Close it when done.
func (f *Feed) Subscribe() *Subscription {
	s := &Subscription{feed: f, notify: make(chan struct{}, 1), done: make(chan struct{}), index: map[string]int{}}
	f.mu.Lock()
	f.subs[s] = struct{}{}
	f.mu.Unlock()
	return s
}

// add merges changes into the pending ones, one entry per connection, so that a subscriber that
// reads slowly holds at most one entry per connection however many changes it misses.
func (s *Subscription) add(changes []store.Change) {
	s.mu.Lock()
	for _, c := range changes {
		if i, ok := s.index[c.ConnectionID]; ok {
			s.pending[i] = c
			continue
		}
		s.index[c.ConnectionID] = len(s.pending)
		s.pending = append(s.pending, c)
	}
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// Ready is signalled when changes are pending.
func (s *Subscription) Ready() <-chan struct{} { return s.notify }

// Done is closed when the feed stops.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Take returns the pending changes, one per connection (the latest), in the order they first changed.
func (s *Subscription) Take() []store.Change {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.pending
	s.pending, s.index = nil, map[string]int{}
	return out
}

// Close ends the subscription.
func (s *Subscription) Close() {
	s.feed.mu.Lock()
	delete(s.feed.subs, s)
	s.feed.mu.Unlock()
	s.markDone()
}

func (s *Subscription) markDone() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.done)
	}
}

func (f *Feed) closeAll() {
	f.mu.Lock()
	subs := make([]*Subscription, 0, len(f.subs))
	for s := range f.subs {
		subs = append(subs, s)
	}
	f.subs = map[*Subscription]struct{}{}
	f.mu.Unlock()
	for _, s := range subs {
		s.markDone()
	}
}
