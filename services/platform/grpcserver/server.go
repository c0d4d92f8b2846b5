// Package grpcserver wires a gRPC server the same way for every service: interceptors in one fixed
// order, the caller check last (callers: who may call each RPC, as its proto declares), health that
// follows the service's store within a second, reflection, and a graceful stop when the context
// ends.
//
// A server never stops taking calls before its context ends, and never cuts a call in flight before
// ShutdownGrace has passed; what the drain before that looks like is the caller's (see
// process.Drained and NotServing).
package grpcserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"

	"github.com/iechor/sso/services/platform/callers"
	"github.com/iechor/sso/services/platform/callmeta"
	"github.com/iechor/sso/services/platform/config"
	"github.com/iechor/sso/services/platform/logging"
	"github.com/iechor/sso/services/platform/metrics"
	"github.com/iechor/sso/services/platform/opaque"
	"github.com/iechor/sso/services/platform/rpcerror"
	"github.com/iechor/sso/services/platform/tracing"
)

// Readiness defaults. A store that stops answering is seen within DefaultReadyInterval plus
// DefaultReadyTimeout (750 ms), one that answers again within DefaultReadyInterval and one ping:
// both inside the second that load balancers are promised. A ping every quarter second is one
// trivial statement for the store.
const (
	DefaultReadyInterval = 250 * time.Millisecond
	DefaultReadyTimeout  = 500 * time.Millisecond
)

// Options configure a Server.
type Options struct {
	// Names are the gRPC service names whose health is reported, such as
	// "iechor.sso.domain.v1.DomainService"; the overall status ("") is always reported.
	Names []string
	// Logger receives one line per call and every recovered panic.
	Logger *slog.Logger
	// Metrics receives the call counters; nil disables them.
	Metrics *metrics.Registry
	// Ready answers whether the service can serve (its store answers). Health reports NOT_SERVING
	// until it returns nil, and follows it every ReadyInterval (DefaultReadyInterval when zero); a
	// Ready that has not answered within ReadyTimeout (DefaultReadyTimeout) counts as not ready.
	Ready         func(context.Context) error
	ReadyInterval time.Duration
	ReadyTimeout  time.Duration
	// TLS, when set, makes the server require TLS (mtls.Config.Server: a client certificate, when
	// presented, must be the CA's).
	TLS *tls.Config
	// TrustDomain is the trust domain of the certificates that name callers
	// (mtls.DefaultTrustDomain when empty).
	TrustDomain string
	// AllowUnidentifiedCallers lets calls without a client certificate through the caller check:
	// development without mutual TLS only.
	AllowUnidentifiedCallers bool
	// ShutdownGrace is how long in-flight calls may run after the context ends
	// (config.DefaultShutdownGrace when zero).
	ShutdownGrace time.Duration
	// StatsHandler, when set, sees every call before the interceptors: the service's tracing
	// (tracing.Component.ServerHandler), whose span the request id then names.
	StatsHandler stats.Handler
}

// Server is a gRPC server with health and reflection.
type Server struct {
	*grpc.Server
	opts   Options
	health *health.Server
	check  *callers.Check
	// stopping ends when the graceful stop begins; streams still open then are ended.
	stopping   context.Context
	endStreams context.CancelFunc
}

