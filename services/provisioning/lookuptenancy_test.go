package provisioning_test

import (
	"context"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	pb "github.com/iechor/sso/gen/iechor/sso/provisioning/v1"
	"github.com/iechor/sso/services/platform/sqlstore/sqlstoretest"
)

func TestLookupTenancyTellsTheConnectionServiceWhatExistsAndWhereItBelongs(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		e := start(t, b)
		ctx := context.Background()
		_, err := e.dir.CreateCompany(ctx, &pb.CreateCompanyRequest{CompanyId: "acme", Company: &pb.Company{DisplayName: "Acme"}})
		noErr(t, err)
		_, err = e.dir.CreateOrganization(ctx, &pb.CreateOrganizationRequest{OrganizationId: "eng",
			Organization: &pb.Organization{Company: "companies/acme", Plan: pb.Plan_PLAN_TEAM}})
		noErr(t, err)
		_, err = e.dir.CreateOrganization(ctx, &pb.CreateOrganizationRequest{OrganizationId: "solo", Organization: &pb.Organization{Plan: pb.Plan_PLAN_BUSINESS}})
		noErr(t, err)
		_, err = e.dir.CreateTeam(ctx, &pb.CreateTeamRequest{Parent: "organizations/eng", TeamId: "devs", Team: &pb.Team{DisplayName: "Devs"}})
		noErr(t, err)

		t.Run("each name is answered in the order asked, a missing one as not existing", func(t *testing.T) {
			resp, err := e.connection.LookupTenancy(ctx, &pb.LookupTenancyRequest{Names: []string{
				"organizations/solo", "companies/acme", "organizations/eng/teams/devs", "companies/nope",
				"organizations/eng", "organizations/nope", "organizations/eng/teams/nope", "organizations/nope/teams/devs",
			}})
			noErr(t, err)
			want := []*pb.TenancyEntry{
				{Name: "organizations/solo", Exists: true, Plan: pb.Plan_PLAN_BUSINESS},
				{Name: "companies/acme", Exists: true},
				{Name: "organizations/eng/teams/devs", Exists: true},
				{Name: "companies/nope"},
				{Name: "organizations/eng", Exists: true, Company: "companies/acme", Plan: pb.Plan_PLAN_TEAM},
				{Name: "organizations/nope"},
				{Name: "organizations/eng/teams/nope"},
				{Name: "organizations/nope/teams/devs"},
			}
			if len(resp.GetEntries()) != len(want) {
				t.Fatalf("entries %v", resp.GetEntries())
			}
			for i, w := range want {
				if !proto.Equal(resp.GetEntries()[i], w) {
					t.Errorf("entry %d: got %v, want %v", i, resp.GetEntries()[i], w)
				}
			}
		})

		many := make([]string, 101)
		for i := range many {
			many[i] = fmt.Sprintf("organizations/o%d", i)
		}
		for _, tc := range []struct {
			name   string
			names  []string
			reason string
			field  string
		}{
			{"no name is a missing field", nil, "MISSING_FIELD", "names"},
			{"more than a hundred names are refused", many, "TOO_MANY_NAMES", "names"},
			{"a malformed name is refused with its index", []string{"companies/acme", "organizations/ENG"}, "INVALID_NAME", "names[1]"},
			{"a user is not a tenancy name", []string{"users/usr_1"}, "INVALID_NAME", "names[0]"},
			{"a team's name needs its collection word", []string{"organizations/eng/members/devs"}, "INVALID_NAME", "names[0]"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := e.connection.LookupTenancy(ctx, &pb.LookupTenancyRequest{Names: tc.names})
				wantField(t, err, codes.InvalidArgument, tc.reason, tc.field)
			})
		}

	})
}
