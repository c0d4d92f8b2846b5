package ssod_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/iechor/sso/services/gateway"
	"github.com/iechor/sso/services/platform/config"
	"github.com/iechor/sso/services/platform/dnstest"
	"github.com/iechor/sso/services/platform/grpcserver/grpcservertest"
	"github.com/iechor/sso/services/platform/logging"
	"github.com/iechor/sso/services/platform/sqlstore/sqlstoretest"
	"github.com/iechor/sso/services/platform/tracing"
	"github.com/iechor/sso/services/provisioning"
	"github.com/iechor/sso/services/ssod"
)

// running is the suite started as `make run` starts it, on free loopback ports. Its components'
// certificates come from the test's CA, so that the test can call them as any caller.
type running struct {
	base  string
	cfg   ssod.Config
	ca    *grpcservertest.CA
	suite *ssod.Suite
	stop  func()
}

// startSuite starts the suite with env on top of the defaults; opts, when given, are the edge's.
func startSuite(t testing.TB, env map[string]string, opts ...gateway.Options) *running {
	t.Helper()
	var gw gateway.Options
	if len(opts) > 0 {
		gw = opts[0]
	}
	return startSuiteWith(t, env, logging.Discard(), nil, gw)
}

// startSuiteWith starts the suite logging to log and traced by tr, with gw the edge's options; a nil
// tr is the tracing the environment configures, as ssod serve builds it (without OTEL_* variables:
// trace ids, no export).
func startSuiteWith(t testing.TB, env map[string]string, log *slog.Logger, tr *tracing.Tracing, gw gateway.Options) *running {
	t.Helper()
	full := map[string]string{
		"DOMAIN_LISTEN_ADDR": "127.0.0.1:0", "PROVISIONING_LISTEN_ADDR": "127.0.0.1:0", "CONNECTION_LISTEN_ADDR": "127.0.0.1:0",
		"ASSERTION_LISTEN_ADDR": "127.0.0.1:0", "GATEWAY_LISTEN_ADDR": "127.0.0.1:0",
		// Nothing balances load in front of a test's suite: it stops without a drain.
		"SHUTDOWN_DRAIN": "0s",
	}
	for k, v := range env {
		full[k] = v
	}
	cfg, err := ssod.LoadConfig(config.MapLookup(full))
	if err != nil {
		t.Fatal(err)
	}
	ca := grpcservertest.NewCA(t)
	cfg.CA = ca.CA()
	ctx, cancel := context.WithCancel(context.Background())
	if tr == nil {
		if tr, err = tracing.New(ctx, cfg.Tracing, log); err != nil {
			cancel()
			t.Fatal(err)
		}
	}
	suite, err := ssod.Start(ctx, cfg, log, gw, tr)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := suite.Wait(); err != nil {
			t.Errorf("suite stopped with %v", err)
		}
		if err := tr.Shutdown(context.Background()); err != nil {
			t.Errorf("tracing stopped with %v", err)
		}
	}
	t.Cleanup(stop)
	return &running{base: suite.PublicBaseURL, cfg: cfg, ca: ca, suite: suite, stop: stop}
}

// atTheStartOfAWindow is a clock for the edge that stands at the start of a rate-limit window of
// the given length when the test begins, and runs on from there: the edge counts in fixed windows
// of the wall clock, and a test whose requests straddled the end of one would see its limit reset.
// It runs ahead of the wall clock (by less than a window), so the tokens that ssod bootstrap signs
// are never from the edge's future.
func atTheStartOfAWindow(window time.Duration) func() time.Time {
	now := time.Now()
	next := time.Unix(0, (now.UnixNano()/int64(window)+1)*int64(window))
	ahead := next.Sub(now)
	return func() time.Time { return time.Now().Add(ahead) }
}

// bootstrap creates a company or organization with its owner and returns the owner's token.
func (r *running) bootstrap(t testing.TB, req provisioning.BootstrapRequest) (provisioning.BootstrapResult, string) {
	t.Helper()
	res, token, err := ssod.Bootstrap(context.Background(), r.cfg, r.base, req, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return res, token
}

type reply struct {
	status int
	body   map[string]any
	raw    string
}

// callWithHeaders calls the edge as a client would and returns the answer and its headers.
func (r *running) callWithHeaders(t testing.TB, token, method, path, body string) (reply, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, r.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := reply{status: resp.StatusCode, raw: string(raw)}
	_ = json.Unmarshal(raw, &out.body)
	return out, resp.Header
}

func (r *running) call(t testing.TB, token, method, path, body string) reply {
	t.Helper()
	out, _ := r.callWithHeaders(t, token, method, path, body)
	return out
}

// reason returns the ErrorInfo reason of a google.rpc.Status body.
func (r reply) reason() string {
	details, _ := r.body["details"].([]any)
	for _, d := range details {
		if m, ok := d.(map[string]any); ok && m["@type"] == "type.googleapis.com/google.rpc.ErrorInfo" {
			s, _ := m["reason"].(string)
			return s
		}
	}
	return ""
}

func field(m map[string]any, path ...string) any {
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[p]
	}
	return cur
}

