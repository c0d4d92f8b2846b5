package gateway_test

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iechor/sso/services/gateway"
	"github.com/iechor/sso/services/gateway/internal/ratelimit"
	"github.com/iechor/sso/services/platform/config"
	"github.com/iechor/sso/services/platform/ephemeral"
)

// libraryWords are fragments that only a library writes: none may reach a client.
var libraryWords = regexp.MustCompile(`proto:|grpc:|json:|invalid character|unexpected EOF|strconv\.|syntax error|runtime error|transport|127\.0\.0\.1|\(line \d+:\d+\)`)

type status struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Details []struct {
		Type     string            `json:"@type"`
		Reason   string            `json:"reason"`
		Metadata map[string]string `json:"metadata"`
	} `json:"details"`
}

func statusOf(t *testing.T, rec *httptest.ResponseRecorder) status {
	t.Helper()
	var st status
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil || len(st.Details) != 1 || st.Details[0].Type != "type.googleapis.com/google.rpc.ErrorInfo" {
		t.Fatalf("%d: not a google.rpc.Status with an ErrorInfo: %s", rec.Code, rec.Body)
	}
	return st
}

const challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"

func TestHostileTextIsRefusedAtTheEdgeInWordsOfOurs(t *testing.T) {
	t.Parallel()
	// Every service behind this edge is down: what is refused here is refused before anything is
	// forwarded.
	e := newEdge(t, gateway.Options{})
	token := "Bearer " + e.token(t, "users/usr_1", time.Now().Add(time.Hour))
	for _, tc := range []struct {
		name, method, target, body string
		status                     int
		reason, field              string
	}{
		{"an upper-case owner", "GET", "/v1/companies/ACME/domains", "", 400, "INVALID_NAME", "path"},
		{"a NUL byte in the owner", "GET", "/v1/companies/acme%00/domains", "", 400, "INVALID_NAME", "path"},
		{"a 70-character owner id", "GET", "/v1/organizations/" + strings.Repeat("x", 70) + "/connections", "", 400, "INVALID_NAME", "path"},
		{"a malformed company for a new organization", "POST", "/v1/organizations", `{"organization":{"company":"companies/Acme"}}`, 400, "INVALID_NAME", "organization.company"},
		{"invalid UTF-8 in the path", "GET", "/v1/companies/acme/domains/%FF.example", "", 400, "INVALID_UTF8", "path"},
		{"invalid UTF-8 in a query value", "GET", "/v1/companies/acme/domains?pageToken=%C0%AF", "", 400, "INVALID_UTF8", "pageToken"},
		{"invalid UTF-8 in a query key", "GET", "/v1/companies/acme/domains?%FF=1", "", 400, "INVALID_UTF8", "query"},
		{"invalid UTF-8 in a body", "POST", "/v1/companies/acme/domains", "{\"domainName\":\"\xffx.example\"}", 400, "INVALID_UTF8", "domainName"},
		{"a lone surrogate in a body", "POST", "/v1/login:start", `{"email":"\ud800@acme.example"}`, 400, "INVALID_UTF8", "email"},
		{"a number that is not one", "GET", "/v1/companies/acme/domains?pageSize=ten", "", 400, "INVALID_QUERY_PARAMETER", "pageSize"},
		{"an unknown query parameter", "GET", "/v1/companies/acme/connections?owner=x", "", 400, "INVALID_QUERY_PARAMETER", "owner"},
		{"an unknown body field", "POST", "/v1/login:start", `{"email":"a@acme.example","admin":true}`, 400, "INVALID_REQUEST_BODY", "admin"},
		{"a wrong type in a body", "POST", "/v1/login:redeem", `{"code":["x"]}`, 400, "INVALID_REQUEST_BODY", "code"},
		{"a body that is not JSON", "PATCH", "/v1/companies/acme/connections/conn_1", `{"displayName":`, 400, "INVALID_REQUEST_BODY", ""},
		{"a deeply nested body", "POST", "/v1/login:start", strings.Repeat(`{"client":`, 10000), 400, "INVALID_REQUEST_BODY", "client.client"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.target, strings.NewReader(tc.body))
			req.Header.Set("Authorization", token)
			rec := e.do(req)
			st := statusOf(t, rec)
			if rec.Code != tc.status || st.Details[0].Reason != tc.reason || st.Details[0].Metadata["field"] != tc.field {
				t.Fatalf("%d %s, want %d %s on %q", rec.Code, rec.Body, tc.status, tc.reason, tc.field)
			}
			if libraryWords.MatchString(st.Message) {
				t.Fatalf("a library's words reached the client: %q", st.Message)
			}
		})
	}
}

