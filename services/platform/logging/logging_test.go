package logging_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/iechor/sso/services/platform/logging"
)

func TestALineNamesTheRequestAndTheSampledSpanOfItsContext(t *testing.T) {
	traceID, _ := trace.TraceIDFromHex("0af7651916cd43dd8448eb211c80319c")
	spanID, _ := trace.SpanIDFromHex("b7ad6b7169203331")
	span := func(flags trace.TraceFlags) context.Context {
		return trace.ContextWithSpanContext(context.Background(),
			trace.NewSpanContext(trace.SpanContextConfig{TraceID: traceID, SpanID: spanID, TraceFlags: flags}))
	}
	for _, tc := range []struct {
		name                     string
		ctx                      context.Context
		requestID, trace, spanID string
	}{
		{"a line without a request or a span names neither", context.Background(), "", "", ""},
		{"a line of a request names its id", logging.WithRequestID(context.Background(), "req-1"), "req-1", "", ""},
		{"a line inside a sampled span names its trace and span", logging.WithRequestID(span(trace.FlagsSampled), traceID.String()),
			traceID.String(), traceID.String(), spanID.String()},
		{"a line inside a span that is not recorded names no trace", span(0), "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			logging.New(&buf, "info", "test").InfoContext(tc.ctx, "hello")
			var line map[string]any
			if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
				t.Fatal(err)
			}
			get := func(k string) string { s, _ := line[k].(string); return s }
			if get("request_id") != tc.requestID || get("trace_id") != tc.trace || get("span_id") != tc.spanID || get("service") != "test" {
				t.Fatalf("line %s", buf.String())
			}
		})
	}
}
