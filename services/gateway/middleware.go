package gateway

import (
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/iechor/sso/services/gateway/internal/requestcheck"
	"github.com/iechor/sso/services/gateway/internal/signin"
	"github.com/iechor/sso/services/platform/callmeta"
	"github.com/iechor/sso/services/platform/logging"
	"github.com/iechor/sso/services/platform/opaque"
	"github.com/iechor/sso/services/platform/resourcename"
	"github.com/iechor/sso/services/platform/tracing"
)

const requestIDHeader = "X-Request-Id"

// withRequestID gives every request an id, returns it in the response, and carries it in the
// context to the logs and to the gRPC services. Where the request is traced the id is its trace id,
// so that the reference a person reads on a page finds the trace and every log line of the request;
// a caller's own X-Request-Id (a sane token) is then recorded beside it, on the span and in the
// access log. Without tracing the caller's id is kept, or a random one made.
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		caller := r.Header.Get(requestIDHeader)
		id := tracing.TraceID(r.Context())
		switch {
		case id != "":
			if span := trace.SpanFromContext(r.Context()); span.IsRecording() && caller != "" && callmeta.ValidRequestID(caller) {
				span.SetAttributes(attribute.String("iechor.client_request_id", caller))
			}
		case callmeta.ValidRequestID(caller):
			id = caller
		default:
			id = opaque.Token(12)
		}
		w.Header().Set(requestIDHeader, id)
		next.ServeHTTP(w, r.WithContext(logging.WithRequestID(r.Context(), id)))
	})
}

// withSpanClientAddress records on the request's span the client address the edge believes
// (GATEWAY_TRUSTED_PROXIES): otelhttp takes X-Forwarded-For from anyone.
func withSpanClientAddress(ipOf func(*http.Request) string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if span := trace.SpanFromContext(r.Context()); span.IsRecording() {
			span.SetAttributes(semconv.ClientAddress(ipOf(r)))
		}
		next.ServeHTTP(w, r)
	})
}

// withSecurityHeaders sets the headers every response of the edge carries.
func withSecurityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// withBodyLimit caps request bodies; a larger body fails to read and the call is refused.
func withBodyLimit(limit int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > limit {
			writeError(w, r, http.StatusRequestEntityTooLarge, "BODY_TOO_LARGE", "The request body is too large.")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		next.ServeHTTP(w, r)
	})
}

// withRequestChecks refuses, in words of ours, a REST call whose query or body does not have the
// shape of its RPC, before anything is forwarded.
func withRequestChecks(c *requestcheck.Checker, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if status, err := c.Check(r); err != nil {
			writeStatus(w, r, status, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// withValidUTF8 refuses a request whose path or query holds text that is not valid UTF-8, on every
// route, before anything reads it: proto strings must be UTF-8, and what grpc-go says of one that is
// not must not reach the caller. The API answers JSON; a browser gets a page.
func withValidUTF8(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		field := invalidUTF8(r)
		if field == "" {
			next.ServeHTTP(w, r)
			return
		}
		e := requestcheck.ErrInvalidUTF8.With("field", field)
		switch field {
		case "path":
			e = e.WithMessage("The path of the request is not valid UTF-8 once decoded.")
		case "query":
			e = e.WithMessage("The name of a query parameter is not valid UTF-8 once decoded.")
		default:
			e = e.WithMessage("The query parameter %s is not valid UTF-8 once decoded.", resourcename.Quote(field))
		}
		if strings.HasPrefix(r.URL.Path, "/v1/") {
			writeStatus(w, r, http.StatusBadRequest, e)
			return
		}
		signin.RenderError(w, r, e)
	})
}

// invalidUTF8 names what holds invalid UTF-8: "path", a query key, "query" (a key itself), or "".
func invalidUTF8(r *http.Request) string {
	if !utf8.ValidString(r.URL.Path) {
		return "path"
	}
	if r.URL.RawQuery == "" {
		return ""
	}
	values, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return "" // a malformed query is refused by whoever reads it
	}
	keys := make([]string, 0, len(values))
	for k := range values {
		if !utf8.ValidString(k) {
			return "query"
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range values[k] {
			if !utf8.ValidString(v) {
				return k
			}
		}
	}
	return ""
}

// unavailableRetryAfter is what the edge tells a client to wait when something behind it is down.
const unavailableRetryAfter = 5 * time.Second

// withRetryAfter adds Retry-After to every 503 and 504 the edge sends without one: a store or a
// service that is down, a call that ran out of time. Clients and browsers then know that trying
// again is the remedy, and when.
func withRetryAfter(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(&retryAfterWriter{ResponseWriter: w}, r)
	})
}

type retryAfterWriter struct {
	http.ResponseWriter
	wrote bool
}

func (w *retryAfterWriter) WriteHeader(code int) {
	if !w.wrote && (code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout) && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", strconv.Itoa(int(unavailableRetryAfter.Seconds())))
	}
	w.wrote = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *retryAfterWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

func (w *retryAfterWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// withAccessLog logs one line per request.
func withAccessLog(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		if r.URL.Path == "/healthz" || r.URL.Path == "/metrics" {
			return
		}
		level := slog.LevelInfo
		if rec.status >= 500 {
			level = slog.LevelError
		}
		attrs := []any{"method", r.Method, "path", r.URL.Path, "status", rec.status, "duration_ms", float64(time.Since(start).Microseconds()) / 1000}
		if caller := r.Header.Get(requestIDHeader); caller != "" && caller != logging.RequestID(r.Context()) && callmeta.ValidRequestID(caller) {
			attrs = append(attrs, "client_request_id", caller)
		}
		log.Log(r.Context(), level, "http request", attrs...)
	})
}

// clientIP is the address a request comes from: the peer, or — when the peer is a trusted proxy —
// the nearest address in X-Forwarded-For that is not one.
func clientIP(trusted []netip.Prefix) func(*http.Request) string {
	isTrusted := func(a netip.Addr) bool {
		for _, p := range trusted {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	return func(r *http.Request) string {
		peer, err := netip.ParseAddrPort(r.RemoteAddr)
		if err != nil {
			return r.RemoteAddr
		}
		addr := peer.Addr().Unmap()
		if !isTrusted(addr) {
			return addr.String()
		}
		hops := strings.Split(r.Header.Get("X-Forwarded-For"), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
			if err != nil {
				break
			}
			a = a.Unmap()
			if !isTrusted(a) {
				return a.String()
			}
			addr = a
		}
		return addr.String()
	}
}

// withCORS lets the Hub's origins call the API from the browser, with credentials (the binding
// cookie travels to login:redeem). Other origins get no CORS headers, so browsers refuse them.
func withCORS(origins []string, next http.Handler) http.Handler {
	allowed := map[string]bool{}
	for _, o := range origins {
		allowed[strings.ToLower(strings.TrimSuffix(o, "/"))] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin != "" {
			w.Header().Add("Vary", "Origin")
		}
		ok := origin != "" && allowed[strings.ToLower(origin)]
		if ok {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Set("Access-Control-Expose-Headers", "X-Request-Id, Retry-After")
		}
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			if ok {
				h := w.Header()
				h.Set("Access-Control-Allow-Methods", "GET, POST, PATCH, DELETE")
				// traceparent: a Hub that traces its side sends it, and the edge links its trace.
				h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Request-Id, traceparent")
				h.Set("Access-Control-Max-Age", "600")
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}
