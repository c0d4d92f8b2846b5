package process_test

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iechor/sso/services/platform/metrics"
	"github.com/iechor/sso/services/platform/process"
	"github.com/iechor/sso/services/platform/tracing"
)

// ended reports whether ctx ends within d.
func ended(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return true
	case <-time.After(d):
		return false
	}
}

func TestDrainedTurnsReadinessAtOnceAndEndsAfterTheDrain(t *testing.T) {
	t.Parallel()
	const drain = 400 * time.Millisecond
	closed := make(chan struct{})
	close(closed)
	for _, tc := range []struct {
		name string
		// ctx makes the context whose end begins the drain, and returns the drain cut to close
		// during the drain (nil: none).
		ctx        func(context.Context) (context.Context, chan struct{})
		drain      time.Duration
		wantDrains bool // the returned context outlives the shutdown by about the drain
	}{
		{"without a cut the server keeps serving for the whole drain",
			func(c context.Context) (context.Context, chan struct{}) { return c, nil }, drain, true},
		{"a cut closed during the drain ends it at once",
			func(c context.Context) (context.Context, chan struct{}) {
				cut := make(chan struct{})
				return process.WithDrainCut(c, cut), cut
			}, time.Hour, false},
		{"a cut closed before the shutdown means no drain at all",
			func(c context.Context) (context.Context, chan struct{}) { return process.WithDrainCut(c, closed), nil }, time.Hour, false},
		{"a drain of zero ends with the shutdown",
			func(c context.Context) (context.Context, chan struct{}) { return c, nil }, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			parent, cancel := context.WithCancel(context.Background())
			defer cancel()
			ctx, cut := tc.ctx(parent)
			var notServing atomic.Int32
			drained, stop := process.Drained(ctx, tc.drain, func() { notServing.Add(1) })
			defer stop()
			if ended(drained, 50*time.Millisecond) || notServing.Load() != 0 {
				t.Fatal("the drain began before the shutdown")
			}
			begun := time.Now()
			cancel()
			deadline := time.Now().Add(time.Second)
			for notServing.Load() == 0 {
				if time.Now().After(deadline) {
					t.Fatal("readiness did not turn when the shutdown began")
				}
				time.Sleep(time.Millisecond)
			}
			if cut != nil {
				close(cut)
			}
			if !tc.wantDrains {
				if !ended(drained, time.Second) {
					t.Fatal("the drain did not end at once")
				}
				return
			}
			if ended(drained, drain/2) {
				t.Fatalf("the server's context ended %v into a %v drain", time.Since(begun), drain)
			}
			if !ended(drained, 2*drain) {
				t.Fatal("the server's context outlived the drain")
			}
			if got := time.Since(begun); got < drain {
				t.Fatalf("the drain lasted %v, want %v", got, drain)
			}
			if notServing.Load() != 1 {
				t.Fatalf("notServing called %d times", notServing.Load())
			}
		})
	}
}

func TestAServerThatStopsOnItsOwnIsNeverToldItIsNotServing(t *testing.T) {
	t.Parallel()
	var notServing atomic.Bool
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	drained, stop := process.Drained(ctx, time.Hour, func() { notServing.Store(true) })
	stop()
	cancel()
	time.Sleep(50 * time.Millisecond)
	if drained.Err() == nil || notServing.Load() {
		t.Fatalf("after stop: context %v, notServing %v", drained.Err(), notServing.Load())
	}
}

func TestTheDrainedContextKeepsTheValuesOfItsParent(t *testing.T) {
	type key struct{}
	ctx := context.WithValue(context.Background(), key{}, "kept")
	drained, stop := process.Drained(ctx, 0, func() {})
	defer stop()
	if drained.Value(key{}) != "kept" {
		t.Fatal("the drained context lost its parent's values")
	}
}

func TestTheMetricsAreServedUntilTheServiceHasStopped(t *testing.T) {
	t.Parallel()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	ctx, cancel := context.WithCancel(context.Background())
	draining := make(chan struct{})
	release := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- process.RunService(ctx, "test", "error", addr, func(ctx context.Context, _ *slog.Logger, _ *metrics.Registry, _ *tracing.Component) error {
			<-ctx.Done()
			close(draining) // the service drains: it still serves, and is still scraped
			<-release
			return nil
		})
	}()
	get := func() (int, error) {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if code, _ := get(); code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("metrics never served")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-draining
	if code, err := get(); code != 200 {
		t.Fatalf("metrics during the drain: %d %v", code, err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := get(); err == nil {
		t.Fatal("metrics still served after the service stopped")
	}
}

func TestTheMetricsAddressAnswersWhetherTheServersOfTheProcessAreReady(t *testing.T) {
	for _, tc := range []struct {
		name   string
		checks []bool
		want   int
	}{
		{"no server has said it is ready", nil, http.StatusServiceUnavailable},
		{"every server is ready", []bool{true, true}, http.StatusOK},
		{"one server is not", []bool{true, false}, http.StatusServiceUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := metrics.NewRegistry()
			for _, ready := range tc.checks {
				reg.AddReadiness(func() bool { return ready })
			}
			rec := httptest.NewRecorder()
			process.MetricsHandler(reg).ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
			if rec.Code != tc.want {
				t.Fatalf("/readyz %d %q, want %d", rec.Code, rec.Body, tc.want)
			}
		})
	}
}
