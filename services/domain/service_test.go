package domain_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	domainv1 "github.com/iechor/sso/gen/iechor/sso/domain/v1"
	"github.com/iechor/sso/services/domain"
	"github.com/iechor/sso/services/platform/config"
	"github.com/iechor/sso/services/platform/dnstest"
	"github.com/iechor/sso/services/platform/grpcserver/grpcservertest"
	"github.com/iechor/sso/services/platform/logging"
	"github.com/iechor/sso/services/platform/rpcerror"
	"github.com/iechor/sso/services/platform/sqlstore/sqlstoretest"
)

// env is the service on a loopback port and its callers, over mutual TLS with certificates of the
// test's CA.
type env struct {
	domains domainv1.DomainServiceClient         // as the gateway
	lookup  domainv1.DomainInternalServiceClient // as the connection service
	dns     *dnstest.Server
	conn    *grpc.ClientConn
}

// start runs the service on a loopback port against a fresh store and a test DNS server.
func start(t testing.TB, b sqlstoretest.Backend) env {
	t.Helper()
	dnsSrv := dnstest.Start(t)
	cfg := domain.Config{
		ListenAddr:      "127.0.0.1:0",
		DNSResolvers:    []string{dnsSrv.Addr()},
		DNSTimeout:      2 * time.Second,
		RecheckInterval: time.Hour,
		CheckWindow:     72 * time.Hour,
	}
	cfg.DatabaseURL = config.DSN(b.DSN(t))
	ca := grpcservertest.NewCA(t)
	cfg.TLS = ca.Identity("domain")
	svc, err := domain.New(context.Background(), cfg, logging.Discard(), nil)
	if err != nil {
		t.Fatal(err)
	}
	conn := grpcservertest.Serve(t, svc.Serve, ca.Identity("gateway"))
	return env{
		domains: domainv1.NewDomainServiceClient(conn),
		lookup:  domainv1.NewDomainInternalServiceClient(ca.Dial(conn.Target(), "connection")),
		dns:     dnsSrv,
		conn:    conn,
	}
}

func wantReason(t *testing.T, err error, code codes.Code, reason string) {
	t.Helper()
	gotCode, gotReason, _ := rpcerror.Info(err)
	if gotCode != code || gotReason != reason {
		t.Fatalf("error %v: got %v/%s, want %v/%s", err, gotCode, gotReason, code, reason)
	}
}

