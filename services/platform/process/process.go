// Package process runs a service binary and holds the shutdown that every binary of the suite
// follows. The first SIGINT or SIGTERM begins it: readiness turns NOT_SERVING at once; the servers
// keep serving for the drain (SHUTDOWN_DRAIN), so that load balancers take the process out while it
// still answers; then they stop taking calls and give the calls in flight their grace
// (SHUTDOWN_GRACE). A second signal ends the drain early; a third ends the process at once.
//
// Nothing here may stop a server before its drain is over, or cut a call in flight before its grace
// has passed, unless an operator sends that third signal.
package process

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/iechor/sso/services/platform/config"
	"github.com/iechor/sso/services/platform/logging"
	"github.com/iechor/sso/services/platform/metrics"
	"github.com/iechor/sso/services/platform/tracing"
)

// Main calls run with a context that ends at the first SIGINT or SIGTERM and carries the drain cut
// (WithDrainCut) that the second closes; a third signal exits at once with status 1. Main exits with
// status 1 when run fails. It is the whole of a service's main function.
func Main(run func(ctx context.Context) error) {
	signals := make(chan os.Signal, 3)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	ctx, stop := context.WithCancel(context.Background())
	cut := make(chan struct{})
	go func() {
		<-signals
		stop()
		<-signals
		close(cut)
		<-signals
		fmt.Fprintln(os.Stderr, "error: a third signal: exiting without waiting for calls in flight")
		os.Exit(1)
	}()
	err := run(WithDrainCut(ctx, cut))
	signal.Stop(signals)
	stop()
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

type drainCutKey struct{}

// WithDrainCut returns a copy of ctx that carries cut: a drain begun by the end of ctx, or of a
// context made from it, ends early once cut is closed. Main closes it at the second signal; a test
// that wants no drain passes a closed one.
//
// The cut travels in the context because it must reach every server of a binary through each
// service's Run without a second argument threaded through all of them, and it belongs to the
// context whose end begins the drain.
func WithDrainCut(ctx context.Context, cut <-chan struct{}) context.Context {
	return context.WithValue(ctx, drainCutKey{}, cut)
}

func drainCut(ctx context.Context) <-chan struct{} {
	cut, _ := ctx.Value(drainCutKey{}).(<-chan struct{})
	return cut // nil, which never fires, when there is none
}

// WaitDrain waits d, or less when the drain cut that ctx carries is closed. The end of ctx itself
// does not shorten the wait: it is what began the drain.
func WaitDrain(ctx context.Context, d time.Duration) { waitDrain(ctx, d, nil) }

func waitDrain(ctx context.Context, d time.Duration, abandon <-chan struct{}) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-drainCut(ctx):
	case <-abandon:
	}
}

// Drained returns a context for a server's Serve that ends when the drain begun by the end of ctx
// is over: as soon as ctx ends, notServing is called, so that readiness turns at once; the returned
// context ends d later, or earlier at the drain cut. It keeps ctx's values. Call stop when the
// server has returned.
func Drained(ctx context.Context, d time.Duration, notServing func()) (drained context.Context, stop context.CancelFunc) {
	drained, stop = context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		select {
		case <-ctx.Done():
		case <-drained.Done():
			return // the server stopped on its own
		}
		if drained.Err() != nil {
			return // both at once: the server had stopped already
		}
		notServing()
		waitDrain(ctx, d, drained.Done())
		stop()
	}()
	return drained, stop
}

// ServeHTTP serves srv on lis until ctx ends, then shuts down, giving requests in flight grace to
// finish.
func ServeHTTP(ctx context.Context, srv *http.Server, lis net.Listener, grace time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// ListenAndServeHTTP listens on addr and serves srv until ctx ends.
func ListenAndServeHTTP(ctx context.Context, srv *http.Server, addr string, grace time.Duration) error {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	return ServeHTTP(ctx, srv, lis, grace)
}

// MetricsHandler serves /metrics, /healthz (the process is up), /readyz (every server of the
// process reports SERVING: 200, else 503) and nothing else; services that run alone expose it on
// their metrics address.
func MetricsHandler(reg *metrics.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", reg.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if !reg.Ready() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready\n"))
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	return mux
}

// ServeMetrics serves MetricsHandler on addr until ctx ends; an empty addr serves nothing.
func ServeMetrics(ctx context.Context, addr string, reg *metrics.Registry) error {
	if addr == "" {
		<-ctx.Done()
		return nil
	}
	srv := &http.Server{Handler: MetricsHandler(reg), ReadHeaderTimeout: 5 * time.Second}
	return ListenAndServeHTTP(ctx, srv, addr, 5*time.Second)
}

// Service is what a standalone service binary runs: its own configuration, the process's logger,
// metrics registry and tracing (nil when OTEL_SDK_DISABLED turns it off).
type Service func(ctx context.Context, log *slog.Logger, reg *metrics.Registry, tr *tracing.Component) error

// tracingStopTimeout bounds the export of the last spans when the process stops.
const tracingStopTimeout = 5 * time.Second

// RunService runs one service as its binary's main does: a JSON logger at logLevel named after the
// service, a metrics registry served on metricsAddr (nothing when empty), tracing as the OTEL_*
// variables say (spans named after the service), and run, until ctx ends or either fails. The
// metrics keep being served until run has returned: a service that drains is still scraped. The
// spans still waiting are exported after that, for tracingStopTimeout at most.
func RunService(ctx context.Context, name, logLevel, metricsAddr string, run Service) error {
	log := logging.New(os.Stderr, logLevel, name)
	tcfg, err := tracing.LoadConfig(config.NewReader(nil))
	if err != nil {
		return err
	}
	tr, err := tracing.New(ctx, tcfg, log)
	if err != nil {
		return err
	}
	log.Info("tracing configured", "tracing", tcfg, "exports", tr.Exports())
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), tracingStopTimeout)
		defer cancel()
		if err := tr.Shutdown(sctx); err != nil {
			log.Warn("tracing: the last spans could not be exported", "err", err)
		}
	}()
	component := tr.Component(tcfg.ServiceNameOr(name))
	reg := metrics.NewRegistry()
	g, gctx := errgroup.WithContext(ctx)
	metricsCtx, stopMetrics := context.WithCancel(context.WithoutCancel(gctx))
	g.Go(func() error { return ServeMetrics(metricsCtx, metricsAddr, reg) })
	g.Go(func() error {
		defer stopMetrics()
		return run(gctx, log, reg, component)
	})
	return g.Wait()
}
