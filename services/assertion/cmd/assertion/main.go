// Command assertion runs the assertion service alone.
package main

import (
	"context"
	"os"

	"golang.org/x/sync/errgroup"

	"github.com/iechor/sso/services/assertion"
	"github.com/iechor/sso/services/platform/config"
	"github.com/iechor/sso/services/platform/logging"
	"github.com/iechor/sso/services/platform/metrics"
	"github.com/iechor/sso/services/platform/process"
)

func main() { process.Main(run) }

func run(ctx context.Context) error {
	cfg, err := assertion.LoadConfig(config.NewReader(nil))
	if err != nil {
		return err
	}
	log := logging.New(os.Stderr, cfg.LogLevel, "assertion")
	reg := metrics.NewRegistry()
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return process.ServeMetrics(ctx, cfg.MetricsAddr, reg.Handler()) })
	g.Go(func() error { return assertion.Run(ctx, cfg, log, reg) })
	return g.Wait()
}
