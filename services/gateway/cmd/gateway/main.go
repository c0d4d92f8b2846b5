// Command gateway runs the REST edge alone, in front of services reached over gRPC.
package main

import (
	"context"
	"os"

	"github.com/iechor/sso/services/gateway"
	"github.com/iechor/sso/services/platform/config"
	"github.com/iechor/sso/services/platform/logging"
	"github.com/iechor/sso/services/platform/metrics"
	"github.com/iechor/sso/services/platform/process"
)

func main() { process.Main(run) }

func run(ctx context.Context) error {
	cfg, err := gateway.LoadConfig(config.NewReader(nil))
	if err != nil {
		return err
	}
	log := logging.New(os.Stderr, cfg.LogLevel, "gateway")
	return gateway.Run(ctx, cfg, log, metrics.NewRegistry(), gateway.Options{})
}
