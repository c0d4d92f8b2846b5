package assertion_test

import (
	"context"
	"errors"
	"github.com/iechor/sso/services/platform/ephemeral/ephemeraltest"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	assertionv1 "github.com/iechor/sso/gen/iechor/sso/assertion/v1"
	connectionv1 "github.com/iechor/sso/gen/iechor/sso/connection/v1"
	"github.com/iechor/sso/services/assertion"
	"github.com/iechor/sso/services/assertion/internal/connections/connectiontest"
	"github.com/iechor/sso/services/assertion/internal/fixtures"
	"github.com/iechor/sso/services/assertion/internal/relaystate"
	"github.com/iechor/sso/services/platform/config"
	"github.com/iechor/sso/services/platform/ephemeral"
	"github.com/iechor/sso/services/platform/grpcserver/grpcservertest"
	"github.com/iechor/sso/services/platform/logging"
	"github.com/iechor/sso/services/platform/rpcerror"
	"github.com/iechor/sso/services/platform/sqlstore/sqlstoretest"
)

const browser = "browser-cookie-1"

type env struct {
	client assertionv1.AssertionInternalServiceClient
	log    assertionv1.AssertionServiceClient
	health healthpb.HealthClient
	conns  *connectiontest.Server
	relay  *relaystate.Store
}

func testConfig(connAddr, dsn string) assertion.Config {
	return assertion.Config{
		ListenAddr:         "127.0.0.1:0",
		DatabaseURL:        config.DSN(dsn),
		ConnectionAddr:     connAddr,
		ClockSkew:          90 * time.Second,
		ConnectionCacheTTL: time.Second,
		AttemptRetention:   7 * 24 * time.Hour,
		PruneInterval:      time.Hour,
		AttemptQueue:       10_000,
		AttemptStopTimeout: 5 * time.Second,
	}
}

// start runs the service on loopback against a fresh durable store, the given ephemeral store, a
// stand-in connection service holding the fixture connection, and the fixtures' pinned clock. Its
// caller is the gateway, over mutual TLS with a certificate of the test's CA, as is its own call of
// the connection service.
func start(t testing.TB, dsn string, eph ephemeral.Store) *env {
	t.Helper()
	ca := grpcservertest.NewCA(t)
	standIn, err := ca.Identity("connection").Server()
	if err != nil {
		t.Fatal(err)
	}
	conns := connectiontest.Start(t, grpc.Creds(credentials.NewTLS(standIn)))
	conns.Put(connectiontest.Fixture(t))
	cfg := testConfig(conns.Addr, dsn)
	cfg.TLS = ca.Identity("assertion")
	svc, err := assertion.New(context.Background(), cfg, logging.Discard(), nil,
		assertion.WithEphemeralStore(eph), assertion.WithClock(func() time.Time { return fixtures.Now }))
	if err != nil {
		t.Fatal(err)
	}
	conn := grpcservertest.Serve(t, svc.Serve, ca.Identity("gateway"))
	return &env{client: assertionv1.NewAssertionInternalServiceClient(conn), log: assertionv1.NewAssertionServiceClient(conn), health: healthpb.NewHealthClient(conn), conns: conns, relay: relaystate.New(eph)}
}

func (e *env) begin(t testing.TB, testMode bool) string {
	t.Helper()
	handle, err := e.relay.Save(context.Background(), relaystate.State{RequestID: fixtures.RequestID, Connection: fixtures.ConnectionName,
		BrowserHash: relaystate.HashBinding(browser), FlowData: []byte("hub-flow"), TestMode: testMode, Created: fixtures.Now})
	if err != nil {
		t.Fatal(err)
	}
	return handle
}

func (e *env) post(t testing.TB, fixture, relay string) (*assertionv1.ValidateSamlResponseResponse, error) {
	return e.client.ValidateSamlResponse(context.Background(), &assertionv1.ValidateSamlResponseRequest{
		ConnectionId: fixtures.ConnectionID, SamlResponse: fixtures.Encoded(t, fixture), RelayState: relay, BrowserBinding: browser})
}