// New returns a server whose interceptors run in this order: recovery, request id, logging,
// metrics, error mapping, the caller check; tracing, a stats handler, sees each call before all of
// them. Services register their implementations on the embedded *grpc.Server; the caller check
// enforces what their descriptors declare from Serve on.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = logging.Discard()
	}
	if opts.ReadyInterval == 0 {
		opts.ReadyInterval = DefaultReadyInterval
	}
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = DefaultReadyTimeout
	}
	if opts.ShutdownGrace == 0 {
		opts.ShutdownGrace = config.DefaultShutdownGrace
	}
	s := &Server{opts: opts, health: health.NewServer(),
		check: &callers.Check{TrustDomain: opts.TrustDomain, AllowUnidentified: opts.AllowUnidentifiedCallers, Log: opts.Logger}}
	s.stopping, s.endStreams = context.WithCancel(context.Background())
	unary := []grpc.UnaryServerInterceptor{
		recoveryUnary(opts.Logger),
		requestIDUnary,
		loggingUnary(opts.Logger),
	}
	stream := []grpc.StreamServerInterceptor{
		recoveryStream(opts.Logger),
		requestIDStream,
		loggingStream(opts.Logger),
	}
	if opts.Metrics != nil {
		unary = append(unary, opts.Metrics.UnaryServerInterceptor())
		stream = append(stream, opts.Metrics.StreamServerInterceptor())
	}
	unary = append(unary, errorsUnary(opts.Logger), s.check.Unary())
	stream = append(stream, errorsStream(opts.Logger), s.check.Stream(), s.endStreamsOnStop)

	serverOpts := []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(stream...),
		grpc.MaxRecvMsgSize(4 << 20),
	}
	if opts.TLS != nil {
		serverOpts = append(serverOpts, grpc.Creds(credentials.NewTLS(opts.TLS)))
	}
	if opts.StatsHandler != nil {
		serverOpts = append(serverOpts, grpc.StatsHandler(opts.StatsHandler))
	}
	s.Server = grpc.NewServer(serverOpts...)
	s.setServing(healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(s.Server, s.health)
	reflection.Register(s.Server)
	if opts.Metrics != nil {
		opts.Metrics.AddReadiness(s.serving)
	}
	return s
}

// serving reports whether health says SERVING for the server as a whole.
func (s *Server) serving() bool {
	resp, err := s.health.Check(context.Background(), &healthpb.HealthCheckRequest{})
	return err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING
}

func (s *Server) setServing(st healthpb.HealthCheckResponse_ServingStatus) {
	s.health.SetServingStatus("", st)
	for _, n := range s.opts.Names {
		s.health.SetServingStatus(n, st)
	}
}

// NotServing makes health report NOT_SERVING from now on, whatever the store answers, while the
// server goes on serving: the beginning of a drain, so that balancers send nothing new.
func (s *Server) NotServing() { s.health.Shutdown() }

// Serve serves on lis until ctx ends, then stops gracefully: health reports NOT_SERVING, streams
// still open are ended (a watch would otherwise hold the stop for its whole grace), new calls are
// refused, and calls in flight get ShutdownGrace to finish.
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	// Every service is registered by now: the table is what their protos declare.
	s.check.Load(callers.FromServer(s.Server))
	if s.opts.AllowUnidentifiedCallers {
		s.opts.Logger.Warn("calls without a client certificate are let in (GRPC_ALLOW_UNIDENTIFIED_CALLERS): development only")
	}
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go s.watchReady(watchCtx)

	errc := make(chan error, 1)
	go func() { errc <- s.Server.Serve(lis) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.NotServing()
	s.endStreams()
	done := make(chan struct{})
	go func() { s.GracefulStop(); close(done) }()
	grace := time.NewTimer(s.opts.ShutdownGrace)
	defer grace.Stop()
	select {
	case <-done:
	case <-grace.C:
		s.opts.Logger.Warn("calls still in flight after the shutdown grace are cut", "grace", s.opts.ShutdownGrace)
		s.Stop()
	}
	if err := <-errc; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return err
	}
	return nil
}

// ListenAndServe listens on addr and serves until ctx ends.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	return s.Serve(ctx, lis)
}

