// Package ephemeral is the store of short-lived values: relay states, replay-cache entries, one-time
// login codes, rate-limit counters.
//
// Every value has a TTL, and every operation touches exactly one key, so that a Redis Cluster can
// serve any of them. One-time values are consumed atomically (GetDelete, SetIfAbsent), never by a
// read followed by a delete. When the backing server cannot be reached or does not answer within
// the store's timeout, operations fail with ErrUnavailable, once, without retries: callers that
// protect a security decision (replay checks) must fail closed on it.
package ephemeral

import (
	"context"
	"errors"
	"time"
)

var (
	// ErrNotFound means the key does not exist: never set, expired, or already consumed.
	ErrNotFound = errors.New("ephemeral: key not found")
	// ErrUnavailable means the store could not be reached or did not answer in time.
	ErrUnavailable = errors.New("ephemeral store unavailable")
	// ErrInvalid means a call broke the contract: an empty key or a TTL that is not positive.
	ErrInvalid = errors.New("ephemeral: empty key or non-positive TTL")
)

// Store holds values that expire.
type Store interface {
	// Set stores value under key for ttl, replacing any value there.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// SetIfAbsent stores value under key for ttl only if the key does not exist, and reports whether
	// it did. Of many concurrent callers on one key, exactly one gets true.
	SetIfAbsent(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error)
	// GetDelete returns the value under key and deletes it in one step; ErrNotFound when absent. Of
	// many concurrent callers on one key, exactly one gets the value.
	GetDelete(ctx context.Context, key string) ([]byte, error)
	// Get returns the value under key and leaves it; ErrNotFound when absent. It decides nothing on
	// its own: a one-time value read with Get is still consumed with GetDelete, whose single winner
	// is the one that may act on it.
	Get(ctx context.Context, key string) ([]byte, error)
	// Increment adds one to the counter under key and returns the new count. The first increment
	// creates the counter with ttl; later increments keep that expiry.
	Increment(ctx context.Context, key string, ttl time.Duration) (int64, error)
	// Ping reports whether the store answers.
	Ping(ctx context.Context) error
	// Close releases the store's connections.
	Close() error
}

func check(key string, ttl time.Duration) error {
	if key == "" || ttl <= 0 {
		return ErrInvalid
	}
	return nil
}