func wantReason(t testing.TB, err error, code codes.Code, reason string) map[string]string {
	t.Helper()
	gotCode, gotReason, md := rpcerror.Info(err)
	if gotCode != code || gotReason != reason {
		t.Fatalf("error %v: got %v/%s, want %v/%s", err, gotCode, gotReason, code, reason)
	}
	return md
}

func waitServing(t testing.TB, h healthpb.HealthClient, want healthpb.HealthCheckResponse_ServingStatus) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := h.Check(context.Background(), &healthpb.HealthCheckRequest{Service: assertionv1.AssertionService_ServiceDesc.ServiceName})
		if err == nil && resp.GetStatus() == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("health never became %v: %v, %v", want, resp, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestAssertionServiceOverGRPC(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		redis, _ := ephemeraltest.Redis(t)
		e := start(t, b.DSN(t), redis)
		waitServing(t, e.health, healthpb.HealthCheckResponse_SERVING)

		t.Run("a sign-in starts with a signed AuthnRequest and a stored relay state", func(t *testing.T) {
			resp, err := e.client.BeginSamlLogin(ctx, &assertionv1.BeginSamlLoginRequest{Connection: fixtures.ConnectionID, BrowserBinding: browser, FlowData: []byte("f")})
			if err != nil {
				t.Fatal(err)
			}
			u, err := url.Parse(resp.GetRedirectUrl())
			if err != nil || u.Host != "idp.example.test" || u.Path != "/sso" {
				t.Fatalf("redirect %q", resp.GetRedirectUrl())
			}
			q := u.Query()
			if q.Get("SAMLRequest") == "" || q.Get("RelayState") != resp.GetRelayState() || q.Get("SigAlg") == "" || q.Get("Signature") == "" {
				t.Fatalf("query %v", q)
			}
			if len(resp.GetRelayState()) > 80 || !resp.GetExpireTime().AsTime().Equal(fixtures.Now.Add(10*time.Minute)) {
				t.Fatalf("response %v", resp)
			}
			st, err := e.relay.Consume(ctx, resp.GetRelayState(), browser)
			if err != nil || st.RequestID != resp.GetRequestId() || st.Connection != fixtures.ConnectionName || !st.FromBrowser(browser) || string(st.FlowData) != "f" {
				t.Fatalf("relay state %+v, %v", st, err)
			}
		})

		t.Run("a valid response gives the identity and is recorded as validated, not yet as a sign-in", func(t *testing.T) {
			resp, err := e.post(t, "assertion-signed", e.begin(t, false))
			if err != nil {
				t.Fatal(err)
			}
			id := resp.GetIdentity()
			if id.GetEmail() != "jane.doe@example.com" || id.GetConnection() != fixtures.ConnectionName || id.GetFullName() != "Jane Q. Doe" ||
				len(id.GetGroups()) != 3 || id.GetAssertionId() != "_assertion-assertion-signed" || id.GetIssuer() != fixtures.IdPEntityID ||
				string(resp.GetFlowData()) != "hub-flow" || resp.GetTestMode() || resp.GetAttemptId() == "" {
				t.Fatalf("response %v", resp)
			}
			if s := resp.GetConnectionSettings(); !s.GetJitEnabled() || s.GetOwner() != "companies/acme" || s.GetDefaultOrganization() != "organizations/eng" ||
				s.GetDefaultTeam() != "organizations/eng/teams/devs" || s.GetDefaultSessionMinutes() != 480 || len(s.GetOrganizations()) != 1 {
				t.Fatalf("the settings of the connection that accepted the response: %v", s)
			}
			list, err := e.log.ListLoginAttempts(ctx, &assertionv1.ListLoginAttemptsRequest{Parent: fixtures.ConnectionName})
			if err != nil || len(list.GetLoginAttempts()) == 0 {
				t.Fatalf("attempts %v, %v", list, err)
			}
			a := list.GetLoginAttempts()[0]
			if a.GetOutcome() != assertionv1.LoginOutcome_LOGIN_OUTCOME_UNFINISHED || a.GetName() != fixtures.ConnectionName+"/loginAttempts/"+resp.GetAttemptId() ||
				a.GetEmail() != "jane.doe@example.com" || a.GetFinishTime() != nil {
				t.Fatalf("attempt %v", a)
			}
		})

		t.Run("a failure names the check for the admin and gives the person a reference only", func(t *testing.T) {
			_, err := e.post(t, "bad-audience", e.begin(t, false))
			md := wantReason(t, err, codes.PermissionDenied, "BAD_AUDIENCE")
			if md["check"] != "Audience of the Assertion" || md["wanted"] != fixtures.SPEntityID || md["got"] != "https://other-sp.example.test/metadata" ||
				md["fix_by"] != "FIX_BY_IDP_ADMIN" || md["attempt_id"] == "" || md["test_mode"] != "false" || md["field"] != "saml_response" {
				t.Fatalf("metadata %v", md)
			}
			if msg := err.Error(); strings.Contains(msg, "other-sp") || !strings.Contains(msg, md["attempt_id"]) {
				t.Fatalf("the person's message %q", msg)
			}
			list, _ := e.log.ListLoginAttempts(ctx, &assertionv1.ListLoginAttemptsRequest{Parent: fixtures.ConnectionName, PageSize: 1})
			a := list.GetLoginAttempts()[0]
			if a.GetOutcome() != assertionv1.LoginOutcome_LOGIN_OUTCOME_REFUSED || a.GetReason() != "BAD_AUDIENCE" || a.GetGot() != "https://other-sp.example.test/metadata" ||
				a.GetFixBy() != assertionv1.FixBy_FIX_BY_IDP_ADMIN || a.GetEmail() != "jane.doe@example.com" || a.GetTestMode() {
				t.Fatalf("attempt %v", a)
			}
		})

		t.Run("in test mode the failure message shows the details", func(t *testing.T) {
			_, err := e.post(t, "bad-recipient", e.begin(t, true))
			md := wantReason(t, err, codes.PermissionDenied, "BAD_RECIPIENT")
			if md["test_mode"] != "true" || !strings.Contains(err.Error(), "https://evil.example.test/acs") {
				t.Fatalf("error %v, metadata %v", err, md)
			}
		})

		t.Run("an unsigned failure records nobody", func(t *testing.T) {
			_, err := e.post(t, "signed-by-attacker", e.begin(t, false))
			wantReason(t, err, codes.PermissionDenied, "UNKNOWN_SIGNING_KEY")
			list, _ := e.log.ListLoginAttempts(ctx, &assertionv1.ListLoginAttemptsRequest{Parent: fixtures.ConnectionName, PageSize: 1})
			if a := list.GetLoginAttempts()[0]; a.GetSubject() != "" || a.GetEmail() != "" || a.GetReason() != "UNKNOWN_SIGNING_KEY" {
				t.Fatalf("attempt %v", a)
			}
		})

		t.Run("an unsolicited response is refused with the product's wording", func(t *testing.T) {
			_, err := e.post(t, "unsolicited", "")
			wantReason(t, err, codes.PermissionDenied, "UNSOLICITED_RESPONSE")
			if !strings.Contains(err.Error(), "IdP-Initiated sign in is not enabled for connection 'Acme Okta'.") {
				t.Fatalf("message %v", err)
			}
		})

		t.Run("ten concurrent posts of one response with their own relay states give exactly one success", func(t *testing.T) {
			// A fresh assertion: the earlier subtest used assertion-signed.
			results := race(t, 10, func(int) error {
				_, err := e.post(t, "both-signed", e.begin(t, false))
				return err
			})
			if results[""] != 1 || results["ASSERTION_REPLAYED"] != 9 {
				t.Fatalf("outcomes %v", results)
			}
		})

		t.Run("ten concurrent posts sharing one relay state give exactly one success", func(t *testing.T) {
			relay := e.begin(t, false)
			results := race(t, 10, func(int) error {
				_, err := e.post(t, "response-signed", relay)
				return err
			})
			if results[""] != 1 || results["RELAY_STATE_UNKNOWN"] != 9 {
				t.Fatalf("outcomes %v", results)
			}
		})

		t.Run("attempts list newest first, page by page", func(t *testing.T) {
			var names []string
			token := ""
			for {
				page, err := e.log.ListLoginAttempts(ctx, &assertionv1.ListLoginAttemptsRequest{Parent: fixtures.ConnectionName, PageSize: 4, PageToken: token})
				if err != nil {
					t.Fatal(err)
				}
				for _, a := range page.GetLoginAttempts() {
					names = append(names, a.GetName())
				}
				if token = page.GetNextPageToken(); token == "" {
					break
				}
			}
			seen := map[string]bool{}
			for _, n := range names {
				if seen[n] {
					t.Fatalf("attempt %s listed twice", n)
				}
				seen[n] = true
			}
			if len(names) < 25 {
				t.Fatalf("%d attempts listed", len(names))
			}
		})

		t.Run("bad input gets a typed error and changes nothing", func(t *testing.T) {
			for _, tc := range []struct {
				name   string
				call   func() error
				code   codes.Code
				reason string
			}{
				{"begin without a connection", func() error {
					_, err := e.client.BeginSamlLogin(ctx, &assertionv1.BeginSamlLoginRequest{BrowserBinding: browser})
					return err
				}, codes.InvalidArgument, "MISSING_FIELD"},
				{"begin without a browser binding", func() error {
					_, err := e.client.BeginSamlLogin(ctx, &assertionv1.BeginSamlLoginRequest{Connection: fixtures.ConnectionID})
					return err
				}, codes.InvalidArgument, "MISSING_FIELD"},
				{"begin with too much flow data", func() error {
					_, err := e.client.BeginSamlLogin(ctx, &assertionv1.BeginSamlLoginRequest{Connection: fixtures.ConnectionID, BrowserBinding: browser, FlowData: make([]byte, 4097)})
					return err
				}, codes.InvalidArgument, "FLOW_DATA_TOO_LARGE"},
				{"begin with an unknown connection", func() error {
					_, err := e.client.BeginSamlLogin(ctx, &assertionv1.BeginSamlLoginRequest{Connection: "conn_nope", BrowserBinding: browser})
					return err
				}, codes.NotFound, "CONNECTION_NOT_FOUND"},
				{"validate without a response", func() error {
					_, err := e.client.ValidateSamlResponse(ctx, &assertionv1.ValidateSamlResponseRequest{ConnectionId: fixtures.ConnectionID})
					return err
				}, codes.InvalidArgument, "MISSING_FIELD"},
				{"validate for an unknown connection", func() error {
					_, err := e.client.ValidateSamlResponse(ctx, &assertionv1.ValidateSamlResponseRequest{ConnectionId: "conn_nope", SamlResponse: "x"})
					return err
				}, codes.NotFound, "CONNECTION_NOT_FOUND"},
				{"validate something that is not XML", func() error {
					_, err := e.client.ValidateSamlResponse(ctx, &assertionv1.ValidateSamlResponseRequest{ConnectionId: fixtures.ConnectionID,
						SamlResponse: "bm90IHhtbA==", RelayState: e.begin(t, false), BrowserBinding: browser})
					return err
				}, codes.InvalidArgument, "MALFORMED_XML"},
				{"list with a malformed parent", func() error {
					_, err := e.log.ListLoginAttempts(ctx, &assertionv1.ListLoginAttemptsRequest{Parent: "companies/acme"})
					return err
				}, codes.InvalidArgument, "INVALID_NAME"},
				{"list with a foreign page token", func() error {
					_, err := e.log.ListLoginAttempts(ctx, &assertionv1.ListLoginAttemptsRequest{Parent: fixtures.ConnectionName, PageToken: "garbage"})
					return err
				}, codes.InvalidArgument, "INVALID_PAGE_TOKEN"},
				{"list with a negative page size", func() error {
					_, err := e.log.ListLoginAttempts(ctx, &assertionv1.ListLoginAttemptsRequest{Parent: fixtures.ConnectionName, PageSize: -1})
					return err
				}, codes.InvalidArgument, "INVALID_PAGE_SIZE"},
			} {
				wantReason(t, tc.call(), tc.code, tc.reason)
			}
		})

		t.Run("a draft connection starts only test sign-ins", func(t *testing.T) {
			draft := connectiontest.Fixture(t)
			draft.Name = "companies/acme/connections/conn_draft"
			draft.State = connectionv1.ConnectionState_CONNECTION_STATE_DRAFT
			e.conns.Put(draft)
			_, err := e.client.BeginSamlLogin(ctx, &assertionv1.BeginSamlLoginRequest{Connection: "conn_draft", BrowserBinding: browser})
			wantReason(t, err, codes.FailedPrecondition, "CONNECTION_INACTIVE")
			if _, err := e.client.BeginSamlLogin(ctx, &assertionv1.BeginSamlLoginRequest{Connection: "conn_draft", BrowserBinding: browser, TestMode: true}); err != nil {
				t.Fatal(err)
			}
		})

		t.Run("a connection that cannot run a sign-in says what to fix", func(t *testing.T) {
			bad := connectiontest.Fixture(t)
			bad.Name = "companies/acme/connections/conn_bad_url"
			bad.IdpSsoUrl = "javascript:alert(1)"
			e.conns.Put(bad)
			_, err := e.client.BeginSamlLogin(ctx, &assertionv1.BeginSamlLoginRequest{Connection: "conn_bad_url", BrowserBinding: browser})
			if md := wantReason(t, err, codes.FailedPrecondition, "CONNECTION_MISCONFIGURED"); md["field"] != "idp_sso_url" {
				t.Fatalf("metadata %v", md)
			}
			oidc := connectiontest.Fixture(t)
			oidc.Name = "companies/acme/connections/conn_oidc"
			oidc.Type = connectionv1.ConnectionType_CONNECTION_TYPE_OIDC
			e.conns.Put(oidc)
			_, err = e.client.BeginSamlLogin(ctx, &assertionv1.BeginSamlLoginRequest{Connection: "conn_oidc", BrowserBinding: browser})
			wantReason(t, err, codes.FailedPrecondition, "NOT_A_SAML_CONNECTION")
		})
	})
}

