package grpcserver_test

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/iechor/sso/services/platform/grpcclient"
	"github.com/iechor/sso/services/platform/grpcserver"
	"github.com/iechor/sso/services/platform/logging"
	"github.com/iechor/sso/services/platform/tracing"
)

// tracedPair serves the probe service traced as "callee" and dials it traced as "caller", both
// exporting to one in-memory exporter.
func tracedPair(t *testing.T, call func(ctx context.Context) error) (*grpc.ClientConn, *tracetest.InMemoryExporter, *syncBuffer) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tr := tracing.Exporting(exp)
	logs := &syncBuffer{}
	s := grpcserver.New(grpcserver.Options{Logger: logging.New(logs, "info", "callee"), StatsHandler: tr.Component("callee").ServerHandler(),
		AllowUnidentifiedCallers: true})
	s.RegisterService(probeDesc(call), struct{}{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, lis) }()
	conn, err := grpcclient.Dial(lis.Addr().String(), nil, tr.Component("caller").DialOptions()...)
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
	return conn, exp, logs
}

// spansOf waits until exp holds n spans and returns them: the server's span ends just after its
// answer has reached the client, so the client can be back before it is exported.
func spansOf(t *testing.T, exp *tracetest.InMemoryExporter, n int) tracetest.SpanStubs {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		spans := exp.GetSpans()
		if len(spans) >= n || time.Now().After(deadline) {
			return spans
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func serviceName(s tracetest.SpanStub) string {
	for _, a := range s.Resource.Attributes() {
		if a.Key == "service.name" {
			return a.Value.AsString()
		}
	}
	return ""
}

func TestATracedCallContinuesTheCallersTraceInTheCalledService(t *testing.T) {
	var seenID string
	var seen trace.SpanContext
	conn, exp, logs := tracedPair(t, func(ctx context.Context) error {
		seenID, seen = logging.RequestID(ctx), trace.SpanContextFromContext(ctx)
		return nil
	})
	if err := invoke(context.Background(), conn); err != nil {
		t.Fatal(err)
	}
	spans := spansOf(t, exp, 2)
	var client, server tracetest.SpanStub
	for _, s := range spans {
		switch s.SpanKind {
		case trace.SpanKindClient:
			client = s
		case trace.SpanKindServer:
			server = s
		}
	}
	t.Run("the server's span is the client's child, each in its own service", func(t *testing.T) {
		if len(spans) != 2 || server.Parent.SpanID() != client.SpanContext.SpanID() || server.SpanContext.TraceID() != client.SpanContext.TraceID() ||
			serviceName(client) != "caller" || serviceName(server) != "callee" || server.Name != "test.Probe/Call" {
			t.Fatalf("spans %+v", spans)
		}
	})
	t.Run("the request id of a caller that sends none is the trace id", func(t *testing.T) {
		if seenID != client.SpanContext.TraceID().String() || seen.SpanID() != server.SpanContext.SpanID() {
			t.Fatalf("request id %q, trace %s", seenID, client.SpanContext.TraceID())
		}
	})
	t.Run("the call's log line names the trace and the span", func(t *testing.T) {
		var line struct{ RequestID, TraceID, SpanID string }
		for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
			if strings.Contains(l, `"grpc call"`) {
				var m map[string]string
				_ = json.Unmarshal([]byte(l), &m)
				line.RequestID, line.TraceID, line.SpanID = m["request_id"], m["trace_id"], m["span_id"]
			}
		}
		if line.TraceID != seenID || line.RequestID != seenID || line.SpanID != server.SpanContext.SpanID().String() {
			t.Fatalf("log %s", logs.String())
		}
	})
}

func TestACallersRequestIDIsKeptWhereTheCallIsTraced(t *testing.T) {
	var seen string
	conn, _, _ := tracedPair(t, func(ctx context.Context) error { seen = logging.RequestID(ctx); return nil })
	if err := invoke(logging.WithRequestID(context.Background(), "req-42"), conn); err != nil {
		t.Fatal(err)
	}
	if seen != "req-42" {
		t.Fatalf("request id %q, want the caller's", seen)
	}
}

func TestHealthChecksAreNotTraced(t *testing.T) {
	conn, exp, _ := tracedPair(t, func(context.Context) error { return nil })
	if _, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
	if spans := exp.GetSpans(); len(spans) != 0 {
		t.Fatalf("a health check was traced: %v", spans)
	}
}

// BenchmarkCallTracing measures what tracing adds to one unary call over loopback, client and
// server both traced: nothing traced, traced as deployed without an endpoint (trace ids, no span
// recorded), and every span recorded and handed to an exporter (one that drops them).
func BenchmarkCallTracing(b *testing.B) {
	asDeployed, err := tracing.New(context.Background(), tracing.Config{Protocol: tracing.ProtocolHTTP, Sampler: "parentbased_always_on"}, logging.Discard())
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		tr   *tracing.Tracing
	}{
		{"untraced", nil},
		{"nothing exported", asDeployed},
		{"every span recorded", tracing.Exporting(tracetest.NewNoopExporter())},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s := grpcserver.New(grpcserver.Options{StatsHandler: tc.tr.Component("callee").ServerHandler()})
			s.RegisterService(probeDesc(func(context.Context) error { return nil }), struct{}{})
			lis, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- s.Serve(ctx, lis) }()
			defer func() { cancel(); <-done }()
			conn, err := grpcclient.Dial(lis.Addr().String(), nil, tc.tr.Component("caller").DialOptions()...)
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			if err := invoke(context.Background(), conn); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if err := invoke(context.Background(), conn); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
