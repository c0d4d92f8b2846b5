// Package metrics holds the Prometheus registry of a process, the gRPC metrics interceptors, and
// the readiness of the process's servers that its metrics address serves beside the metrics.
package metrics

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// Registry is the set of metrics of one process. In the all-in-one binary every service shares one.
type Registry struct {
	reg      *prometheus.Registry
	handled  *prometheus.CounterVec
	duration *prometheus.HistogramVec

	mu    sync.Mutex
	ready []func() bool
}

// AddReadiness adds a check of whether a server of the process is ready; a gRPC server adds its
// health. The metrics address serves them as /readyz: it is plain HTTP, which a Kubernetes probe
// can reach when the gRPC port requires client certificates.
func (r *Registry) AddReadiness(ready func() bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ready = append(r.ready, ready)
}

// Ready reports whether every check added says ready; with none added, it is false: nothing that
// could serve has said so.
func (r *Registry) Ready() bool {
	r.mu.Lock()
	checks := r.ready
	r.mu.Unlock()
	for _, ready := range checks {
		if !ready() {
			return false
		}
	}
	return len(checks) > 0
}

// NewRegistry returns a registry with the Go runtime and process collectors and the gRPC server
// metrics.
func NewRegistry() *Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	r := &Registry{
		reg: reg,
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grpc_server_handled_total",
			Help: "gRPC calls completed by the server, by service, method and status code.",
		}, []string{"grpc_service", "grpc_method", "grpc_code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "grpc_server_handling_seconds",
			Help:    "Time the server took to handle gRPC calls.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"grpc_service", "grpc_method"}),
	}
	reg.MustRegister(r.handled, r.duration)
	return r
}

// MustRegister adds collectors that a service defines itself.
func (r *Registry) MustRegister(cs ...prometheus.Collector) { r.reg.MustRegister(cs...) }

// Handler serves the registry in the Prometheus text format.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{Registry: r.reg})
}

// Gatherer exposes the registry to tests.
func (r *Registry) Gatherer() prometheus.Gatherer { return r.reg }

func splitMethod(full string) (string, string) {
	full = strings.TrimPrefix(full, "/")
	if i := strings.LastIndex(full, "/"); i >= 0 {
		return full[:i], full[i+1:]
	}
	return "unknown", full
}

func (r *Registry) observe(fullMethod string, start time.Time, err error) {
	svc, m := splitMethod(fullMethod)
	r.handled.WithLabelValues(svc, m, status.Code(err).String()).Inc()
	r.duration.WithLabelValues(svc, m).Observe(time.Since(start).Seconds())
}

// UnaryServerInterceptor counts and times unary calls.
func (r *Registry) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		start := time.Now()
		resp, err := handler(ctx, req)
		r.observe(info.FullMethod, start, err)
		return resp, err
	}
}

// StreamServerInterceptor counts and times streaming calls.
func (r *Registry) StreamServerInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		start := time.Now()
		err := handler(srv, ss)
		r.observe(info.FullMethod, start, err)
		return err
	}
}
