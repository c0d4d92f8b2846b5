// Package tracing is the suite's OpenTelemetry tracing, in one place: it builds the tracer providers
// from the environment (OTEL_*), exports over OTLP only when an endpoint is configured, flushes what
// is left when the process stops, and gives each service its instrumentation — a gRPC stats handler
// for its server and its clients, and, at the edge, the HTTP middleware. W3C trace context
// (traceparent) is the only propagation between services.
//
// Every component of a process gets a tracer provider of its own, whose resource names it
// (service.name gateway, assertion, connection, provisioning or domain, in service.namespace
// iechor-sso): in ssod five components share one process, and a trace must still show which service
// each span ran in, as it does when they are deployed apart. The providers share one exporter.
//
// It must never export a span unless an endpoint is configured, and never continue a trace that a
// caller from the internet started: the edge starts a new trace and only links the caller's.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc/filters"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/stats"
)

// Namespace is the service.namespace of every component.
const Namespace = "iechor-sso"

// propagator is W3C trace context alone: no baggage travels between services.
var propagator = propagation.TraceContext{}

// noMeters keeps the instrumentation's own metrics off: the suite's Prometheus registry already
// counts and times every call, and a metric recorded nowhere should cost nothing.
var noMeters = noop.NewMeterProvider()

// Tracing is the tracing of one process. A nil *Tracing is tracing turned off.
type Tracing struct {
	exporter sdktrace.SpanExporter // nil: nothing is exported
	batch    bool                  // export in the background (OTLP) or as each span ends (tests)
	sampler  sdktrace.Sampler
	attrs    []attribute.KeyValue // added to every component's resource

	mu        sync.Mutex
	providers []*sdktrace.TracerProvider
}

// New builds the process's tracing from cfg: nil when cfg disables it; an OTLP exporter when cfg
// names an endpoint; otherwise trace ids and their propagation without a span recorded, unless a
// trusted caller sampled the trace (and even then nothing is exported). Errors of the exporter are
// logged to log.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Tracing, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Disabled {
		return nil, nil
	}
	t := &Tracing{attrs: resourceAttributes(cfg.ResourceAttributes)}
	if cfg.Endpoint == "" {
		// Nothing would receive a span: record none. A caller that sampled its trace is still
		// followed, so that a trace passing through this process keeps its sampled flag downstream.
		t.sampler = sdktrace.ParentBased(sdktrace.NeverSample())
		return t, nil
	}
	sampler, err := cfg.sampler()
	if err != nil {
		return nil, err
	}
	exp, err := newExporter(ctx, cfg)
	if err != nil {
		return nil, err
	}
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		log.Warn("tracing: spans could not be exported", "err", err)
	}))
	t.exporter, t.batch, t.sampler = exp, true, sampler
	return t, nil
}

// Exporting returns tracing that samples every trace and hands each span to exp as it ends: what
// tests use, with tracetest's in-memory exporter, to read a trace as soon as a request is answered.
func Exporting(exp sdktrace.SpanExporter) *Tracing {
	return &Tracing{exporter: exp, sampler: sdktrace.ParentBased(sdktrace.AlwaysSample())}
}

func newExporter(ctx context.Context, cfg Config) (sdktrace.SpanExporter, error) {
	var (
		exp sdktrace.SpanExporter
		err error
	)
	// The rest of the exporter's settings (OTEL_EXPORTER_OTLP_HEADERS, _TIMEOUT, _COMPRESSION,
	// _CERTIFICATE...) it reads from the environment itself.
	switch cfg.Protocol {
	case ProtocolGRPC:
		exp, err = otlptracegrpc.New(ctx, otlptracegrpc.WithEndpointURL(cfg.Endpoint.Reveal()))
	default:
		exp, err = otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(cfg.Endpoint.Reveal()))
	}
	if err != nil {
		return nil, fmt.Errorf("OTLP exporter for %s: %w", cfg.Endpoint, err)
	}
	return exp, nil
}

func (c Config) sampler() (sdktrace.Sampler, error) {
	ratio, err := c.ratio()
	if err != nil {
		return nil, err
	}
	switch c.Sampler {
	case "always_on":
		return sdktrace.AlwaysSample(), nil
	case "always_off":
		return sdktrace.NeverSample(), nil
	case "traceidratio":
		return sdktrace.TraceIDRatioBased(ratio), nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case "parentbased_traceidratio":
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio)), nil
	}
	return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
}

func resourceAttributes(m map[string]string) []attribute.KeyValue {
	var out []attribute.KeyValue
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if k != string(semconv.ServiceNameKey) {
			out = append(out, attribute.String(k, m[k]))
		}
	}
	return out
}

// Exports reports whether spans leave the process.
func (t *Tracing) Exports() bool { return t != nil && t.exporter != nil }

