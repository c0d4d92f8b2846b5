// Command ssod runs the whole iEchor SSO suite in one process, and bootstraps its first company or
// organization.
//
//	ssod                      serve every service and the REST edge
//	ssod bootstrap --company NAME --owner EMAIL [--organization NAME] [--plan business]
package main

import (
	"context"
	"os"

	"github.com/iechor/sso/services/platform/process"
	"github.com/iechor/sso/services/ssod"
)

func main() {
	process.Main(func(ctx context.Context) error {
		return ssod.Command(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)
	})
}