func TestDomainVerificationEndToEndOverREST(t *testing.T) {
	t.Parallel()
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		dns := dnstest.Start(t)
		env := map[string]string{"DATA_DIR": t.TempDir(), "DNS_RESOLVER": dns.Addr()}
		if b.Name == "postgres" {
			env["DATABASE_URL"] = b.DSN(t)
		}
		s := startSuite(t, env)
		_, acmeToken := s.bootstrap(t, provisioning.BootstrapRequest{Company: "acme", OwnerEmail: "owner@acme.example"})
		_, soloToken := s.bootstrap(t, provisioning.BootstrapRequest{Organization: "solo", OwnerEmail: "owner@solo.example"})
		s.bootstrap(t, provisioning.BootstrapRequest{Company: "rival", OwnerEmail: "owner@rival.example"})
		tokenOf := map[string]string{"companies/acme": acmeToken, "organizations/solo": soloToken}

		for _, owner := range []string{"companies/acme", "organizations/solo"} {
			token := tokenOf[owner]
			domainName := strings.ReplaceAll(owner, "/", "-") + ".example"
			created := s.call(t, token, "POST", "/v1/"+owner+"/domains", `{"domainName":"`+strings.ToUpper(domainName)+`"}`)
			if created.status != 200 {
				t.Fatalf("create: %d %s", created.status, created.raw)
			}
			name, _ := field(created.body, "domain", "name").(string)
			value, _ := field(created.body, "domain", "txtRecord", "value").(string)
			if name != owner+"/domains/"+domainName || !strings.HasPrefix(value, "iechor-verification=") {
				t.Fatalf("created %s", created.raw)
			}

			early := s.call(t, token, "POST", "/v1/"+name+":verify", `{}`)
			if early.status != 400 || early.reason() != "DNS_NXDOMAIN" {
				t.Fatalf("verify before publishing: %d %s", early.status, early.raw)
			}
			dns.SetTXT(domainName, "v=spf1 -all", value)
			verified := s.call(t, token, "POST", "/v1/"+name+":verify", `{}`)
			if verified.status != 200 || field(verified.body, "domain", "state") != "DOMAIN_STATE_VERIFIED" {
				t.Fatalf("verify: %d %s", verified.status, verified.raw)
			}
			attempts := s.call(t, token, "GET", "/v1/"+name+"/attempts", "")
			if list, _ := attempts.body["attempts"].([]any); attempts.status != 200 || len(list) != 2 {
				t.Fatalf("attempts: %d %s", attempts.status, attempts.raw)
			}
		}

		// Restart: what was verified stays verified.
		s.stop()
		s = startSuite(t, env)
		// The edge's address changed with the restart, and with it the tokens' issuer: sign in again.
		_, acmeToken = s.bootstrap(t, provisioning.BootstrapRequest{Company: "acme", OwnerEmail: "owner@acme.example"})
		_, soloToken = s.bootstrap(t, provisioning.BootstrapRequest{Organization: "solo", OwnerEmail: "owner@solo.example"})
		_, rivalToken := s.bootstrap(t, provisioning.BootstrapRequest{Company: "rival", OwnerEmail: "owner@rival.example"})
		got := s.call(t, acmeToken, "GET", "/v1/companies/acme/domains/companies-acme.example", "")
		if got.status != 200 || field(got.body, "domain", "state") != "DOMAIN_STATE_VERIFIED" {
			t.Fatalf("after restart: %d %s", got.status, got.raw)
		}
		list := s.call(t, soloToken, "GET", "/v1/organizations/solo/domains?state=DOMAIN_STATE_VERIFIED", "")
		if ds, _ := list.body["domains"].([]any); list.status != 200 || len(ds) != 1 {
			t.Fatalf("list verified: %d %s", list.status, list.raw)
		}

		// Another owner cannot verify a claimed domain, and is not told who holds it.
		rival := s.call(t, rivalToken, "POST", "/v1/companies/rival/domains", `{"domainName":"companies-acme.example"}`)
		rivalValue, _ := field(rival.body, "domain", "txtRecord", "value").(string)
		dns.SetTXT("companies-acme.example", rivalValue)
		claimed := s.call(t, rivalToken, "POST", "/v1/companies/rival/domains/companies-acme.example:verify", `{}`)
		if claimed.status != 400 || claimed.reason() != "DOMAIN_CLAIMED" || strings.Contains(claimed.raw, "acme\"") {
			t.Fatalf("rival verify: %d %s", claimed.status, claimed.raw)
		}

		del := s.call(t, acmeToken, "DELETE", "/v1/companies/acme/domains/companies-acme.example", "")
		if del.status != 200 {
			t.Fatalf("delete: %d %s", del.status, del.raw)
		}
		gone := s.call(t, acmeToken, "GET", "/v1/companies/acme/domains/companies-acme.example", "")
		if gone.status != 404 || gone.reason() != "DOMAIN_NOT_FOUND" {
			t.Fatalf("after delete: %d %s", gone.status, gone.raw)
		}
	})
}

