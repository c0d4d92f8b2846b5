package provisioning_test

import (
	"context"
	"net"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	pb "github.com/iechor/sso/gen/iechor/sso/provisioning/v1"
	"github.com/iechor/sso/services/platform/config"
	"github.com/iechor/sso/services/platform/sqlstore/sqlstoretest"
	"github.com/iechor/sso/services/provisioning"
)

// closedAddr is a loopback address where nothing listens.
func closedAddr(t testing.TB) string {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	noErr(t, err)
	addr := lis.Addr().String()
	noErr(t, lis.Close())
	return addr
}

func TestBootstrap(t *testing.T) {
	t.Parallel()
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		ctx := context.Background()
		dsn := b.DSN(t)
		cfg := provisioning.Config{DatabaseURL: config.DSN(dsn)}

		first, err := provisioning.Bootstrap(ctx, cfg, provisioning.BootstrapRequest{Company: "Acme Corp", OwnerEmail: "Owner@Acme.test", OwnerName: "Olga Owner"})
		noErr(t, err)
		if first.Company != "companies/acme-corp" || first.CompanyDisplayName != "Acme Corp" || first.OwnerUsername != "owner" ||
			!strings.HasPrefix(first.Owner, "users/usr_") || !slices.Equal(first.Created, []string{"user", "company", "company owner"}) {
			t.Fatalf("first bootstrap %+v", first)
		}

		t.Run("running it again changes nothing and returns the same names", func(t *testing.T) {
			again, err := provisioning.Bootstrap(ctx, cfg, provisioning.BootstrapRequest{Company: "Acme Corp", OwnerEmail: "owner@acme.test"})
			noErr(t, err)
			if again.Company != first.Company || again.Owner != first.Owner || len(again.Created) != 0 {
				t.Fatalf("second bootstrap %+v", again)
			}
			if s := again.Summary("http://127.0.0.1:8080", "tok.en"); !strings.Contains(s, "companies/acme-corp") || !strings.Contains(s, "username owner") ||
				!strings.Contains(s, "nothing; everything existed already") || !strings.Contains(s, `curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8080/v1/companies/acme-corp/auditEvents`) || !strings.Contains(s, "export TOKEN=tok.en") {
				t.Fatalf("summary:\n%s", s)
			}
		})

		t.Run("an organization in the company gets the owner as an OWNER member on the business plan", func(t *testing.T) {
			res, err := provisioning.Bootstrap(ctx, cfg, provisioning.BootstrapRequest{Company: "Acme Corp", Organization: "Acme Eng", OwnerEmail: "owner@acme.test"})
			noErr(t, err)
			if res.Organization != "organizations/acme-eng" || res.Plan != "business" || !slices.Equal(res.Created, []string{"organization", "organization owner"}) {
				t.Fatalf("bootstrap %+v", res)
			}
		})

		t.Run("a standalone organization takes the plan asked for", func(t *testing.T) {
			res, err := provisioning.Bootstrap(ctx, cfg, provisioning.BootstrapRequest{Organization: "Solo Team", Plan: "team", OwnerEmail: "solo@solo.test"})
			noErr(t, err)
			if res.Company != "" || res.Organization != "organizations/solo-team" || res.Plan != "team" || !strings.Contains(res.Summary("", ""), "organizations/solo-team") {
				t.Fatalf("bootstrap %+v", res)
			}
		})

		t.Run("bad requests are refused and write nothing", func(t *testing.T) {
			for _, req := range []provisioning.BootstrapRequest{
				{OwnerEmail: "a@acme.test"},
				{Company: "Acme Corp", OwnerEmail: "not an email"},
				{Company: "!!!", OwnerEmail: "a@acme.test"},
				{Organization: "X", Plan: "gold", OwnerEmail: "a@acme.test"},
				{Company: "Other", Organization: "Acme Eng", OwnerEmail: "a@acme.test"},
			} {
				if _, err := provisioning.Bootstrap(ctx, cfg, req); err == nil {
					t.Errorf("bootstrap %+v was accepted", req)
				}
			}
		})

		t.Run("what bootstrap made is served by the directory", func(t *testing.T) {
			conn := dial(t, startProvisioning(t, dsn, closedAddr(t)), "gateway")
			dir := pb.NewDirectoryServiceClient(conn)
			owners, err := dir.ListCompanyOwners(ctx, &pb.ListCompanyOwnersRequest{Parent: "companies/acme-corp"})
			noErr(t, err)
			if len(owners.GetOwners()) != 1 || owners.GetOwners()[0].GetUser() != first.Owner {
				t.Fatalf("owners %v", owners.GetOwners())
			}
			m, err := dir.GetMembership(ctx, &pb.GetMembershipRequest{Name: "organizations/acme-eng/members/" + strings.TrimPrefix(first.Owner, "users/")})
			noErr(t, err)
			if m.GetMembership().GetRole() != pb.Role_ROLE_OWNER {
				t.Fatalf("membership %v", m.GetMembership())
			}
			_, err = dir.GetCompany(ctx, &pb.GetCompanyRequest{Name: "companies/other"})
			wantReason(t, err, codes.NotFound, "COMPANY_NOT_FOUND")
			events, err := dir.ListAuditEvents(ctx, &pb.ListAuditEventsRequest{Parent: "companies/acme-corp"})
			noErr(t, err)
			if n := len(events.GetAuditEvents()); n != 4 || events.GetAuditEvents()[0].GetActor() != "system" {
				t.Fatalf("company log %v", events.GetAuditEvents())
			}
		})
	})
}

