package assertion

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	assertionv1 "github.com/iechor/sso/gen/iechor/sso/assertion/v1"
	connectionv1 "github.com/iechor/sso/gen/iechor/sso/connection/v1"
	"github.com/iechor/sso/services/assertion/internal/connections"
	"github.com/iechor/sso/services/assertion/internal/relaystate"
	"github.com/iechor/sso/services/assertion/internal/replay"
	"github.com/iechor/sso/services/assertion/internal/saml"
	"github.com/iechor/sso/services/assertion/internal/store"
	"github.com/iechor/sso/services/platform/ephemeral"
	"github.com/iechor/sso/services/platform/grpcclient"
	"github.com/iechor/sso/services/platform/grpcserver"
	"github.com/iechor/sso/services/platform/metrics"
	"github.com/iechor/sso/services/platform/process"
	"github.com/iechor/sso/services/platform/sqlstore"
	"github.com/iechor/sso/services/platform/tracing"
)

// Service is a running assertion service: its stores, its client of the connection service and its
// gRPC server.
type Service struct {
	cfg      Config
	log      *slog.Logger
	db       *sqlstore.DB
	store    store.Store
	eph      ephemeral.Store
	ownsEph  bool
	connConn *grpc.ClientConn
	conns    *connections.Cache
	now      func() time.Time
	grpc     *grpcserver.Server
	attempts *attemptLog
}

// Option changes how New builds the service.
type Option func(*options)

type options struct {
	allowInProcess bool
	eph            ephemeral.Store
	now            func() time.Time
	tracing        *tracing.Component
}

// AllowInProcessStore lets the service keep relay states and the replay cache in process when no
// Redis is configured: right for the all-in-one binary, a single process. A service that runs alone
// refuses to start without Redis unless EPHEMERAL_STORE=memory.
func AllowInProcessStore() Option { return func(o *options) { o.allowInProcess = true } }

// WithEphemeralStore uses s for relay states and the replay cache instead of the configured store;
// the caller keeps ownership of s.
func WithEphemeralStore(s ephemeral.Store) Option { return func(o *options) { o.eph = s } }

// WithClock replaces the wall clock, for tests that validate fixtures issued at a fixed time.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithTracing traces the service's calls, those it serves and those it makes, with tr.
func WithTracing(tr *tracing.Component) Option { return func(o *options) { o.tracing = tr } }

