// Command domain runs the domain verification service alone.
package main

import (
	"context"
	"os"

	"golang.org/x/sync/errgroup"

	"github.com/iechor/sso/services/domain"
	"github.com/iechor/sso/services/platform/config"
	"github.com/iechor/sso/services/platform/logging"
	"github.com/iechor/sso/services/platform/metrics"
	"github.com/iechor/sso/services/platform/process"
)

func main() { process.Main(run) }

func run(ctx context.Context) error {
	cfg, err := domain.LoadConfig(config.NewReader(nil))
	if err != nil {
		return err
	}
	log := logging.New(os.Stderr, cfg.LogLevel, "domain")
	reg := metrics.NewRegistry()
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return process.ServeMetrics(ctx, cfg.MetricsAddr, reg.Handler()) })
	g.Go(func() error { return domain.Run(ctx, cfg, log, reg) })
	return g.Wait()
}
