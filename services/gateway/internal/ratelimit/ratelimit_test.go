package ratelimit_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/iechor/sso/services/gateway/internal/ratelimit"
	"github.com/iechor/sso/services/platform/ephemeral"
	"github.com/iechor/sso/services/platform/ephemeral/ephemeraltest"
)

func stores(t *testing.T) map[string]ephemeral.Store {
	m := ephemeral.NewMemory()
	t.Cleanup(func() { _ = m.Close() })
	out := map[string]ephemeral.Store{"memory": m}
	r, _ := ephemeraltest.Redis(t)
	out["redis"] = r
	return out
}

func TestTheLimitHoldsUnderConcurrencyAndSaysWhenToRetry(t *testing.T) {
	for name, store := range stores(t) {
		t.Run(name, func(t *testing.T) {
			now := time.Date(2026, 11, 29, 12, 0, 10, 0, time.UTC)
			l := &ratelimit.Limiter{Store: store, Now: func() time.Time { return now }}
			limit := ratelimit.Limit{Requests: 5, Window: time.Minute}
			var wg sync.WaitGroup
			var mu sync.Mutex
			allowed := 0
			for range 20 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					d, err := l.Allow(context.Background(), "ip", "192.0.2.1", limit)
					if err != nil {
						t.Error(err)
					}
					if d.Allowed {
						mu.Lock()
						allowed++
						mu.Unlock()
					} else if d.RetryAfter != 50*time.Second {
						t.Errorf("retry after %v, want the 50s left in the window", d.RetryAfter)
					}
				}()
			}
			wg.Wait()
			if allowed != 5 {
				t.Fatalf("%d of 20 allowed, want 5", allowed)
			}
			// Another key has its own count; the next window starts afresh.
			if d, _ := l.Allow(context.Background(), "ip", "192.0.2.2", limit); !d.Allowed {
				t.Fatal("another key was limited")
			}
			now = now.Add(time.Minute)
			if d, _ := l.Allow(context.Background(), "ip", "192.0.2.1", limit); !d.Allowed {
				t.Fatal("the next window is still limited")
			}
		})
	}
}

func TestAnUnreachableStoreIsAnErrorNotAPass(t *testing.T) {
	l := &ratelimit.Limiter{Store: ephemeraltest.DeadRedis(t)}
	if _, err := l.Allow(context.Background(), "ip", "x", ratelimit.Limit{Requests: 1, Window: time.Minute}); !errors.Is(err, ephemeral.ErrUnavailable) {
		t.Fatalf("Allow = %v, want ErrUnavailable", err)
	}
}
