package provisioning_test

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"

	pb "github.com/iechor/sso/gen/iechor/sso/provisioning/v1"
	"github.com/iechor/sso/services/platform/sqlstore/sqlstoretest"
)

// accessWorld is a company acme with owner boss; eng in acme with owner lead, editor ed and member
// dev; a rival company owned by spy; a standalone organization solo owned by lone; and a stranger.
func accessWorld(t testing.TB, e *env) map[string]string {
	t.Helper()
	ctx := context.Background()
	users := map[string]string{}
	for _, u := range []string{"boss", "lead", "ed", "dev", "spy", "lone", "stranger"} {
		resp, err := e.operator.CreateUser(ctx, &pb.CreateUserRequest{User: &pb.User{Email: u + "@people.test"}})
		noErr(t, err)
		users[u] = resp.GetUser().GetName()
	}
	_, err := e.dir.CreateCompany(as(users["boss"]), &pb.CreateCompanyRequest{CompanyId: "acme", Company: &pb.Company{}})
	noErr(t, err)
	_, err = e.dir.CreateCompany(as(users["spy"]), &pb.CreateCompanyRequest{CompanyId: "rival", Company: &pb.Company{}})
	noErr(t, err)
	_, err = e.dir.CreateOrganization(ctx, &pb.CreateOrganizationRequest{OrganizationId: "eng", Organization: &pb.Organization{Company: "companies/acme"}})
	noErr(t, err)
	_, err = e.dir.CreateOrganization(as(users["lone"]), &pb.CreateOrganizationRequest{OrganizationId: "solo", Organization: &pb.Organization{}})
	noErr(t, err)
	for u, role := range map[string]pb.Role{"lead": pb.Role_ROLE_OWNER, "ed": pb.Role_ROLE_EDITOR, "dev": pb.Role_ROLE_MEMBER} {
		_, err := e.dir.CreateMembership(ctx, &pb.CreateMembershipRequest{Parent: "organizations/eng", User: users[u], Role: role})
		noErr(t, err)
	}
	return users
}

func TestCheckAccess(t *testing.T) {
	t.Parallel()
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		e := start(t, b)
		users := accessWorld(t, e)
		ctx := context.Background()
		for _, c := range []struct {
			name, principal, resource string
			want                      bool
		}{
			{"a company owner manages the company", users["boss"], "companies/acme", true},
			{"a company owner manages the company's connections", users["boss"], "companies/acme/connections/conn_1", true},
			{"a company owner manages the company's organizations", users["boss"], "organizations/eng", true},
			{"a company owner manages an organization's domains", users["boss"], "organizations/eng/domains/example.com", true},
			{"a company owner does not manage a standalone organization", users["boss"], "organizations/solo", false},
			{"an organization owner manages the organization", users["lead"], "organizations/eng", true},
			{"an organization owner does not manage the company", users["lead"], "companies/acme", false},
			{"an editor does not manage the organization", users["ed"], "organizations/eng", false},
			{"a member does not manage the organization", users["dev"], "organizations/eng", false},
			{"another company's owner does not manage the company", users["spy"], "companies/acme", false},
			{"another company's owner does not manage its organizations", users["spy"], "organizations/eng", false},
			{"a standalone organization's owner manages it", users["lone"], "organizations/solo", true},
			{"a stranger manages nothing", users["stranger"], "companies/acme", false},
			{"an unknown user manages nothing", "users/ghost", "companies/acme", false},
			{"nobody manages an unknown company", users["boss"], "companies/ghost", false},
			{"nobody manages an unknown organization", users["boss"], "organizations/ghost", false},
		} {
			t.Run(c.name, func(t *testing.T) {
				resp, err := e.internal.CheckAccess(ctx, &pb.CheckAccessRequest{Principal: c.principal, Resource: c.resource, Action: pb.Action_ACTION_MANAGE_SSO})
				noErr(t, err)
				if resp.GetAllowed() != c.want {
					t.Fatalf("allowed = %v, want %v", resp.GetAllowed(), c.want)
				}
			})
		}
		t.Run("malformed questions are errors, not answers", func(t *testing.T) {
			for _, c := range []struct {
				req           *pb.CheckAccessRequest
				reason, field string
			}{
				{&pb.CheckAccessRequest{Principal: "boss", Resource: "companies/acme", Action: pb.Action_ACTION_MANAGE_SSO}, "INVALID_NAME", "principal"},
				{&pb.CheckAccessRequest{Principal: users["boss"], Resource: "users/x", Action: pb.Action_ACTION_MANAGE_SSO}, "INVALID_NAME", "resource"},
				{&pb.CheckAccessRequest{Principal: users["boss"], Resource: "companies", Action: pb.Action_ACTION_MANAGE_SSO}, "INVALID_NAME", "resource"},
				{&pb.CheckAccessRequest{Principal: users["boss"], Resource: "companies/acme/", Action: pb.Action_ACTION_MANAGE_SSO}, "INVALID_NAME", "resource"},
				{&pb.CheckAccessRequest{Principal: users["boss"], Resource: "companies/acme"}, "UNSUPPORTED_ACTION", "action"},
			} {
				_, err := e.internal.CheckAccess(ctx, c.req)
				wantField(t, err, codes.InvalidArgument, c.reason, c.field)
			}
		})
	})
}

// BenchmarkCheckAccess measures the question the REST edge asks on every admin call, over real gRPC
// on loopback, on the slower path: a company owner asking about one of the company's organizations.
func BenchmarkCheckAccess(b *testing.B) {
	for _, backend := range sqlstoretest.Backends() {
		b.Run(backend.Name, func(b *testing.B) {
			e := start(b, backend)
			users := accessWorld(b, e)
			req := &pb.CheckAccessRequest{Principal: users["boss"], Resource: "organizations/eng/connections/conn_1", Action: pb.Action_ACTION_MANAGE_SSO}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				resp, err := e.internal.CheckAccess(ctx, req)
				if err != nil || !resp.GetAllowed() {
					b.Fatal(resp, err)
				}
			}
		})
	}
}
