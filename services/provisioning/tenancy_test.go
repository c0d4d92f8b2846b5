package provisioning_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pb "github.com/iechor/sso/gen/iechor/sso/provisioning/v1"
	"github.com/iechor/sso/services/platform/callmeta"
	"github.com/iechor/sso/services/platform/sqlstore/sqlstoretest"
)

// tenants is two companies side by side, each with an owner and a member of its engineering
// organization; acme also has a person who only signed in through its connection.
type tenants struct {
	e                  *env
	acme, globex       *world
	ada, dev, linked   string // acme's owner, a member of acme-eng, a user linked through acme's connection
	gus, gina          string // globex's owner and a member of globex-eng
	adaCtx, ginaCtx    context.Context
	ginaEmail, ghostID string
}

func newTenants(t *testing.T, b sqlstoretest.Backend) *tenants {
	t.Helper()
	e := start(t, b)
	ctx := context.Background()
	tn := &tenants{e: e, acme: newWorld(t, e, "acme"), globex: newWorld(t, e, "globex"), ghostID: "users/usr_doesnotexist"}
	user := func(email, name string) string {
		u, err := e.operator.CreateUser(ctx, &pb.CreateUserRequest{User: &pb.User{Email: email, FullName: name}})
		noErr(t, err)
		return u.GetUser().GetName()
	}
	tn.ada, tn.dev = user("ada@acme.example", "Ada Admin"), user("dev@acme.example", "Dev Acme")
	tn.gus, tn.gina = user("gus@globex.example", "Gus Globex"), user("gina@globex.example", "Gina Globex")
	tn.ginaEmail = "gina@globex.example"
	for _, o := range []struct{ company, user string }{{"companies/acme", tn.ada}, {"companies/globex", tn.gus}} {
		_, err := e.dir.AddCompanyOwner(ctx, &pb.AddCompanyOwnerRequest{Parent: o.company, User: o.user})
		noErr(t, err)
	}
	for _, m := range []struct{ org, user string }{{tn.acme.eng, tn.dev}, {tn.globex.eng, tn.gina}} {
		_, err := e.dir.CreateMembership(ctx, &pb.CreateMembershipRequest{Parent: m.org, User: m.user})
		noErr(t, err)
	}
	// Signed in through acme's connection, in no organization (the connection has none).
	linked, err := e.internal.ProvisionUser(as("service:gateway"), &pb.ProvisionUserRequest{
		Identity: tn.acme.identity("lin"), Settings: &pb.ProvisioningSettings{JitEnabled: true, Owner: tn.acme.company}})
	noErr(t, err)
	tn.linked = linked.GetUser().GetName()
	tn.adaCtx, tn.ginaCtx = as(tn.ada), as(tn.gina)
	return tn
}

// sameAsMissing asserts that err is exactly what the same call answers for a user that does not
// exist: code, message and ErrorInfo, so that nothing tells the two apart.
func sameAsMissing(t *testing.T, err, missing error) {
	t.Helper()
	wantReason(t, err, codes.NotFound, "USER_NOT_FOUND")
	got, want := status.Convert(err).Proto(), status.Convert(missing).Proto()
	if !proto.Equal(got, want) {
		t.Fatalf("a user out of reach answers %v, a missing one %v", got, want)
	}
}

