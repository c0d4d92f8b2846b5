package gateway_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iechor/sso/services/gateway"
	"github.com/iechor/sso/services/gateway/internal/tokens"
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

type edge struct {
	h      http.Handler
	issuer tokens.Issuer
}

// newEdge builds the gateway in front of services that are all down.
func newEdge(t *testing.T, opts gateway.Options, mutate ...func(*gateway.Config)) edge {
	t.Helper()
	keyFile := filepath.Join(t.TempDir(), "keys.pem")
	pemKey, err := tokens.NewKeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pemKey, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := gateway.Config{
		ListenAddr: "127.0.0.1:0", PublicBaseURL: "http://127.0.0.1:8080",
		DomainAddr: deadAddr(t), ProvisioningAddr: deadAddr(t), ConnectionAddr: deadAddr(t), AssertionAddr: deadAddr(t),
		SigningKeysFile: keyFile, MaxBodyBytes: 1 << 20, MaxACSBytes: 1 << 20, MinDesktopVersion: "4.4.2",
		HubSession: time.Hour, DesktopSession: time.Hour, CodeTTL: time.Minute, HubOrigins: []string{"https://hub.example"},
	}
	for _, m := range mutate {
		m(&cfg)
	}
	opts.AllowInProcessStore = true
	g, err := gateway.New(context.Background(), cfg, logging.Discard(), nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close() })
	return edge{h: g.Handler(), issuer: g.Issuer()}
}

