package connection

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	connectionv1 "github.com/iechor/sso/gen/iechor/sso/connection/v1"
	domainv1 "github.com/iechor/sso/gen/iechor/sso/domain/v1"
	provisioningv1 "github.com/iechor/sso/gen/iechor/sso/provisioning/v1"
	"github.com/iechor/sso/services/connection/internal/audit"
	"github.com/iechor/sso/services/connection/internal/changefeed"
	"github.com/iechor/sso/services/connection/internal/metadata"
	"github.com/iechor/sso/services/connection/internal/ownership"
	"github.com/iechor/sso/services/connection/internal/policy"
	"github.com/iechor/sso/services/connection/internal/seal"
	"github.com/iechor/sso/services/connection/internal/store"
	"github.com/iechor/sso/services/platform/grpcclient"
	"github.com/iechor/sso/services/platform/grpcserver"
	"github.com/iechor/sso/services/platform/metrics"
	"github.com/iechor/sso/services/platform/process"
	"github.com/iechor/sso/services/platform/sqlstore"
	"github.com/iechor/sso/services/platform/tracing"
)

// Service is a running connection service: its store, its clients of the domain and provisioning
// services, the change feed, the audit relay and the gRPC server.
type Service struct {
	cfg   Config
	log   *slog.Logger
	db    *sqlstore.DB
	grpc  *grpcserver.Server
	feed  *changefeed.Feed
	relay *audit.Relay
	peers []*grpc.ClientConn
}

// Options change how New builds the service, for tests and embedding; the zero value is production.
type Options struct {
	// MetadataRootCAs replaces the system's roots when fetching IdP metadata URLs: tests give their
	// TLS server's. The address check and every other rule of the fetch stay as configured.
	MetadataRootCAs *x509.CertPool
	// MetadataResolver replaces the system's resolver when fetching IdP metadata URLs: tests point it
	// at a DNS server of their own.
	MetadataResolver *net.Resolver
	// Now replaces the clock.
	Now func() time.Time
	// Tracing traces the service's calls, those it serves and those it makes; nil: none.
	Tracing *tracing.Component
}

// New opens the store (applying migrations), dials the peers and builds the gRPC server. reg may be
// nil.
func New(ctx context.Context, cfg Config, log *slog.Logger, reg *metrics.Registry) (*Service, error) {
	return NewWithOptions(ctx, cfg, log, reg, Options{})
}

// NewWithOptions is New with Options.
func NewWithOptions(ctx context.Context, cfg Config, log *slog.Logger, reg *metrics.Registry, opts Options) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	box, err := seal.New(cfg.EncryptionKey.Reveal())
	if err != nil {
		return nil, err
	}
	base, err := publicBase(cfg.PublicBaseURL)
	if err != nil {
		return nil, err
	}
	serverTLS, err := cfg.TLS.Server()
	if err != nil {
		return nil, err
	}
	clientTLS, err := cfg.TLS.Client()
	if err != nil {
		return nil, err
	}
	db, err := sqlstore.Open(ctx, cfg.DatabaseURL.Reveal(), sqlstore.Options{})
	if err != nil {
		return nil, err
	}
	st, err := store.NewSQL(ctx, db)
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("connection store: %w", err)
	}
	svc := &Service{cfg: cfg, log: log, db: db}
	domainConn, err := grpcclient.Dial(cfg.DomainAddr, clientTLS, opts.Tracing.DialOptions()...)
	if err != nil {
		svc.close()
		return nil, fmt.Errorf("dial domain service: %w", err)
	}
	svc.peers = append(svc.peers, domainConn)
	provConn, err := grpcclient.Dial(cfg.ProvisioningAddr, clientTLS, opts.Tracing.DialOptions()...)
	if err != nil {
		svc.close()
		return nil, fmt.Errorf("dial provisioning service: %w", err)
	}
	svc.peers = append(svc.peers, provConn)
	directory := provisioningv1.NewProvisioningInternalServiceClient(provConn)

	var registerer interface{ MustRegister(...prometheus.Collector) }
	if reg != nil {
		registerer = reg
	}
	cache := policy.NewCache(st.Covering, cfg.ChangePollInterval)
	svc.feed = changefeed.New(st, cfg.ChangePollInterval, log, cache.Polled)
	// The feed learns where the sequence stands before any call is served, so that a watcher that
	// subscribes from the first call on misses nothing.
	if err := svc.feed.Poll(ctx); err != nil {
		svc.close()
		return nil, fmt.Errorf("read the change sequence: %w", err)
	}
	svc.relay = audit.NewRelay(st, directory, log, cfg.ChangePollInterval, cfg.AuditRetryMax, registerer)
	if registerer != nil {
		for _, c := range []struct {
			name, help string
			get        func() float64
		}{
			{"connection_policy_cache_hits_total", "Sign-in policy lookups served from memory.", func() float64 { h, _, _ := cache.Stats(); return float64(h) }},
			{"connection_policy_cache_misses_total", "Sign-in policy lookups that read the store and filled the cache.", func() float64 { _, m, _ := cache.Stats(); return float64(m) }},
			{"connection_policy_cache_bypasses_total", "Sign-in policy lookups that read the store because the change sequence could not be read recently.", func() float64 { _, _, b := cache.Stats(); return float64(b) }},
		} {
			registerer.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: c.name, Help: c.help}, c.get))
		}
	}
	fetcher := metadata.NewFetcher(cfg.metadataFetch(opts))
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	srv := &server{
		store:        st,
		editor:       &editor{now: now, fetcher: fetcher, maxMetadata: cfg.MetadataMaxBytes, box: box},
		checker:      &ownership.Checker{Directory: directory, Domains: domainv1.NewDomainInternalServiceClient(domainConn), Timeout: cfg.PeerTimeout},
		endpoints:    endpoints{base: base},
		cache:        cache,
		feed:         svc.feed,
		relay:        svc.relay,
		keyBits:      cfg.SPKeyBits,
		certValidity: cfg.SPCertValidity,
		log:          log,
	}
	svc.grpc = grpcserver.New(grpcserver.Options{
		Names:                    []string{connectionv1.ConnectionService_ServiceDesc.ServiceName, connectionv1.ConnectionInternalService_ServiceDesc.ServiceName},
		Logger:                   log,
		Metrics:                  reg,
		Ready:                    st.Ping,
		TLS:                      serverTLS,
		TrustDomain:              cfg.TLS.TrustDomain,
		AllowUnidentifiedCallers: cfg.TLS.AllowUnidentifiedCallers,
		ShutdownGrace:            cfg.Shutdown.Grace,
		StatsHandler:             opts.Tracing.ServerHandler(),
	})
	connectionv1.RegisterConnectionServiceServer(svc.grpc, srv)
	connectionv1.RegisterConnectionInternalServiceServer(svc.grpc, &internalServer{server: srv})
	log.Info("connection service configured", "config", cfg, "store", db.Dialect)
	return svc, nil
}

