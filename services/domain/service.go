package domain

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	domainv1 "github.com/iechor/sso/gen/iechor/sso/domain/v1"
	"github.com/iechor/sso/services/domain/internal/dns"
	"github.com/iechor/sso/services/domain/internal/store"
	"github.com/iechor/sso/services/domain/internal/verification"
	"github.com/iechor/sso/services/platform/grpcserver"
	"github.com/iechor/sso/services/platform/metrics"
	"github.com/iechor/sso/services/platform/process"
	"github.com/iechor/sso/services/platform/sqlstore"
	"github.com/iechor/sso/services/platform/tracing"
)

// Service is a running domain service: its store, its verifier and its gRPC server.
type Service struct {
	cfg      Config
	log      *slog.Logger
	db       *sqlstore.DB
	verifier *verification.Verifier
	grpc     *grpcserver.Server
}

// Option changes how New builds the service.
type Option func(*options)

type options struct {
	tracing *tracing.Component
}

// WithTracing traces the service's calls with tr.
func WithTracing(tr *tracing.Component) Option { return func(o *options) { o.tracing = tr } }

// New opens the store (applying migrations) and builds the gRPC server. reg may be nil.
func New(ctx context.Context, cfg Config, log *slog.Logger, reg *metrics.Registry, opts ...Option) (*Service, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	db, err := sqlstore.Open(ctx, cfg.DatabaseURL.Reveal(), sqlstore.Options{})
	if err != nil {
		return nil, err
	}
	st, err := store.NewSQL(ctx, db)
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("domain store: %w", err)
	}
	resolver, err := dns.New(cfg.DNSResolvers, cfg.DNSTimeout)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	tlsConfig, err := cfg.TLS.Server()
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	v := &verification.Verifier{Store: st, DNS: resolver, Log: log}
	gs := grpcserver.New(grpcserver.Options{
		Names:                    []string{domainv1.DomainService_ServiceDesc.ServiceName, domainv1.DomainInternalService_ServiceDesc.ServiceName},
		Logger:                   log,
		Metrics:                  reg,
		Ready:                    st.Ping,
		TLS:                      tlsConfig,
		TrustDomain:              cfg.TLS.TrustDomain,
		AllowUnidentifiedCallers: cfg.TLS.AllowUnidentifiedCallers,
		ShutdownGrace:            cfg.Shutdown.Grace,
		StatsHandler:             o.tracing.ServerHandler(),
	})
	domainv1.RegisterDomainServiceServer(gs, &server{store: st, verifier: v, now: time.Now, checkWindow: cfg.CheckWindow})
	domainv1.RegisterDomainInternalServiceServer(gs, &internalServer{store: st})
	log.Info("domain service configured", "config", cfg, "dns_resolvers", resolver.Servers(), "store", db.Dialect)
	return &Service{cfg: cfg, log: log, db: db, verifier: v, grpc: gs}, nil
}

// Serve serves gRPC on lis and runs the background checks until ctx ends; once the server has
// stopped, it stops the checks and then closes the store.
func (s *Service) Serve(ctx context.Context, lis net.Listener) error {
	defer s.db.Close()
	// The checks outlive ctx: they stop after the server, and the store closes after them.
	checks, stop := context.WithCancel(context.WithoutCancel(ctx))
	checked := make(chan struct{})
	go func() {
		defer close(checked)
		s.verifier.RunRechecks(checks, s.cfg.RecheckInterval)
	}()
	s.log.Info("domain service serving", "addr", lis.Addr().String())
	err := s.grpc.Serve(ctx, lis)
	stop()
	<-checked
	return err
}

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
		_ = svc.db.Close()
		return fmt.Errorf("listen %s: %w", cfg.ListenAddr, err)
	}
	serving, stop := process.Drained(ctx, cfg.Shutdown.Drain, svc.NotServing)
	defer stop()
	return svc.Serve(serving, lis)
}

func parseID(s string) (int64, error) { return strconv.ParseInt(s, 10, 64) }
func formatID(id int64) string        { return strconv.FormatInt(id, 10) }
