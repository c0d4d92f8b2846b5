package provisioning

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"google.golang.org/grpc"

	provisioningv1 "github.com/iechor/sso/gen/iechor/sso/provisioning/v1"
	"github.com/iechor/sso/services/platform/grpcclient"
	"github.com/iechor/sso/services/platform/grpcserver"
	"github.com/iechor/sso/services/platform/metrics"
	"github.com/iechor/sso/services/platform/process"
	"github.com/iechor/sso/services/platform/sqlstore"
	"github.com/iechor/sso/services/platform/tracing"
	"github.com/iechor/sso/services/provisioning/internal/directory"
	"github.com/iechor/sso/services/provisioning/internal/domainlookup"
	"github.com/iechor/sso/services/provisioning/internal/jit"
	"github.com/iechor/sso/services/provisioning/internal/store"
)

// Service is a running provisioning service: its store, its connection to the domain service and
// its gRPC server, which serves DirectoryService and ProvisioningInternalService.
type Service struct {
	log     *slog.Logger
	db      *sqlstore.DB
	domains *grpc.ClientConn
	grpc    *grpcserver.Server
}

// Option changes how New builds the service.
type Option func(*options)

type options struct {
	tracing *tracing.Component
}

// WithTracing traces the service's calls, those it serves and those it makes, with tr.
func WithTracing(tr *tracing.Component) Option { return func(o *options) { o.tracing = tr } }

// New opens the store (applying migrations), dials the domain service (lazily: it may start later)
// and builds the gRPC server. reg may be nil.
func New(ctx context.Context, cfg Config, log *slog.Logger, reg *metrics.Registry, opts ...Option) (*Service, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	db, err := sqlstore.Open(ctx, cfg.DatabaseURL.Reveal(), sqlstore.Options{})
	if err != nil {
		return nil, err
	}
	st, err := store.NewSQL(ctx, db)
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("provisioning store: %w", err)
	}
	serverTLS, err := cfg.TLS.Server()
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	clientTLS, err := cfg.TLS.Client()
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	domains, err := grpcclient.Dial(cfg.DomainAddr, clientTLS, o.tracing.DialOptions()...)
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("dial domain service at %s: %w", cfg.DomainAddr, err)
	}
	gs := grpcserver.New(grpcserver.Options{
		Names: []string{
			provisioningv1.DirectoryService_ServiceDesc.ServiceName,
			provisioningv1.ProvisioningInternalService_ServiceDesc.ServiceName,
		},
		Logger:                   log,
		Metrics:                  reg,
		Ready:                    st.Ping,
		TLS:                      serverTLS,
		TrustDomain:              cfg.TLS.TrustDomain,
		AllowUnidentifiedCallers: cfg.TLS.AllowUnidentifiedCallers,
		ShutdownGrace:            cfg.Shutdown.Grace,
		StatsHandler:             o.tracing.ServerHandler(),
	})
	dir := &directory.Directory{Store: st, Now: time.Now}
	provisioningv1.RegisterDirectoryServiceServer(gs, &directoryServer{dir: dir})
	provisioningv1.RegisterProvisioningInternalServiceServer(gs, &internalServer{dir: dir, jit: &jit.Provisioner{
		Store: st, Domains: domainlookup.New(domains, cfg.DomainTimeout), Now: time.Now,
	}})
	log.Info("provisioning service configured", "config", cfg, "store", db.Dialect)
	return &Service{log: log, db: db, domains: domains, grpc: gs}, nil
}

// Serve serves gRPC on lis until ctx ends, then closes the store and the domain connection.
func (s *Service) Serve(ctx context.Context, lis net.Listener) error {
	defer s.close()
	s.log.Info("provisioning service serving", "addr", lis.Addr().String())
	return s.grpc.Serve(ctx, lis)
}

func (s *Service) close() error { return errors.Join(s.domains.Close(), s.db.Close()) }

// NotServing makes health report NOT_SERVING from now on while the service goes on serving: the
// beginning of a drain.
func (s *Service) NotServing() { s.grpc.NotServing() }

// Run builds the service and serves it on cfg.ListenAddr until ctx ends, then drains: health
// reports NOT_SERVING at once, the service serves on for cfg.Shutdown.Drain, then stops gracefully.
func Run(ctx context.Context, cfg Config, log *slog.Logger, reg *metrics.Registry, opts ...Option) error {
	svc, err := New(ctx, cfg, log, reg, opts...)
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		_ = svc.close()
		return fmt.Errorf("listen %s: %w", cfg.ListenAddr, err)
	}
	serving, stop := process.Drained(ctx, cfg.Shutdown.Drain, svc.NotServing)
	defer stop()
	return svc.Serve(serving, lis)
}
