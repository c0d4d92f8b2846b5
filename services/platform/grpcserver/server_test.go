package grpcserver_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/emptypb"

	optionsv1 "github.com/iechor/sso/gen/iechor/sso/options/v1"
	"github.com/iechor/sso/services/platform/callers/callerstest"
	"github.com/iechor/sso/services/platform/grpcclient"
	"github.com/iechor/sso/services/platform/grpcserver"
	"github.com/iechor/sso/services/platform/grpcserver/grpcservertest"
	"github.com/iechor/sso/services/platform/logging"
	"github.com/iechor/sso/services/platform/metrics"
	"github.com/iechor/sso/services/platform/mtls"
	"github.com/iechor/sso/services/platform/rpcerror"
)

// The probe is a service whose behaviour each test chooses. These tests are about the server's
// wiring, not about who calls (the callers package tests that, over mutual TLS): their calls come
// without a certificate, let in by the development switch.
func init() {
	if err := callerstest.Register("test.Probe", []optionsv1.Caller{optionsv1.Caller_CALLER_GATEWAY}, nil); err != nil {
		panic(err)
	}
}

func probeDesc(call func(ctx context.Context) error) *grpc.ServiceDesc {
	return callerstest.Desc("test.Probe", callerstest.Handlers{Call: call})
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

type served struct {
	conn *grpc.ClientConn
	logs *syncBuffer
	reg  *metrics.Registry
}

func serve(t *testing.T, opts grpcserver.Options, call func(ctx context.Context) error) served {
	t.Helper()
	logs := &syncBuffer{}
	opts.Logger = logging.New(logs, "debug", "test")
	opts.Metrics = metrics.NewRegistry()
	opts.AllowUnidentifiedCallers = true
	s := grpcserver.New(opts)
	s.RegisterService(probeDesc(call), struct{}{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, lis) }()
	conn, err := grpcclient.Dial(lis.Addr().String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return served{conn: conn, logs: logs, reg: opts.Metrics}
}

func invoke(ctx context.Context, conn *grpc.ClientConn, opts ...grpc.CallOption) error {
	return conn.Invoke(ctx, "/test.Probe/Call", &emptypb.Empty{}, &emptypb.Empty{}, opts...)
}

func TestATypedErrorReachesTheClientWithItsReason(t *testing.T) {
	t.Parallel()
	s := serve(t, grpcserver.Options{}, func(context.Context) error {
		return rpcerror.New(codes.FailedPrecondition, "PLAN_REQUIRED", "upgrade").With("plan", "business")
	})
	code, reason, md := rpcerror.Info(invoke(context.Background(), s.conn))
	if code != codes.FailedPrecondition || reason != "PLAN_REQUIRED" || md["plan"] != "business" {
		t.Fatalf("got %v %s %v", code, reason, md)
	}
}

func TestAnUntypedErrorBecomesInternalAndItsCauseStaysInTheLog(t *testing.T) {
	t.Parallel()
	s := serve(t, grpcserver.Options{}, func(context.Context) error {
		return errors.New("pq: password authentication failed for user secret_admin")
	})
	err := invoke(context.Background(), s.conn)
	code, reason, _ := rpcerror.Info(err)
	if code != codes.Internal || reason != "INTERNAL" || strings.Contains(err.Error(), "secret_admin") {
		t.Fatalf("client saw %v", err)
	}
	if !strings.Contains(s.logs.String(), "secret_admin") {
		t.Fatal("the cause was not logged")
	}
}

func TestAPanicBecomesInternalAndTheServerKeepsServing(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	s := serve(t, grpcserver.Options{}, func(context.Context) error {
		if calls.Add(1) == 1 {
			panic("boom")
		}
		return nil
	})
	if code, _, _ := rpcerror.Info(invoke(context.Background(), s.conn)); code != codes.Internal {
		t.Fatalf("panic gave %v", code)
	}
	if err := invoke(context.Background(), s.conn); err != nil {
		t.Fatalf("the call after a panic failed: %v", err)
	}
	if !strings.Contains(s.logs.String(), "boom") {
		t.Fatal("the panic was not logged")
	}
}

func TestTheRequestIDTravelsFromTheCallerIntoTheHandlerAndTheLog(t *testing.T) {
	t.Parallel()
	var seen string
	s := serve(t, grpcserver.Options{}, func(ctx context.Context) error {
		seen = logging.RequestID(ctx)
		return nil
	})
	ctx := logging.WithRequestID(context.Background(), "req-42")
	var header metadata.MD
	if err := invoke(ctx, s.conn, grpc.Header(&header)); err != nil {
		t.Fatal(err)
	}
	if seen != "req-42" || strings.Join(header.Get("x-request-id"), "") != "req-42" {
		t.Fatalf("handler saw %q, header %v", seen, header)
	}
	if !strings.Contains(s.logs.String(), `"request_id":"req-42"`) {
		t.Fatalf("the call's log line lacks the request id: %s", s.logs.String())
	}
	// Without one, the server makes one.
	if err := invoke(context.Background(), s.conn); err != nil {
		t.Fatal(err)
	}
	if seen == "" || seen == "req-42" {
		t.Fatalf("no fresh request id: %q", seen)
	}
}

func TestCallsAreCounted(t *testing.T) {
	t.Parallel()
	s := serve(t, grpcserver.Options{}, func(context.Context) error { return nil })
	for range 3 {
		if err := invoke(context.Background(), s.conn); err != nil {
			t.Fatal(err)
		}
	}
	mfs, err := s.reg.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "grpc_server_handled_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["grpc_method"] == "Call" && labels["grpc_code"] == "OK" && m.GetCounter().GetValue() == 3 {
				return
			}
		}
	}
	t.Fatal("three OK calls to Call are not counted")
}

