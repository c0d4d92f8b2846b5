// Package process runs a service binary: a context that ends on SIGINT or SIGTERM, an exit code, and
// HTTP servers that stop gracefully.
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

	"github.com/iechor/sso/services/platform/logging"
	"github.com/iechor/sso/services/platform/metrics"
)

// Main calls run with a context that ends on SIGINT or SIGTERM and exits with status 1 when run
// fails. It is the whole of a service's main function.
func Main(run func(ctx context.Context) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx)
	stop()
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
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

// MetricsHandler serves /metrics, /healthz and nothing else; services that run alone expose it on
// their metrics address.
func MetricsHandler(metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	return mux
}

// ServeMetrics serves MetricsHandler on addr until ctx ends; an empty addr serves nothing.
func ServeMetrics(ctx context.Context, addr string, metrics http.Handler) error {
	if addr == "" {
		<-ctx.Done()
		return nil
	}
	srv := &http.Server{Handler: MetricsHandler(metrics), ReadHeaderTimeout: 5 * time.Second}
	return ListenAndServeHTTP(ctx, srv, addr, 5*time.Second)
}

// Service is what a standalone service binary runs: its own configuration, the process's logger
// and metrics registry.
type Service func(ctx context.Context, log *slog.Logger, reg *metrics.Registry) error

// RunService runs one service as its binary's main does: a JSON logger at logLevel named after the
// service, a metrics registry served on metricsAddr (nothing when empty), and run, until ctx ends or
// either fails.
func RunService(ctx context.Context, name, logLevel, metricsAddr string, run Service) error {
	log := logging.New(os.Stderr, logLevel, name)
	reg := metrics.NewRegistry()
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return ServeMetrics(ctx, metricsAddr, reg.Handler()) })
	g.Go(func() error { return run(ctx, log, reg) })
	return g.Wait()
}
