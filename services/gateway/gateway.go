package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"

	assertionv1 "github.com/iechor/sso/gen/iechor/sso/assertion/v1"
	connectionv1 "github.com/iechor/sso/gen/iechor/sso/connection/v1"
	domainv1 "github.com/iechor/sso/gen/iechor/sso/domain/v1"
	loginv1 "github.com/iechor/sso/gen/iechor/sso/login/v1"
	provisioningv1 "github.com/iechor/sso/gen/iechor/sso/provisioning/v1"
	"github.com/iechor/sso/gen/openapi"
	"github.com/iechor/sso/services/gateway/internal/ratelimit"
	"github.com/iechor/sso/services/gateway/internal/requestcheck"
	"github.com/iechor/sso/services/gateway/internal/signin"
	"github.com/iechor/sso/services/gateway/internal/tokens"
	"github.com/iechor/sso/services/platform/callmeta"
	"github.com/iechor/sso/services/platform/ephemeral"
	"github.com/iechor/sso/services/platform/grpcclient"
	"github.com/iechor/sso/services/platform/logging"
	"github.com/iechor/sso/services/platform/metrics"
	"github.com/iechor/sso/services/platform/process"
	"github.com/iechor/sso/services/platform/tracing"
)

// Gateway is the REST edge.
type Gateway struct {
	cfg      Config
	log      *slog.Logger
	handler  http.Handler
	backends []backend
	store    ephemeral.Store
	issuer   tokens.Issuer
	// draining is set when the shutdown begins: /readyz answers 503 from then on.
	draining atomic.Bool
}

// backend is a gRPC service the edge forwards to; /readyz asks its health.
type backend struct {
	name    string // the gRPC service name whose health is checked
	conn    *grpc.ClientConn
	checker healthpb.HealthClient
}

// Options carry what the gateway takes from its caller rather than from its configuration.
type Options struct {
	// Authorizer guards the admin API; bearer tokens checked against the directory when nil.
	Authorizer Authorizer
	// AllowInProcessStore lets the gateway keep codes and rate limits in process when no Redis is
	// configured: right for the all-in-one binary, wrong for replicas.
	AllowInProcessStore bool
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Tracing traces every request but the probes, and every call to the services; nil: none, and
	// the request id is then the caller's X-Request-Id or a random one.
	Tracing *tracing.Component
}

// Audience is the audience of the edge's access tokens.
const Audience = "iechor"

