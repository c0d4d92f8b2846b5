package ephemeral

import (
	"context"
	"sync"
	"time"
)

// Memory is the in-process store of the all-in-one binary: one process, no Redis. Values live in a
// map guarded by a mutex and expire lazily on access and by a periodic sweep.
type Memory struct {
	mu      sync.Mutex
	entries map[string]memEntry
	closed  bool
	now     func() time.Time
	stop    chan struct{}
}

type memEntry struct {
	value   []byte
	count   int64
	expires time.Time
}

// NewMemory returns an empty in-process store; Close stops its sweeper.
func NewMemory() *Memory {
	m := &Memory{entries: map[string]memEntry{}, now: time.Now, stop: make(chan struct{})}
	go m.sweep(time.Minute)
	return m
}

func (m *Memory) sweep(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			m.mu.Lock()
			now := m.now()
			for k, e := range m.entries {
				if !now.Before(e.expires) {
					delete(m.entries, k)
				}
			}
			m.mu.Unlock()
		}
	}
}

// live returns the unexpired entry under key; the caller holds mu.
func (m *Memory) live(key string) (memEntry, bool) {
	e, ok := m.entries[key]
	if ok && !m.now().Before(e.expires) {
		delete(m.entries, key)
		return memEntry{}, false
	}
	return e, ok
}

func (m *Memory) begin(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrUnavailable
	}
	return nil
}

func (m *Memory) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := check(key, ttl); err != nil {
		return err
	}
	if err := m.begin(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	m.entries[key] = memEntry{value: append([]byte(nil), value...), expires: m.now().Add(ttl)}
	return nil
}

func (m *Memory) SetIfAbsent(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	if err := check(key, ttl); err != nil {
		return false, err
	}
	if err := m.begin(ctx); err != nil {
		return false, err
	}
	defer m.mu.Unlock()
	if _, ok := m.live(key); ok {
		return false, nil
	}
	m.entries[key] = memEntry{value: append([]byte(nil), value...), expires: m.now().Add(ttl)}
	return true, nil
}

func (m *Memory) GetDelete(ctx context.Context, key string) ([]byte, error) {
	if key == "" {
		return nil, ErrInvalid
	}
	if err := m.begin(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	e, ok := m.live(key)
	if !ok || e.value == nil {
		return nil, ErrNotFound
	}
	delete(m.entries, key)
	return e.value, nil
}

func (m *Memory) Increment(ctx context.Context, key string, ttl time.Duration) (int64, error) {
	if err := check(key, ttl); err != nil {
		return 0, err
	}
	if err := m.begin(ctx); err != nil {
		return 0, err
	}
	defer m.mu.Unlock()
	e, ok := m.live(key)
	if !ok {
		e = memEntry{expires: m.now().Add(ttl)}
	}
	e.count++
	m.entries[key] = e
	return e.count, nil
}

func (m *Memory) Ping(ctx context.Context) error {
	if err := m.begin(ctx); err != nil {
		return err
	}
	m.mu.Unlock()
	return nil
}

func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.closed {
		m.closed = true
		close(m.stop)
	}
	return nil
}

func (m *Memory) Get(ctx context.Context, key string) ([]byte, error) {
	if key == "" {
		return nil, ErrInvalid
	}
	if err := m.begin(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	e, ok := m.live(key)
	if !ok || e.value == nil {
		return nil, ErrNotFound
	}
	return append([]byte(nil), e.value...), nil
}