// race runs fn n times at once and counts the outcomes by ErrorInfo reason ("" for success).
func race(t *testing.T, n int, fn func(i int) error) map[string]int {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	out := map[string]int{}
	startGate := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-startGate
			err := fn(i)
			mu.Lock()
			out[rpcerror.Reason(err)]++
			mu.Unlock()
		}()
	}
	close(startGate)
	wg.Wait()
	return out
}

func TestAStoppedRedisFailsClosed(t *testing.T) {
	t.Parallel()
	e := start(t, sqlstoretest.SQLiteDSN(t), ephemeraltest.DeadRedis(t))
	waitServing(t, e.health, healthpb.HealthCheckResponse_NOT_SERVING)
	ctx := context.Background()
	_, err := e.client.BeginSamlLogin(ctx, &assertionv1.BeginSamlLoginRequest{Connection: fixtures.ConnectionID, BrowserBinding: browser})
	wantReason(t, err, codes.Unavailable, "EPHEMERAL_STORE_UNAVAILABLE")
	_, err = e.client.ValidateSamlResponse(ctx, &assertionv1.ValidateSamlResponseRequest{ConnectionId: fixtures.ConnectionID,
		SamlResponse: fixtures.Encoded(t, "assertion-signed"), RelayState: "aGFuZGxlLW9mLWEtc2lnbi1pbg", BrowserBinding: browser})
	md := wantReason(t, err, codes.Unavailable, "EPHEMERAL_STORE_UNAVAILABLE")
	list, lerr := e.log.ListLoginAttempts(ctx, &assertionv1.ListLoginAttemptsRequest{Parent: fixtures.ConnectionName})
	if lerr != nil || len(list.GetLoginAttempts()) != 1 || list.GetLoginAttempts()[0].GetReason() != "EPHEMERAL_STORE_UNAVAILABLE" ||
		!strings.HasSuffix(list.GetLoginAttempts()[0].GetName(), md["attempt_id"]) {
		t.Fatalf("attempts %v, %v", list, lerr)
	}
}

