package relaystate_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/iechor/sso/services/assertion/internal/relaystate"
	"github.com/iechor/sso/services/platform/ephemeral"
	"github.com/iechor/sso/services/platform/ephemeral/ephemeraltest"
	"github.com/iechor/sso/services/platform/testenv"
)

var ctx = context.Background()

func state() relaystate.State {
	return relaystate.State{RequestID: "id-1", Connection: "companies/acme/connections/conn_a",
		BrowserHash: relaystate.HashBinding("cookie-value"), FlowData: []byte{0, 1, 2}, TestMode: true,
		Created: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
}

func stores(t *testing.T) map[string]ephemeral.Store {
	m := ephemeral.NewMemory()
	t.Cleanup(func() { _ = m.Close() })
	r, _ := ephemeraltest.Redis(t)
	return map[string]ephemeral.Store{"memory": m, "redis": r}
}

func TestAStateIsConsumedExactlyOnce(t *testing.T) {
	t.Parallel()
	for name, eph := range stores(t) {
		t.Run(name, func(t *testing.T) {
			s := relaystate.New(eph)
			handle, err := s.Save(ctx, state())
			if err != nil {
				t.Fatal(err)
			}
			if len(handle) > relaystate.MaxHandle || strings.Contains(handle, "conn_a") {
				t.Fatalf("handle %q is not opaque and short", handle)
			}
			got, err := s.Consume(ctx, handle, "cookie-value")
			if err != nil {
				t.Fatal(err)
			}
			want := state()
			if got.RequestID != want.RequestID || got.Connection != want.Connection || !bytes.Equal(got.FlowData, want.FlowData) ||
				!got.TestMode || !got.Created.Equal(want.Created) || !got.FromBrowser("cookie-value") || got.FromBrowser("other") {
				t.Fatalf("consumed %+v", got)
			}
			if _, err := s.Consume(ctx, handle, "cookie-value"); !errors.Is(err, relaystate.ErrUnknown) {
				t.Fatalf("second consume: %v", err)
			}
		})
	}
}

func TestTenConcurrentConsumersHaveOneWinner(t *testing.T) {
	t.Parallel()
	for name, eph := range stores(t) {
		t.Run(name, func(t *testing.T) {
			s := relaystate.New(eph)
			handle, err := s.Save(ctx, state())
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			var mu sync.Mutex
			wins := 0
			for range 10 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := s.Consume(ctx, handle, "cookie-value")
					if err == nil {
						mu.Lock()
						wins++
						mu.Unlock()
					} else if !errors.Is(err, relaystate.ErrUnknown) {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			if wins != 1 {
				t.Fatalf("%d consumers won", wins)
			}
		})
	}
}

func TestAnotherBrowserCannotSpendAState(t *testing.T) {
	t.Parallel()
	for name, eph := range stores(t) {
		t.Run(name, func(t *testing.T) {
			s := relaystate.New(eph)
			handle, err := s.Save(ctx, state())
			if err != nil {
				t.Fatal(err)
			}
			for _, binding := range []string{"another-browser", ""} {
				got, err := s.Consume(ctx, handle, binding)
				if !errors.Is(err, relaystate.ErrBrowserMismatch) {
					t.Fatalf("binding %q: %v, want ErrBrowserMismatch", binding, err)
				}
				if got.Connection != state().Connection || !got.TestMode {
					t.Fatalf("binding %q: the refused state is not named: %+v", binding, got)
				}
			}
			if got, err := s.Consume(ctx, handle, "cookie-value"); err != nil || got.RequestID != "id-1" {
				t.Fatalf("the browser that started could not finish after another browser's posts: %+v, %v", got, err)
			}
			if _, err := s.Consume(ctx, handle, "another-browser"); !errors.Is(err, relaystate.ErrUnknown) {
				t.Fatalf("after the genuine consumption another browser got %v, want ErrUnknown", err)
			}
		})
	}
}

func TestPostsOfAnotherBrowserRacingTheGenuineOnesNeverWin(t *testing.T) {
	t.Parallel()
	for name, eph := range stores(t) {
		t.Run(name, func(t *testing.T) {
			s := relaystate.New(eph)
			handle, err := s.Save(ctx, state())
			if err != nil {
				t.Fatal(err)
			}
			var (
				wg                  sync.WaitGroup
				mu                  sync.Mutex
				genuineWins, stolen int
				gate                = make(chan struct{})
			)
			for i := range 20 {
				binding := "cookie-value"
				if i%2 == 1 {
					binding = "attacker-cookie"
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-gate
					_, err := s.Consume(ctx, handle, binding)
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil && binding == "cookie-value":
						genuineWins++
					case err == nil:
						stolen++
					case !errors.Is(err, relaystate.ErrUnknown) && !errors.Is(err, relaystate.ErrBrowserMismatch):
						t.Error(err)
					}
				}()
			}
			close(gate)
			wg.Wait()
			if genuineWins != 1 || stolen != 0 {
				t.Fatalf("%d genuine wins and %d stolen, want exactly one genuine win", genuineWins, stolen)
			}
		})
	}
}

func TestInRedisAStateLivesTenMinutesAndHoldsNoBrowserValue(t *testing.T) {
	t.Parallel()
	r, prefix := ephemeraltest.Redis(t)
	handle, err := relaystate.New(r).Save(ctx, state())
	if err != nil {
		t.Fatal(err)
	}
	opts, _ := redis.ParseURL(testenv.RedisURL())
	raw := redis.NewClient(opts)
	defer raw.Close()
	ttl, err := raw.PTTL(ctx, prefix+"saml:relay:"+handle).Result()
	if err != nil || ttl <= 9*time.Minute || ttl > 10*time.Minute {
		t.Fatalf("TTL %v, %v; want ten minutes", ttl, err)
	}
	v, _ := raw.Get(ctx, prefix+"saml:relay:"+handle).Bytes()
	if bytes.Contains(v, []byte("cookie-value")) {
		t.Fatal("the browser-binding value itself was stored")
	}
}

// refusing fails every call: a handle refused before any call never reaches it.
type refusing struct{ ephemeral.Store }

func (refusing) Get(context.Context, string) ([]byte, error)       { return nil, errors.New("called") }
func (refusing) GetDelete(context.Context, string) ([]byte, error) { return nil, errors.New("called") }

func TestMalformedHandlesAreRefusedWithoutALookup(t *testing.T) {
	t.Parallel()
	s := relaystate.New(refusing{})
	for _, h := range []string{"", strings.Repeat("a", 81), "has space", "semi;colon", "slash/"} {
		if _, err := s.Consume(ctx, h, "cookie-value"); !errors.Is(err, relaystate.ErrUnknown) {
			t.Fatalf("handle %q: %v", h, err)
		}
	}
}

func TestFlowDataIsBounded(t *testing.T) {
	t.Parallel()
	st := state()
	st.FlowData = make([]byte, relaystate.MaxFlowData+1)
	if _, err := relaystate.New(ephemeral.NewMemory()).Save(ctx, st); !errors.Is(err, relaystate.ErrFlowDataTooLarge) {
		t.Fatalf("error %v", err)
	}
}

func TestAStoppedRedisIsUnavailable(t *testing.T) {
	t.Parallel()
	s := relaystate.New(ephemeraltest.DeadRedis(t))
	if _, err := s.Save(ctx, state()); !errors.Is(err, ephemeral.ErrUnavailable) {
		t.Fatalf("save: %v", err)
	}
	if _, err := s.Consume(ctx, "aGFuZGxl", "cookie-value"); !errors.Is(err, ephemeral.ErrUnavailable) {
		t.Fatalf("consume: %v", err)
	}
}