func TestABrowserLinkWithInvalidUTF8GetsAPageWithAReference(t *testing.T) {
	t.Parallel()
	e := newEdge(t, gateway.Options{})
	rec := e.do(httptest.NewRequest("GET", "/sso/c/conn_%FF?return_to=https%3A%2F%2Fhub.example%2F", nil))
	body := rec.Body.String()
	if rec.Code != http.StatusBadRequest || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") ||
		!strings.Contains(body, rec.Header().Get("X-Request-Id")) || libraryWords.MatchString(body) {
		t.Fatalf("%d %s\n%s", rec.Code, rec.Header(), body)
	}
}

func TestEveryUnavailableAnswerSaysWhenToComeBack(t *testing.T) {
	t.Parallel()
	e := newEdge(t, gateway.Options{})
	token := "Bearer " + e.token(t, "users/usr_1", time.Now().Add(time.Hour))
	for _, tc := range []struct {
		name, method, target, body, auth string
	}{
		{"an admin call with the directory down", "GET", "/v1/companies/acme/domains", "", token},
		{"a sign-in with the connection service down", "POST", "/v1/login:start",
			`{"email":"jane@acme.example","client":{"type":"CLIENT_TYPE_HUB"},"returnTo":"https://hub.example/cb","codeChallenge":"` + challenge + `"}`, ""},
		{"a browser's sign-in link with the assertion service down", "GET", "/sso/c/conn_1?return_to=https%3A%2F%2Fhub.example%2F", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.target, strings.NewReader(tc.body))
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			rec := e.do(req)
			if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
				t.Fatalf("%d, Retry-After %q: %s", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
			}
			if libraryWords.MatchString(rec.Body.String()) {
				t.Fatalf("a library's words reached the client: %s", rec.Body)
			}
		})
	}
}

func TestARefusedTokenSaysWhyInItsMetadata(t *testing.T) {
	t.Parallel()
	e := newEdge(t, gateway.Options{})
	other := newEdge(t, gateway.Options{})
	for _, tc := range []struct {
		name, token, reason, problem string
	}{
		{"alg none", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1c2Vycy9hIn0.", "INVALID_TOKEN", "unsupported_algorithm"},
		{"garbage", "garbage", "INVALID_TOKEN", "malformed"},
		{"another edge's key", other.token(t, "users/usr_1", time.Now().Add(time.Hour)), "INVALID_TOKEN", "unknown_key_id"},
		{"expired", e.token(t, "users/usr_1", time.Now().Add(-time.Hour)), "TOKEN_EXPIRED", "expired"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/v1/companies/acme/domains", nil)
			req.Header.Set("Authorization", "Bearer "+tc.token)
			rec := e.do(req)
			st := statusOf(t, rec)
			if rec.Code != 401 || st.Details[0].Reason != tc.reason || st.Details[0].Metadata["problem"] != tc.problem {
				t.Fatalf("%d %s, want %s with problem %s", rec.Code, rec.Body, tc.reason, tc.problem)
			}
		})
	}
}

// silentListener accepts connections and never answers: a Redis that hangs.
func silentListener(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return l.Addr().String()
}

// With Redis unreachable, a sign-in fails closed within REDIS_TIMEOUT, as UNAVAILABLE with
// Retry-After (a margin of 200 ms for a loaded machine).
func TestASignInFailsClosedWithinTheRedisTimeout(t *testing.T) {
	t.Parallel()
	const timeout = 300 * time.Millisecond
	for _, tc := range []struct {
		name  string
		addr  string
		bound time.Duration
	}{
		{"a Redis that never answers", silentListener(t), timeout + 200*time.Millisecond},
		{"a Redis that refuses the connection", deadAddr(t), 100 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEdge(t, gateway.Options{}, func(c *gateway.Config) {
				c.Ephemeral = ephemeral.Config{RedisURL: config.DSN("redis://" + tc.addr + "/0"), Timeout: timeout, Prefix: "t:"}
				c.StartPerIP = ratelimit.Limit{Requests: 60, Window: time.Minute}
			})
			body := `{"email":"jane@acme.example","client":{"type":"CLIENT_TYPE_HUB"},"returnTo":"https://hub.example/cb","codeChallenge":"` + challenge + `"}`
			for range 2 {
				began := time.Now()
				rec := e.do(httptest.NewRequest("POST", "/v1/login:start", strings.NewReader(body)))
				took := time.Since(began)
				t.Logf("refused in %v", took)
				if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" || statusOf(t, rec).Details[0].Reason != "SIGN_IN_UNAVAILABLE" {
					t.Fatalf("%d %s (Retry-After %q)", rec.Code, rec.Body, rec.Header().Get("Retry-After"))
				}
				if took > tc.bound {
					t.Fatalf("refusing took %v, more than %v", took, tc.bound)
				}
			}
		})
	}
}
