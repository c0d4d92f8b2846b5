// Command connection runs the connection registry alone.
package main

import (
	"context"
	"os"

	"golang.org/x/sync/errgroup"

	"github.com/iechor/sso/services/connection"
	"github.com/iechor/sso/services/platform/config"
	"github.com/iechor/sso/services/platform/logging"
	"github.com/iechor/sso/services/platform/metrics"
	"github.com/iechor/sso/services/platform/process"
)

func main() { process.Main(run) }

func run(ctx context.Context) error {
	cfg, err := connection.LoadConfig(config.NewReader(nil))
	if err != nil {
		return err
	}
	log := logging.New(os.Stderr, cfg.LogLevel, "connection")
	reg := metrics.NewRegistry()
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return process.ServeMetrics(ctx, cfg.MetricsAddr, reg.Handler()) })
	g.Go(func() error { return connection.Run(ctx, cfg, log, reg) })
	return g.Wait()
}
