package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"

	domainv1 "github.com/iechor/sso/gen/iechor/sso/domain/v1"
	"github.com/iechor/sso/gen/openapi"
	"github.com/iechor/sso/services/platform/grpcclient"
	"github.com/iechor/sso/services/platform/logging"
	"github.com/iechor/sso/services/platform/metrics"
	"github.com/iechor/sso/services/platform/process"
)

// Gateway is the REST edge.
type Gateway struct {
	cfg      Config
	log      *slog.Logger
	handler  http.Handler
	backends []backend
}

// backend is a gRPC service the edge forwards to; /readyz asks its health.
type backend struct {
	name    string // the gRPC service name whose health is checked
	conn    *grpc.ClientConn
	checker healthpb.HealthClient
}

// Options carry what the gateway takes from its caller rather than from its configuration.
type Options struct {
	// Authorizer guards the admin API; LoopbackOnly when nil.
	Authorizer Authorizer
}

// New dials the services (lazily: they may start after the gateway) and builds the handler.
func New(ctx context.Context, cfg Config, log *slog.Logger, reg *metrics.Registry, opts Options) (*Gateway, error) {
	tlsConfig, err := cfg.TLS.Client()
	if err != nil {
		return nil, err
	}
	g := &Gateway{cfg: cfg, log: log}
	domainConn, err := g.dial(cfg.DomainAddr, domainv1.DomainService_ServiceDesc.ServiceName, tlsConfig)
	if err != nil {
		return nil, err
	}

	api := runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.JSONPb{
			MarshalOptions:   protojson.MarshalOptions{EmitUnpopulated: false, UseProtoNames: false},
			UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
		}),
		runtime.WithMetadata(func(ctx context.Context, _ *http.Request) metadata.MD {
			return metadata.Pairs("x-request-id", logging.RequestID(ctx))
		}),
		// Only the request id crosses from HTTP headers into gRPC metadata; nothing a client sends
		// can pose as an internal header.
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
	if err := domainv1.RegisterDomainServiceHandlerClient(ctx, api, domainv1.NewDomainServiceClient(domainConn)); err != nil {
		return nil, err
	}

	authz := opts.Authorizer
	if authz == nil {
		authz = LoopbackOnly{}
	}
	mux := http.NewServeMux()
	mux.Handle("/v1/", withBodyLimit(cfg.MaxBodyBytes, withAuthorization(authz, api)))
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
	g.handler = withRequestID(withSecurityHeaders(withAccessLog(log, mux)))
	return g, nil
}

func (g *Gateway) dial(addr, service string, tlsConfig *tls.Config) (*grpc.ClientConn, error) {
	conn, err := grpcclient.Dial(addr, tlsConfig)
	if err != nil {
		return nil, fmt.Errorf("dial %s at %s: %w", service, addr, err)
	}
	g.backends = append(g.backends, backend{name: service, conn: conn, checker: healthpb.NewHealthClient(conn)})
	return conn, nil
}

// Handler is the edge's HTTP handler.
func (g *Gateway) Handler() http.Handler { return g.handler }

// readyz answers 200 when every backend reports SERVING, else 503 naming the ones that do not.
func (g *Gateway) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	var notReady []string
	for _, b := range g.backends {
		resp, err := b.checker.Check(ctx, &healthpb.HealthCheckRequest{Service: b.name})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			notReady = append(notReady, b.name)
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if len(notReady) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = fmt.Fprintf(w, "not ready: %s\n", strings.Join(notReady, ", "))
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}

// Close closes the connections to the services.
func (g *Gateway) Close() error {
	var errs []error
	for _, b := range g.backends {
		errs = append(errs, b.conn.Close())
	}
	return errors.Join(errs...)
}

// Serve serves the edge on lis until ctx ends.
func (g *Gateway) Serve(ctx context.Context, lis net.Listener) error {
	defer g.Close()
	srv := &http.Server{
		Handler:           g.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
	}
	g.log.Info("gateway serving", "addr", lis.Addr().String())
	return process.ServeHTTP(ctx, srv, lis, 10*time.Second)
}

// Run builds the gateway and serves it on cfg.ListenAddr until ctx ends.
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
	return g.Serve(ctx, lis)
}
