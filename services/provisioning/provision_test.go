package provisioning_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	pb "github.com/iechor/sso/gen/iechor/sso/provisioning/v1"
	"github.com/iechor/sso/services/platform/sqlstore/sqlstoretest"
	"github.com/iechor/sso/services/provisioning/internal/jit"
)

// world is one company for one rule: a verified domain, a connection, covered organizations eng
// (the default, with team core) and ops, an organization other in the company that the connection
// does not cover, and a standalone organization solo.
type world struct {
	e                     *env
	n                     string
	company, domain, conn string
	eng, ops, other, solo string
	engID, opsID, soloID  string
	gateway               context.Context
}

func newWorld(t *testing.T, e *env, n string) *world {
	t.Helper()
	ctx := context.Background()
	w := &world{e: e, n: n, company: "companies/" + n, domain: n + ".example", conn: "companies/" + n + "/connections/conn1",
		engID: n + "-eng", opsID: n + "-ops", soloID: n + "-solo", gateway: as("service:gateway")}
	w.eng, w.ops, w.other, w.solo = "organizations/"+w.engID, "organizations/"+w.opsID, "organizations/"+n+"-other", "organizations/"+w.soloID
	_, err := e.dir.CreateCompany(ctx, &pb.CreateCompanyRequest{CompanyId: n, Company: &pb.Company{DisplayName: strings.ToUpper(n)}})
	noErr(t, err)
	for _, o := range []struct{ id, company, display string }{
		{w.engID, w.company, "Engineering " + n}, {w.opsID, w.company, "Operations " + n}, {n + "-other", w.company, "Other"}, {w.soloID, "", "Solo"},
	} {
		_, err := e.dir.CreateOrganization(ctx, &pb.CreateOrganizationRequest{OrganizationId: o.id,
			Organization: &pb.Organization{DisplayName: o.display, Company: o.company, Plan: pb.Plan_PLAN_BUSINESS}})
		noErr(t, err)
	}
	_, err = e.dir.CreateTeam(ctx, &pb.CreateTeamRequest{Parent: w.eng, TeamId: "core"})
	noErr(t, err)
	e.verify(t, w.company, w.domain)
	return w
}

func (w *world) identity(local string) *pb.Identity {
	return &pb.Identity{Connection: w.conn, Subject: "sub-" + local, Email: local + "@" + w.domain, FullName: "Person " + local}
}

func (w *world) settings() *pb.ProvisioningSettings {
	return &pb.ProvisioningSettings{JitEnabled: true, Owner: w.company, Organizations: []string{w.eng, w.ops}, DefaultOrganization: w.eng}
}

func (w *world) provision(id *pb.Identity, s *pb.ProvisioningSettings) (*pb.ProvisionUserResponse, error) {
	return w.e.internal.ProvisionUser(w.gateway, &pb.ProvisionUserRequest{Identity: id, Settings: s})
}

func (w *world) mustProvision(t *testing.T, id *pb.Identity, s *pb.ProvisioningSettings) *pb.ProvisionUserResponse {
	t.Helper()
	resp, err := w.provision(id, s)
	noErr(t, err)
	return resp
}

// roles returns user's role in each organization they belong to, among the world's.
func (w *world) roles(t *testing.T, user string) map[string]pb.Role {
	t.Helper()
	out := map[string]pb.Role{}
	for _, org := range []string{w.eng, w.ops, w.other, w.solo} {
		m, err := w.e.dir.GetMembership(context.Background(), &pb.GetMembershipRequest{Name: org + "/members/" + strings.TrimPrefix(user, "users/")})
		if err == nil {
			out[org] = m.GetMembership().GetRole()
		}
	}
	return out
}

func (w *world) teamMembers(t *testing.T, team string) []string {
	t.Helper()
	resp, err := w.e.dir.ListTeamMembers(context.Background(), &pb.ListTeamMembersRequest{Parent: team})
	noErr(t, err)
	var out []string
	for _, m := range resp.GetMembers() {
		out = append(out, m.GetUser())
	}
	return out
}

func (w *world) teamExists(team string) bool {
	_, err := w.e.dir.GetTeam(context.Background(), &pb.GetTeamRequest{Name: team})
	return err == nil
}