func TestDomainServiceOverGRPC(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		e := start(t, b)
		c, dnsSrv, conn := e.domains, e.dns, e.conn

		created, err := c.CreateDomain(ctx, &domainv1.CreateDomainRequest{Parent: "companies/acme", DomainName: "Example.COM."})
		if err != nil {
			t.Fatal(err)
		}
		d := created.GetDomain()
		if d.GetName() != "companies/acme/domains/example.com" || d.GetState() != domainv1.DomainState_DOMAIN_STATE_PENDING {
			t.Fatalf("created %v", d)
		}
		rec := d.GetTxtRecord()
		if rec.GetName() != "example.com" || rec.GetType() != "TXT" || !strings.HasPrefix(rec.GetValue(), "iechor-verification=") || len(rec.GetValue()) < 40 {
			t.Fatalf("TXT record %v", rec)
		}

		t.Run("adding it again is refused", func(t *testing.T) {
			_, err := c.CreateDomain(ctx, &domainv1.CreateDomainRequest{Parent: "companies/acme", DomainName: "example.com"})
			wantReason(t, err, codes.AlreadyExists, "DOMAIN_ALREADY_EXISTS")
		})

		t.Run("verification fails with the reason while the record is missing", func(t *testing.T) {
			_, err := c.VerifyDomain(ctx, &domainv1.VerifyDomainRequest{Name: d.GetName()})
			wantReason(t, err, codes.FailedPrecondition, "DNS_NXDOMAIN")
			dnsSrv.SetTXT("example.com", "iechor-verification=wrong")
			_, err = c.VerifyDomain(ctx, &domainv1.VerifyDomainRequest{Name: d.GetName()})
			wantReason(t, err, codes.FailedPrecondition, "DNS_VALUE_MISMATCH")
			_, _, md := rpcerror.Info(err)
			if md["found_0"] != "iechor-verification=wrong" {
				t.Fatalf("metadata %v does not show what was found", md)
			}
		})

		t.Run("verification succeeds once the record is published", func(t *testing.T) {
			dnsSrv.SetTXT("example.com", "v=spf1 -all", rec.GetValue())
			got, err := c.VerifyDomain(ctx, &domainv1.VerifyDomainRequest{Name: d.GetName()})
			if err != nil {
				t.Fatal(err)
			}
			if got.GetDomain().GetState() != domainv1.DomainState_DOMAIN_STATE_VERIFIED || got.GetDomain().GetVerifyTime() == nil {
				t.Fatalf("verified %v", got.GetDomain())
			}
			attempts, err := c.ListVerificationAttempts(ctx, &domainv1.ListVerificationAttemptsRequest{Parent: d.GetName()})
			if err != nil {
				t.Fatal(err)
			}
			if len(attempts.GetAttempts()) != 3 || attempts.GetAttempts()[0].GetOutcome() != domainv1.VerificationOutcome_VERIFICATION_OUTCOME_VERIFIED {
				t.Fatalf("attempts %v", attempts.GetAttempts())
			}
		})

		t.Run("lookup finds the owner by email and by domain", func(t *testing.T) {
			c := e.lookup
			byEmail, err := c.LookupDomain(ctx, &domainv1.LookupDomainRequest{Query: &domainv1.LookupDomainRequest_Email{Email: "Jane@EXAMPLE.com"}})
			if err != nil || byEmail.GetOwner() != "companies/acme" {
				t.Fatalf("lookup by email: %v, %v", byEmail, err)
			}
			byName, err := c.LookupDomain(ctx, &domainv1.LookupDomainRequest{Query: &domainv1.LookupDomainRequest_DomainName{DomainName: "example.com"}})
			if err != nil || byName.GetOwner() != "companies/acme" {
				t.Fatalf("lookup by domain: %v, %v", byName, err)
			}
			_, err = c.LookupDomain(ctx, &domainv1.LookupDomainRequest{Query: &domainv1.LookupDomainRequest_Email{Email: "x@unknown.example"}})
			wantReason(t, err, codes.NotFound, "DOMAIN_NOT_VERIFIED")
			_, err = c.LookupDomain(ctx, &domainv1.LookupDomainRequest{})
			wantReason(t, err, codes.InvalidArgument, "MISSING_QUERY")
		})

		t.Run("another owner may add the domain but not verify it, and learns nothing of the holder", func(t *testing.T) {
			other, err := c.CreateDomain(ctx, &domainv1.CreateDomainRequest{Parent: "organizations/rival", DomainName: "example.com"})
			if err != nil {
				t.Fatal(err)
			}
			dnsSrv.SetTXT("example.com", rec.GetValue(), other.GetDomain().GetTxtRecord().GetValue())
			_, err = c.VerifyDomain(ctx, &domainv1.VerifyDomainRequest{Name: other.GetDomain().GetName()})
			wantReason(t, err, codes.FailedPrecondition, "DOMAIN_CLAIMED")
			if strings.Contains(err.Error(), "acme") {
				t.Fatalf("the refusal names the holder: %v", err)
			}
		})

		t.Run("deleting and adding again issues a new token", func(t *testing.T) {
			if _, err := c.DeleteDomain(ctx, &domainv1.DeleteDomainRequest{Name: d.GetName()}); err != nil {
				t.Fatal(err)
			}
			_, err := c.GetDomain(ctx, &domainv1.GetDomainRequest{Name: d.GetName()})
			wantReason(t, err, codes.NotFound, "DOMAIN_NOT_FOUND")
			again, err := c.CreateDomain(ctx, &domainv1.CreateDomainRequest{Parent: "companies/acme", DomainName: "example.com"})
			if err != nil {
				t.Fatal(err)
			}
			if again.GetDomain().GetTxtRecord().GetValue() == rec.GetValue() {
				t.Fatal("the re-added domain kept its old token")
			}
		})

		t.Run("bad input gets a typed error and changes nothing", func(t *testing.T) {
			for _, tc := range []struct {
				parent, domain, reason string
			}{
				{"companies/acme", "https://example.org", "DOMAIN_HAS_SCHEME"},
				{"companies/acme", "example.org/path", "DOMAIN_HAS_PATH"},
				{"companies/acme", "www.example.org", "DOMAIN_WWW_PREFIX"},
				{"companies/acme", "192.0.2.1", "DOMAIN_IS_IP_ADDRESS"},
				{"companies/acme", "intranet", "DOMAIN_SINGLE_LABEL"},
				{"companies/acme", "co.uk", "DOMAIN_PUBLIC_SUFFIX"},
				{"companies/acme", "gmail.com", "DOMAIN_FREE_EMAIL_PROVIDER"},
				{"companies/acme", "", "DOMAIN_EMPTY"},
				{"users/bob", "example.org", "INVALID_NAME"},
			} {
				_, err := c.CreateDomain(ctx, &domainv1.CreateDomainRequest{Parent: tc.parent, DomainName: tc.domain})
				wantReason(t, err, codes.InvalidArgument, tc.reason)
			}
			list, err := c.ListDomains(ctx, &domainv1.ListDomainsRequest{Parent: "companies/acme"})
			if err != nil || len(list.GetDomains()) != 1 {
				t.Fatalf("list after refused creates: %v, %v", list, err)
			}
			_, err = c.ListDomains(ctx, &domainv1.ListDomainsRequest{Parent: "companies/acme", PageToken: "garbage"})
			wantReason(t, err, codes.InvalidArgument, "INVALID_PAGE_TOKEN")
			_, err = c.ListDomains(ctx, &domainv1.ListDomainsRequest{Parent: "companies/acme", PageSize: -1})
			wantReason(t, err, codes.InvalidArgument, "INVALID_PAGE_SIZE")
		})

		t.Run("list pages and filters by state", func(t *testing.T) {
			for _, n := range []string{"a.example", "b.example", "c.example"} {
				if _, err := c.CreateDomain(ctx, &domainv1.CreateDomainRequest{Parent: "companies/lister", DomainName: n}); err != nil {
					t.Fatal(err)
				}
			}
			p1, err := c.ListDomains(ctx, &domainv1.ListDomainsRequest{Parent: "companies/lister", PageSize: 2})
			if err != nil || len(p1.GetDomains()) != 2 || p1.GetNextPageToken() == "" {
				t.Fatalf("page 1: %v, %v", p1, err)
			}
			p2, err := c.ListDomains(ctx, &domainv1.ListDomainsRequest{Parent: "companies/lister", PageSize: 2, PageToken: p1.GetNextPageToken()})
			if err != nil || len(p2.GetDomains()) != 1 || p2.GetNextPageToken() != "" || p2.GetDomains()[0].GetDomainName() != "c.example" {
				t.Fatalf("page 2: %v, %v", p2, err)
			}
			// A token is bound to its query.
			_, err = c.ListDomains(ctx, &domainv1.ListDomainsRequest{Parent: "companies/acme", PageToken: p1.GetNextPageToken()})
			wantReason(t, err, codes.InvalidArgument, "INVALID_PAGE_TOKEN")
			verified, err := c.ListDomains(ctx, &domainv1.ListDomainsRequest{Parent: "companies/lister", State: domainv1.DomainState_DOMAIN_STATE_VERIFIED})
			if err != nil || len(verified.GetDomains()) != 0 {
				t.Fatalf("verified filter: %v, %v", verified, err)
			}
		})

		t.Run("health reports serving once the store answers", func(t *testing.T) {
			h := healthpb.NewHealthClient(conn)
			deadline := time.Now().Add(5 * time.Second)
			for {
				resp, err := h.Check(ctx, &healthpb.HealthCheckRequest{Service: domainv1.DomainService_ServiceDesc.ServiceName})
				if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("health: %v, %v", resp, err)
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	})
}

func TestTwoOwnersRacingThroughTheServiceHaveOneWinner(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		e := start(t, b)
		c, dnsSrv := e.domains, e.dns
		var values []string
		var names []string
		for _, owner := range []string{"companies/one", "companies/two", "organizations/three"} {
			r, err := c.CreateDomain(ctx, &domainv1.CreateDomainRequest{Parent: owner, DomainName: "contested.example"})
			if err != nil {
				t.Fatal(err)
			}
			values = append(values, r.GetDomain().GetTxtRecord().GetValue())
			names = append(names, r.GetDomain().GetName())
		}
		dnsSrv.SetTXT("contested.example", values...)
		var wg sync.WaitGroup
		errs := make([]error, len(names))
		for i, n := range names {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = c.VerifyDomain(ctx, &domainv1.VerifyDomainRequest{Name: n})
			}()
		}
		wg.Wait()
		wins := 0
		for _, err := range errs {
			if err == nil {
				wins++
			} else {
				wantReason(t, err, codes.FailedPrecondition, "DOMAIN_CLAIMED")
			}
		}
		if wins != 1 {
			t.Fatalf("%d owners verified the domain", wins)
		}
	})
}