func TestAnUnreachableConnectionServiceIsUnavailable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	mem := ephemeral.NewMemory()
	defer mem.Close()
	ca := grpcservertest.NewCA(t)
	cfg := testConfig("127.0.0.1:1", sqlstoretest.SQLiteDSN(t))
	cfg.TLS = ca.Identity("assertion")
	svc, err := assertion.New(ctx, cfg, logging.Discard(), nil, assertion.WithEphemeralStore(mem))
	if err != nil {
		t.Fatal(err)
	}
	conn := grpcservertest.Serve(t, svc.Serve, ca.Identity("gateway"))
	cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
	defer ccancel()
	_, err = assertionv1.NewAssertionInternalServiceClient(conn).BeginSamlLogin(cctx, &assertionv1.BeginSamlLoginRequest{Connection: "conn_a", BrowserBinding: browser})
	wantReason(t, err, codes.Unavailable, "CONNECTION_SERVICE_UNAVAILABLE")
}

func TestConfiguration(t *testing.T) {
	t.Parallel()
	load := func(m map[string]string) (assertion.Config, error) {
		return assertion.LoadConfig(config.NewReader(config.MapLookup(m)))
	}
	t.Run("the defaults run on a laptop", func(t *testing.T) {
		c, err := load(nil)
		if err != nil {
			t.Fatal(err)
		}
		if c.ListenAddr != "127.0.0.1:9104" || c.ConnectionAddr != "127.0.0.1:9103" || c.DatabaseURL.Reveal() != "sqlite:./data/assertion.db" ||
			c.ClockSkew != 90*time.Second || c.AttemptRetention != 7*24*time.Hour || c.ConnectionCacheTTL != 5*time.Second {
			t.Fatalf("%+v", c)
		}
	})
	t.Run("the service's database wins over the shared one", func(t *testing.T) {
		c, _ := load(map[string]string{"DATABASE_URL": "postgres://a/b", "ASSERTION_DATABASE_URL": "sqlite:./attempts.db"})
		if c.DatabaseURL.Reveal() != "sqlite:./attempts.db" {
			t.Fatal(c.DatabaseURL)
		}
		c, _ = load(map[string]string{"DATABASE_URL": "postgres://a/b"})
		if c.DatabaseURL.Reveal() != "postgres://a/b" {
			t.Fatal(c.DatabaseURL)
		}
	})
	for _, tc := range []struct {
		name string
		env  map[string]string
	}{
		{"a skew over 180 seconds is refused", map[string]string{"ASSERTION_CLOCK_SKEW": "181s"}},
		{"a negative skew is refused", map[string]string{"ASSERTION_CLOCK_SKEW": "-1s"}},
		{"a skew that is not a duration is refused", map[string]string{"ASSERTION_CLOCK_SKEW": "ninety"}},
		{"a cache TTL over a minute is refused", map[string]string{"ASSERTION_CONNECTION_CACHE_TTL": "2m"}},
		{"a retention under an hour is refused", map[string]string{"ASSERTION_ATTEMPT_RETENTION": "5m"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := load(tc.env); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	t.Run("alone without Redis the service refuses to start unless told to run in process", func(t *testing.T) {
		c, _ := load(nil)
		c.DatabaseURL = config.DSN(sqlstoretest.SQLiteDSN(t))
		if _, err := assertion.New(context.Background(), c, logging.Discard(), nil); !errors.Is(err, ephemeral.ErrNotConfigured) {
			t.Fatalf("error %v", err)
		}
		for _, opts := range [][]assertion.Option{{assertion.AllowInProcessStore()}, nil} {
			c := c
			if opts == nil {
				c.Ephemeral.InProcess = true // EPHEMERAL_STORE=memory
			}
			svc, err := assertion.New(context.Background(), c, logging.Discard(), nil, opts...)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			lis, _ := net.Listen("tcp", "127.0.0.1:0")
			cancel()
			_ = svc.Serve(ctx, lis)
		}
	})
}