func (w *world) seats(t *testing.T, org string) int32 {
	t.Helper()
	o, err := w.e.dir.GetOrganization(context.Background(), &pb.GetOrganizationRequest{Name: org})
	noErr(t, err)
	return o.GetOrganization().GetSeatsUsed()
}

func (w *world) logLength(t *testing.T) int {
	t.Helper()
	return len(actions(t, w.e, w.company))
}

// refused checks that a provisioning fails with the typed error and leaves no trace: no user with
// the email, no audit event, no seat taken.
func (w *world) refused(t *testing.T, id *pb.Identity, s *pb.ProvisioningSettings, code codes.Code, reason, field string) error {
	t.Helper()
	before, seats := w.logLength(t), w.seats(t, w.eng)
	_, err := w.provision(id, s)
	if field == "" {
		wantReason(t, err, code, reason)
	} else {
		wantField(t, err, code, reason, field)
	}
	if _, lerr := w.e.operator.LookupUser(context.Background(), &pb.LookupUserRequest{Email: id.GetEmail()}); lerr == nil && reason != "USER_NOT_ASSIGNED" {
		t.Fatalf("a refused provisioning left the user %s", id.GetEmail())
	}
	if after := w.logLength(t); after != before {
		t.Fatalf("a refused provisioning wrote %d audit events", after-before)
	}
	if after := w.seats(t, w.eng); after != seats {
		t.Fatalf("a refused provisioning changed the seats of eng from %d to %d", seats, after)
	}
	return err
}