// New opens the stores (applying migrations), dials the connection service and builds the gRPC
// server. reg may be nil.
func New(ctx context.Context, cfg Config, log *slog.Logger, reg *metrics.Registry, opts ...Option) (svc *Service, err error) {
	o := options{now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	s := &Service{cfg: cfg, log: log, now: o.now}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	if s.db, err = sqlstore.Open(ctx, cfg.DatabaseURL.Reveal(), sqlstore.Options{}); err != nil {
		return nil, err
	}
	if s.store, err = store.NewSQL(ctx, s.db); err != nil {
		return nil, fmt.Errorf("assertion store: %w", err)
	}
	s.eph = o.eph
	if s.eph == nil {
		if s.eph, err = ephemeral.Open(cfg.Ephemeral, o.allowInProcess); err != nil {
			return nil, err
		}
		s.ownsEph = true
	}
	serverTLS, err := cfg.TLS.Server()
	if err != nil {
		return nil, err
	}
	clientTLS, err := cfg.TLS.Client()
	if err != nil {
		return nil, err
	}
	if s.connConn, err = grpcclient.Dial(cfg.ConnectionAddr, clientTLS, o.tracing.DialOptions()...); err != nil {
		return nil, fmt.Errorf("dial the connection service: %w", err)
	}
	s.conns = connections.NewCache(connectionv1.NewConnectionInternalServiceClient(s.connConn), cfg.ConnectionCacheTTL, cfg.ClockSkew, o.now, log)

	var validations, outcomes *prometheus.CounterVec
	if reg != nil {
		validations = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sso_assertion_validations_total",
			Help: "SAML responses validated, by outcome and failure reason.",
		}, []string{"outcome", "reason"})
		outcomes = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sso_assertion_login_outcomes_total",
			Help: "How sign-ins ended, as the edge reported them (signed_in, refused) with the refusal's reason; posts refused at the ACS included.",
		}, []string{"outcome", "reason"})
		reg.MustRegister(validations, outcomes)
	}
	relay := relaystate.New(s.eph)
	s.grpc = grpcserver.New(grpcserver.Options{
		Names:   []string{assertionv1.AssertionService_ServiceDesc.ServiceName, assertionv1.AssertionInternalService_ServiceDesc.ServiceName},
		Logger:  log,
		Metrics: reg,
		Ready: func(ctx context.Context) error {
			return errors.Join(s.store.Ping(ctx), s.eph.Ping(ctx))
		},
		TLS:                      serverTLS,
		TrustDomain:              cfg.TLS.TrustDomain,
		AllowUnidentifiedCallers: cfg.TLS.AllowUnidentifiedCallers,
		ShutdownGrace:            cfg.Shutdown.Grace,
		StatsHandler:             o.tracing.ServerHandler(),
	})
	s.attempts = newAttemptLog(s.store, log, cfg.AttemptQueue, cfg.AttemptStopTimeout, reg)
	srv := &server{
		attempts:    s.attempts,
		conns:       s.conns,
		relay:       relay,
		validator:   &saml.Validator{Relay: relay, Replay: replay.New(s.eph), Now: o.now},
		store:       s.store,
		now:         o.now,
		retention:   cfg.AttemptRetention,
		log:         log,
		validations: validations,
		outcomes:    outcomes,
	}
	assertionv1.RegisterAssertionInternalServiceServer(s.grpc, srv)
	assertionv1.RegisterAssertionServiceServer(s.grpc, &logServer{server: srv})
	log.Info("assertion service configured", "config", cfg, "store", s.db.Dialect, "ephemeral", fmt.Sprintf("%T", s.eph))
	return s, nil
}

func (s *Service) close() {
	if s.connConn != nil {
		_ = s.connConn.Close()
	}
	if s.eph != nil && s.ownsEph {
		_ = s.eph.Close()
	}
	if s.db != nil {
		_ = s.db.Close()
	}
}

// Serve serves gRPC on lis, follows the connection service's changes and prunes old attempts until
// ctx ends, then closes the stores.
func (s *Service) Serve(ctx context.Context, lis net.Listener) error {
	defer s.close()
	background, stop := context.WithCancel(context.WithoutCancel(ctx))
	go s.conns.Watch(background)
	go s.prune(background)
	go s.attempts.run(background)
	s.log.Info("assertion service serving", "addr", lis.Addr().String())
	err := s.grpc.Serve(ctx, lis)
	// The server has stopped taking calls: write the last records before the store closes, trying
	// for AttemptStopTimeout at most while the store fails.
	stop()
	<-s.attempts.done
	return err
}

// NotServing makes health report NOT_SERVING from now on while the service goes on serving: the
// beginning of a drain.
func (s *Service) NotServing() { s.grpc.NotServing() }

// prune deletes the attempts older than the retention, now and then every PruneInterval.
func (s *Service) prune(ctx context.Context) {
	t := time.NewTicker(s.cfg.PruneInterval)
	defer t.Stop()
	for {
		n, err := s.store.PruneAttempts(ctx, s.now().Add(-s.cfg.AttemptRetention))
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.Warn("pruning sign-in attempts", "err", err)
		case n > 0:
			s.log.Info("pruned sign-in attempts", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Run builds the service and serves it on cfg.ListenAddr until ctx ends, then drains: health
// reports NOT_SERVING at once, the service serves on for cfg.Shutdown.Drain, then stops gracefully.
func Run(ctx context.Context, cfg Config, log *slog.Logger, reg *metrics.Registry, opts ...Option) error {
	svc, err := New(ctx, cfg, log, reg, opts...)
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		svc.close()
		return fmt.Errorf("listen %s: %w", cfg.ListenAddr, err)
	}
	serving, stop := process.Drained(ctx, cfg.Shutdown.Drain, svc.NotServing)
	defer stop()
	return svc.Serve(serving, lis)
}
