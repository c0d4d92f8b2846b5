// Command ssod runs the whole iEchor SSO suite in one process, and bootstraps its first company or
// organization.
//
//	ssod                      serve every service and the REST edge
//	ssod bootstrap --company NAME --owner EMAIL [--organization NAME] [--plan business]
package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/iechor/sso/services/gateway"
	"github.com/iechor/sso/services/platform/logging"
	"github.com/iechor/sso/services/platform/process"
	"github.com/iechor/sso/services/ssod"
)

func main() {
	process.Main(func(ctx context.Context) error { return run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr) })
}

func run(ctx context.Context, args []string, lookup func(string) (string, bool), stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "bootstrap":
			return ssod.BootstrapCommand(ctx, args[1:], lookup, stdout)
		case "serve":
			args = args[1:]
		case "-h", "--help", "help":
			fmt.Fprintln(stdout, "usage: ssod [serve] | ssod bootstrap --company NAME --owner EMAIL [--organization NAME] [--plan business]")
			return nil
		default:
			return fmt.Errorf("unknown command %q: want serve or bootstrap", args[0])
		}
	}
	if len(args) > 0 {
		return fmt.Errorf("serve takes no arguments; configure it with environment variables")
	}
	cfg, err := ssod.LoadConfig(lookup)
	if err != nil {
		return err
	}
	log := logging.New(stderr, cfg.LogLevel, "ssod")
	suite, err := ssod.Start(ctx, cfg, log, gateway.Options{})
	if err != nil {
		return err
	}
	log.Info("iEchor SSO is running", "rest", suite.PublicBaseURL, "data_dir", cfg.DataDir)
	return suite.Wait()
}