func TestProvisioningRules(t *testing.T) {
	t.Parallel()
	rules := []struct {
		name string
		run  func(t *testing.T, w *world)
	}{
		{"a new identity with JIT on creates the user, links the identity and joins the default organization and team", func(t *testing.T, w *world) {
			s := w.settings()
			s.DefaultTeam = w.eng + "/teams/core"
			resp := w.mustProvision(t, w.identity("ann"), s)
			u, c := resp.GetUser(), resp.GetChanges()
			if !c.GetUserCreated() || !c.GetIdentityLinked() || u.GetEmail() != "ann@"+w.domain || u.GetFullName() != "Person ann" || u.GetUsername() != "personann" {
				t.Fatalf("user %v, changes %v", u, c)
			}
			uid := strings.TrimPrefix(u.GetName(), "users/")
			if !slices.Equal(c.GetMembershipsAdded(), []string{w.eng + "/members/" + uid}) ||
				!slices.Equal(c.GetTeamMembershipsAdded(), []string{w.eng + "/teams/core/members/" + uid}) || len(c.GetTeamsCreated()) != 0 {
				t.Fatalf("changes %v", c)
			}
			if r := w.roles(t, u.GetName()); len(r) != 1 || r[w.eng] != pb.Role_ROLE_MEMBER {
				t.Fatalf("roles %v", r)
			}
			links, err := w.e.dir.ListIdentityLinks(context.Background(), &pb.ListIdentityLinksRequest{Parent: u.GetName()})
			noErr(t, err)
			if len(links.GetIdentityLinks()) != 1 || links.GetIdentityLinks()[0].GetConnection() != w.conn || links.GetIdentityLinks()[0].GetSubject() != "sub-ann" {
				t.Fatalf("links %v", links.GetIdentityLinks())
			}
		}},
		{"the same identity provisioned again changes nothing and returns the same user", func(t *testing.T, w *world) {
			first := w.mustProvision(t, w.identity("bob"), w.settings())
			again := w.mustProvision(t, w.identity("bob"), w.settings())
			c := again.GetChanges()
			if again.GetUser().GetName() != first.GetUser().GetName() || c.GetUserCreated() || c.GetIdentityLinked() || c.GetFullNameUpdated() ||
				len(c.GetMembershipsAdded())+len(c.GetTeamMembershipsAdded())+len(c.GetTeamsCreated())+len(c.GetInvitationsAccepted()) != 0 {
				t.Fatalf("second provisioning changed %v", c)
			}
			if w.seats(t, w.eng) != 1 {
				t.Fatalf("%d seats used after two provisionings of one person", w.seats(t, w.eng))
			}
		}},
		{"an existing user found by email, in any case, is linked rather than duplicated", func(t *testing.T, w *world) {
			existing, err := w.e.operator.CreateUser(context.Background(), &pb.CreateUserRequest{User: &pb.User{Email: "Cat@" + strings.ToUpper(w.domain), FullName: "Person cat"}})
			noErr(t, err)
			resp := w.mustProvision(t, w.identity("cat"), w.settings())
			if resp.GetUser().GetName() != existing.GetUser().GetName() || resp.GetChanges().GetUserCreated() || !resp.GetChanges().GetIdentityLinked() {
				t.Fatalf("provisioned %v with %v", resp.GetUser(), resp.GetChanges())
			}
		}},
		{"the identity link finds the user even after the email changed at the identity provider", func(t *testing.T, w *world) {
			first := w.mustProvision(t, w.identity("dan"), w.settings())
			moved := w.identity("dan")
			moved.Email = "daniel@" + w.domain
			again := w.mustProvision(t, moved, w.settings())
			if again.GetUser().GetName() != first.GetUser().GetName() || again.GetChanges().GetUserCreated() || again.GetUser().GetEmail() != "dan@"+w.domain {
				t.Fatalf("after an email change at the IdP: %v, %v", again.GetUser(), again.GetChanges())
			}
		}},
		{"a full name changed at the identity provider is updated", func(t *testing.T, w *world) {
			w.mustProvision(t, w.identity("eve"), w.settings())
			renamed := w.identity("eve")
			renamed.FullName = "Eve Renamed"
			resp := w.mustProvision(t, renamed, w.settings())
			if !resp.GetChanges().GetFullNameUpdated() || resp.GetUser().GetFullName() != "Eve Renamed" {
				t.Fatalf("after a rename: %v, %v", resp.GetUser(), resp.GetChanges())
			}
		}},
		{"with JIT off an unknown person is refused with USER_NOT_ASSIGNED naming them, and nothing is written", func(t *testing.T, w *world) {
			s := w.settings()
			s.JitEnabled = false
			err := w.refused(t, w.identity("fay"), s, codes.PermissionDenied, "USER_NOT_ASSIGNED", "")
			if !strings.Contains(err.Error(), "User 'Person fay' is not assigned to this SSO organization. Contact your administrator.") {
				t.Fatalf("message: %v", err)
			}
			if _, lerr := w.e.operator.LookupUser(context.Background(), &pb.LookupUserRequest{Email: "fay@" + w.domain}); lerr == nil {
				t.Fatal("the refused person was created")
			}
		}},
		{"with JIT off the refusal names the email when the identity provider sends no name", func(t *testing.T, w *world) {
			s := w.settings()
			s.JitEnabled = false
			id := w.identity("gus")
			id.FullName = ""
			err := w.refused(t, id, s, codes.PermissionDenied, "USER_NOT_ASSIGNED", "")
			if !strings.Contains(err.Error(), "User 'gus@"+w.domain+"' is not assigned") {
				t.Fatalf("message: %v", err)
			}
		}},
		{"with JIT off an existing user who belongs to no covered organization is refused and not linked", func(t *testing.T, w *world) {
			u, err := w.e.operator.CreateUser(context.Background(), &pb.CreateUserRequest{User: &pb.User{Email: "hal@" + w.domain}})
			noErr(t, err)
			_, err = w.e.dir.CreateMembership(context.Background(), &pb.CreateMembershipRequest{Parent: w.other, User: u.GetUser().GetName()})
			noErr(t, err)
			s := w.settings()
			s.JitEnabled = false
			w.refused(t, w.identity("hal"), s, codes.PermissionDenied, "USER_NOT_ASSIGNED", "")
			links, err := w.e.dir.ListIdentityLinks(context.Background(), &pb.ListIdentityLinksRequest{Parent: u.GetUser().GetName()})
			noErr(t, err)
			if len(links.GetIdentityLinks()) != 0 {
				t.Fatalf("a refused sign-in linked %v", links.GetIdentityLinks())
			}
		}},
		{"with JIT off an existing member signs in and is linked", func(t *testing.T, w *world) {
			u, err := w.e.operator.CreateUser(context.Background(), &pb.CreateUserRequest{User: &pb.User{Email: "ida@" + w.domain}})
			noErr(t, err)
			_, err = w.e.dir.CreateMembership(context.Background(), &pb.CreateMembershipRequest{Parent: w.ops, User: u.GetUser().GetName()})
			noErr(t, err)
			s := w.settings()
			s.JitEnabled = false
			resp := w.mustProvision(t, w.identity("ida"), s)
			if resp.GetUser().GetName() != u.GetUser().GetName() || !resp.GetChanges().GetIdentityLinked() || len(resp.GetChanges().GetMembershipsAdded()) != 0 {
				t.Fatalf("member sign-in: %v", resp.GetChanges())
			}
		}},
		{"with JIT off an invited person is created and joins through the invitation", func(t *testing.T, w *world) {
			_, err := w.e.dir.CreateInvitation(context.Background(), &pb.CreateInvitationRequest{Parent: w.ops, Invitation: &pb.Invitation{Email: "JAY@" + w.domain}})
			noErr(t, err)
			s := w.settings()
			s.JitEnabled = false
			resp := w.mustProvision(t, w.identity("jay"), s)
			c := resp.GetChanges()
			if !c.GetUserCreated() || len(c.GetInvitationsAccepted()) != 1 || len(c.GetMembershipsAdded()) != 1 || !strings.HasPrefix(c.GetMembershipsAdded()[0], w.ops+"/members/") {
				t.Fatalf("invited sign-in: %v", c)
			}
		}},
		{"pending invitations are accepted with their team and their role, and the default organization is not added", func(t *testing.T, w *world) {
			_, err := w.e.dir.CreateTeam(context.Background(), &pb.CreateTeamRequest{Parent: w.ops, TeamId: "oncall"})
			noErr(t, err)
			inv, err := w.e.dir.CreateInvitation(context.Background(), &pb.CreateInvitationRequest{Parent: w.ops,
				Invitation: &pb.Invitation{Email: "kim@" + w.domain, Team: w.ops + "/teams/oncall", Role: pb.Role_ROLE_EDITOR}})
			noErr(t, err)
			resp := w.mustProvision(t, w.identity("kim"), w.settings())
			if !slices.Equal(resp.GetChanges().GetInvitationsAccepted(), []string{inv.GetInvitation().GetName()}) {
				t.Fatalf("accepted %v", resp.GetChanges().GetInvitationsAccepted())
			}
			if r := w.roles(t, resp.GetUser().GetName()); len(r) != 1 || r[w.ops] != pb.Role_ROLE_EDITOR {
				t.Fatalf("roles %v", r)
			}
			if got := w.teamMembers(t, w.ops+"/teams/oncall"); !slices.Equal(got, []string{resp.GetUser().GetName()}) {
				t.Fatalf("oncall members %v", got)
			}
			list, err := w.e.dir.ListInvitations(context.Background(), &pb.ListInvitationsRequest{Parent: w.ops})
			noErr(t, err)
			if list.GetInvitations()[0].GetState() != pb.InvitationState_INVITATION_STATE_ACCEPTED || list.GetInvitations()[0].GetAcceptTime() == nil {
				t.Fatalf("invitation after sign-in %v", list.GetInvitations()[0])
			}
		}},
		{"invitations to organizations the connection does not cover stay pending", func(t *testing.T, w *world) {
			_, err := w.e.dir.CreateInvitation(context.Background(), &pb.CreateInvitationRequest{Parent: w.other, Invitation: &pb.Invitation{Email: "lea@" + w.domain}})
			noErr(t, err)
			resp := w.mustProvision(t, w.identity("lea"), w.settings())
			if len(resp.GetChanges().GetInvitationsAccepted()) != 0 {
				t.Fatalf("accepted %v", resp.GetChanges().GetInvitationsAccepted())
			}
			if r := w.roles(t, resp.GetUser().GetName()); len(r) != 1 || r[w.eng] != pb.Role_ROLE_MEMBER {
				t.Fatalf("roles %v", r)
			}
		}},
		{"groups named organization:team add the organization and the team, creating a missing team, instead of the default", func(t *testing.T, w *world) {
			id := w.identity("max")
			id.Groups = []string{w.opsID + ":Platform Team", w.opsID + ":platform-team", w.engID + ":core"}
			resp := w.mustProvision(t, id, w.settings())
			c := resp.GetChanges()
			if !slices.Equal(c.GetTeamsCreated(), []string{w.ops + "/teams/platform-team"}) || len(c.GetMembershipsAdded()) != 2 || len(c.GetTeamMembershipsAdded()) != 2 || len(resp.GetWarnings()) != 0 {
				t.Fatalf("changes %v, warnings %v", c, resp.GetWarnings())
			}
			team, err := w.e.dir.GetTeam(context.Background(), &pb.GetTeamRequest{Name: w.ops + "/teams/platform-team"})
			noErr(t, err)
			if team.GetTeam().GetDisplayName() != "Platform Team" {
				t.Fatalf("created team %v", team.GetTeam())
			}
			// A person whose groups name only eng gets no default team: eng comes from the group.
			if r := w.roles(t, resp.GetUser().GetName()); len(r) != 2 {
				t.Fatalf("roles %v", r)
			}
		}},
		{"groups not formatted organization:team are ignored with the warning", func(t *testing.T, w *world) {
			id := w.identity("ned")
			id.Groups = []string{"Everyone", "a:b:c", ":team", w.opsID + ":"}
			resp := w.mustProvision(t, id, w.settings())
			if len(resp.GetWarnings()) != 1 || !strings.HasPrefix(resp.GetWarnings()[0], jit.MalformedGroupsWarning) || !strings.Contains(resp.GetWarnings()[0], `"Everyone"`) {
				t.Fatalf("warnings %q", resp.GetWarnings())
			}
			if r := w.roles(t, resp.GetUser().GetName()); len(r) != 1 || r[w.eng] == 0 {
				t.Fatalf("with only malformed groups the default applies: %v", r)
			}
		}},
		{"groups naming organizations the connection does not cover grant nothing and are reported", func(t *testing.T, w *world) {
			id := w.identity("ola")
			id.Groups = []string{w.n + "-other:core", w.soloID + ":core"}
			resp := w.mustProvision(t, id, w.settings())
			if len(resp.GetWarnings()) != 1 || !strings.Contains(resp.GetWarnings()[0], "does not cover") || w.teamExists(w.other+"/teams/core") {
				t.Fatalf("warnings %q", resp.GetWarnings())
			}
			if r := w.roles(t, resp.GetUser().GetName()); len(r) != 1 || r[w.eng] == 0 {
				t.Fatalf("roles %v", r)
			}
		}},
		{"iechorOrg replaces the default organization and skips the default team", func(t *testing.T, w *world) {
			s := w.settings()
			s.DefaultTeam = w.eng + "/teams/core"
			id := w.identity("pat")
			id.IechorOrg = w.opsID
			resp := w.mustProvision(t, id, s)
			if r := w.roles(t, resp.GetUser().GetName()); len(r) != 1 || r[w.ops] != pb.Role_ROLE_MEMBER {
				t.Fatalf("roles %v", r)
			}
			if len(resp.GetChanges().GetTeamMembershipsAdded()) != 0 {
				t.Fatalf("the default team was added: %v", resp.GetChanges())
			}
		}},
		{"iechorOrg naming an organization the connection does not cover is ignored and the default applies", func(t *testing.T, w *world) {
			id := w.identity("quinn")
			id.IechorOrg = w.n + "-other"
			resp := w.mustProvision(t, id, w.settings())
			if r := w.roles(t, resp.GetUser().GetName()); len(r) != 1 || r[w.eng] == 0 || len(resp.GetWarnings()) != 1 {
				t.Fatalf("roles %v, warnings %q", r, resp.GetWarnings())
			}
		}},
		{"iechorTeam adds that team in the organization, creating it, on every sign-in", func(t *testing.T, w *world) {
			id := w.identity("ray")
			id.IechorOrg, id.IechorTeam = "organizations/"+w.opsID, "SRE"
			resp := w.mustProvision(t, id, w.settings())
			uid := strings.TrimPrefix(resp.GetUser().GetName(), "users/")
			if !slices.Equal(resp.GetChanges().GetTeamsCreated(), []string{w.ops + "/teams/sre"}) ||
				!slices.Equal(resp.GetChanges().GetTeamMembershipsAdded(), []string{w.ops + "/teams/sre/members/" + uid}) {
				t.Fatalf("changes %v", resp.GetChanges())
			}
			id.IechorTeam = "db"
			again := w.mustProvision(t, id, w.settings())
			if !slices.Equal(again.GetChanges().GetTeamMembershipsAdded(), []string{w.ops + "/teams/db/members/" + uid}) || len(again.GetChanges().GetMembershipsAdded()) != 0 {
				t.Fatalf("second sign-in changes %v", again.GetChanges())
			}
		}},
		{"a user already in a covered organization is not added to the default organization", func(t *testing.T, w *world) {
			u, err := w.e.operator.CreateUser(context.Background(), &pb.CreateUserRequest{User: &pb.User{Email: "sue@" + w.domain}})
			noErr(t, err)
			_, err = w.e.dir.CreateMembership(context.Background(), &pb.CreateMembershipRequest{Parent: w.ops, User: u.GetUser().GetName()})
			noErr(t, err)
			resp := w.mustProvision(t, w.identity("sue"), w.settings())
			if r := w.roles(t, u.GetUser().GetName()); len(r) != 1 || r[w.ops] == 0 || len(resp.GetChanges().GetMembershipsAdded()) != 0 {
				t.Fatalf("roles %v", r)
			}
		}},
		{"iechorRole applies to new memberships when the connection honours IdP roles", func(t *testing.T, w *world) {
			s := w.settings()
			s.HonorIdpRoles = true
			id := w.identity("tom")
			id.IechorRole, id.Groups = "Owner", []string{w.opsID + ":core"}
			resp := w.mustProvision(t, id, s)
			if r := w.roles(t, resp.GetUser().GetName()); len(r) != 1 || r[w.ops] != pb.Role_ROLE_OWNER {
				t.Fatalf("roles %v", r)
			}
		}},
		{"iechorRole is ignored when the connection does not honour IdP roles", func(t *testing.T, w *world) {
			id := w.identity("uma")
			id.IechorRole = "owner"
			resp := w.mustProvision(t, id, w.settings())
			if r := w.roles(t, resp.GetUser().GetName()); r[w.eng] != pb.Role_ROLE_MEMBER {
				t.Fatalf("roles %v", r)
			}
		}},
		{"iechorRole never changes the role of an existing membership", func(t *testing.T, w *world) {
			first := w.mustProvision(t, w.identity("vic"), w.settings())
			s := w.settings()
			s.HonorIdpRoles = true
			id := w.identity("vic")
			id.IechorRole = "owner"
			w.mustProvision(t, id, s)
			if r := w.roles(t, first.GetUser().GetName()); r[w.eng] != pb.Role_ROLE_MEMBER {
				t.Fatalf("roles %v", r)
			}
		}},
		{"an unknown iechorRole is bad input even when roles are not honoured", func(t *testing.T, w *world) {
			id := w.identity("wes")
			id.IechorRole = "admin"
			w.refused(t, id, w.settings(), codes.InvalidArgument, "INVALID_ROLE", "identity.iechor_role")
		}},
		{"a full organization refuses the new member with NO_SEATS and nothing of the provisioning is written", func(t *testing.T, w *world) {
			filler, err := w.e.operator.CreateUser(context.Background(), &pb.CreateUserRequest{User: &pb.User{Email: "filler@" + w.domain}})
			noErr(t, err)
			_, err = w.e.dir.CreateMembership(context.Background(), &pb.CreateMembershipRequest{Parent: w.ops, User: filler.GetUser().GetName()})
			noErr(t, err)
			_, err = w.e.dir.UpdateOrganization(context.Background(), &pb.UpdateOrganizationRequest{Organization: &pb.Organization{Name: w.ops, SeatLimit: 1}, UpdateMask: mask("seat_limit")})
			noErr(t, err)
			id := w.identity("xia")
			id.Groups = []string{w.engID + ":fresh-team", w.opsID + ":core"}
			err = w.refused(t, id, w.settings(), codes.FailedPrecondition, "NO_SEATS", "")
			if !strings.Contains(err.Error(), "Not enough seats in organization 'Operations "+w.n+"'. Add more seats or contact your administrator.") {
				t.Fatalf("message: %v", err)
			}
			if w.teamExists(w.eng + "/teams/fresh-team") {
				t.Fatal("the team created before the refusal was kept")
			}
		}},
		{"one user.provision event records the changes with the caller as actor", func(t *testing.T, w *world) {
			before := w.logLength(t)
			resp := w.mustProvision(t, w.identity("yan"), w.settings())
			events, err := w.e.dir.ListAuditEvents(context.Background(), &pb.ListAuditEventsRequest{Parent: w.company, PageSize: 1})
			noErr(t, err)
			ev := events.GetAuditEvents()[0]
			d := ev.GetDetails()
			if w.logLength(t) != before+1 || ev.GetAction() != "user.provision" || ev.GetActor() != "service:gateway" || ev.GetResource() != resp.GetUser().GetName() ||
				d["user_created"] != "true" || d["connection"] != w.conn || d["memberships_added"] != resp.GetChanges().GetMembershipsAdded()[0] {
				t.Fatalf("event %v", ev)
			}
		}},
		{"the username comes from the email's local part, with digits when taken", func(t *testing.T, w *world) {
			a := w.mustProvision(t, w.identity("zoe.li"), w.settings())
			b := w.mustProvision(t, w.identity("zoe-li"), w.settings())
			if a.GetUser().GetUsername() != "zoeli" || b.GetUser().GetUsername() != "zoeli1" {
				t.Fatalf("usernames %s, %s", a.GetUser().GetUsername(), b.GetUser().GetUsername())
			}
		}},
		{"a connection owned by an organization covers only that organization", func(t *testing.T, w *world) {
			w.e.verify(t, w.solo, "solo-"+w.domain)
			s := &pb.ProvisioningSettings{JitEnabled: true, Owner: w.solo, Organizations: []string{w.solo}, DefaultOrganization: w.solo}
			id := &pb.Identity{Connection: w.solo + "/connections/c1", Subject: "s-amy", Email: "amy@solo-" + w.domain, Groups: []string{w.engID + ":core"}}
			resp := w.mustProvision(t, id, s)
			if r := w.roles(t, resp.GetUser().GetName()); len(r) != 1 || r[w.solo] == 0 || len(resp.GetWarnings()) != 1 {
				t.Fatalf("roles %v, warnings %q", r, resp.GetWarnings())
			}
			s.Organizations = append(s.Organizations, w.eng)
			id.Subject, id.Email = "s-bo", "bo@solo-"+w.domain
			w.refused(t, id, s, codes.PermissionDenied, "ORGANIZATION_OUTSIDE_OWNER", "settings.organizations")
		}},
	}
	badInput := []struct {
		name          string
		edit          func(w *world, id *pb.Identity, s *pb.ProvisioningSettings)
		code          codes.Code
		reason, field string
	}{
		{"a malformed connection name is refused", func(w *world, id *pb.Identity, s *pb.ProvisioningSettings) {
			id.Connection = w.company + "/conns/x"
		}, codes.InvalidArgument, "INVALID_NAME", "identity.connection"},
		{"a connection of another owner than the settings' is refused", func(w *world, id *pb.Identity, s *pb.ProvisioningSettings) {
			id.Connection = "companies/elsewhere/connections/c1"
		}, codes.InvalidArgument, "CONNECTION_OWNER_MISMATCH", "identity.connection"},
		{"a malformed owner is refused", func(w *world, id *pb.Identity, s *pb.ProvisioningSettings) {
			s.Owner = "users/x"
		}, codes.InvalidArgument, "INVALID_NAME", "settings.owner"},
		{"an owner that does not exist is refused", func(w *world, id *pb.Identity, s *pb.ProvisioningSettings) {
			s.Owner, id.Connection, id.Email = "companies/ghost-"+w.n, "companies/ghost-"+w.n+"/connections/c1", "a@ghost-"+w.domain
			s.Organizations, s.DefaultOrganization = nil, ""
		}, codes.FailedPrecondition, "UNKNOWN_OWNER", "settings.owner"},
		{"an email that is not an email is refused", func(w *world, id *pb.Identity, s *pb.ProvisioningSettings) {
			id.Email = "not an email"
		}, codes.InvalidArgument, "INVALID_EMAIL", "identity.email"},
		{"an email on a domain another owner verified is refused", func(w *world, id *pb.Identity, s *pb.ProvisioningSettings) {
			id.Email = "a@rival-" + w.domain
		}, codes.PermissionDenied, "EMAIL_DOMAIN_NOT_VERIFIED", "identity.email"},
		{"an email on a domain nobody verified is refused", func(w *world, id *pb.Identity, s *pb.ProvisioningSettings) {
			id.Email = "a@unverified-" + w.domain
		}, codes.PermissionDenied, "EMAIL_DOMAIN_NOT_VERIFIED", "identity.email"},
		{"an email on a free email provider is refused", func(w *world, id *pb.Identity, s *pb.ProvisioningSettings) {
			id.Email = "someone@gmail.com"
		}, codes.PermissionDenied, "EMAIL_DOMAIN_NOT_VERIFIED", "identity.email"},
		{"an unknown covered organization is refused", func(w *world, id *pb.Identity, s *pb.ProvisioningSettings) {
			s.Organizations = append(s.Organizations, "organizations/ghost")
		}, codes.FailedPrecondition, "UNKNOWN_ORGANIZATION", "settings.organizations"},
		{"a covered organization outside the company is refused", func(w *world, id *pb.Identity, s *pb.ProvisioningSettings) {
			s.Organizations = append(s.Organizations, w.solo)
		}, codes.PermissionDenied, "ORGANIZATION_OUTSIDE_OWNER", "settings.organizations"},
		{"a default organization outside the company is refused", func(w *world, id *pb.Identity, s *pb.ProvisioningSettings) {
			s.DefaultOrganization = w.solo
		}, codes.PermissionDenied, "ORGANIZATION_OUTSIDE_OWNER", "settings.default_organization"},
		{"a default team outside the default organization is refused", func(w *world, id *pb.Identity, s *pb.ProvisioningSettings) {
			s.DefaultTeam = w.ops + "/teams/core"
		}, codes.InvalidArgument, "DEFAULT_TEAM_OUTSIDE_DEFAULT_ORGANIZATION", "settings.default_team"},
		{"a full name over 256 characters is refused", func(w *world, id *pb.Identity, s *pb.ProvisioningSettings) {
			id.FullName = strings.Repeat("é", 257)
		}, codes.InvalidArgument, "VALUE_TOO_LONG", "identity.full_name"},
		{"a subject over 1024 bytes is refused", func(w *world, id *pb.Identity, s *pb.ProvisioningSettings) {
			id.Subject = strings.Repeat("s", 1025)
		}, codes.InvalidArgument, "VALUE_TOO_LONG", "identity.subject"},
		{"a missing subject is refused", func(w *world, id *pb.Identity, s *pb.ProvisioningSettings) {
			id.Subject = ""
		}, codes.InvalidArgument, "MISSING_FIELD", "identity.subject"},
		{"more than 1000 groups are refused", func(w *world, id *pb.Identity, s *pb.ProvisioningSettings) {
			for i := range 1001 {
				id.Groups = append(id.Groups, fmt.Sprint("g", i))
			}
		}, codes.InvalidArgument, "TOO_MANY_GROUPS", "identity.groups"},
		{"a negative session length is refused", func(w *world, id *pb.Identity, s *pb.ProvisioningSettings) {
			id.IechorSessionMinutes = -5
		}, codes.InvalidArgument, "INVALID_SESSION_MINUTES", "identity.iechor_session_minutes"},
	}
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		e := start(t, b)
		for i, r := range rules {
			t.Run(r.name, func(t *testing.T) { r.run(t, newWorld(t, e, fmt.Sprintf("r%02d", i))) })
		}
		t.Run("bad input", func(t *testing.T) {
			w := newWorld(t, e, "bad")
			e.verify(t, "companies/rival-bad", "rival-"+w.domain)
			e.verify(t, "companies/ghost-bad", "ghost-"+w.domain)
			for _, c := range badInput {
				t.Run(c.name, func(t *testing.T) {
					id, s := w.identity("victim"), w.settings()
					c.edit(w, id, s)
					w.refused(t, id, s, c.code, c.reason, c.field)
				})
			}
		})
	})
}