func TestProvisioningFailsClosedWhenTheDomainServiceIsUnreachable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	addr := startProvisioning(t, sqlstoretest.SQLiteDSN(t), closedAddr(t))
	conn := dial(t, addr, "gateway")
	dir, internal := pb.NewDirectoryServiceClient(conn), pb.NewProvisioningInternalServiceClient(conn)
	operator := pb.NewProvisioningInternalServiceClient(dial(t, addr, "operator"))
	_, err := dir.CreateCompany(ctx, &pb.CreateCompanyRequest{CompanyId: "acme", Company: &pb.Company{}})
	noErr(t, err)
	_, err = dir.CreateOrganization(ctx, &pb.CreateOrganizationRequest{OrganizationId: "eng", Organization: &pb.Organization{Company: "companies/acme"}})
	noErr(t, err)
	_, err = internal.ProvisionUser(ctx, &pb.ProvisionUserRequest{
		Identity: &pb.Identity{Connection: "companies/acme/connections/c1", Subject: "s", Email: "a@acme.test"},
		Settings: &pb.ProvisioningSettings{JitEnabled: true, Owner: "companies/acme", DefaultOrganization: "organizations/eng"},
	})
	wantReason(t, err, codes.Unavailable, "DOMAIN_CHECK_UNAVAILABLE")
	_, err = operator.LookupUser(ctx, &pb.LookupUserRequest{Email: "a@acme.test"})
	wantReason(t, err, codes.NotFound, "USER_NOT_FOUND")
}

func TestConfig(t *testing.T) {
	load := func(env map[string]string) (provisioning.Config, error) {
		return provisioning.LoadConfig(config.NewReader(config.MapLookup(env)))
	}
	t.Run("the defaults run on a laptop", func(t *testing.T) {
		c, err := load(nil)
		noErr(t, err)
		if c.ListenAddr != "127.0.0.1:9102" || c.DatabaseURL != "sqlite:./data/provisioning.db" || c.DomainAddr != "127.0.0.1:9101" ||
			c.DomainTimeout.String() != "5s" || c.MetricsAddr != "" || c.LogLevel != "info" {
			t.Fatalf("defaults %+v", c)
		}
	})
	t.Run("the service's own database URL wins over the shared one", func(t *testing.T) {
		c, err := load(map[string]string{"DATABASE_URL": "postgres://shared", "PROVISIONING_DATABASE_URL": "postgres://own"})
		noErr(t, err)
		if c.DatabaseURL != "postgres://own" {
			t.Fatalf("database %s", c.DatabaseURL)
		}
		c, err = load(map[string]string{"DATABASE_URL": "postgres://u:secret@db/sso"})
		noErr(t, err)
		if c.DatabaseURL.Reveal() != "postgres://u:secret@db/sso" || strings.Contains(c.DatabaseURL.String(), "secret") {
			t.Fatalf("database %s", c.DatabaseURL)
		}
	})
	for _, c := range []struct {
		name string
		env  map[string]string
	}{
		{"a malformed timeout is refused", map[string]string{"PROVISIONING_DOMAIN_TIMEOUT": "soon"}},
		{"a timeout over a minute is refused", map[string]string{"PROVISIONING_DOMAIN_TIMEOUT": "2m"}},
		{"half a TLS configuration is refused", map[string]string{"GRPC_TLS_CERT": "cert.pem"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := load(c.env); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}
