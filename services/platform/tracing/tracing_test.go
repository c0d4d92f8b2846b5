package tracing_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/iechor/sso/services/platform/config"
	"github.com/iechor/sso/services/platform/logging"
	"github.com/iechor/sso/services/platform/tracing"
)

func TestTheConfigurationIsReadFromTheOpenTelemetryVariables(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		check   func(tracing.Config) bool
		wantErr string
	}{
		{"nothing set exports nothing, over http/protobuf, sampling every trace", nil,
			func(c tracing.Config) bool {
				return c.Endpoint == "" && c.Protocol == tracing.ProtocolHTTP && c.Sampler == "parentbased_always_on" && !c.Disabled
			}, ""},
		{"a base endpoint over http/protobuf gets the traces path", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"},
			func(c tracing.Config) bool { return c.Endpoint.Reveal() == "http://collector:4318/v1/traces" }, ""},
		{"a base endpoint over grpc is used as it is", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
			func(c tracing.Config) bool {
				return c.Endpoint.Reveal() == "http://collector:4317" && c.Protocol == tracing.ProtocolGRPC
			}, ""},
		{"the traces endpoint wins over the base one and is used as it is", map[string]string{
			"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://b/custom"},
			func(c tracing.Config) bool { return c.Endpoint.Reveal() == "https://b/custom" }, ""},
		{"the traces protocol wins over the general one", map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"},
			func(c tracing.Config) bool { return c.Protocol == tracing.ProtocolHTTP }, ""},
		{"resource attributes are split and percent-decoded", map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=prod, team=sign%20in"},
			func(c tracing.Config) bool {
				return c.ResourceAttributes["deployment.environment.name"] == "prod" && c.ResourceAttributes["team"] == "sign in"
			}, ""},
		{"OTEL_SERVICE_NAME names a service that runs alone", map[string]string{"OTEL_SERVICE_NAME": "sso-edge", "OTEL_RESOURCE_ATTRIBUTES": "service.name=other"},
			func(c tracing.Config) bool { return c.ServiceNameOr("gateway") == "sso-edge" }, ""},
		{"service.name among the resource attributes names it when OTEL_SERVICE_NAME is not set", map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "service.name=other"},
			func(c tracing.Config) bool { return c.ServiceNameOr("gateway") == "other" }, ""},
		{"OTEL_SDK_DISABLED turns tracing off", map[string]string{"OTEL_SDK_DISABLED": "true"},
			func(c tracing.Config) bool { return c.Disabled }, ""},
		{"a password in the endpoint is not shown", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://u:hunter2@collector/v1/traces"},
			func(c tracing.Config) bool { return !strings.Contains(c.Endpoint.String(), "hunter2") }, ""},
		{"an unknown protocol is refused", map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, nil, "OTEL_EXPORTER_OTLP_PROTOCOL"},
		{"an endpoint that is not an http URL is refused", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4317"}, nil, "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{"an unknown sampler is refused", map[string]string{"OTEL_TRACES_SAMPLER": "sometimes"}, nil, "OTEL_TRACES_SAMPLER"},
		{"a ratio over one is refused", map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "1.5"}, nil, "OTEL_TRACES_SAMPLER_ARG"},
		{"a resource attribute without a value is refused", map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "team"}, nil, "OTEL_RESOURCE_ATTRIBUTES"},
		{"a malformed switch is refused", map[string]string{"OTEL_SDK_DISABLED": "perhaps"}, nil, "OTEL_SDK_DISABLED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tracing.LoadConfig(config.NewReader(config.MapLookup(tc.env)))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil || !tc.check(c) {
				t.Fatalf("config %+v, error %v", c, err)
			}
		})
	}
}