// Component returns the instrumentation of the component name (the service.name of its spans).
// On a nil *Tracing it returns nil, which instruments nothing.
func (t *Tracing) Component(name string) *Component {
	if t == nil {
		return nil
	}
	attrs := append([]attribute.KeyValue{semconv.ServiceNamespace(Namespace)}, t.attrs...)
	attrs = append(attrs, semconv.ServiceName(name))
	// The host name tells replicas apart (a pod's name, in Kubernetes).
	res, err := resource.New(context.Background(), resource.WithTelemetrySDK(), resource.WithHost(),
		resource.WithSchemaURL(semconv.SchemaURL), resource.WithAttributes(attrs...))
	if err != nil {
		// A host without a name: the attributes still name the component.
		res = resource.NewSchemaless(attrs...)
	}
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res), sdktrace.WithSampler(t.sampler)}
	switch {
	case t.exporter != nil && t.batch:
		opts = append(opts, sdktrace.WithBatcher(sharedExporter{t.exporter}))
	case t.exporter != nil:
		opts = append(opts, sdktrace.WithSyncer(sharedExporter{t.exporter}))
	}
	tp := sdktrace.NewTracerProvider(opts...)
	t.mu.Lock()
	t.providers = append(t.providers, tp)
	t.mu.Unlock()
	return &Component{name: name, tp: tp}
}

// Shutdown ends every component's provider, exporting the spans still waiting, and then the
// exporter. Call it once the servers have stopped, with a context that bounds the wait.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	providers := t.providers
	t.providers = nil
	t.mu.Unlock()
	var errs []error
	for _, tp := range providers {
		errs = append(errs, tp.Shutdown(ctx))
	}
	if t.exporter != nil {
		errs = append(errs, t.exporter.Shutdown(ctx))
	}
	return errors.Join(errs...)
}

// sharedExporter is the process's exporter as one provider sees it: each provider's shutdown
// flushes its own spans, and the exporter itself is shut down once, by Tracing.Shutdown.
type sharedExporter struct{ sdktrace.SpanExporter }

func (sharedExporter) Shutdown(context.Context) error { return nil }

// Component is the instrumentation of one service of the suite. A nil *Component instruments
// nothing: every method then returns what leaves a server or a client as it was.
type Component struct {
	name string
	tp   *sdktrace.TracerProvider
}

// notHealth leaves health checks untraced: probes ask several times a second and would bury the
// traces of real calls.
var notHealth = filters.Not(filters.HealthCheck())

// ServerHandler is the stats handler of the component's gRPC server: a span per call, a child of
// the caller's span when its traceparent says so. nil on a nil Component.
func (c *Component) ServerHandler() stats.Handler {
	if c == nil {
		return nil
	}
	return otelgrpc.NewServerHandler(otelgrpc.WithTracerProvider(c.tp), otelgrpc.WithPropagators(propagator),
		otelgrpc.WithMeterProvider(noMeters), otelgrpc.WithFilter(notHealth))
}

// DialOptions are what the component's gRPC clients add to their dial: a span per call, and the
// traceparent that carries it to the service called. None on a nil Component.
func (c *Component) DialOptions() []grpc.DialOption {
	if c == nil {
		return nil
	}
	return []grpc.DialOption{grpc.WithStatsHandler(otelgrpc.NewClientHandler(otelgrpc.WithTracerProvider(c.tp),
		otelgrpc.WithPropagators(propagator), otelgrpc.WithMeterProvider(noMeters), otelgrpc.WithFilter(notHealth)))}
}

// untracedPaths are the edge's probes and scrapes.
var untracedPaths = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// EdgeHandler wraps the edge's handler: every request but the probes gets a span that starts a new
// trace. The edge faces the internet: a traceparent sent by a client is not continued (it would let
// anyone choose the reference of their request, or have every request recorded), only linked, so
// that a caller who traces its own side can still find our trace from its. nil: next unchanged.
func (c *Component) EdgeHandler(next http.Handler) http.Handler {
	if c == nil {
		return next
	}
	return otelhttp.NewHandler(next, c.name,
		otelhttp.WithTracerProvider(c.tp), otelhttp.WithPropagators(propagator), otelhttp.WithMeterProvider(noMeters),
		otelhttp.WithPublicEndpointFn(func(*http.Request) bool { return true }),
		otelhttp.WithFilter(func(r *http.Request) bool { return !untracedPaths[r.URL.Path] }),
	)
}

// NameRoute serves the request with mux and then names its span after the route mux chose
// ("POST /saml/{connection}/acs"), as OpenTelemetry's HTTP conventions want: a name per route, not
// per path. It must wrap the ServeMux itself, the handler that sees the request the mux routes.
// Path values that are credentials (the one-time handle of /sso/begin/{handle}) are not recorded.
func NameRoute(mux http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r)
		span := trace.SpanFromContext(r.Context())
		if r.Pattern == "" || !span.IsRecording() {
			return
		}
		route := r.Pattern
		if _, path, ok := strings.Cut(route, " "); ok {
			route = path // the pattern's method
		}
		span.SetName(r.Method + " " + route)
		span.SetAttributes(semconv.HTTPRoute(route))
		if strings.Contains(route, "{handle}") {
			span.SetAttributes(semconv.URLPath(route))
		}
	})
}

// TraceID returns the id of the trace ctx carries (32 hexadecimal digits), or "" when it carries none.
func TraceID(ctx context.Context) string {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		return sc.TraceID().String()
	}
	return ""
}