func TestACompanyOwnerReachesOnlyTheirCompanysUsers(t *testing.T) {
	t.Parallel()
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		tn := newTenants(t, b)
		e := tn.e
		ctx := context.Background()
		// What globex looks like before acme's owner tries anything.
		before := func() []string {
			var out []string
			for _, parent := range []string{"companies/acme", "companies/globex"} {
				out = append(out, strings.Join(actions(t, e, parent), ","))
			}
			owners, err := e.dir.ListCompanyOwners(ctx, &pb.ListCompanyOwnersRequest{Parent: "companies/acme"})
			noErr(t, err)
			for _, o := range owners.GetOwners() {
				out = append(out, o.GetUser())
			}
			return out
		}()

		for _, tc := range []struct {
			name string
			call func(user string) error
		}{
			{"adding a user of another company as an owner", func(user string) error {
				_, err := e.dir.AddCompanyOwner(tn.adaCtx, &pb.AddCompanyOwnerRequest{Parent: "companies/acme", User: user})
				return err
			}},
			{"adding a user of another company as a member", func(user string) error {
				_, err := e.dir.CreateMembership(tn.adaCtx, &pb.CreateMembershipRequest{Parent: tn.acme.eng, User: user, Role: pb.Role_ROLE_OWNER})
				return err
			}},
			{"adding a user of another company to a team", func(user string) error {
				_, err := e.dir.AddTeamMember(tn.adaCtx, &pb.AddTeamMemberRequest{Parent: tn.acme.eng + "/teams/core", User: user})
				return err
			}},
			{"inviting a user of another company by id", func(user string) error {
				_, err := e.dir.CreateInvitation(tn.adaCtx, &pb.CreateInvitationRequest{Parent: tn.acme.eng, Invitation: &pb.Invitation{User: user}})
				return err
			}},
			{"adding a user of another company as a member of an organization outside any company", func(user string) error {
				_, err := e.dir.CreateMembership(tn.adaCtx, &pb.CreateMembershipRequest{Parent: tn.acme.solo, User: user})
				return err
			}},
			{"reading a user of another company", func(user string) error {
				_, err := e.dir.GetUser(tn.adaCtx, &pb.GetUserRequest{Name: user})
				return err
			}},
			{"listing the identity links of a user of another company", func(user string) error {
				_, err := e.dir.ListIdentityLinks(tn.adaCtx, &pb.ListIdentityLinksRequest{Parent: user})
				return err
			}},
			{"reading the log of a user of another company", func(user string) error {
				_, err := e.dir.ListAuditEvents(tn.adaCtx, &pb.ListAuditEventsRequest{Parent: user})
				return err
			}},
			{"listing the invitations of a user of another company", func(user string) error {
				_, err := e.dir.ListUserInvitations(tn.adaCtx, &pb.ListUserInvitationsRequest{Parent: user})
				return err
			}},
			{"accepting an invitation for someone else", func(user string) error {
				_, err := e.dir.AcceptInvitation(tn.adaCtx, &pb.AcceptInvitationRequest{User: user, Invitation: tn.acme.eng + "/invitations/inv_x"})
				return err
			}},
		} {
			t.Run(tc.name+" answers as for a user that does not exist", func(t *testing.T) {
				for _, foreign := range []string{tn.gina, tn.gus} {
					err := tc.call(foreign)
					sameAsMissing(t, err, tc.call(tn.ghostID))
					if strings.Contains(strings.ToLower(err.Error()), "globex") || strings.Contains(err.Error(), "Gina") {
						t.Fatalf("the refusal tells of the user: %v", err)
					}
				}
			})
		}

		t.Run("looking another company's user up by email answers as for an unknown email", func(t *testing.T) {
			_, err := e.operator.LookupUser(tn.adaCtx, &pb.LookupUserRequest{Email: tn.ginaEmail})
			_, missing := e.operator.LookupUser(tn.adaCtx, &pb.LookupUserRequest{Email: "nobody@globex.example"})
			sameAsMissing(t, err, missing)
		})

		t.Run("the refused calls changed nothing", func(t *testing.T) {
			after := func() []string {
				var out []string
				for _, parent := range []string{"companies/acme", "companies/globex"} {
					out = append(out, strings.Join(actions(t, e, parent), ","))
				}
				owners, err := e.dir.ListCompanyOwners(ctx, &pb.ListCompanyOwnersRequest{Parent: "companies/acme"})
				noErr(t, err)
				for _, o := range owners.GetOwners() {
					out = append(out, o.GetUser())
				}
				return out
			}()
			if strings.Join(after, "|") != strings.Join(before, "|") {
				t.Fatalf("before %v, after %v", before, after)
			}
		})

		t.Run("users already in the company are added by id: a member, and someone who only signed in through its connection", func(t *testing.T) {
			o, err := e.dir.AddCompanyOwner(tn.adaCtx, &pb.AddCompanyOwnerRequest{Parent: "companies/acme", User: tn.dev})
			noErr(t, err)
			if o.GetOwner().GetEmail() != "dev@acme.example" {
				t.Fatalf("owner %v", o.GetOwner())
			}
			m, err := e.dir.CreateMembership(tn.adaCtx, &pb.CreateMembershipRequest{Parent: tn.acme.ops, User: tn.linked})
			noErr(t, err)
			if m.GetMembership().GetEmail() != "lin@acme.example" {
				t.Fatalf("membership %v", m.GetMembership())
			}
			_, err = e.dir.AddTeamMember(tn.adaCtx, &pb.AddTeamMemberRequest{Parent: tn.acme.eng + "/teams/core", User: tn.linked})
			wantField(t, err, codes.FailedPrecondition, "NOT_A_MEMBER", "user")
			inv, err := e.dir.CreateInvitation(tn.adaCtx, &pb.CreateInvitationRequest{Parent: tn.acme.eng, Invitation: &pb.Invitation{User: tn.linked}})
			noErr(t, err)
			if inv.GetInvitation().GetEmail() != "lin@acme.example" {
				t.Fatalf("invitation by id %v", inv.GetInvitation())
			}
			_, err = e.dir.CreateInvitation(tn.adaCtx, &pb.CreateInvitationRequest{Parent: tn.acme.eng, Invitation: &pb.Invitation{User: tn.linked, Email: "lin@acme.example"}})
			wantField(t, err, codes.InvalidArgument, "EMAIL_AND_USER", "invitation.user")
			self, err := e.dir.GetUser(tn.adaCtx, &pb.GetUserRequest{Name: tn.ada})
			noErr(t, err)
			if self.GetUser().GetEmail() != "ada@acme.example" {
				t.Fatalf("self %v", self.GetUser())
			}
		})

		t.Run("services and operators are not limited", func(t *testing.T) {
			u, err := e.dir.GetUser(as("service:gateway"), &pb.GetUserRequest{Name: tn.gina})
			noErr(t, err)
			if u.GetUser().GetEmail() != tn.ginaEmail {
				t.Fatalf("user %v", u.GetUser())
			}
		})
	})
}

