package callers_test

import (
	"context"
	"crypto/tls"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoregistry"

	optionsv1 "github.com/iechor/sso/gen/iechor/sso/options/v1"
	"github.com/iechor/sso/services/platform/callers"
	"github.com/iechor/sso/services/platform/callers/callerstest"
	"github.com/iechor/sso/services/platform/grpcserver"
	"github.com/iechor/sso/services/platform/logging"
	"github.com/iechor/sso/services/platform/mtls"
)

// probe is declared as the suite's services are: Call by the gateway, the stream Watch by the
// assertion service, Undeclared by no one.
const probe = "iechor.sso.test.v1.Probe"

func init() {
	err := callerstest.Register(probe, []optionsv1.Caller{optionsv1.Caller_CALLER_GATEWAY},
		[]optionsv1.Caller{optionsv1.Caller_CALLER_ASSERTION})
	if err != nil {
		panic(err)
	}
}

// server is the probe served by a real grpcserver: the interceptor chain every service runs.
type server struct {
	addr string
	ran  atomic.Int32 // handlers that ran
	logs *syncBuffer
}

func start(t *testing.T, security mtls.Config) *server {
	t.Helper()
	s := &server{logs: &syncBuffer{}}
	tlsConfig, err := security.Server()
	if err != nil {
		t.Fatal(err)
	}
	gs := grpcserver.New(grpcserver.Options{
		Logger: logging.New(s.logs, "info", "test"), TLS: tlsConfig,
		TrustDomain: security.TrustDomain, AllowUnidentifiedCallers: security.AllowUnidentifiedCallers,
	})
	gs.RegisterService(callerstest.Desc(probe, callerstest.Handlers{
		Call:  func(context.Context) error { s.ran.Add(1); return nil },
		Watch: func(_ context.Context, send func() error) error { s.ran.Add(1); return send() },
	}), struct{}{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gs.Serve(ctx, lis) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	s.addr = lis.Addr().String()
	return s
}

// dial connects with grpc-go alone, so that the test sees the server's answer as it is on the wire
// (grpcclient would turn a refusal of the caller into an error of its own).
func dial(t *testing.T, addr string, tlsConfig *tls.Config) *grpc.ClientConn {
	t.Helper()
	creds := insecure.NewCredentials()
	if tlsConfig != nil {
		creds = credentials.NewTLS(tlsConfig)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func client(t *testing.T, c mtls.Config) *tls.Config {
	t.Helper()
	tlsConfig, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	return tlsConfig
}

func issue(t *testing.T, ca *mtls.CA, name string) mtls.Config {
	t.Helper()
	c, err := ca.Issue(name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newCA(t *testing.T, trustDomain string) *mtls.CA {
	t.Helper()
	ca, err := mtls.NewCA(trustDomain)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// reason is the code and ErrorInfo reason of err as the client sees it.
func reason(err error) (codes.Code, string) {
	st := status.Convert(err)
	for _, d := range st.Details() {
		if info, ok := d.(interface{ GetReason() string }); ok {
			return st.Code(), info.GetReason()
		}
	}
	return st.Code(), ""
}

func TestTheCallerCheck(t *testing.T) {
	ca := newCA(t, mtls.DefaultTrustDomain)
	srv := start(t, issue(t, ca, "connection"))
	call := func(ctx context.Context, conn *grpc.ClientConn) error { return callerstest.Call(ctx, conn, probe) }
	watch := func(ctx context.Context, conn *grpc.ClientConn) error { return callerstest.Watch(ctx, conn, probe) }
	undeclared := func(ctx context.Context, conn *grpc.ClientConn) error {
		return callerstest.Undeclared(ctx, conn, probe)
	}

	// A certificate that names the gateway, signed by a CA the server does not trust.
	forged := client(t, issue(t, newCA(t, mtls.DefaultTrustDomain), "gateway"))
	forged.RootCAs = client(t, issue(t, ca, "gateway")).RootCAs // it trusts the server's CA
	own := forged.Certificates[0]
	forged.Certificates = nil
	forged.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &own, nil }

	noCert := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: client(t, issue(t, ca, "gateway")).RootCAs}

	for _, tc := range []struct {
		name   string
		as     *tls.Config
		do     func(context.Context, *grpc.ClientConn) error
		code   codes.Code
		reason string
		log    string // what the refusal's log line must say of the caller
	}{
		{"the gateway calls a method that lists it", client(t, issue(t, ca, "gateway")), call, codes.OK, "", ""},
		{"a caller the method does not list is refused", client(t, issue(t, ca, "assertion")), call, codes.PermissionDenied, "CALLER_NOT_ALLOWED", `"caller":"assertion"`},
		{"a caller that is no service of the suite is refused", client(t, issue(t, ca, "stranger")), call, codes.PermissionDenied, "CALLER_NOT_ALLOWED", `"caller":"stranger"`},
		{"a call without a certificate is refused", noCert, call, codes.Unauthenticated, "CALLER_UNIDENTIFIED", `"caller":"unidentified"`},
		{"a certificate of another CA fails the handshake", forged, call, codes.Unavailable, "", ""},
		{"the assertion service opens the stream that lists it", client(t, issue(t, ca, "assertion")), watch, codes.OK, "", ""},
		{"a stream is refused to a caller it does not list", client(t, issue(t, ca, "gateway")), watch, codes.PermissionDenied, "CALLER_NOT_ALLOWED", `"caller":"gateway"`},
		{"a stream is refused without a certificate", noCert, watch, codes.Unauthenticated, "CALLER_UNIDENTIFIED", `"caller":"unidentified"`},
		{"a method that declares no callers is refused to every caller", client(t, issue(t, ca, "gateway")), undeclared, codes.PermissionDenied, "CALLER_NOT_ALLOWED", "declares no callers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ran := srv.ran.Load()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := tc.do(ctx, dial(t, srv.addr, tc.as))
			if code, why := reason(err); code != tc.code || why != tc.reason {
				t.Fatalf("got %v %s (%v), want %v %s", code, why, err, tc.code, tc.reason)
			}
			if handled := srv.ran.Load() - ran; (tc.code == codes.OK) != (handled == 1) {
				t.Fatalf("%d handlers ran", handled)
			}
			if tc.log != "" && !strings.Contains(srv.logs.String(), tc.log) {
				t.Fatalf("the refusal's log does not say %s:\n%s", tc.log, srv.logs.String())
			}
		})
	}

	t.Run("a certificate of the CA that names another trust domain is refused", func(t *testing.T) {
		security := issue(t, ca, "connection")
		security.TrustDomain = "other.internal"
		elsewhere := start(t, security)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := callerstest.Call(ctx, dial(t, elsewhere.addr, client(t, issue(t, ca, "gateway"))), probe)
		if code, why := reason(err); code != codes.Unauthenticated || why != "CALLER_UNIDENTIFIED" || elsewhere.ran.Load() != 0 {
			t.Fatalf("got %v %s, %d handlers ran", code, why, elsewhere.ran.Load())
		}
		if !strings.Contains(elsewhere.logs.String(), "names no service of this trust domain") {
			t.Fatalf("the log does not say why:\n%s", elsewhere.logs.String())
		}
	})

	t.Run("health and reflection are open to a caller without a certificate", func(t *testing.T) {
		conn := dial(t, srv.addr, noCert)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
			t.Fatalf("health: %v", err)
		}
		stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
		if err == nil {
			err = stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}})
		}
		var resp *reflectionpb.ServerReflectionResponse
		if err == nil {
			resp, err = stream.Recv()
		}
		if err != nil || !strings.Contains(resp.String(), probe) {
			t.Fatalf("reflection: %v, %v", resp, err)
		}
	})
}