// serveEdge sends req through the component's edge handler around a mux that answers every path,
// and returns the span context the handler saw.
func serveEdge(t *testing.T, c *tracing.Component, req *http.Request) trace.SpanContext {
	t.Helper()
	var seen trace.SpanContext
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(_ http.ResponseWriter, r *http.Request) { seen = trace.SpanContextFromContext(r.Context()) })
	mux.HandleFunc("GET /sso/begin/{handle}", func(_ http.ResponseWriter, r *http.Request) { seen = trace.SpanContextFromContext(r.Context()) })
	c.EdgeHandler(tracing.NameRoute(mux)).ServeHTTP(httptest.NewRecorder(), req)
	return seen
}

func TestTheEdgeStartsATraceOfItsOwnForEveryRequest(t *testing.T) {
	const callers = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	for _, tc := range []struct {
		name, path, traceparent string
		check                   func(t *testing.T, seen trace.SpanContext, spans tracetest.SpanStubs)
	}{
		{"a caller's traceparent is linked, not continued", "/v1/login:start", callers,
			func(t *testing.T, seen trace.SpanContext, spans tracetest.SpanStubs) {
				if len(spans) != 1 || seen.TraceID().String() == "0af7651916cd43dd8448eb211c80319c" || spans[0].Parent.IsValid() {
					t.Fatalf("the caller's trace was continued: %v", spans)
				}
				if links := spans[0].Links; len(links) != 1 || links[0].SpanContext.TraceID().String() != "0af7651916cd43dd8448eb211c80319c" {
					t.Fatalf("the caller's trace is not linked: %v", links)
				}
				res := map[string]string{}
				for _, a := range spans[0].Resource.Attributes() {
					res[string(a.Key)] = a.Value.Emit()
				}
				if spans[0].SpanKind != trace.SpanKindServer || res["service.name"] != "gateway" || res["service.namespace"] != "iechor-sso" || res["host.name"] == "" {
					t.Fatalf("span %+v, resource %v", spans[0], res)
				}
			}},
		{"a request without one starts a trace", "/v1/login:start", "",
			func(t *testing.T, seen trace.SpanContext, spans tracetest.SpanStubs) {
				if len(spans) != 1 || !seen.IsValid() || spans[0].SpanContext.TraceID() != seen.TraceID() || len(spans[0].Links) != 0 {
					t.Fatalf("seen %v, spans %v", seen, spans)
				}
			}},
		{"the span is named after the route and the sign-in link's handle is not recorded", "/sso/begin/secret-handle", "",
			func(t *testing.T, _ trace.SpanContext, spans tracetest.SpanStubs) {
				if len(spans) != 1 || spans[0].Name != "GET /sso/begin/{handle}" {
					t.Fatalf("spans %v", spans)
				}
				for _, a := range spans[0].Attributes {
					if strings.Contains(a.Value.Emit(), "secret-handle") {
						t.Fatalf("the handle was recorded as %s", a.Key)
					}
				}
				if route := attr(spans[0].Attributes, "http.route"); route != "/sso/begin/{handle}" {
					t.Fatalf("http.route %q", route)
				}
			}},
		{"a probe is not traced", "/readyz", "",
			func(t *testing.T, seen trace.SpanContext, spans tracetest.SpanStubs) {
				if len(spans) != 0 || seen.IsValid() {
					t.Fatalf("a probe was traced: %v", spans)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exp := tracetest.NewInMemoryExporter()
			tr := tracing.Exporting(exp)
			req := httptest.NewRequest("GET", tc.path, nil)
			if tc.traceparent != "" {
				req.Header.Set("traceparent", tc.traceparent)
			}
			seen := serveEdge(t, tr.Component("gateway"), req)
			tc.check(t, seen, exp.GetSpans())
		})
	}
}

func attr(attrs []attribute.KeyValue, key string) string {
	for _, a := range attrs {
		if string(a.Key) == key {
			return a.Value.Emit()
		}
	}
	return ""
}

func TestWithoutAnEndpointARequestHasATraceIDAndNoSpanIsRecorded(t *testing.T) {
	tr, err := tracing.New(context.Background(), mustConfig(t, nil), logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	if tr.Exports() {
		t.Fatal("tracing exports without an endpoint")
	}
	var recording bool
	var id string
	h := tr.Component("gateway").EdgeHandler(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		recording = trace.SpanFromContext(r.Context()).IsRecording()
		id = tracing.TraceID(r.Context())
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/v1/x", nil))
	if len(id) != 32 || recording {
		t.Fatalf("trace id %q, recording %v", id, recording)
	}
}

func TestDisabledTracingInstrumentsNothing(t *testing.T) {
	tr, err := tracing.New(context.Background(), mustConfig(t, map[string]string{"OTEL_SDK_DISABLED": "true"}), logging.Discard())
	if err != nil || tr != nil {
		t.Fatalf("tracing %v, error %v", tr, err)
	}
	c := tr.Component("gateway")
	var id string
	c.EdgeHandler(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { id = tracing.TraceID(r.Context()) })).
		ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/v1/x", nil))
	if id != "" || c.ServerHandler() != nil || len(c.DialOptions()) != 0 || tr.Shutdown(context.Background()) != nil {
		t.Fatalf("disabled tracing traced: %q", id)
	}
}

func mustConfig(t *testing.T, env map[string]string) tracing.Config {
	t.Helper()
	c, err := tracing.LoadConfig(config.NewReader(config.MapLookup(env)))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// collector is an OTLP receiver over HTTP and gRPC that keeps the spans it is sent.
type collector struct {
	coltracepb.UnimplementedTraceServiceServer
	mu    sync.Mutex
	spans []*tracepb.ResourceSpans
}

func (c *collector) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.spans = append(c.spans, req.GetResourceSpans()...)
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	req := &coltracepb.ExportTraceServiceRequest{}
	if r.URL.Path != "/v1/traces" || proto.Unmarshal(body, req) != nil {
		http.Error(w, "bad export", http.StatusBadRequest)
		return
	}
	_, _ = c.Export(r.Context(), req)
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	_, _ = w.Write(out)
}

// received lists each span the collector got as "service.name span-name".
func (c *collector) received() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, rs := range c.spans {
		service := ""
		for _, a := range rs.GetResource().GetAttributes() {
			if a.GetKey() == "service.name" {
				service = a.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				out = append(out, service+" "+s.GetName())
			}
		}
	}
	return out
}

func TestSpansReachTheOTLPEndpointWhenTheProcessStops(t *testing.T) {
	for _, tc := range []struct {
		name     string
		protocol string
		env      map[string]string
		want     int
	}{
		{"over http/protobuf", "http", nil, 1},
		{"over grpc", "grpc", map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, 1},
		{"none at a sampling ratio of zero", "http", map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			col := &collector{}
			env := map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=test"}
			for k, v := range tc.env {
				env[k] = v
			}
			if tc.protocol == "grpc" {
				lis, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				srv := grpc.NewServer()
				coltracepb.RegisterTraceServiceServer(srv, col)
				go func() { _ = srv.Serve(lis) }()
				t.Cleanup(srv.Stop)
				env["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://" + lis.Addr().String()
			} else {
				srv := httptest.NewServer(col)
				t.Cleanup(srv.Close)
				env["OTEL_EXPORTER_OTLP_ENDPOINT"] = srv.URL
			}
			tr, err := tracing.New(context.Background(), mustConfig(t, env), logging.Discard())
			if err != nil {
				t.Fatal(err)
			}
			serveEdge(t, tr.Component("gateway"), httptest.NewRequest("POST", "/v1/login:start", nil))
			// The batch waits five seconds; the shutdown sends what waits at once.
			if err := tr.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			got := col.received()
			if len(got) != tc.want || (tc.want > 0 && got[0] != "gateway POST /") {
				t.Fatalf("the collector received %v", got)
			}
		})
	}
}