func TestSomeoneOutsideTheCompanyIsInvitedByEmailAndAccepts(t *testing.T) {
	t.Parallel()
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		tn := newTenants(t, b)
		e := tn.e
		ctx := context.Background()
		_, err := e.dir.UpdateOrganization(ctx, &pb.UpdateOrganizationRequest{Organization: &pb.Organization{Name: tn.acme.ops, SeatLimit: 1}, UpdateMask: mask("seat_limit")})
		noErr(t, err)
		invite := func(org, email, team string, role pb.Role) string {
			t.Helper()
			inv, err := e.dir.CreateInvitation(tn.adaCtx, &pb.CreateInvitationRequest{Parent: org, Invitation: &pb.Invitation{Email: email, Team: team, Role: role}})
			noErr(t, err)
			if inv.GetInvitation().GetState() != pb.InvitationState_INVITATION_STATE_PENDING {
				t.Fatalf("invitation %v", inv.GetInvitation())
			}
			return inv.GetInvitation().GetName()
		}
		toEng := invite(tn.acme.eng, "Gina@Globex.example", tn.acme.eng+"/teams/core", pb.Role_ROLE_EDITOR)
		toOps := invite(tn.acme.ops, tn.ginaEmail, "", pb.Role_ROLE_MEMBER)
		toSomeoneElse := invite(tn.acme.eng, "someone@else.example", "", pb.Role_ROLE_MEMBER)
		accept := func(actor context.Context, user, invitation string) (*pb.AcceptInvitationResponse, error) {
			return e.dir.AcceptInvitation(actor, &pb.AcceptInvitationRequest{User: user, Invitation: invitation})
		}

		t.Run("the invited person lists their pending invitations", func(t *testing.T) {
			list, err := e.dir.ListUserInvitations(tn.ginaCtx, &pb.ListUserInvitationsRequest{Parent: tn.gina, PageSize: 1})
			noErr(t, err)
			if len(list.GetInvitations()) != 1 || list.GetNextPageToken() == "" {
				t.Fatalf("first page %v", list)
			}
			rest, err := e.dir.ListUserInvitations(tn.ginaCtx, &pb.ListUserInvitationsRequest{Parent: tn.gina, PageToken: list.GetNextPageToken()})
			noErr(t, err)
			names := []string{list.GetInvitations()[0].GetName()}
			for _, inv := range rest.GetInvitations() {
				names = append(names, inv.GetName())
			}
			if strings.Join(names, " ") != toEng+" "+toOps {
				t.Fatalf("invitations %v", names)
			}
		})

		t.Run("accepting makes the invited person a member with the invitation's role and team", func(t *testing.T) {
			r, err := accept(tn.ginaCtx, tn.gina, toEng)
			noErr(t, err)
			if r.GetInvitation().GetState() != pb.InvitationState_INVITATION_STATE_ACCEPTED || r.GetInvitation().GetAcceptTime() == nil ||
				r.GetMembership().GetRole() != pb.Role_ROLE_EDITOR || r.GetMembership().GetUser() != tn.gina {
				t.Fatalf("accepted %v", r)
			}
			team, err := e.dir.ListTeamMembers(ctx, &pb.ListTeamMembersRequest{Parent: tn.acme.eng + "/teams/core"})
			noErr(t, err)
			if len(team.GetMembers()) != 1 || team.GetMembers()[0].GetUser() != tn.gina {
				t.Fatalf("team %v", team.GetMembers())
			}
			if got := actions(t, e, tn.acme.eng)[0]; got != "invitation.accept" {
				t.Fatalf("newest event %s", got)
			}
		})

		t.Run("accepting again answers the same and writes nothing", func(t *testing.T) {
			n := len(actions(t, e, tn.acme.eng))
			r, err := accept(tn.ginaCtx, tn.gina, toEng)
			noErr(t, err)
			if r.GetMembership().GetRole() != pb.Role_ROLE_EDITOR || len(actions(t, e, tn.acme.eng)) != n {
				t.Fatalf("accepted again %v", r)
			}
		})

		t.Run("once a member, the person is in the company's reach by id", func(t *testing.T) {
			_, err := e.dir.AddCompanyOwner(tn.adaCtx, &pb.AddCompanyOwnerRequest{Parent: "companies/acme", User: tn.gina})
			noErr(t, err)
		})

		for _, tc := range []struct {
			name                string
			actor               context.Context
			user, invitation    string
			code                codes.Code
			reason, field, want string
		}{
			{"an invitation to another email is not found", tn.ginaCtx, tn.gina, toSomeoneElse, codes.NotFound, "INVITATION_NOT_FOUND", "invitation", ""},
			{"an unknown invitation is not found", tn.ginaCtx, tn.gina, tn.acme.eng + "/invitations/inv_nope", codes.NotFound, "INVITATION_NOT_FOUND", "invitation", ""},
			{"an invitation of an unknown organization is not found", tn.ginaCtx, tn.gina, "organizations/nope/invitations/inv_nope", codes.NotFound, "INVITATION_NOT_FOUND", "invitation", ""},
			{"nobody accepts for someone else", tn.adaCtx, tn.gina, toOps, codes.NotFound, "USER_NOT_FOUND", "user", ""},
			{"an invitation accepted by someone else is not found", as(tn.gus), tn.gus, toEng, codes.NotFound, "INVITATION_NOT_FOUND", "invitation", ""},
			{"a malformed invitation name is refused", tn.ginaCtx, tn.gina, "organizations/x", codes.InvalidArgument, "INVALID_NAME", "invitation", ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := accept(tc.actor, tc.user, tc.invitation)
				wantField(t, err, tc.code, tc.reason, tc.field)
			})
		}

		t.Run("a full organization refuses the acceptance with NO_SEATS and the invitation stays pending", func(t *testing.T) {
			_, err := e.dir.CreateMembership(ctx, &pb.CreateMembershipRequest{Parent: tn.acme.ops, User: tn.dev})
			noErr(t, err)
			_, err = accept(tn.ginaCtx, tn.gina, toOps)
			wantReason(t, err, codes.FailedPrecondition, "NO_SEATS")
			list, err := e.dir.ListUserInvitations(tn.ginaCtx, &pb.ListUserInvitationsRequest{Parent: tn.gina})
			noErr(t, err)
			if len(list.GetInvitations()) != 1 || list.GetInvitations()[0].GetName() != toOps {
				t.Fatalf("pending %v", list.GetInvitations())
			}
		})
	})
}

