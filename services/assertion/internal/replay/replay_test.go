package replay_test

import (
	"context"
	"errors"
	"github.com/iechor/sso/services/platform/ephemeral/ephemeraltest"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/iechor/sso/services/assertion/internal/replay"
	"github.com/iechor/sso/services/platform/ephemeral"
	"github.com/iechor/sso/services/platform/testenv"
)

var (
	ctx = context.Background()
	now = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
)

func TestTenConcurrentUsesOfOneAssertionHaveOneWinner(t *testing.T) {
	t.Parallel()
	m := ephemeral.NewMemory()
	t.Cleanup(func() { _ = m.Close() })
	r, _ := ephemeraltest.Redis(t)
	for name, eph := range map[string]ephemeral.Store{"memory": m, "redis": r} {
		t.Run(name, func(t *testing.T) {
			c := replay.New(eph)
			var wg sync.WaitGroup
			var mu sync.Mutex
			wins := 0
			for range 10 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					err := c.Remember(ctx, "https://idp", "_a1", now.Add(5*time.Minute), now)
					switch {
					case err == nil:
						mu.Lock()
						wins++
						mu.Unlock()
					case !errors.Is(err, replay.ErrReplayed):
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			if wins != 1 {
				t.Fatalf("%d uses accepted", wins)
			}
			// The same ID from another issuer is another assertion.
			if err := c.Remember(ctx, "https://other-idp", "_a1", now.Add(time.Minute), now); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestAnAssertionIsRememberedUntilItsLastValidity(t *testing.T) {
	t.Parallel()
	r, prefix := ephemeraltest.Redis(t)
	if err := replay.New(r).Remember(ctx, "https://idp", "_a1", now.Add(6*time.Minute+30*time.Second), now); err != nil {
		t.Fatal(err)
	}
	opts, _ := redis.ParseURL(testenv.RedisURL())
	raw := redis.NewClient(opts)
	defer raw.Close()
	ttl, err := raw.PTTL(ctx, prefix+replay.Key("https://idp", "_a1")).Result()
	if err != nil || ttl <= 6*time.Minute || ttl > 6*time.Minute+30*time.Second {
		t.Fatalf("TTL %v, %v", ttl, err)
	}
}

func TestKeysDoNotCollideAcrossTheSeparator(t *testing.T) {
	t.Parallel()
	if replay.Key("a", "bc") == replay.Key("ab", "c") {
		t.Fatal("two pairs share a key")
	}
}

func TestAStoppedRedisFailsClosed(t *testing.T) {
	t.Parallel()
	err := replay.New(ephemeraltest.DeadRedis(t)).Remember(ctx, "https://idp", "_a1", now.Add(time.Minute), now)
	if !errors.Is(err, ephemeral.ErrUnavailable) {
		t.Fatalf("error %v, want unavailable", err)
	}
}
