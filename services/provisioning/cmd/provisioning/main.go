// Command provisioning runs the provisioning service alone.
package main

import (
	"context"
	"log/slog"

	"github.com/iechor/sso/services/platform/config"
	"github.com/iechor/sso/services/platform/metrics"
	"github.com/iechor/sso/services/platform/process"
	"github.com/iechor/sso/services/platform/tracing"
	"github.com/iechor/sso/services/provisioning"
)

func main() { process.Main(run) }

func run(ctx context.Context) error {
	cfg, err := provisioning.LoadConfig(config.NewReader(nil))
	if err != nil {
		return err
	}
	return process.RunService(ctx, "provisioning", cfg.LogLevel, cfg.MetricsAddr, func(ctx context.Context, log *slog.Logger, reg *metrics.Registry, tr *tracing.Component) error {
		return provisioning.Run(ctx, cfg, log, reg, provisioning.WithTracing(tr))
	})
}