// TestTenancyOverREST goes through the generated REST mapping with the actor set from the request
// as the gateway sets it from the bearer token.
func TestTenancyOverREST(t *testing.T) {
	t.Parallel()
	tn := newTenants(t, sqlstoretest.Backends()[0])
	mux := runtime.NewServeMux(runtime.WithMetadata(func(_ context.Context, r *http.Request) metadata.MD {
		return metadata.Pairs(callmeta.ActorKey, r.Header.Get("X-Test-Principal"))
	}))
	noErr(t, pb.RegisterDirectoryServiceHandlerClient(context.Background(), mux, tn.e.dir))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	call := func(principal, method, path, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		noErr(t, err)
		req.Header.Set("X-Test-Principal", principal)
		resp, err := srv.Client().Do(req)
		noErr(t, err)
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(raw)
	}

	t.Run("an owner adding another company's user by id gets what a missing user gets", func(t *testing.T) {
		status, foreign := call(tn.ada, "POST", "/v1/companies/acme/owners", `{"user":"`+tn.gina+`"}`)
		missingStatus, missing := call(tn.ada, "POST", "/v1/companies/acme/owners", `{"user":"`+tn.ghostID+`"}`)
		if status != 404 || missingStatus != 404 || foreign != missing || !strings.Contains(foreign, "USER_NOT_FOUND") || strings.Contains(foreign, "gina") {
			t.Fatalf("foreign %d %s, missing %d %s", status, foreign, missingStatus, missing)
		}
		status, foreign = call(tn.ada, "POST", "/v1/organizations/acme-eng/members", `{"user":"`+tn.gina+`","role":"ROLE_OWNER"}`)
		_, missing = call(tn.ada, "POST", "/v1/organizations/acme-eng/members", `{"user":"`+tn.ghostID+`","role":"ROLE_OWNER"}`)
		if status != 404 || foreign != missing {
			t.Fatalf("membership: foreign %d %s, missing %s", status, foreign, missing)
		}
	})

	t.Run("the invited person accepts with their own principal", func(t *testing.T) {
		status, body := call(tn.ada, "POST", "/v1/organizations/acme-eng/invitations", `{"invitation":{"email":"`+tn.ginaEmail+`"}}`)
		if status != 200 {
			t.Fatalf("invite: %d %s", status, body)
		}
		var created struct{ Invitation struct{ Name string } }
		noErr(t, json.Unmarshal([]byte(body), &created))
		status, body = call(tn.gina, "GET", "/v1/"+tn.gina+"/invitations", "")
		if status != 200 || !strings.Contains(body, created.Invitation.Name) {
			t.Fatalf("list: %d %s", status, body)
		}
		status, body = call(tn.ada, "POST", "/v1/"+tn.gina+":acceptInvitation", `{"invitation":"`+created.Invitation.Name+`"}`)
		if status != 404 || !strings.Contains(body, "USER_NOT_FOUND") {
			t.Fatalf("accepted by the inviter: %d %s", status, body)
		}
		status, body = call(tn.gina, "POST", "/v1/"+tn.gina+":acceptInvitation", `{"invitation":"`+created.Invitation.Name+`"}`)
		if status != 200 || !strings.Contains(body, "INVITATION_STATE_ACCEPTED") || !strings.Contains(body, `"membership"`) {
			t.Fatalf("accept: %d %s", status, body)
		}
	})
}
