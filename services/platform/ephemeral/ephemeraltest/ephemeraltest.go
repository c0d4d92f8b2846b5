// Package ephemeraltest is the conformance suite of ephemeral.Store: every backend runs it, so that
// the in-process store and Redis behave the same way for their callers.
package ephemeraltest

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/iechor/sso/services/platform/ephemeral"
)

// Open returns a new, empty store for one test.
type Open func(t *testing.T) ephemeral.Store

// Run runs every case against stores made by open.
func Run(t *testing.T, open Open) {
	ctx := context.Background()
	cases := []struct {
		name string
		fn   func(t *testing.T, s ephemeral.Store)
	}{
		{"a set value is returned once by get-and-delete", func(t *testing.T, s ephemeral.Store) {
			if err := s.Set(ctx, "k", []byte("v1"), time.Minute); err != nil {
				t.Fatal(err)
			}
			if err := s.Set(ctx, "k", []byte("v2"), time.Minute); err != nil {
				t.Fatal(err)
			}
			got, err := s.GetDelete(ctx, "k")
			if err != nil || string(got) != "v2" {
				t.Fatalf("GetDelete = %q, %v; want the last value set", got, err)
			}
			if _, err := s.GetDelete(ctx, "k"); !errors.Is(err, ephemeral.ErrNotFound) {
				t.Fatalf("second GetDelete: %v, want ErrNotFound", err)
			}
		}},
		{"get-and-delete of a missing key is not found", func(t *testing.T, s ephemeral.Store) {
			if _, err := s.GetDelete(ctx, "never"); !errors.Is(err, ephemeral.ErrNotFound) {
				t.Fatalf("GetDelete = %v, want ErrNotFound", err)
			}
		}},
		{"set-if-absent keeps the first value", func(t *testing.T, s ephemeral.Store) {
			ok, err := s.SetIfAbsent(ctx, "k", []byte("first"), time.Minute)
			if err != nil || !ok {
				t.Fatalf("first SetIfAbsent = %v, %v", ok, err)
			}
			ok, err = s.SetIfAbsent(ctx, "k", []byte("second"), time.Minute)
			if err != nil || ok {
				t.Fatalf("second SetIfAbsent = %v, %v; want false", ok, err)
			}
			got, _ := s.GetDelete(ctx, "k")
			if string(got) != "first" {
				t.Fatalf("value = %q, want first", got)
			}
		}},
		{"binary values round-trip unchanged", func(t *testing.T, s ephemeral.Store) {
			v := []byte{0, 1, 2, 0xff, '\n', 0}
			if err := s.Set(ctx, "bin", v, time.Minute); err != nil {
				t.Fatal(err)
			}
			v[0] = 9 // the store keeps its own copy
			got, err := s.GetDelete(ctx, "bin")
			if err != nil || !bytes.Equal(got, []byte{0, 1, 2, 0xff, '\n', 0}) {
				t.Fatalf("GetDelete = %v, %v", got, err)
			}
		}},
		{"fifty racing set-if-absent calls have exactly one winner", func(t *testing.T, s ephemeral.Store) {
			wins := race(t, 50, func() (bool, error) { return s.SetIfAbsent(ctx, "race", []byte("x"), time.Minute) })
			if wins != 1 {
				t.Fatalf("%d winners, want 1", wins)
			}
		}},
		{"fifty racing get-and-delete calls have exactly one winner", func(t *testing.T, s ephemeral.Store) {
			if err := s.Set(ctx, "once", []byte("code"), time.Minute); err != nil {
				t.Fatal(err)
			}
			wins := race(t, 50, func() (bool, error) {
				v, err := s.GetDelete(ctx, "once")
				if errors.Is(err, ephemeral.ErrNotFound) {
					return false, nil
				}
				if err == nil && string(v) != "code" {
					return false, errors.New("wrong value " + string(v))
				}
				return err == nil, err
			})
			if wins != 1 {
				t.Fatalf("%d winners, want 1", wins)
			}
		}},
		{"fifty racing increments count to fifty with distinct results", func(t *testing.T, s ephemeral.Store) {
			var mu sync.Mutex
			seen := map[int64]bool{}
			race(t, 50, func() (bool, error) {
				n, err := s.Increment(ctx, "counter", time.Minute)
				mu.Lock()
				defer mu.Unlock()
				if seen[n] {
					return false, errors.New("a count was returned twice")
				}
				seen[n] = true
				return true, err
			})
			for i := int64(1); i <= 50; i++ {
				if !seen[i] {
					t.Fatalf("count %d never returned", i)
				}
			}
		}},
		{"values expire after their TTL", func(t *testing.T, s ephemeral.Store) {
			if err := s.Set(ctx, "short", []byte("v"), 150*time.Millisecond); err != nil {
				t.Fatal(err)
			}
			if ok, err := s.SetIfAbsent(ctx, "short-nx", []byte("v"), 150*time.Millisecond); err != nil || !ok {
				t.Fatal(ok, err)
			}
			if _, err := s.Increment(ctx, "short-n", 150*time.Millisecond); err != nil {
				t.Fatal(err)
			}
			if n, _ := s.Increment(ctx, "short-n", time.Hour); n != 2 {
				t.Fatalf("second increment = %d, want 2", n)
			}
			time.Sleep(400 * time.Millisecond)
			if _, err := s.GetDelete(ctx, "short"); !errors.Is(err, ephemeral.ErrNotFound) {
				t.Fatalf("expired value: %v, want ErrNotFound", err)
			}
			if ok, err := s.SetIfAbsent(ctx, "short-nx", []byte("again"), time.Minute); err != nil || !ok {
				t.Fatalf("SetIfAbsent after expiry = %v, %v; want true", ok, err)
			}
			// The counter kept its first TTL: a later increment did not extend it.
			if n, err := s.Increment(ctx, "short-n", time.Minute); err != nil || n != 1 {
				t.Fatalf("increment after expiry = %d, %v; want a new counter at 1", n, err)
			}
		}},
		{"an empty key or a TTL that is not positive is refused", func(t *testing.T, s ephemeral.Store) {
			if err := s.Set(ctx, "", []byte("v"), time.Minute); !errors.Is(err, ephemeral.ErrInvalid) {
				t.Fatalf("empty key: %v", err)
			}
			if err := s.Set(ctx, "k", []byte("v"), 0); !errors.Is(err, ephemeral.ErrInvalid) {
				t.Fatalf("zero TTL: %v", err)
			}
			if _, err := s.SetIfAbsent(ctx, "k", []byte("v"), -time.Second); !errors.Is(err, ephemeral.ErrInvalid) {
				t.Fatalf("negative TTL: %v", err)
			}
			if _, err := s.Increment(ctx, "k", 0); !errors.Is(err, ephemeral.ErrInvalid) {
				t.Fatalf("increment without TTL: %v", err)
			}
		}},
		{"get reads a value and leaves it for get-and-delete", func(t *testing.T, s ephemeral.Store) {
			if _, err := s.Get(ctx, "k"); !errors.Is(err, ephemeral.ErrNotFound) {
				t.Fatalf("Get of a missing key = %v, want ErrNotFound", err)
			}
			if err := s.Set(ctx, "k", []byte("v"), time.Minute); err != nil {
				t.Fatal(err)
			}
			for range 2 {
				if got, err := s.Get(ctx, "k"); err != nil || string(got) != "v" {
					t.Fatalf("Get = %q, %v", got, err)
				}
			}
			if got, err := s.GetDelete(ctx, "k"); err != nil || string(got) != "v" {
				t.Fatalf("GetDelete after Get = %q, %v", got, err)
			}
			if _, err := s.Get(ctx, "k"); !errors.Is(err, ephemeral.ErrNotFound) {
				t.Fatalf("Get after GetDelete = %v, want ErrNotFound", err)
			}
			if _, err := s.Get(ctx, ""); !errors.Is(err, ephemeral.ErrInvalid) {
				t.Fatalf("Get of an empty key = %v, want ErrInvalid", err)
			}
		}},
		{"the store answers a ping", func(t *testing.T, s ephemeral.Store) {
			if err := s.Ping(ctx); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.fn(t, open(t))
		})
	}
}

// race runs fn n times at once, released together, and returns how many returned true.
func race(t *testing.T, n int, fn func() (bool, error)) int {
	t.Helper()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		wins  int
		start = make(chan struct{})
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ok, err := fn()
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		}()
	}
	close(start)
	wg.Wait()
	return wins
}