func (s *Server) watchReady(ctx context.Context) {
	last := healthpb.HealthCheckResponse_UNKNOWN
	t := time.NewTicker(s.opts.ReadyInterval)
	defer t.Stop()
	for {
		st := healthpb.HealthCheckResponse_SERVING
		if s.opts.Ready != nil {
			cctx, cancel := context.WithTimeout(ctx, s.opts.ReadyTimeout)
			if err := s.opts.Ready(cctx); err != nil {
				st = healthpb.HealthCheckResponse_NOT_SERVING
				if st != last && ctx.Err() == nil {
					s.opts.Logger.Warn("not ready", "err", err)
				}
			} else if last == healthpb.HealthCheckResponse_NOT_SERVING {
				s.opts.Logger.Info("ready again")
			}
			cancel()
		}
		if ctx.Err() != nil {
			return
		}
		if st != last {
			s.setServing(st)
			last = st
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// errShuttingDown ends the streams still open when the graceful stop begins; their clients call
// again, and reach another replica.
var errShuttingDown = rpcerror.New(codes.Unavailable, "SHUTTING_DOWN", "the server is shutting down; call again")

// endStreamsOnStop gives each stream a context that also ends when the graceful stop begins, and
// tells its client why.
func (s *Server) endStreamsOnStop(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx, cancel := context.WithCancel(ss.Context())
	defer cancel()
	defer context.AfterFunc(s.stopping, cancel)()
	err := handler(srv, wrappedStream{ss, ctx})
	if s.stopping.Err() != nil && ss.Context().Err() == nil && (err == nil || status.Code(err) == codes.Canceled || errors.Is(err, context.Canceled)) {
		return errShuttingDown
	}
	return err
}

func recoveryUnary(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if p := recover(); p != nil {
				log.ErrorContext(ctx, "panic", "method", info.FullMethod, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				err = rpcerror.Internal
			}
		}()
		return handler(ctx, req)
	}
}

func recoveryStream(log *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
		defer func() {
			if p := recover(); p != nil {
				log.ErrorContext(ss.Context(), "panic", "method", info.FullMethod, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				err = rpcerror.Internal
			}
		}()
		return handler(srv, ss)
	}
}

// requestIDFrom takes the caller's request id when it is a reasonable token (the edge's is its
// trace id), else the id of the call's trace, else makes one. The caller's comes first, so that a
// request keeps one reference even where the edge does not trace and the services do.
func requestIDFrom(ctx context.Context) string {
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get(callmeta.RequestIDKey); len(v) > 0 && callmeta.ValidRequestID(v[0]) {
			return v[0]
		}
	}
	if id := tracing.TraceID(ctx); id != "" {
		return id
	}
	return opaque.Token(12)
}

func requestIDUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	id := requestIDFrom(ctx)
	_ = grpc.SetHeader(ctx, metadata.Pairs(callmeta.RequestIDKey, id))
	return handler(logging.WithRequestID(ctx, id), req)
}

type wrappedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (w wrappedStream) Context() context.Context { return w.ctx }

func requestIDStream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	id := requestIDFrom(ss.Context())
	_ = ss.SetHeader(metadata.Pairs(callmeta.RequestIDKey, id))
	return handler(srv, wrappedStream{ss, logging.WithRequestID(ss.Context(), id)})
}

func logCall(ctx context.Context, log *slog.Logger, method string, start time.Time, err error) {
	code := status.Code(err)
	level := slog.LevelInfo
	switch code {
	case codes.Internal, codes.Unknown, codes.DataLoss:
		level = slog.LevelError
	case codes.Unavailable, codes.DeadlineExceeded:
		level = slog.LevelWarn
	}
	if !log.Enabled(ctx, level) {
		return
	}
	attrs := []any{"method", method, "code", code.String(), "duration_ms", float64(time.Since(start).Microseconds()) / 1000}
	if err != nil {
		attrs = append(attrs, "reason", rpcerror.Reason(err))
	}
	log.Log(ctx, level, "grpc call", attrs...)
}

func loggingUnary(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		start := time.Now()
		resp, err := handler(ctx, req)
		if info.FullMethod != healthpb.Health_Check_FullMethodName {
			logCall(ctx, log, info.FullMethod, start, err)
		}
		return resp, err
	}
}

func loggingStream(log *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		start := time.Now()
		err := handler(srv, ss)
		logCall(ss.Context(), log, info.FullMethod, start, err)
		return err
	}
}

// errorsUnary is the last guard: whatever a handler returns leaves as a typed status.
func errorsUnary(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		resp, err := handler(ctx, req)
		if err == nil {
			return resp, nil
		}
		out, unexpected := rpcerror.ToStatus(err)
		if unexpected {
			log.ErrorContext(ctx, "unexpected error", "method", info.FullMethod, "err", err)
		}
		return nil, out
	}
}

func errorsStream(log *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		err := handler(srv, ss)
		if err == nil {
			return nil
		}
		out, unexpected := rpcerror.ToStatus(err)
		if unexpected {
			log.ErrorContext(ss.Context(), "unexpected error", "method", info.FullMethod, "err", err)
		}
		return out
	}
}