func TestTheEdgeRefusesBadInputWithTypedErrors(t *testing.T) {
	t.Parallel()
	s := startSuite(t, map[string]string{"DATA_DIR": t.TempDir(), "DNS_RESOLVER": dnstest.Start(t).Addr()})
	_, token := s.bootstrap(t, provisioning.BootstrapRequest{Company: "acme", OwnerEmail: "owner@acme.example"})
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		reason                   string
	}{
		{"a URL instead of a domain", "POST", "/v1/companies/acme/domains", `{"domainName":"https://example.com/x"}`, 400, "DOMAIN_HAS_SCHEME"},
		{"a free email provider", "POST", "/v1/companies/acme/domains", `{"domainName":"gmail.com"}`, 400, "DOMAIN_FREE_EMAIL_PROVIDER"},
		{"a body that is not JSON", "POST", "/v1/companies/acme/domains", `{"domainName":`, 400, "INVALID_REQUEST_BODY"},
		{"an unknown field", "POST", "/v1/companies/acme/domains", `{"domainName":"example.com","owner":"x"}`, 400, "INVALID_REQUEST_BODY"},
		{"a body over the cap", "POST", "/v1/companies/acme/domains", `{"domainName":"` + strings.Repeat("a", 2<<20) + `"}`, 413, "BODY_TOO_LARGE"},
		{"an unknown path", "GET", "/v1/companies/acme/nothing", "", 404, "NOT_FOUND"},
		{"a wrong method", "PUT", "/v1/companies/acme/domains", "{}", 405, "METHOD_NOT_ALLOWED"},
		{"a bad page token", "GET", "/v1/companies/acme/domains?pageToken=zzz", "", 400, "INVALID_PAGE_TOKEN"},
		{"an unknown domain", "GET", "/v1/companies/acme/domains/unknown.example", "", 404, "DOMAIN_NOT_FOUND"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.call(t, token, tc.method, tc.path, tc.body)
			if r.status != tc.status || r.reason() != tc.reason {
				t.Fatalf("%d %s, want %d %s", r.status, r.raw, tc.status, tc.reason)
			}
		})
	}
	if list := s.call(t, token, "GET", "/v1/companies/acme/domains", ""); len(list.body) != 0 {
		t.Fatalf("refused calls left domains behind: %s", list.raw)
	}
}

func TestTheEdgeServesHealthReadinessAndTheOpenAPIDocument(t *testing.T) {
	t.Parallel()
	s := startSuite(t, map[string]string{"DATA_DIR": t.TempDir(), "DNS_RESOLVER": dnstest.Start(t).Addr()})
	if r := s.call(t, "", "GET", "/healthz", ""); r.status != 200 {
		t.Fatalf("healthz %d", r.status)
	}
	r := s.call(t, "", "GET", "/openapi.json", "")
	paths, _ := r.body["paths"].(map[string]any)
	if r.status != 200 || paths["/v1/{parent}/domains"] == nil || paths["/v1/{name}:verify"] == nil {
		t.Fatalf("openapi.json: %d, paths %v", r.status, keys(paths))
	}
	deadline := 50
	for {
		r := s.call(t, "", "GET", "/readyz", "")
		if r.status == 200 {
			break
		}
		if deadline--; deadline == 0 {
			t.Fatalf("readyz never became ready: %d %s", r.status, r.raw)
		}
		time.Sleep(100 * time.Millisecond)
	}
	m := s.call(t, "", "GET", "/metrics", "")
	if m.status != 200 || !bytes.Contains([]byte(m.raw), []byte("grpc_server_handled_total")) {
		t.Fatalf("metrics: %d", m.status)
	}
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
