package connection_test

import (
	"context"
	"crypto/tls"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"

	connectionv1 "github.com/iechor/sso/gen/iechor/sso/connection/v1"
	domainv1 "github.com/iechor/sso/gen/iechor/sso/domain/v1"
	provisioningv1 "github.com/iechor/sso/gen/iechor/sso/provisioning/v1"
	"github.com/iechor/sso/services/connection"
	"github.com/iechor/sso/services/connection/internal/seal"
	"github.com/iechor/sso/services/domain"
	"github.com/iechor/sso/services/platform/config"
	"github.com/iechor/sso/services/platform/dnstest"
	"github.com/iechor/sso/services/platform/grpcserver/grpcservertest"
	"github.com/iechor/sso/services/platform/logging"
	"github.com/iechor/sso/services/platform/metrics"
	"github.com/iechor/sso/services/platform/rpcerror"
	"github.com/iechor/sso/services/platform/sqlstore/sqlstoretest"
)

// directory stands in for the provisioning service, which is built alongside this one: a real gRPC
// server on loopback whose companies, organizations and teams are maps, and which keeps the audit
// events it is sent. It can be stopped and started again on the same address to play an outage.
type directory struct {
	provisioningv1.UnimplementedProvisioningInternalServiceServer

	mu        sync.Mutex
	companies map[string]bool
	orgs      map[string]*provisioningv1.Organization
	teams     map[string]bool
	events    []*provisioningv1.RecordAuditEventRequest

	addr string
	tls  *tls.Config
	srv  *grpc.Server
	done chan struct{}
}

func startDirectory(t testing.TB, ca *grpcservertest.CA) *directory {
	t.Helper()
	serverTLS, err := ca.Identity("provisioning").Server()
	if err != nil {
		t.Fatal(err)
	}
	d := &directory{
		tls:       serverTLS,
		companies: map[string]bool{"companies/acme": true, "companies/rival": true},
		orgs: map[string]*provisioningv1.Organization{
			"organizations/eng":       {Name: "organizations/eng", Company: "companies/acme", Plan: provisioningv1.Plan_PLAN_BUSINESS},
			"organizations/ops":       {Name: "organizations/ops", Company: "companies/acme", Plan: provisioningv1.Plan_PLAN_TEAM},
			"organizations/rival-org": {Name: "organizations/rival-org", Company: "companies/rival", Plan: provisioningv1.Plan_PLAN_BUSINESS},
			"organizations/solo":      {Name: "organizations/solo", Plan: provisioningv1.Plan_PLAN_BUSINESS},
			"organizations/free":      {Name: "organizations/free", Plan: provisioningv1.Plan_PLAN_FREE},
		},
		teams: map[string]bool{"organizations/eng/teams/devs": true, "organizations/ops/teams/oncall": true, "organizations/solo/teams/core": true},
		addr:  "127.0.0.1:0",
	}
	d.start(t)
	t.Cleanup(d.stop)
	return d
}

func (d *directory) start(t testing.TB) {
	t.Helper()
	var lis net.Listener
	var err error
	// Rebinding the port of a server that just stopped can take a moment.
	for deadline := time.Now().Add(5 * time.Second); ; {
		if lis, err = net.Listen("tcp", d.addr); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	d.addr = lis.Addr().String()
	d.srv = grpc.NewServer(grpc.Creds(credentials.NewTLS(d.tls)))
	provisioningv1.RegisterProvisioningInternalServiceServer(d.srv, d)
	d.done = make(chan struct{})
	go func() { _ = d.srv.Serve(lis); close(d.done) }()
}

func (d *directory) stop() {
	if d.srv != nil {
		d.srv.Stop()
		<-d.done
		d.srv = nil
	}
}

func (d *directory) LookupTenancy(_ context.Context, req *provisioningv1.LookupTenancyRequest) (*provisioningv1.LookupTenancyResponse, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	resp := &provisioningv1.LookupTenancyResponse{}
	for _, name := range req.GetNames() {
		e := &provisioningv1.TenancyEntry{Name: name, Exists: d.companies[name] || d.teams[name]}
		if o, ok := d.orgs[name]; ok {
			e.Exists, e.Company, e.Plan = true, o.GetCompany(), o.GetPlan()
		}
		resp.Entries = append(resp.Entries, e)
	}
	return resp, nil
}

func (d *directory) RecordAuditEvent(_ context.Context, req *provisioningv1.RecordAuditEventRequest) (*provisioningv1.RecordAuditEventResponse, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.events = append(d.events, req)
	return &provisioningv1.RecordAuditEventResponse{Event: req.GetEvent()}, nil
}

// recorded returns the audit events received so far.
func (d *directory) recorded() []*provisioningv1.RecordAuditEventRequest {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]*provisioningv1.RecordAuditEventRequest(nil), d.events...)
}

// env is a connection service with real peers: the real domain service (with a test DNS server to
// verify domains) and the directory stand-in.
type env struct {
	replica
	t       testing.TB
	ca      *grpcservertest.CA
	domains domainv1.DomainServiceClient
	dns     *dnstest.Server
	dir     *directory
	cfg     connection.Config
	// metrics are the first replica's: tests wait on what its audit relay reports.
	metrics *metrics.Registry
}