func (s *Service) close() {
	for _, c := range s.peers {
		_ = c.Close()
	}
	_ = s.db.Close()
}

// Serve serves gRPC on lis and runs the change feed and the audit relay until ctx ends. Once the
// server has stopped, it stops them, hands provisioning what the last calls wrote to the audit
// outbox, and closes the store and the peer connections.
func (s *Service) Serve(ctx context.Context, lis net.Listener) error {
	// The loops outlive ctx: the calls of the graceful stop still use the policy cache that the
	// feed keeps, and still write audit events for the relay. (Watch streams are ended by the
	// server itself when its graceful stop begins.)
	bg, stop := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); s.feed.Run(bg) }()
	go func() { defer wg.Done(); s.relay.Run(bg) }()
	s.log.Info("connection service serving", "addr", lis.Addr().String())
	err := s.grpc.Serve(ctx, lis)
	stop()
	wg.Wait()
	s.deliverOutbox(ctx)
	s.close()
	return err
}

// deliverOutbox makes a last pass over the audit outbox, so that the events of the last calls reach
// provisioning now (in ssod, provisioning stops after this service) rather than when a replica next
// runs. What it cannot deliver within the grace stays in the outbox: nothing is lost.
func (s *Service) deliverOutbox(ctx context.Context) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.Shutdown.GraceOrDefault())
	defer cancel()
	for {
		n, err := s.relay.DeliverDue(dctx)
		if err != nil {
			if dctx.Err() == nil {
				s.log.Warn("audit events left in the outbox at shutdown", "err", err)
			}
			return
		}
		if n == 0 {
			return
		}
	}
}

// NotServing makes health report NOT_SERVING from now on while the service goes on serving: the
// beginning of a drain.
func (s *Service) NotServing() { s.grpc.NotServing() }

// Run builds the service and serves it on cfg.ListenAddr until ctx ends, then drains: health
// reports NOT_SERVING at once, the service serves on for cfg.Shutdown.Drain, then stops gracefully.
func Run(ctx context.Context, cfg Config, log *slog.Logger, reg *metrics.Registry) error {
	return RunWithOptions(ctx, cfg, log, reg, Options{})
}

// RunWithOptions is Run with Options.
func RunWithOptions(ctx context.Context, cfg Config, log *slog.Logger, reg *metrics.Registry, opts Options) error {
	svc, err := NewWithOptions(ctx, cfg, log, reg, opts)
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
