package provisioning_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	domainv1 "github.com/iechor/sso/gen/iechor/sso/domain/v1"
	provisioningv1 "github.com/iechor/sso/gen/iechor/sso/provisioning/v1"
	"github.com/iechor/sso/services/domain"
	"github.com/iechor/sso/services/platform/callmeta"
	"github.com/iechor/sso/services/platform/config"
	"github.com/iechor/sso/services/platform/dnstest"
	"github.com/iechor/sso/services/platform/grpcserver/grpcservertest"
	"github.com/iechor/sso/services/platform/logging"
	"github.com/iechor/sso/services/platform/mtls"
	"github.com/iechor/sso/services/platform/rpcerror"
	"github.com/iechor/sso/services/platform/sqlstore/sqlstoretest"
	"github.com/iechor/sso/services/provisioning"
)

// env is a provisioning service on a fresh store, talking to a real domain service whose DNS is a
// test server, both on loopback, and the clients of its callers, each over mutual TLS with its own
// certificate: the admin API and the sign-in calls of the gateway, the connection service's, and an
// operator's.
type env struct {
	dir        provisioningv1.DirectoryServiceClient
	internal   provisioningv1.ProvisioningInternalServiceClient // as the gateway
	connection provisioningv1.ProvisioningInternalServiceClient // as the connection service
	operator   provisioningv1.ProvisioningInternalServiceClient // as an operator
	domains    domainv1.DomainServiceClient
	dns        *dnstest.Server
	conn       *grpc.ClientConn
	dsn        string
}

// serve runs a service's Serve on a loopback port until t ends, and returns its address.
func serve(t testing.TB, run func(ctx context.Context, lis net.Listener) error) string {
	t.Helper()
	return grpcservertest.Serve(t, run, mtls.Config{}).Target()
}

// testCA issues the certificates of the services these tests start and of the callers they play.
var testCA = sync.OnceValue(func() *mtls.CA {
	ca, err := mtls.NewCA(mtls.DefaultTrustDomain)
	if err != nil {
		panic(err)
	}
	return ca
})

// identity is the certificate of the service or caller name.
func identity(t testing.TB, name string) mtls.Config {
	t.Helper()
	c, err := testCA().Issue(name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// dial connects to addr as the caller as.
func dial(t testing.TB, addr, as string) *grpc.ClientConn {
	t.Helper()
	return grpcservertest.Dial(t, addr, identity(t, as))
}

// startDomain runs the real domain service on SQLite with a test DNS server.
func startDomain(t testing.TB) (string, *dnstest.Server) {
	t.Helper()
	dnsSrv := dnstest.Start(t)
	cfg := domain.Config{ListenAddr: "127.0.0.1:0", DNSResolvers: []string{dnsSrv.Addr()}, DNSTimeout: 2 * time.Second,
		RecheckInterval: time.Hour, CheckWindow: 72 * time.Hour, DatabaseURL: config.DSN(sqlstoretest.SQLiteDSN(t)),
		TLS: identity(t, "domain")}
	svc, err := domain.New(context.Background(), cfg, logging.Discard(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return serve(t, svc.Serve), dnsSrv
}

// startProvisioning runs the provisioning service on dsn, asking the domain service at domainAddr.
func startProvisioning(t testing.TB, dsn, domainAddr string) string {
	t.Helper()
	cfg := provisioning.Config{ListenAddr: "127.0.0.1:0", DatabaseURL: config.DSN(dsn), DomainAddr: domainAddr, DomainTimeout: 3 * time.Second,
		TLS: identity(t, "provisioning")}
	svc, err := provisioning.New(context.Background(), cfg, logging.Discard(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return serve(t, svc.Serve)
}

func start(t testing.TB, b sqlstoretest.Backend) *env {
	t.Helper()
	domainAddr, dnsSrv := startDomain(t)
	dsn := b.DSN(t)
	addr := startProvisioning(t, dsn, domainAddr)
	conn := dial(t, addr, "gateway")
	return &env{
		dir:        provisioningv1.NewDirectoryServiceClient(conn),
		internal:   provisioningv1.NewProvisioningInternalServiceClient(conn),
		connection: provisioningv1.NewProvisioningInternalServiceClient(dial(t, addr, "connection")),
		operator:   provisioningv1.NewProvisioningInternalServiceClient(dial(t, addr, "operator")),
		domains:    domainv1.NewDomainServiceClient(dial(t, domainAddr, "gateway")),
		dns:        dnsSrv,
		conn:       conn,
		dsn:        dsn,
	}
}

// verify makes owner verify domainName in the real domain service.
func (e *env) verify(t testing.TB, owner, domainName string) {
	t.Helper()
	ctx := context.Background()
	created, err := e.domains.CreateDomain(ctx, &domainv1.CreateDomainRequest{Parent: owner, DomainName: domainName})
	if err != nil {
		t.Fatal(err)
	}
	e.dns.SetTXT(domainName, created.GetDomain().GetTxtRecord().GetValue())
	if _, err := e.domains.VerifyDomain(ctx, &domainv1.VerifyDomainRequest{Name: created.GetDomain().GetName()}); err != nil {
		t.Fatal(err)
	}
}

// as returns a context whose calls act as actor.
func as(actor string) context.Context {
	return callmeta.WithActor(context.Background(), actor)
}

func wantReason(t testing.TB, err error, code codes.Code, reason string) map[string]string {
	t.Helper()
	gotCode, gotReason, md := rpcerror.Info(err)
	if gotCode != code || gotReason != reason {
		t.Fatalf("error %v: got %v/%s, want %v/%s", err, gotCode, gotReason, code, reason)
	}
	return md
}

func wantField(t testing.TB, err error, code codes.Code, reason, field string) {
	t.Helper()
	if md := wantReason(t, err, code, reason); md["field"] != field {
		t.Fatalf("error %v names field %q, want %q", err, md["field"], field)
	}
}

func noErr(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
