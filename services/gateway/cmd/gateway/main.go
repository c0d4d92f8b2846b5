// Command gateway runs the REST edge alone, in front of services reached over gRPC.
package main

import (
	"context"
	"log/slog"

	"github.com/iechor/sso/services/gateway"
	"github.com/iechor/sso/services/platform/config"
	"github.com/iechor/sso/services/platform/metrics"
	"github.com/iechor/sso/services/platform/process"
	"github.com/iechor/sso/services/platform/tracing"
)

func main() { process.Main(run) }

func run(ctx context.Context) error {
	cfg, err := gateway.LoadConfig(config.NewReader(nil))
	if err != nil {
		return err
	}
	// The edge serves /metrics itself, next to its API.
	return process.RunService(ctx, "gateway", cfg.LogLevel, "", func(ctx context.Context, log *slog.Logger, reg *metrics.Registry, tr *tracing.Component) error {
		return gateway.Run(ctx, cfg, log, reg, gateway.Options{Tracing: tr})
	})
}