// New dials the services (lazily: they may start after the gateway) and builds the handler.
func New(ctx context.Context, cfg Config, log *slog.Logger, reg *metrics.Registry, opts Options) (*Gateway, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	tlsConfig, err := cfg.TLS.Client()
	if err != nil {
		return nil, err
	}
	keys, err := tokens.LoadKeySet(cfg.SigningKeysFile)
	if err != nil {
		return nil, err
	}
	base, err := url.Parse(cfg.PublicBaseURL)
	if err != nil {
		return nil, err
	}
	store, err := ephemeral.Open(cfg.Ephemeral, opts.AllowInProcessStore)
	if err != nil {
		return nil, err
	}
	g := &Gateway{cfg: cfg, log: log, store: store, issuer: tokens.Issuer{Keys: keys, Issuer: cfg.PublicBaseURL, Audience: Audience}}
	conns := map[string]*grpc.ClientConn{}
	for _, b := range []struct{ addr, service string }{
		{cfg.DomainAddr, domainv1.DomainService_ServiceDesc.ServiceName},
		{cfg.ProvisioningAddr, provisioningv1.DirectoryService_ServiceDesc.ServiceName},
		{cfg.ConnectionAddr, connectionv1.ConnectionService_ServiceDesc.ServiceName},
		{cfg.AssertionAddr, assertionv1.AssertionService_ServiceDesc.ServiceName},
	} {
		conn, err := g.dial(b.addr, b.service, tlsConfig, opts.Tracing)
		if err != nil {
			_ = g.Close()
			return nil, err
		}
		conns[b.service] = conn
	}
	domainConn := conns[domainv1.DomainService_ServiceDesc.ServiceName]
	provisioningConn := conns[provisioningv1.DirectoryService_ServiceDesc.ServiceName]
	connectionConn := conns[connectionv1.ConnectionService_ServiceDesc.ServiceName]
	assertionConn := conns[assertionv1.AssertionService_ServiceDesc.ServiceName]
	directory := provisioningv1.NewDirectoryServiceClient(provisioningConn)
	provisioning := provisioningv1.NewProvisioningInternalServiceClient(provisioningConn)

	flow := &signin.Flow{
		Policy: signin.Policy{
			PublicBaseURL:       base,
			ReturnToOrigins:     cfg.HubOrigins,
			AllowLoopbackReturn: cfg.AllowLoopbackReturn,
			DefaultReturnTo:     cfg.DefaultReturnTo,
			MinDesktopVersion:   cfg.MinDesktopVersion,
			HubSession:          cfg.HubSession,
			DesktopSession:      cfg.DesktopSession,
			CodeTTL:             cfg.CodeTTL,
			IntentTTL:           10 * time.Minute,
			SecureCookies:       !cfg.InsecureCookies,
		},
		Connections:  connectionv1.NewConnectionInternalServiceClient(connectionConn),
		Assertion:    assertionv1.NewAssertionInternalServiceClient(assertionConn),
		Provisioning: provisioning,
		Store:        store,
		Limiter:      &ratelimit.Limiter{Store: store, Now: opts.Now},
		Limits: signin.Limits{
			StartPerIP: cfg.StartPerIP, StartPerEmail: cfg.StartPerEmail, ACSPerIP: cfg.ACSPerIP, ACSPerEmail: cfg.ACSPerEmail,
			RedeemPerIP: cfg.RedeemPerIP,
		},
		Tokens: g.issuer,
		Log:    log,
		Now:    opts.Now,
	}
	ipOf := clientIP(cfg.TrustedProxies)
	browser := &signin.Browser{Flow: flow, ClientIP: ipOf, MaxACSBytes: cfg.MaxACSBytes}

	checks, err := requestcheck.New(domainv1.File_iechor_sso_domain_v1_domain_proto, provisioningv1.File_iechor_sso_provisioning_v1_directory_proto,
		connectionv1.File_iechor_sso_connection_v1_connection_proto, assertionv1.File_iechor_sso_assertion_v1_assertion_proto,
		loginv1.File_iechor_sso_login_v1_login_proto)
	if err != nil {
		_ = g.Close()
		return nil, err
	}
	api := runtime.NewServeMux(
		// A form POST with X-HTTP-Method-Override would be routed as another method than the one
		// authorized and checked.
		runtime.WithDisablePathLengthFallback(),
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.JSONPb{
			MarshalOptions:   protojson.MarshalOptions{EmitUnpopulated: false, UseProtoNames: false},
			UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
		}),
		// What crosses from HTTP into gRPC metadata is set here and nowhere else: the request id,
		// the authenticated principal (as the actor of audit events), and, for the in-process sign-in
		// service, the client address, the binding cookie and the bearer token.
		runtime.WithMetadata(func(ctx context.Context, r *http.Request) metadata.MD {
			md := metadata.Pairs(callmeta.RequestIDKey, logging.RequestID(ctx))
			if p := Principal(ctx); p != "" {
				md.Set(callmeta.ActorKey, p)
			}
			// The sign-in service runs in this process; the rest of the request's secrets stay
			// at the edge rather than travel to every service.
			if strings.HasPrefix(r.URL.Path, "/v1/login:") {
				md.Set(signin.MetadataClientIP, ipOf(r))
				if v := browser.Binding(r); v != "" {
					md.Set(signin.MetadataBrowserBinding, v)
				}
				if t := bearerToken(r); t != "" {
					md.Set(signin.MetadataAuthorization, t)
				}
			}
			return md
		}),
		runtime.WithIncomingHeaderMatcher(func(string) (string, bool) { return "", false }),
		runtime.WithOutgoingHeaderMatcher(func(string) (string, bool) { return "", false }),
		runtime.WithErrorHandler(g.errorWithReason),
		runtime.WithRoutingErrorHandler(func(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, httpStatus int) {
			switch httpStatus {
			case http.StatusMethodNotAllowed:
				writeError(w, r, httpStatus, "METHOD_NOT_ALLOWED", "This method is not allowed on this path.")
			default:
				writeError(w, r, http.StatusNotFound, "NOT_FOUND", "No such API path.")
			}
		}),
	)
	for _, register := range []func() error{
		func() error {
			return domainv1.RegisterDomainServiceHandlerClient(ctx, api, domainv1.NewDomainServiceClient(domainConn))
		},
		func() error { return provisioningv1.RegisterDirectoryServiceHandlerClient(ctx, api, directory) },
		func() error {
			return connectionv1.RegisterConnectionServiceHandlerClient(ctx, api, connectionv1.NewConnectionServiceClient(connectionConn))
		},
		func() error {
			return assertionv1.RegisterAssertionServiceHandlerClient(ctx, api, assertionv1.NewAssertionServiceClient(assertionConn))
		},
		func() error {
			return loginv1.RegisterLoginServiceHandlerServer(ctx, api, &signin.LoginService{Flow: flow})
		},
	} {
		if err := register(); err != nil {
			_ = g.Close()
			return nil, err
		}
	}

	authz := opts.Authorizer
	if authz == nil {
		authz = &BearerAuthorizer{Tokens: g.issuer, Directory: provisioning, MaxBody: cfg.MaxBodyBytes, Now: opts.Now, Log: log}
	}
	mux := http.NewServeMux()
	mux.Handle("/v1/", withBodyLimit(cfg.MaxBodyBytes, withRequestChecks(checks, withAuthorization(authz, api))))
	// Signing in is how a caller gets a token: these two are open, and rate-limited instead.
	mux.Handle("POST /v1/login:start", withBodyLimit(cfg.MaxBodyBytes, withRequestChecks(checks, api)))
	mux.Handle("POST /v1/login:redeem", withBodyLimit(cfg.MaxBodyBytes, withRequestChecks(checks, api)))
	browser.Register(mux)
	mux.HandleFunc("GET /.well-known/jwks.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(keys.JWKS())
	})
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(openapi.Document)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", g.readyz)
	if reg != nil {
		mux.Handle("GET /metrics", reg.Handler())
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, http.StatusNotFound, "NOT_FOUND", "No such path.")
	})
	// The span begins first, so that the request id can be its trace id; the route names it once
	// the mux has chosen one.
	var routed http.Handler = mux
	if opts.Tracing != nil {
		routed = withSpanClientAddress(ipOf, tracing.NameRoute(mux))
	}
	g.handler = opts.Tracing.EdgeHandler(withRequestID(withSecurityHeaders(withAccessLog(log, withRetryAfter(withCORS(cfg.HubOrigins, withValidUTF8(routed)))))))
	return g, nil
}