func TestWithoutMutualTLSEveryCallIsRefusedUnlessTheDevelopmentSwitchLetsItIn(t *testing.T) {
	for _, tc := range []struct {
		name       string
		allow      bool
		call       codes.Code
		undeclared codes.Code
	}{
		{"a service without mutual TLS fails closed", false, codes.Unauthenticated, codes.PermissionDenied},
		{"the development switch lets a call without a certificate into a declared method only", true, codes.OK, codes.PermissionDenied},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := start(t, mtls.Config{AllowUnidentifiedCallers: tc.allow})
			conn := dial(t, srv.addr, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if code, _ := reason(callerstest.Call(ctx, conn, probe)); code != tc.call {
				t.Fatalf("Call: %v, want %v", code, tc.call)
			}
			if code, _ := reason(callerstest.Watch(ctx, conn, probe)); code != tc.call {
				t.Fatalf("Watch: %v, want %v", code, tc.call)
			}
			if code, _ := reason(callerstest.Undeclared(ctx, conn, probe)); code != tc.undeclared {
				t.Fatalf("Undeclared: %v, want %v", code, tc.undeclared)
			}
			if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
				t.Fatalf("health is not open: %v", err)
			}
		})
	}
}

func TestTheTableIsWhatTheDescriptorsDeclare(t *testing.T) {
	table := callers.FromServices(protoregistry.GlobalFiles, probe, "iechor.sso.test.v1.Missing")
	for _, tc := range []struct {
		method string
		want   string
	}{
		{"/" + probe + "/Call", "gateway"},
		{"/" + probe + "/Watch", "assertion"},
		{"/" + probe + "/Undeclared", ""},
		{"/" + probe + "/Unknown", ""},
		{"/iechor.sso.test.v1.Missing/Call", ""},
	} {
		if got := strings.Join(table.Callers(tc.method), ","); got != tc.want {
			t.Errorf("%s: callers %q, want %q", tc.method, got, tc.want)
		}
	}
	if got := callers.Name(optionsv1.Caller_CALLER_PROVISIONING); got != "provisioning" {
		t.Errorf("CALLER_PROVISIONING is named %q", got)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
