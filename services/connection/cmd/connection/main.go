// Command connection runs the connection service alone.
package main

import (
	"context"
	"log/slog"

	"github.com/iechor/sso/services/connection"
	"github.com/iechor/sso/services/platform/config"
	"github.com/iechor/sso/services/platform/metrics"
	"github.com/iechor/sso/services/platform/process"
	"github.com/iechor/sso/services/platform/tracing"
)

func main() { process.Main(run) }

func run(ctx context.Context) error {
	cfg, err := connection.LoadConfig(config.NewReader(nil))
	if err != nil {
		return err
	}
	return process.RunService(ctx, "connection", cfg.LogLevel, cfg.MetricsAddr, func(ctx context.Context, log *slog.Logger, reg *metrics.Registry, tr *tracing.Component) error {
		return connection.RunWithOptions(ctx, cfg, log, reg, connection.Options{Tracing: tr})
	})
}
