package gateway_test

import (
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/iechor/sso/services/gateway"
	"github.com/iechor/sso/services/platform/tracing"
)

func TestATracedEdgeAnswersWithItsTraceIDAsTheRequestID(t *testing.T) {
	hexID := regexp.MustCompile(`^[0-9a-f]{32}$`)
	for _, tc := range []struct {
		name, path, callerID string
		wantSpan             string
	}{
		{"an API call without an id of its own", "/v1/companies/acme/domains", "", "GET /v1/"},
		{"an API call that sends its own id keeps it beside the trace", "/v1/companies/acme/domains", "abc-123", "GET /v1/"},
		{"a browser page", "/sso/c/conn_nope", "", "GET /sso/c/{connection}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exp := tracetest.NewInMemoryExporter()
			e := newEdge(t, gateway.Options{Tracing: tracing.Exporting(exp).Component("gateway")})
			req := httptest.NewRequest("GET", tc.path, nil)
			req.Header.Set("X-Forwarded-For", "203.0.113.9")
			if tc.callerID != "" {
				req.Header.Set("X-Request-Id", tc.callerID)
			}
			rec := e.do(req)
			id := rec.Header().Get("X-Request-Id")
			var root *tracetest.SpanStub
			for _, s := range exp.GetSpans() {
				if !s.Parent.IsValid() {
					root = &s
				}
			}
			if !hexID.MatchString(id) || root == nil || root.SpanContext.TraceID().String() != id || root.Name != tc.wantSpan {
				t.Fatalf("X-Request-Id %q, root span %+v", id, root)
			}
			if tc.callerID != "" {
				kept := false
				for _, a := range root.Attributes {
					kept = kept || (a.Key == "iechor.client_request_id" && a.Value.AsString() == tc.callerID)
				}
				if !kept {
					t.Fatalf("the caller's id is not on the span: %v", root.Attributes)
				}
			}
			if addr := attrOf(root, "client.address"); addr != "192.0.2.1" {
				t.Fatalf("client.address %q: want the peer's, not what X-Forwarded-For claims", addr)
			}
			if strings.HasPrefix(tc.path, "/sso/") && !strings.Contains(rec.Body.String(), id) {
				t.Fatalf("the page's reference is not the trace id %s:\n%s", id, rec.Body)
			}
		})
	}
}

func attrOf(s *tracetest.SpanStub, key string) string {
	for _, a := range s.Attributes {
		if string(a.Key) == key {
			return a.Value.Emit()
		}
	}
	return ""
}

func TestTheHubMaySendItsTraceparent(t *testing.T) {
	e := newEdge(t, gateway.Options{})
	req := httptest.NewRequest("OPTIONS", "/v1/login:start", nil)
	req.Header.Set("Origin", "https://hub.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "content-type, traceparent")
	rec := e.do(req)
	if rec.Code != 204 || !strings.Contains(strings.ToLower(rec.Header().Get("Access-Control-Allow-Headers")), "traceparent") {
		t.Fatalf("preflight: %d %v", rec.Code, rec.Header())
	}
}