func TestHealthIsNotServingUntilTheStoreAnswers(t *testing.T) {
	t.Parallel()
	var ready atomic.Bool
	var checks atomic.Int32
	s := serve(t, grpcserver.Options{
		Names:         []string{"test.Probe"},
		ReadyInterval: 20 * time.Millisecond,
		Ready: func(context.Context) error {
			checks.Add(1)
			if !ready.Load() {
				return errors.New("store down")
			}
			return nil
		},
	}, func(context.Context) error { return nil })
	h := healthpb.NewHealthClient(s.conn)
	status := func() healthpb.HealthCheckResponse_ServingStatus {
		r, err := h.Check(context.Background(), &healthpb.HealthCheckRequest{Service: "test.Probe"})
		if err != nil {
			t.Fatal(err)
		}
		return r.GetStatus()
	}
	// Once the store has been asked twice and refused both times, health has heard it.
	awaitChecks(t, &checks, 2)
	if st := status(); st != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("status with the store down: %v", st)
	}
	ready.Store(true)
	deadline := time.Now().Add(2 * time.Second)
	for status() != healthpb.HealthCheckResponse_SERVING {
		if time.Now().After(deadline) {
			t.Fatal("never became SERVING")
		}
		time.Sleep(10 * time.Millisecond)
	}
	ready.Store(false)
	deadline = time.Now().Add(2 * time.Second)
	for status() != healthpb.HealthCheckResponse_NOT_SERVING {
		if time.Now().After(deadline) {
			t.Fatal("did not go back to NOT_SERVING when the store stopped answering")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestServeStopsGracefullyWhenTheContextEnds(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	started := make(chan struct{})
	s := grpcserver.New(grpcserver.Options{ShutdownGrace: 5 * time.Second, AllowUnidentifiedCallers: true})
	s.RegisterService(probeDesc(func(context.Context) error {
		close(started)
		<-release
		return nil
	}), struct{}{})
	lis, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, lis) }()
	conn, _ := grpcclient.Dial(lis.Addr().String(), nil)
	defer conn.Close()
	callErr := make(chan error, 1)
	go func() { callErr <- invoke(context.Background(), conn) }()
	<-started
	cancel() // shutdown begins while a call is in flight
	// The graceful stop has begun once the listener refuses new connections.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.Dial("tcp", lis.Addr().String())
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the server still took connections 5 s after its context ended")
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(release)
	if err := <-callErr; err != nil {
		t.Fatalf("the in-flight call was cut off: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

// healthStatus asks the server's health for name.
func healthStatus(t *testing.T, conn *grpc.ClientConn, name string) healthpb.HealthCheckResponse_ServingStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	r, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: name})
	if err != nil {
		t.Fatal(err)
	}
	return r.GetStatus()
}

