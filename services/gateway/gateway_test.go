package gateway_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/iechor/sso/services/gateway"
	"github.com/iechor/sso/services/platform/logging"
)

// deadAddr is a loopback port with nothing listening.
func deadAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func newGateway(t *testing.T, opts gateway.Options) http.Handler {
	t.Helper()
	g, err := gateway.New(context.Background(), gateway.Config{
		ListenAddr: "127.0.0.1:0", DomainAddr: deadAddr(t), MaxBodyBytes: 1 << 20,
	}, logging.Discard(), nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close() })
	return g.Handler()
}

func reasonOf(t *testing.T, body string) string {
	t.Helper()
	var st struct {
		Details []struct {
			Reason string `json:"reason"`
		} `json:"details"`
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil || len(st.Details) == 0 {
		t.Fatalf("not a google.rpc.Status with details: %s", body)
	}
	return st.Details[0].Reason
}

func TestAnUnreachableServiceIsReportedWithoutItsAddress(t *testing.T) {
	h := newGateway(t, gateway.Options{})
	req := httptest.NewRequest("POST", "/v1/companies/acme/domains", strings.NewReader(`{"domainName":"example.com"}`))
	req.RemoteAddr = "127.0.0.1:5555"
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable || reasonOf(t, rec.Body.String()) != "SERVICE_UNAVAILABLE" {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if strings.Contains(rec.Body.String(), "127.0.0.1") {
		t.Fatalf("the error names an internal address: %s", rec.Body)
	}
	ready := httptest.NewRecorder()
	h.ServeHTTP(ready, httptest.NewRequest("GET", "/readyz", nil))
	if ready.Code != http.StatusServiceUnavailable || !strings.Contains(ready.Body.String(), "DomainService") {
		t.Fatalf("readyz with a dead backend: %d %s", ready.Code, ready.Body)
	}
	live := httptest.NewRecorder()
	h.ServeHTTP(live, httptest.NewRequest("GET", "/healthz", nil))
	if live.Code != http.StatusOK {
		t.Fatalf("healthz: %d", live.Code)
	}
}

func TestTheAdminAPIRefusesCallersOffThisHostByDefault(t *testing.T) {
	h := newGateway(t, gateway.Options{})
	req := httptest.NewRequest("GET", "/v1/companies/acme/domains", nil)
	req.RemoteAddr = "203.0.113.9:40000"
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden || reasonOf(t, rec.Body.String()) != "ADMIN_LOOPBACK_ONLY" {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}

type refuseAll struct{}

func (refuseAll) Authorize(*http.Request) *gateway.Refusal {
	return &gateway.Refusal{Status: http.StatusUnauthorized, Reason: "NO_TOKEN", Message: "no"}
}

func TestTheAuthorizerGuardsEveryAdminPathButNotHealth(t *testing.T) {
	h := newGateway(t, gateway.Options{Authorizer: refuseAll{}})
	for _, p := range []string{"/v1/companies/acme/domains", "/v1/organizations/x/domains/example.com:verify"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", p, strings.NewReader("{}")))
		if rec.Code != http.StatusUnauthorized || reasonOf(t, rec.Body.String()) != "NO_TOKEN" {
			t.Fatalf("%s: %d %s", p, rec.Code, rec.Body)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("healthz behind the authorizer: %d", rec.Code)
	}
}

func TestEveryResponseCarriesARequestIDAndTheSecurityHeaders(t *testing.T) {
	h := newGateway(t, gateway.Options{})
	req := httptest.NewRequest("GET", "/nowhere", nil)
	req.Header.Set("X-Request-Id", "abc-123")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Header().Get("X-Request-Id") != "abc-123" {
		t.Fatalf("request id %q, want the caller's", rec.Header().Get("X-Request-Id"))
	}
	for _, hdr := range []string{"Content-Security-Policy", "Strict-Transport-Security", "X-Content-Type-Options", "Referrer-Policy"} {
		if rec.Header().Get(hdr) == "" {
			t.Errorf("%s missing", hdr)
		}
	}
	if !strings.Contains(rec.Header().Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Error("the CSP does not forbid framing")
	}
	bad := httptest.NewRequest("GET", "/nowhere", nil)
	bad.Header.Set("X-Request-Id", "<script>")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, bad)
	if id := rec.Header().Get("X-Request-Id"); id == "<script>" || id == "" {
		t.Fatalf("an unsafe request id was echoed: %q", id)
	}
}
