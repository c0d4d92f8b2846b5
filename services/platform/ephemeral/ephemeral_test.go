package ephemeral_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/iechor/sso/services/platform/config"
	"github.com/iechor/sso/services/platform/ephemeral"
	"github.com/iechor/sso/services/platform/ephemeral/ephemeraltest"
	"github.com/iechor/sso/services/platform/opaque"
	"github.com/iechor/sso/services/platform/testenv"
)

func TestMemoryStoreConformance(t *testing.T) {
	t.Parallel()
	ephemeraltest.Run(t, func(t *testing.T) ephemeral.Store {
		m := ephemeral.NewMemory()
		t.Cleanup(func() { _ = m.Close() })
		return m
	})
}

func openRedis(t *testing.T) ephemeral.Store {
	r, _ := ephemeraltest.Redis(t)
	return r
}

func TestRedisStoreConformance(t *testing.T) {
	t.Parallel()
	openRedis(t) // skip (or fail under CI) once, before the parallel cases
	ephemeraltest.Run(t, func(t *testing.T) ephemeral.Store { return openRedis(t) })
}

func TestRedisUnreachableFailsWithUnavailable(t *testing.T) {
	t.Parallel()
	// Nothing listens on port 1 of loopback: every call must fail fast and say unavailable.
	r := ephemeraltest.DeadRedis(t)
	ctx := context.Background()
	start := time.Now()
	if _, err := r.SetIfAbsent(ctx, "k", []byte("v"), time.Minute); !errors.Is(err, ephemeral.ErrUnavailable) {
		t.Fatalf("SetIfAbsent = %v, want ErrUnavailable", err)
	}
	if _, err := r.GetDelete(ctx, "k"); !errors.Is(err, ephemeral.ErrUnavailable) {
		t.Fatalf("GetDelete = %v, want ErrUnavailable", err)
	}
	if _, err := r.Increment(ctx, "k", time.Minute); !errors.Is(err, ephemeral.ErrUnavailable) {
		t.Fatalf("Increment = %v, want ErrUnavailable", err)
	}
	if err := r.Ping(ctx); !errors.Is(err, ephemeral.ErrUnavailable) {
		t.Fatalf("Ping = %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("failing took %v; an unreachable store must fail fast", d)
	}
}

func TestRedisConfigurationIsValidated(t *testing.T) {
	if _, err := ephemeral.NewRedis(ephemeral.RedisOptions{}); err == nil {
		t.Fatal("no address accepted")
	}
	if _, err := ephemeral.NewRedis(ephemeral.RedisOptions{SentinelAddrs: []string{"127.0.0.1:26379"}}); err == nil {
		t.Fatal("sentinel without a master name accepted")
	}
	if _, err := ephemeral.NewRedis(ephemeral.RedisOptions{URL: "http://x"}); err == nil {
		t.Fatal("a non-redis URL accepted")
	}
}

func TestClosedMemoryStoreIsUnavailable(t *testing.T) {
	m := ephemeral.NewMemory()
	_ = m.Close()
	if _, err := m.SetIfAbsent(context.Background(), "k", []byte("v"), time.Minute); !errors.Is(err, ephemeral.ErrUnavailable) {
		t.Fatalf("SetIfAbsent on a closed store = %v", err)
	}
}

// BenchmarkSetIfAbsent is the replay-cache write every sign-in makes.
func BenchmarkSetIfAbsent(b *testing.B) {
	ctx := context.Background()
	run := func(b *testing.B, s ephemeral.Store) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			if _, err := s.SetIfAbsent(ctx, "bench:"+strconv.Itoa(i), []byte("1"), time.Minute); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("memory", func(b *testing.B) {
		m := ephemeral.NewMemory()
		defer m.Close()
		run(b, m)
	})
	b.Run("redis", func(b *testing.B) {
		r, err := ephemeral.NewRedis(ephemeral.RedisOptions{URL: testenv.RedisURL(), Prefix: "bench:" + opaque.LowerToken(8) + ":"})
		if err != nil {
			b.Fatal(err)
		}
		defer func() { _ = r.DeletePrefix(ctx); _ = r.Close() }()
		if err := r.Ping(ctx); err != nil {
			testenv.Unavailable(b, "redis", err)
		}
		run(b, r)
	})
}

func TestOpenChoosesRedisWhenConfiguredAndRefusesToGuessOtherwise(t *testing.T) {
	lookup := func(m map[string]string) ephemeral.Config {
		return ephemeral.LoadConfig(config.NewReader(config.MapLookup(m)))
	}
	if _, err := ephemeral.Open(lookup(nil), false); !errors.Is(err, ephemeral.ErrNotConfigured) {
		t.Fatalf("a lone service without Redis: %v", err)
	}
	s, err := ephemeral.Open(lookup(nil), true)
	if _, ok := s.(*ephemeral.Memory); err != nil || !ok {
		t.Fatalf("all-in-one without Redis: %T, %v", s, err)
	}
	s, err = ephemeral.Open(lookup(map[string]string{"EPHEMERAL_STORE": "memory"}), false)
	if _, ok := s.(*ephemeral.Memory); err != nil || !ok {
		t.Fatalf("EPHEMERAL_STORE=memory: %T, %v", s, err)
	}
	s, err = ephemeral.Open(lookup(map[string]string{"REDIS_URL": testenv.RedisURL()}), true)
	if _, ok := s.(*ephemeral.Redis); err != nil || !ok {
		t.Fatalf("REDIS_URL set: %T, %v", s, err)
	}
	_ = s.Close()
}
