// Package ssod runs the whole suite in one process: every service on its own loopback port, talking
// to the others over gRPC exactly as separate deployments do, and the REST edge in front. On the
// embedded defaults it needs nothing but a folder for its SQLite files.
package ssod

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"

	"golang.org/x/sync/errgroup"

	"github.com/iechor/sso/services/domain"
	"github.com/iechor/sso/services/gateway"
	"github.com/iechor/sso/services/platform/config"
	"github.com/iechor/sso/services/platform/metrics"
)

// Config is the configuration of every service in the process.
type Config struct {
	// DataDir holds the SQLite files when no DATABASE_URL is set (DATA_DIR).
	DataDir string `json:"data_dir"`
	// LogLevel is debug, info, warn or error (LOG_LEVEL).
	LogLevel string         `json:"log_level"`
	Domain   domain.Config  `json:"domain"`
	Gateway  gateway.Config `json:"gateway"`
}

// LoadConfig reads every service's configuration from one environment. Without DATABASE_URL (or a
// service's own *_DATABASE_URL), each service gets its own SQLite file under DATA_DIR.
func LoadConfig(lookup config.Lookup) (Config, error) {
	base := config.NewReader(lookup)
	dataDir := base.String("DATA_DIR", "./data")
	withDefaults := func(name string) (string, bool) {
		if v, ok := lookup(name); ok && v != "" {
			return v, true
		}
		if name == "DOMAIN_DATABASE_URL" {
			if v, ok := lookup("DATABASE_URL"); ok && v != "" {
				return v, true
			}
			return "sqlite:" + filepath.Join(dataDir, "domain.db"), true
		}
		return "", false
	}
	r := config.NewReader(withDefaults)
	var errs []error
	c := Config{DataDir: dataDir, LogLevel: r.String("LOG_LEVEL", "info")}
	var err error
	if c.Domain, err = domain.LoadConfig(r); err != nil {
		errs = append(errs, err)
	}
	if c.Gateway, err = gateway.LoadConfig(r); err != nil {
		errs = append(errs, err)
	}
	return c, errors.Join(errs...)
}

// Suite is the running process.
type Suite struct {
	// GatewayAddr and DomainAddr are where the edge and the domain service listen.
	GatewayAddr string
	DomainAddr  string

	group *errgroup.Group
}

// Start listens on every configured address (port 0 picks a free one), points the services at each
// other's actual addresses, and serves until ctx ends. Wait returns the first error.
func Start(ctx context.Context, cfg Config, log *slog.Logger, opts gateway.Options) (*Suite, error) {
	reg := metrics.NewRegistry()
	domainLis, err := net.Listen("tcp", cfg.Domain.ListenAddr)
	if err != nil {
		return nil, fmt.Errorf("domain service: %w", err)
	}
	domainSvc, err := domain.New(ctx, cfg.Domain, log.With("component", "domain"), reg)
	if err != nil {
		_ = domainLis.Close()
		return nil, err
	}
	cfg.Gateway.DomainAddr = domainLis.Addr().String()

	gwLis, err := net.Listen("tcp", cfg.Gateway.ListenAddr)
	if err != nil {
		_ = domainLis.Close()
		return nil, fmt.Errorf("gateway: %w", err)
	}
	gw, err := gateway.New(ctx, cfg.Gateway, log.With("component", "gateway"), reg, opts)
	if err != nil {
		_ = domainLis.Close()
		_ = gwLis.Close()
		return nil, err
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return domainSvc.Serve(gctx, domainLis) })
	g.Go(func() error { return gw.Serve(gctx, gwLis) })
	return &Suite{GatewayAddr: gwLis.Addr().String(), DomainAddr: domainLis.Addr().String(), group: g}, nil
}

// Wait blocks until every service has stopped and returns the first error.
func (s *Suite) Wait() error { return s.group.Wait() }