// Issuer is the edge's token issuer; the bootstrap command signs its first token with it.
func (g *Gateway) Issuer() tokens.Issuer { return g.issuer }

func (g *Gateway) dial(addr, service string, tlsConfig *tls.Config, tr *tracing.Component) (*grpc.ClientConn, error) {
	conn, err := grpcclient.Dial(addr, tlsConfig, tr.DialOptions()...)
	if err != nil {
		return nil, fmt.Errorf("dial %s at %s: %w", service, addr, err)
	}
	g.backends = append(g.backends, backend{name: service, conn: conn, checker: healthpb.NewHealthClient(conn)})
	return conn, nil
}

// Handler is the edge's HTTP handler.
func (g *Gateway) Handler() http.Handler { return g.handler }

// readyTimeout bounds /readyz: a store or a service that has not answered by then counts as down,
// so that the answer is both true within a second and quick enough for a probe's timeout.
const readyTimeout = 500 * time.Millisecond

// readyz answers 200 when every backend reports SERVING and the ephemeral store answers, else 503
// naming what does not; from the beginning of a shutdown it answers 503 at once. It asks afresh on
// every request, all at once, so that it follows an outage as soon as the backends' health does.
func (g *Gateway) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if g.draining.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("not ready: shutting down\n"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	notReady := make([]string, 1+len(g.backends))
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := g.store.Ping(ctx); err != nil {
			notReady[0] = "ephemeral store"
		}
	})
	for i, b := range g.backends {
		wg.Go(func() {
			resp, err := b.checker.Check(ctx, &healthpb.HealthCheckRequest{Service: b.name})
			if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				notReady[1+i] = b.name
			}
		})
	}
	wg.Wait()
	if notReady = slices.DeleteFunc(notReady, func(s string) bool { return s == "" }); len(notReady) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = fmt.Fprintf(w, "not ready: %s\n", strings.Join(notReady, ", "))
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}

// Drain begins the shutdown while the edge goes on serving: /readyz answers 503, so that load
// balancers take the edge out, and every response closes its connection, so that clients that keep
// connections open come back through the balancer to another replica rather than find this one gone.
func (g *Gateway) Drain() {
	if !g.draining.Swap(true) {
		g.log.Info("draining: readiness is off, the edge serves on until the drain is over")
	}
}

// closeWhenDraining closes each connection after its response once the drain has begun. Idle
// connections are left alone until the server shuts down: closing one under a request that a client
// is sending at that moment would fail the request.
func (g *Gateway) closeWhenDraining(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.draining.Load() {
			w.Header().Set("Connection", "close")
		}
		next.ServeHTTP(w, r)
	})
}

// Close closes the connections to the services.
func (g *Gateway) Close() error {
	var errs []error
	for _, b := range g.backends {
		errs = append(errs, b.conn.Close())
	}
	g.backends = nil
	if g.store != nil {
		errs = append(errs, g.store.Close())
		g.store = nil
	}
	return errors.Join(errs...)
}

// Serve serves the edge on lis until ctx ends, then stops taking requests, gives those in flight
// the shutdown grace to finish, and closes the connections to the services.
func (g *Gateway) Serve(ctx context.Context, lis net.Listener) error {
	defer g.Close()
	srv := &http.Server{
		Handler:           g.closeWhenDraining(g.handler),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
	}
	g.log.Info("gateway serving", "addr", lis.Addr().String())
	err := process.ServeHTTP(ctx, srv, lis, g.cfg.Shutdown.GraceOrDefault())
	g.log.Info("gateway stopped")
	return err
}

// Run builds the gateway and serves it on cfg.ListenAddr until ctx ends, then drains: /readyz
// answers 503 at once, the edge serves on for cfg.Shutdown.Drain, then stops gracefully.
func Run(ctx context.Context, cfg Config, log *slog.Logger, reg *metrics.Registry, opts Options) error {
	g, err := New(ctx, cfg, log, reg, opts)
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		_ = g.Close()
		return fmt.Errorf("listen %s: %w", cfg.ListenAddr, err)
	}
	log.Info("gateway configured", "config", cfg)
	serving, stop := process.Drained(ctx, cfg.Shutdown.Drain, g.Drain)
	defer stop()
	return g.Serve(serving, lis)
}