func (e edge) do(req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return rec
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

func (e edge) token(t *testing.T, subject string, expires time.Time) string {
	tok, err := e.issuer.Issue(tokens.Claims{Subject: subject, IssuedAt: expires.Add(-time.Hour), ExpiresAt: expires})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestTheAdminAPIWantsAValidBearerToken(t *testing.T) {
	t.Parallel()
	e := newEdge(t, gateway.Options{})
	for _, tc := range []struct {
		name, auth, reason string
		status             int
	}{
		{"no token", "", "UNAUTHENTICATED", 401},
		{"another scheme", "Basic dXNlcjpwYXNz", "UNAUTHENTICATED", 401},
		{"a forged token", "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1c2Vycy9hIn0.", "INVALID_TOKEN", 401},
		{"an expired token", "Bearer " + e.token(t, "users/usr_1", time.Now().Add(-time.Hour)), "TOKEN_EXPIRED", 401},
		// A valid token passes authentication and then needs the directory, which is down here.
		{"a valid token with the directory down", "Bearer " + e.token(t, "users/usr_1", time.Now().Add(time.Hour)), "SERVICE_UNAVAILABLE", 503},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/v1/companies/acme/domains", nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			rec := e.do(req)
			if rec.Code != tc.status || reasonOf(t, rec.Body.String()) != tc.reason {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
			if tc.status == 401 && rec.Header().Get("WWW-Authenticate") == "" {
				t.Fatal("a 401 without WWW-Authenticate")
			}
			if strings.Contains(rec.Body.String(), "127.0.0.1") {
				t.Fatalf("the error names an internal address: %s", rec.Body)
			}
		})
	}
}

func TestCompaniesAreCreatedByOperatorsOnly(t *testing.T) {
	t.Parallel()
	e := newEdge(t, gateway.Options{})
	req := httptest.NewRequest("POST", "/v1/companies", strings.NewReader(`{"companyId":"x","company":{}}`))
	req.Header.Set("Authorization", "Bearer "+e.token(t, "users/usr_1", time.Now().Add(time.Hour)))
	if rec := e.do(req); rec.Code != 403 || reasonOf(t, rec.Body.String()) != "OPERATOR_ONLY" {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	req = httptest.NewRequest("POST", "/v1/organizations", strings.NewReader(`{"organizationId":"x","organization":{"displayName":"X"}}`))
	req.Header.Set("Authorization", "Bearer "+e.token(t, "users/usr_1", time.Now().Add(time.Hour)))
	if rec := e.do(req); rec.Code != 403 || reasonOf(t, rec.Body.String()) != "ORGANIZATION_NEEDS_COMPANY" {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}

func TestSigningInNeedsNoTokenAndValidatesItsInput(t *testing.T) {
	t.Parallel()
	e := newEdge(t, gateway.Options{})
	rec := e.do(httptest.NewRequest("POST", "/v1/login:start", strings.NewReader(`{"email":"not an email","client":{"type":"CLIENT_TYPE_HUB"}}`)))
	if rec.Code != 400 || reasonOf(t, rec.Body.String()) != "INVALID_EMAIL" {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	rec = e.do(httptest.NewRequest("POST", "/v1/login:redeem", strings.NewReader(`{"code":"nope","codeVerifier":"x"}`)))
	if rec.Code != 400 || reasonOf(t, rec.Body.String()) != "CODE_INVALID" {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}

func TestAnUnreachableServiceIsReportedWithoutItsAddress(t *testing.T) {
	t.Parallel()
	e := newEdge(t, gateway.Options{})
	rec := e.do(httptest.NewRequest("POST", "/v1/login:start", strings.NewReader(
		`{"email":"jane@example.com","client":{"type":"CLIENT_TYPE_HUB"},"returnTo":"https://hub.example/cb","codeChallenge":"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}`)))
	if rec.Code != http.StatusServiceUnavailable || reasonOf(t, rec.Body.String()) != "SERVICE_UNAVAILABLE" {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if strings.Contains(rec.Body.String(), "127.0.0.1") {
		t.Fatalf("the error names an internal address: %s", rec.Body)
	}
	ready := e.do(httptest.NewRequest("GET", "/readyz", nil))
	if ready.Code != http.StatusServiceUnavailable || !strings.Contains(ready.Body.String(), "DomainService") || !strings.Contains(ready.Body.String(), "AssertionService") {
		t.Fatalf("readyz with dead backends: %d %s", ready.Code, ready.Body)
	}
	if live := e.do(httptest.NewRequest("GET", "/healthz", nil)); live.Code != http.StatusOK {
		t.Fatalf("healthz: %d", live.Code)
	}
}

func TestEveryResponseCarriesARequestIDAndTheSecurityHeaders(t *testing.T) {
	t.Parallel()
	e := newEdge(t, gateway.Options{})
	req := httptest.NewRequest("GET", "/nowhere", nil)
	req.Header.Set("X-Request-Id", "abc-123")
	rec := e.do(req)
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
	if id := e.do(bad).Header().Get("X-Request-Id"); id == "<script>" || id == "" {
		t.Fatalf("an unsafe request id was echoed: %q", id)
	}
}

func TestCORSAdmitsTheHubOnly(t *testing.T) {
	t.Parallel()
	e := newEdge(t, gateway.Options{})
	pre := func(origin string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("OPTIONS", "/v1/login:start", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		return e.do(req)
	}
	ok := pre("https://hub.example")
	if ok.Code != 204 || ok.Header().Get("Access-Control-Allow-Origin") != "https://hub.example" || ok.Header().Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("hub preflight: %d %v", ok.Code, ok.Header())
	}
	if other := pre("https://evil.example"); other.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("another origin was allowed: %v", other.Header())
	}
}

func TestTheJWKSPublishesTheSigningKey(t *testing.T) {
	t.Parallel()
	e := newEdge(t, gateway.Options{})
	rec := e.do(httptest.NewRequest("GET", "/.well-known/jwks.json", nil))
	var set struct {
		Keys []struct {
			Kid, Kty, Crv, Alg string
		} `json:"keys"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &set); err != nil || len(set.Keys) != 1 ||
		set.Keys[0].Kid != e.issuer.Keys.SigningKeyID() || set.Keys[0].Alg != "EdDSA" || set.Keys[0].Crv != "Ed25519" {
		t.Fatalf("jwks %s", rec.Body)
	}
}