type setup func(*connection.Config, *connection.Options)

func newEnv(t testing.TB, b sqlstoretest.Backend, setups ...setup) *env {
	t.Helper()
	ca := grpcservertest.NewCA(t)
	e := &env{t: t, ca: ca, dns: dnstest.Start(t), dir: startDirectory(t, ca)}
	domainAddr, domains := startDomainService(t, ca, e.dns)
	e.domains = domains
	e.cfg = connection.Config{
		ListenAddr:           "127.0.0.1:0",
		DatabaseURL:          config.DSN(b.DSN(t)),
		DomainAddr:           domainAddr,
		ProvisioningAddr:     e.dir.addr,
		PublicBaseURL:        "https://sso.iechor.test",
		EncryptionKey:        config.Secret(seal.NewKey()),
		SPKeyBits:            2048,
		SPCertValidity:       10 * 365 * 24 * time.Hour,
		ChangePollInterval:   50 * time.Millisecond,
		AuditRetryMax:        200 * time.Millisecond,
		MetadataFetchTimeout: 20 * time.Second,
		MetadataMaxBytes:     1 << 20,
		PeerTimeout:          20 * time.Second,
		TLS:                  ca.Identity("connection"),
	}
	e.metrics = metrics.NewRegistry()
	e.replica = e.serve(t, e.metrics, setups...)
	return e
}

// replica is one instance of the service and the clients of its callers: the admin API and the
// sign-in calls of the gateway, and the runtime calls of the assertion service.
type replica struct {
	client   connectionv1.ConnectionServiceClient
	internal connectionv1.ConnectionInternalServiceClient
	runtime  connectionv1.ConnectionInternalServiceClient
	cc       *grpc.ClientConn
}

// startReplica starts another instance of the service on the same store and peers.
func (e *env) startReplica(t testing.TB, setups ...setup) replica {
	t.Helper()
	return e.serve(t, nil, setups...)
}

// serve starts an instance of the service registering its metrics in reg (none when nil).
func (e *env) serve(t testing.TB, reg *metrics.Registry, setups ...setup) replica {
	t.Helper()
	cfg := e.cfg
	var opts connection.Options
	for _, s := range setups {
		s(&cfg, &opts)
	}
	svc, err := connection.NewWithOptions(context.Background(), cfg, logging.Discard(), reg, opts)
	if err != nil {
		t.Fatal(err)
	}
	cc := grpcservertest.Serve(t, svc.Serve, e.ca.Identity("gateway"))
	return replica{
		client:   connectionv1.NewConnectionServiceClient(cc),
		internal: connectionv1.NewConnectionInternalServiceClient(cc),
		runtime:  connectionv1.NewConnectionInternalServiceClient(e.ca.Dial(cc.Target(), "assertion")),
		cc:       cc,
	}
}

func startDomainService(t testing.TB, ca *grpcservertest.CA, dnsSrv *dnstest.Server) (string, domainv1.DomainServiceClient) {
	t.Helper()
	cfg := domain.Config{
		ListenAddr:      "127.0.0.1:0",
		DatabaseURL:     config.DSN(sqlstoretest.SQLiteDSN(t)),
		DNSResolvers:    []string{dnsSrv.Addr()},
		DNSTimeout:      10 * time.Second,
		RecheckInterval: time.Hour,
		CheckWindow:     72 * time.Hour,
		TLS:             ca.Identity("domain"),
	}
	svc, err := domain.New(context.Background(), cfg, logging.Discard(), nil)
	if err != nil {
		t.Fatal(err)
	}
	cc := grpcservertest.Serve(t, svc.Serve, ca.Identity("gateway"))
	return cc.Target(), domainv1.NewDomainServiceClient(cc)
}

// verify has owner add and verify domain through the real domain service.
func (e *env) verify(owner, name string) {
	e.t.Helper()
	ctx := context.Background()
	r, err := e.domains.CreateDomain(ctx, &domainv1.CreateDomainRequest{Parent: owner, DomainName: name})
	if err != nil {
		e.t.Fatal(err)
	}
	e.dns.SetTXT(name, r.GetDomain().GetTxtRecord().GetValue())
	if _, err := e.domains.VerifyDomain(ctx, &domainv1.VerifyDomainRequest{Name: r.GetDomain().GetName()}); err != nil {
		e.t.Fatal(err)
	}
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func wantReason(t testing.TB, err error, code codes.Code, reason, field string) {
	t.Helper()
	gotCode, gotReason, md := rpcerror.Info(err)
	if gotCode != code || gotReason != reason {
		t.Fatalf("error %v: got %v/%s, want %v/%s", err, gotCode, gotReason, code, reason)
	}
	if field != "" && md["field"] != field {
		t.Fatalf("error %v names field %q, want %q", err, md["field"], field)
	}
}

// metric is the value of the first replica's metric name (0 when it has none yet).
func (e *env) metric(name string) float64 {
	e.t.Helper()
	families, err := e.metrics.Gatherer().Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			}
		}
	}
	return 0
}

// eventually retries check until it passes or timeout elapses.
func eventually(t testing.TB, timeout time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
