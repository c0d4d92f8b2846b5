// Command ssod runs the whole iEchor SSO suite in one process.
package main

import (
	"context"
	"os"

	"github.com/iechor/sso/services/gateway"
	"github.com/iechor/sso/services/platform/logging"
	"github.com/iechor/sso/services/platform/process"
	"github.com/iechor/sso/services/ssod"
)

func main() { process.Main(run) }

func run(ctx context.Context) error {
	cfg, err := ssod.LoadConfig(os.LookupEnv)
	if err != nil {
		return err
	}
	log := logging.New(os.Stderr, cfg.LogLevel, "ssod")
	suite, err := ssod.Start(ctx, cfg, log, gateway.Options{})
	if err != nil {
		return err
	}
	log.Info("iEchor SSO is running", "rest", "http://"+suite.GatewayAddr, "domain_grpc", suite.DomainAddr)
	return suite.Wait()
}
