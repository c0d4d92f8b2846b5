package provisioning_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	pb "github.com/iechor/sso/gen/iechor/sso/provisioning/v1"
	"github.com/iechor/sso/services/platform/sqlstore/sqlstoretest"
)

func mask(paths ...string) *fieldmaskpb.FieldMask { return &fieldmaskpb.FieldMask{Paths: paths} }

// actions lists the actions of a log, newest first.
func actions(t *testing.T, e *env, parent string) []string {
	t.Helper()
	resp, err := e.dir.ListAuditEvents(context.Background(), &pb.ListAuditEventsRequest{Parent: parent, PageSize: 500})
	noErr(t, err)
	var out []string
	for _, ev := range resp.GetAuditEvents() {
		out = append(out, ev.GetAction())
	}
	return out
}

func TestDirectoryOverGRPC(t *testing.T) {
	t.Parallel()
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		e := start(t, b)
		ctx := context.Background()

		boss, err := e.operator.CreateUser(ctx, &pb.CreateUserRequest{User: &pb.User{Email: "Boss@Acme.test", FullName: "Big Boss"}})
		noErr(t, err)
		bossName := boss.GetUser().GetName()
		if !strings.HasPrefix(bossName, "users/usr_") || boss.GetUser().GetUsername() != "boss" || boss.GetUser().GetEmail() != "Boss@acme.test" {
			t.Fatalf("created user %v", boss.GetUser())
		}

		t.Run("a company created by a user has that user as its first owner", func(t *testing.T) {
			c, err := e.dir.CreateCompany(as(bossName), &pb.CreateCompanyRequest{CompanyId: "acme", Company: &pb.Company{DisplayName: "Acme Inc."}})
			noErr(t, err)
			if c.GetCompany().GetName() != "companies/acme" || c.GetCompany().GetDisplayName() != "Acme Inc." || c.GetCompany().GetCreateTime() == nil {
				t.Fatalf("company %v", c.GetCompany())
			}
			owners, err := e.dir.ListCompanyOwners(ctx, &pb.ListCompanyOwnersRequest{Parent: "companies/acme"})
			noErr(t, err)
			if len(owners.GetOwners()) != 1 || owners.GetOwners()[0].GetUser() != bossName || owners.GetOwners()[0].GetEmail() != "Boss@acme.test" ||
				owners.GetOwners()[0].GetName() != "companies/acme/owners/"+strings.TrimPrefix(bossName, "users/") {
				t.Fatalf("owners %v", owners.GetOwners())
			}
			_, err = e.dir.CreateCompany(ctx, &pb.CreateCompanyRequest{CompanyId: "acme", Company: &pb.Company{}})
			wantField(t, err, codes.AlreadyExists, "COMPANY_ALREADY_EXISTS", "company_id")
		})

		t.Run("a company's display name updates through the mask and the change is audited with its actor", func(t *testing.T) {
			u, err := e.dir.UpdateCompany(as(bossName), &pb.UpdateCompanyRequest{Company: &pb.Company{Name: "companies/acme", DisplayName: "Acme Corp"}, UpdateMask: mask("display_name")})
			noErr(t, err)
			if u.GetCompany().GetDisplayName() != "Acme Corp" {
				t.Fatalf("updated %v", u.GetCompany())
			}
			events, err := e.dir.ListAuditEvents(ctx, &pb.ListAuditEventsRequest{Parent: "companies/acme", PageSize: 1})
			noErr(t, err)
			ev := events.GetAuditEvents()[0]
			if ev.GetAction() != "company.update" || ev.GetActor() != bossName || ev.GetDetails()["display_name"] != "Acme Corp" ||
				!strings.HasPrefix(ev.GetName(), "companies/acme/auditEvents/evt_") || events.GetNextPageToken() == "" {
				t.Fatalf("newest event %v", ev)
			}
			_, err = e.dir.UpdateCompany(ctx, &pb.UpdateCompanyRequest{Company: &pb.Company{Name: "companies/acme"}, UpdateMask: mask("name")})
			wantField(t, err, codes.InvalidArgument, "INVALID_UPDATE_MASK", "update_mask")
		})

		var dev *pb.User
		t.Run("organizations belong to one company for good, count seats, and refuse a limit below their members", func(t *testing.T) {
			o, err := e.dir.CreateOrganization(as(bossName), &pb.CreateOrganizationRequest{OrganizationId: "eng",
				Organization: &pb.Organization{DisplayName: "Engineering", Company: "companies/acme", Plan: pb.Plan_PLAN_BUSINESS, SeatLimit: 2}})
			noErr(t, err)
			if o.GetOrganization().GetCompany() != "companies/acme" || o.GetOrganization().GetSeatsUsed() != 0 || o.GetOrganization().GetPlan() != pb.Plan_PLAN_BUSINESS {
				t.Fatalf("organization in a company %v (its creator, a company owner, takes no seat)", o.GetOrganization())
			}
			d, err := e.operator.CreateUser(ctx, &pb.CreateUserRequest{User: &pb.User{Email: "dev@acme.test", Username: "devone"}})
			noErr(t, err)
			dev = d.GetUser()
			m, err := e.dir.CreateMembership(ctx, &pb.CreateMembershipRequest{Parent: "organizations/eng", User: dev.GetName()})
			noErr(t, err)
			if m.GetMembership().GetRole() != pb.Role_ROLE_MEMBER || m.GetMembership().GetUsername() != "devone" || m.GetMembership().GetName() != "organizations/eng/members/"+strings.TrimPrefix(dev.GetName(), "users/") {
				t.Fatalf("membership %v", m.GetMembership())
			}
			_, err = e.dir.CreateMembership(ctx, &pb.CreateMembershipRequest{Parent: "organizations/eng", User: dev.GetName()})
			wantField(t, err, codes.AlreadyExists, "ALREADY_A_MEMBER", "user")
			_, err = e.dir.UpdateOrganization(ctx, &pb.UpdateOrganizationRequest{Organization: &pb.Organization{Name: "organizations/eng", Company: "companies/other"}, UpdateMask: mask("company")})
			wantField(t, err, codes.InvalidArgument, "IMMUTABLE_FIELD", "organization.company")
			noErr(t, func() error {
				_, err := e.dir.CreateMembership(ctx, &pb.CreateMembershipRequest{Parent: "organizations/eng", User: bossName, Role: pb.Role_ROLE_OWNER})
				return err
			}())
			_, err = e.dir.UpdateOrganization(ctx, &pb.UpdateOrganizationRequest{Organization: &pb.Organization{Name: "organizations/eng", SeatLimit: 1}, UpdateMask: mask("seat_limit")})
			wantField(t, err, codes.FailedPrecondition, "SEAT_LIMIT_BELOW_USAGE", "organization.seat_limit")
			got, err := e.dir.GetOrganization(ctx, &pb.GetOrganizationRequest{Name: "organizations/eng"})
			noErr(t, err)
			if got.GetOrganization().GetSeatsUsed() != 2 || got.GetOrganization().GetSeatLimit() != 2 {
				t.Fatalf("after a refused update %v", got.GetOrganization())
			}
			list, err := e.dir.ListOrganizations(ctx, &pb.ListOrganizationsRequest{Parent: "companies/acme"})
			noErr(t, err)
			if len(list.GetOrganizations()) != 1 || list.GetOrganizations()[0].GetDisplayName() != "Engineering" {
				t.Fatalf("organizations %v", list.GetOrganizations())
			}
		})

		t.Run("a full organization refuses a member with NO_SEATS naming it", func(t *testing.T) {
			extra, err := e.operator.CreateUser(ctx, &pb.CreateUserRequest{User: &pb.User{Email: "extra@acme.test"}})
			noErr(t, err)
			_, err = e.dir.CreateMembership(ctx, &pb.CreateMembershipRequest{Parent: "organizations/eng", User: extra.GetUser().GetName()})
			wantReason(t, err, codes.FailedPrecondition, "NO_SEATS")
			if !strings.Contains(err.Error(), "Not enough seats in organization 'Engineering'. Add more seats or contact your administrator.") {
				t.Fatalf("message %v", err)
			}
			_, err = e.dir.UpdateOrganization(ctx, &pb.UpdateOrganizationRequest{Organization: &pb.Organization{Name: "organizations/eng", SeatLimit: 0}, UpdateMask: mask("seat_limit")})
			noErr(t, err)
			_, err = e.dir.CreateMembership(ctx, &pb.CreateMembershipRequest{Parent: "organizations/eng", User: extra.GetUser().GetName(), Role: pb.Role_ROLE_EDITOR})
			noErr(t, err)
		})

		t.Run("a standalone organization made by a user has them as owner, and keeps its last owner", func(t *testing.T) {
			o, err := e.dir.CreateOrganization(as(dev.GetName()), &pb.CreateOrganizationRequest{OrganizationId: "devs-club", Organization: &pb.Organization{}})
			noErr(t, err)
			if o.GetOrganization().GetCompany() != "" || o.GetOrganization().GetPlan() != pb.Plan_PLAN_FREE || o.GetOrganization().GetSeatsUsed() != 1 {
				t.Fatalf("standalone organization %v", o.GetOrganization())
			}
			member := "organizations/devs-club/members/" + strings.TrimPrefix(dev.GetName(), "users/")
			_, err = e.dir.UpdateMembership(ctx, &pb.UpdateMembershipRequest{Membership: &pb.Membership{Name: member, Role: pb.Role_ROLE_MEMBER}, UpdateMask: mask("role")})
			wantField(t, err, codes.FailedPrecondition, "LAST_OWNER", "membership.role")
			_, err = e.dir.DeleteMembership(ctx, &pb.DeleteMembershipRequest{Name: member})
			wantReason(t, err, codes.FailedPrecondition, "LAST_OWNER")
			_, err = e.operator.DeleteUser(ctx, &pb.DeleteUserRequest{Name: dev.GetName()})
			wantReason(t, err, codes.FailedPrecondition, "LAST_OWNER")
			_, err = e.dir.RemoveCompanyOwner(ctx, &pb.RemoveCompanyOwnerRequest{Name: "companies/acme/owners/" + strings.TrimPrefix(bossName, "users/")})
			wantReason(t, err, codes.FailedPrecondition, "LAST_OWNER")
			// In a company, the company's owners still manage an organization without owners.
			_, err = e.dir.UpdateMembership(ctx, &pb.UpdateMembershipRequest{Membership: &pb.Membership{Name: "organizations/eng/members/" + strings.TrimPrefix(bossName, "users/"), Role: pb.Role_ROLE_EDITOR}})
			noErr(t, err)
		})

		t.Run("teams hold members of their organization only, and go with the membership", func(t *testing.T) {
			tm, err := e.dir.CreateTeam(ctx, &pb.CreateTeamRequest{Parent: "organizations/eng", TeamId: "core", Team: &pb.Team{DisplayName: "Core", Description: "the core"}})
			noErr(t, err)
			if tm.GetTeam().GetName() != "organizations/eng/teams/core" {
				t.Fatalf("team %v", tm.GetTeam())
			}
			_, err = e.dir.CreateTeam(ctx, &pb.CreateTeamRequest{Parent: "organizations/eng", TeamId: "core"})
			wantField(t, err, codes.AlreadyExists, "TEAM_ALREADY_EXISTS", "team_id")
			outsider, err := e.operator.CreateUser(ctx, &pb.CreateUserRequest{User: &pb.User{Email: "out@elsewhere.test"}})
			noErr(t, err)
			_, err = e.dir.AddTeamMember(ctx, &pb.AddTeamMemberRequest{Parent: "organizations/eng/teams/core", User: outsider.GetUser().GetName()})
			wantField(t, err, codes.FailedPrecondition, "NOT_A_MEMBER", "user")
			added, err := e.dir.AddTeamMember(ctx, &pb.AddTeamMemberRequest{Parent: "organizations/eng/teams/core", User: dev.GetName()})
			noErr(t, err)
			if added.GetMember().GetEmail() != "dev@acme.test" {
				t.Fatalf("team member %v", added.GetMember())
			}
			up, err := e.dir.UpdateTeam(ctx, &pb.UpdateTeamRequest{Team: &pb.Team{Name: "organizations/eng/teams/core", Description: "kernel"}, UpdateMask: mask("description")})
			noErr(t, err)
			if up.GetTeam().GetDisplayName() != "Core" || up.GetTeam().GetDescription() != "kernel" {
				t.Fatalf("updated team %v", up.GetTeam())
			}
			_, err = e.dir.DeleteMembership(ctx, &pb.DeleteMembershipRequest{Name: "organizations/eng/members/" + strings.TrimPrefix(dev.GetName(), "users/")})
			noErr(t, err)
			members, err := e.dir.ListTeamMembers(ctx, &pb.ListTeamMembersRequest{Parent: "organizations/eng/teams/core"})
			noErr(t, err)
			if len(members.GetMembers()) != 0 {
				t.Fatalf("team members after the membership went: %v", members.GetMembers())
			}
		})

		t.Run("invitations are one per pending email and never for members", func(t *testing.T) {
			inv, err := e.dir.CreateInvitation(ctx, &pb.CreateInvitationRequest{Parent: "organizations/eng",
				Invitation: &pb.Invitation{Email: "New@Acme.test", Team: "organizations/eng/teams/core", Role: pb.Role_ROLE_EDITOR}})
			noErr(t, err)
			if inv.GetInvitation().GetState() != pb.InvitationState_INVITATION_STATE_PENDING || !strings.HasPrefix(inv.GetInvitation().GetName(), "organizations/eng/invitations/inv_") {
				t.Fatalf("invitation %v", inv.GetInvitation())
			}
			_, err = e.dir.CreateInvitation(ctx, &pb.CreateInvitationRequest{Parent: "organizations/eng", Invitation: &pb.Invitation{Email: "new@ACME.test"}})
			wantField(t, err, codes.AlreadyExists, "INVITATION_ALREADY_PENDING", "invitation.email")
			_, err = e.dir.CreateInvitation(ctx, &pb.CreateInvitationRequest{Parent: "organizations/eng", Invitation: &pb.Invitation{Email: "extra@acme.test"}})
			wantField(t, err, codes.AlreadyExists, "ALREADY_A_MEMBER", "invitation.email")
			_, err = e.dir.CreateInvitation(ctx, &pb.CreateInvitationRequest{Parent: "organizations/eng", Invitation: &pb.Invitation{Email: "x@acme.test", Team: "organizations/other/teams/core"}})
			wantField(t, err, codes.InvalidArgument, "INVALID_NAME", "invitation.team")
			_, err = e.dir.DeleteInvitation(ctx, &pb.DeleteInvitationRequest{Name: inv.GetInvitation().GetName()})
			noErr(t, err)
			list, err := e.dir.ListInvitations(ctx, &pb.ListInvitationsRequest{Parent: "organizations/eng"})
			noErr(t, err)
			if len(list.GetInvitations()) != 0 {
				t.Fatalf("invitations %v", list.GetInvitations())
			}
		})

		t.Run("usernames are generated from the email, with digits on collision, and stay unique", func(t *testing.T) {
			first, err := e.operator.CreateUser(ctx, &pb.CreateUserRequest{User: &pb.User{Email: "jo.smith@one.test"}})
			noErr(t, err)
			second, err := e.operator.CreateUser(ctx, &pb.CreateUserRequest{User: &pb.User{Email: "jo-smith@two.test"}})
			noErr(t, err)
			short, err := e.operator.CreateUser(ctx, &pb.CreateUserRequest{User: &pb.User{Email: "jo@three.test", FullName: "Joséphine Durand"}})
			noErr(t, err)
			if first.GetUser().GetUsername() != "josmith" || second.GetUser().GetUsername() != "josmith1" || short.GetUser().GetUsername() != "josephinedurand" {
				t.Fatalf("usernames %s, %s, %s", first.GetUser().GetUsername(), second.GetUser().GetUsername(), short.GetUser().GetUsername())
			}
			_, err = e.operator.CreateUser(ctx, &pb.CreateUserRequest{User: &pb.User{Email: "JO.SMITH@one.test"}})
			wantField(t, err, codes.AlreadyExists, "EMAIL_ALREADY_USED", "user.email")
			_, err = e.operator.UpdateUser(ctx, &pb.UpdateUserRequest{User: &pb.User{Name: second.GetUser().GetName(), Username: "josmith"}, UpdateMask: mask("username")})
			wantField(t, err, codes.AlreadyExists, "USERNAME_TAKEN", "user.username")
			found, err := e.operator.LookupUser(ctx, &pb.LookupUserRequest{Email: "Jo.Smith@ONE.test"})
			noErr(t, err)
			if found.GetUser().GetName() != first.GetUser().GetName() {
				t.Fatalf("lookup found %v", found.GetUser())
			}
			_, err = e.operator.LookupUser(ctx, &pb.LookupUserRequest{Email: "nobody@one.test"})
			wantReason(t, err, codes.NotFound, "USER_NOT_FOUND")
		})

		t.Run("a company with organizations is not deleted; an empty one is, and its log stays", func(t *testing.T) {
			_, err := e.dir.DeleteCompany(ctx, &pb.DeleteCompanyRequest{Name: "companies/acme"})
			wantReason(t, err, codes.FailedPrecondition, "COMPANY_HAS_ORGANIZATIONS")
			_, err = e.dir.CreateCompany(ctx, &pb.CreateCompanyRequest{CompanyId: "short-lived", Company: &pb.Company{}})
			noErr(t, err)
			_, err = e.dir.DeleteCompany(ctx, &pb.DeleteCompanyRequest{Name: "companies/short-lived"})
			noErr(t, err)
			_, err = e.dir.GetCompany(ctx, &pb.GetCompanyRequest{Name: "companies/short-lived"})
			wantReason(t, err, codes.NotFound, "COMPANY_NOT_FOUND")
			if got := strings.Join(actions(t, e, "companies/short-lived"), " "); got != "company.delete company.create" {
				t.Fatalf("log of the deleted company: %s", got)
			}
		})

		t.Run("the company's log shows its organizations' changes, newest first, page by page", func(t *testing.T) {
			all := actions(t, e, "companies/acme")
			if len(all) < 8 || all[0] != "team.member.remove" && all[0] != "membership.delete" && all[0] != "invitation.delete" {
				t.Fatalf("company log %v", all)
			}
			var paged []string
			token := ""
			for {
				page, err := e.dir.ListAuditEvents(ctx, &pb.ListAuditEventsRequest{Parent: "companies/acme", PageSize: 3, PageToken: token})
				noErr(t, err)
				for _, ev := range page.GetAuditEvents() {
					paged = append(paged, ev.GetAction())
				}
				if token = page.GetNextPageToken(); token == "" {
					break
				}
			}
			if strings.Join(paged, " ") != strings.Join(all, " ") {
				t.Fatalf("paged %v, whole %v", paged, all)
			}
			org := actions(t, e, "organizations/eng")
			if org[len(org)-1] != "organization.create" || len(org) >= len(all) {
				t.Fatalf("organization log %v", org)
			}
			_, err := e.dir.ListAuditEvents(ctx, &pb.ListAuditEventsRequest{Parent: "organizations/eng", PageToken: "bogus"})
			wantField(t, err, codes.InvalidArgument, "INVALID_PAGE_TOKEN", "page_token")
		})

		t.Run("other services record events in an existing owner's log, with their own actor", func(t *testing.T) {
			rec, err := e.connection.RecordAuditEvent(as("service:connection"), &pb.RecordAuditEventRequest{Parent: "companies/acme",
				Event: &pb.AuditEvent{Action: "connection.update", Resource: "companies/acme/connections/c1", Details: map[string]string{"field": "jit"}}})
			noErr(t, err)
			if rec.GetEvent().GetActor() != "service:connection" || rec.GetEvent().GetEventTime() == nil {
				t.Fatalf("recorded %v", rec.GetEvent())
			}
			onBehalf, err := e.connection.RecordAuditEvent(as("service:gateway"), &pb.RecordAuditEventRequest{Parent: "organizations/eng",
				Event: &pb.AuditEvent{Actor: bossName, Action: "domain.verify"}})
			noErr(t, err)
			if onBehalf.GetEvent().GetActor() != bossName || onBehalf.GetEvent().GetResource() != "organizations/eng" {
				t.Fatalf("recorded %v", onBehalf.GetEvent())
			}
			for _, c := range []struct {
				parent, action, actor, reason, field string
				code                                 codes.Code
			}{
				{"companies/ghost", "connection.update", "", "COMPANY_NOT_FOUND", "parent", codes.NotFound},
				{"organizations/ghost", "connection.update", "", "ORGANIZATION_NOT_FOUND", "parent", codes.NotFound},
				{"users/x", "connection.update", "", "INVALID_NAME", "parent", codes.InvalidArgument},
				{"companies/acme", "Connection Update", "", "INVALID_ACTION", "event.action", codes.InvalidArgument},
				{"companies/acme", "", "", "INVALID_ACTION", "event.action", codes.InvalidArgument},
				{"companies/acme", "connection.update", "root", "INVALID_ACTOR", "event.actor", codes.InvalidArgument},
			} {
				_, err := e.connection.RecordAuditEvent(ctx, &pb.RecordAuditEventRequest{Parent: c.parent, Event: &pb.AuditEvent{Action: c.action, Actor: c.actor}})
				wantField(t, err, c.code, c.reason, c.field)
			}
			_, err = e.connection.RecordAuditEvent(as("admin"), &pb.RecordAuditEventRequest{Parent: "companies/acme", Event: &pb.AuditEvent{Action: "a.b"}})
			wantField(t, err, codes.InvalidArgument, "INVALID_ACTOR", "x-actor")
		})

		t.Run("an event delivered twice with its event_id is recorded once", func(t *testing.T) {
			before := len(actions(t, e, "companies/acme"))
			send := func() *pb.RecordAuditEventResponse {
				rec, err := e.connection.RecordAuditEvent(as("service:connection"), &pb.RecordAuditEventRequest{Parent: "companies/acme",
					Event: &pb.AuditEvent{Action: "connection.delete", Details: map[string]string{"event_id": "outbox-42"}}})
				noErr(t, err)
				return rec
			}
			first, second := send(), send()
			if first.GetEvent().GetName() != second.GetEvent().GetName() {
				t.Fatalf("two deliveries named %s and %s", first.GetEvent().GetName(), second.GetEvent().GetName())
			}
			if after := len(actions(t, e, "companies/acme")); after != before+1 {
				t.Fatalf("%d events added by two deliveries, want 1", after-before)
			}
		})

		t.Run("bad input gets a typed error naming the field and changes nothing", func(t *testing.T) {
			before := len(actions(t, e, "companies/acme"))
			long := strings.Repeat("x", 101)
			for _, c := range []struct {
				name          string
				call          func() error
				code          codes.Code
				reason, field string
			}{
				{"company id with capitals", func() error {
					_, err := e.dir.CreateCompany(ctx, &pb.CreateCompanyRequest{CompanyId: "Acme", Company: &pb.Company{}})
					return err
				}, codes.InvalidArgument, "INVALID_ID", "company_id"},
				{"missing company id", func() error {
					_, err := e.dir.CreateCompany(ctx, &pb.CreateCompanyRequest{Company: &pb.Company{}})
					return err
				}, codes.InvalidArgument, "MISSING_FIELD", "company_id"},
				{"display name over 100 characters", func() error {
					_, err := e.dir.CreateOrganization(ctx, &pb.CreateOrganizationRequest{OrganizationId: "long", Organization: &pb.Organization{DisplayName: long}})
					return err
				}, codes.InvalidArgument, "VALUE_TOO_LONG", "organization.display_name"},
				{"display name with a newline", func() error {
					_, err := e.dir.CreateTeam(ctx, &pb.CreateTeamRequest{Parent: "organizations/eng", TeamId: "nl", Team: &pb.Team{DisplayName: "a\nb"}})
					return err
				}, codes.InvalidArgument, "INVALID_TEXT", "team.display_name"},
				{"organization in an unknown company", func() error {
					_, err := e.dir.CreateOrganization(ctx, &pb.CreateOrganizationRequest{OrganizationId: "lost", Organization: &pb.Organization{Company: "companies/ghost"}})
					return err
				}, codes.NotFound, "COMPANY_NOT_FOUND", "organization.company"},
				{"unknown plan number", func() error {
					_, err := e.dir.CreateOrganization(ctx, &pb.CreateOrganizationRequest{OrganizationId: "odd", Organization: &pb.Organization{Plan: pb.Plan(42)}})
					return err
				}, codes.InvalidArgument, "INVALID_PLAN", "organization.plan"},
				{"negative seat limit", func() error {
					_, err := e.dir.CreateOrganization(ctx, &pb.CreateOrganizationRequest{OrganizationId: "neg", Organization: &pb.Organization{SeatLimit: -1}})
					return err
				}, codes.InvalidArgument, "INVALID_SEAT_LIMIT", "organization.seat_limit"},
				{"unknown role number", func() error {
					_, err := e.dir.CreateMembership(ctx, &pb.CreateMembershipRequest{Parent: "organizations/eng", User: bossName, Role: pb.Role(9)})
					return err
				}, codes.InvalidArgument, "INVALID_ROLE", "role"},
				{"email that is not an email", func() error {
					_, err := e.operator.CreateUser(ctx, &pb.CreateUserRequest{User: &pb.User{Email: "not-an-email"}})
					return err
				}, codes.InvalidArgument, "INVALID_EMAIL", "user.email"},
				{"username with capitals", func() error {
					_, err := e.operator.CreateUser(ctx, &pb.CreateUserRequest{User: &pb.User{Email: "u@acme.test", Username: "Bad"}})
					return err
				}, codes.InvalidArgument, "INVALID_USERNAME", "user.username"},
				{"username over 30 characters", func() error {
					_, err := e.operator.CreateUser(ctx, &pb.CreateUserRequest{User: &pb.User{Email: "u@acme.test", Username: strings.Repeat("a", 31)}})
					return err
				}, codes.InvalidArgument, "INVALID_USERNAME", "user.username"},
				{"full name over 256 characters", func() error {
					_, err := e.operator.CreateUser(ctx, &pb.CreateUserRequest{User: &pb.User{Email: "u@acme.test", FullName: strings.Repeat("n", 257)}})
					return err
				}, codes.InvalidArgument, "VALUE_TOO_LONG", "user.full_name"},
				{"membership parent that is a company", func() error {
					_, err := e.dir.CreateMembership(ctx, &pb.CreateMembershipRequest{Parent: "companies/acme", User: bossName})
					return err
				}, codes.InvalidArgument, "INVALID_NAME", "parent"},
				{"membership of an unknown user", func() error {
					_, err := e.dir.CreateMembership(ctx, &pb.CreateMembershipRequest{Parent: "organizations/eng", User: "users/ghost"})
					return err
				}, codes.NotFound, "USER_NOT_FOUND", "user"},
				{"negative page size", func() error {
					_, err := e.dir.ListTeams(ctx, &pb.ListTeamsRequest{Parent: "organizations/eng", PageSize: -1})
					return err
				}, codes.InvalidArgument, "INVALID_PAGE_SIZE", "page_size"},
				{"company made by an actor who is no user", func() error {
					_, err := e.dir.CreateCompany(as("users/ghost"), &pb.CreateCompanyRequest{CompanyId: "ghostco", Company: &pb.Company{}})
					return err
				}, codes.NotFound, "USER_NOT_FOUND", "x-actor"},
				{"malformed actor", func() error {
					_, err := e.dir.CreateTeam(as("users/"), &pb.CreateTeamRequest{Parent: "organizations/eng", TeamId: "ok"})
					return err
				}, codes.InvalidArgument, "INVALID_ACTOR", "x-actor"},
			} {
				t.Run(c.name, func(t *testing.T) { wantField(t, c.call(), c.code, c.reason, c.field) })
			}
			if after := len(actions(t, e, "companies/acme")); after != before {
				t.Fatalf("refused requests wrote %d audit events", after-before)
			}
			_, err := e.dir.GetCompany(ctx, &pb.GetCompanyRequest{Name: "companies/ghostco"})
			wantReason(t, err, codes.NotFound, "COMPANY_NOT_FOUND")
			teams, err := e.dir.ListTeams(ctx, &pb.ListTeamsRequest{Parent: "organizations/eng"})
			noErr(t, err)
			if len(teams.GetTeams()) != 1 {
				t.Fatalf("teams after refused creates: %v", teams.GetTeams())
			}
		})

		t.Run("health reports serving once the store answers", func(t *testing.T) {
			h := healthpb.NewHealthClient(e.conn)
			deadline := time.Now().Add(5 * time.Second)
			for _, name := range []string{pb.DirectoryService_ServiceDesc.ServiceName, pb.ProvisioningInternalService_ServiceDesc.ServiceName} {
				for {
					resp, err := h.Check(ctx, &healthpb.HealthCheckRequest{Service: name})
					if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("health of %s: %v, %v", name, resp, err)
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	})
}