// awaitChecks returns once the server has asked its store n times in all.
func awaitChecks(t *testing.T, checks *atomic.Int32, n int32) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for checks.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("the store was asked %d times in 5 s, want %d", checks.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// within polls until health reports want, and fails t when that takes longer than limit.
func within(t *testing.T, conn *grpc.ClientConn, want healthpb.HealthCheckResponse_ServingStatus, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for healthStatus(t, conn, "test.Probe") != want {
		if time.Since(start) > limit {
			t.Fatalf("health did not report %v within %v", want, limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

func TestWithTheDefaultsHealthFollowsTheStoreWithinASecond(t *testing.T) {
	t.Parallel()
	// The defaults promise 750 ms at worst (an interval and a ping timeout); a second is what load
	// balancers are told. The margin is for this test's own polling on a loaded machine.
	const limit = time.Second + 250*time.Millisecond
	for _, tc := range []struct {
		name string
		// down makes Ready fail the way a store does.
		down func(ctx context.Context) error
	}{
		{"a store that refuses", func(context.Context) error { return errors.New("connection refused") }},
		{"a store that hangs until the ping times out", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var down atomic.Bool
			s := serve(t, grpcserver.Options{
				Names: []string{"test.Probe"},
				Ready: func(ctx context.Context) error {
					if down.Load() {
						return tc.down(ctx)
					}
					return nil
				},
			}, func(context.Context) error { return nil })
			within(t, s.conn, healthpb.HealthCheckResponse_SERVING, limit)
			down.Store(true)
			took := within(t, s.conn, healthpb.HealthCheckResponse_NOT_SERVING, limit)
			down.Store(false)
			back := within(t, s.conn, healthpb.HealthCheckResponse_SERVING, limit)
			t.Logf("NOT_SERVING after %v, SERVING again after %v", took, back)
		})
	}
}

func TestNotServingTurnsHealthAtOnceWhileTheServerKeepsServing(t *testing.T) {
	t.Parallel()
	var checks atomic.Int32
	srv := grpcserver.New(grpcserver.Options{Names: []string{"test.Probe"}, ReadyInterval: 10 * time.Millisecond,
		Ready: func(context.Context) error { checks.Add(1); return nil }, AllowUnidentifiedCallers: true})
	srv.RegisterService(probeDesc(func(context.Context) error { return nil }), struct{}{})
	conn := grpcservertest.Serve(t, srv.Serve, mtls.Config{})
	within(t, conn, healthpb.HealthCheckResponse_SERVING, 2*time.Second)
	srv.NotServing()
	if st := healthStatus(t, conn, "test.Probe"); st != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("right after NotServing: %v", st)
	}
	if st := healthStatus(t, conn, ""); st != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("the overall status right after NotServing: %v", st)
	}
	if err := invoke(context.Background(), conn); err != nil {
		t.Fatalf("a call after NotServing: %v", err)
	}
	// A store that answers does not bring it back: the server is on its way out.
	awaitChecks(t, &checks, checks.Load()+3)
	if st := healthStatus(t, conn, "test.Probe"); st != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("health came back during the drain: %v", st)
	}
}

func TestAStreamStillOpenAtTheStopEndsWithAReasonAndDoesNotHoldTheStop(t *testing.T) {
	t.Parallel()
	const grace = 5 * time.Second
	srv := grpcserver.New(grpcserver.Options{ShutdownGrace: grace})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis) }()
	conn, err := grpcclient.Dial(lis.Addr().String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A health watch is a stream that never ends on its own.
	watch, err := healthpb.NewHealthClient(conn).Watch(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := watch.Recv(); err != nil {
		t.Fatal(err)
	}
	stop := time.Now()
	cancel()
	for {
		_, err = watch.Recv()
		if err != nil {
			break
		}
	}
	if code, reason, _ := rpcerror.Info(err); code != codes.Unavailable || reason != "SHUTTING_DOWN" {
		t.Fatalf("the watch ended with %v", err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if took := time.Since(stop); took > grace/2 {
		t.Fatalf("the stop took %v: the open stream held it", took)
	}
}

func TestTheServersHealthIsTheReadinessItsMetricsAddressServes(t *testing.T) {
	t.Parallel()
	reg := metrics.NewRegistry()
	srv := grpcserver.New(grpcserver.Options{Metrics: reg, ReadyInterval: 10 * time.Millisecond})
	grpcservertest.Serve(t, srv.Serve, mtls.Config{})
	deadline := time.Now().Add(2 * time.Second)
	for !reg.Ready() {
		if time.Now().After(deadline) {
			t.Fatal("a serving server never made its process ready")
		}
		time.Sleep(5 * time.Millisecond)
	}
	srv.NotServing()
	if reg.Ready() {
		t.Fatal("the process is still ready after NotServing")
	}
}
