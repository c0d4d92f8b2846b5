package provisioning

import (
	"context"
	"strconv"

	provisioningv1 "github.com/iechor/sso/gen/iechor/sso/provisioning/v1"
	"github.com/iechor/sso/services/platform/resourcename"
	"github.com/iechor/sso/services/provisioning/internal/directory"
	"github.com/iechor/sso/services/provisioning/internal/store"
)

// directoryServer implements DirectoryService, the admin API behind the REST edge: it parses names,
// masks and pages, calls the directory, and maps results. The rules live in the directory package.
type directoryServer struct {
	provisioningv1.UnimplementedDirectoryServiceServer
	dir *directory.Directory
}

// Companies.

func (s *directoryServer) CreateCompany(ctx context.Context, req *provisioningv1.CreateCompanyRequest) (*provisioningv1.CreateCompanyResponse, error) {
	actor, err := actorFrom(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	c, err := s.dir.CreateCompany(ctx, actor, req.GetCompanyId(), req.GetCompany().GetDisplayName())
	if err != nil {
		return nil, toStatus(err)
	}
	return &provisioningv1.CreateCompanyResponse{Company: companyToProto(c)}, nil
}

func (s *directoryServer) GetCompany(ctx context.Context, req *provisioningv1.GetCompanyRequest) (*provisioningv1.GetCompanyResponse, error) {
	id, err := parseCompany("name", req.GetName())
	if err != nil {
		return nil, toStatus(err)
	}
	c, err := s.dir.GetCompany(ctx, id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &provisioningv1.GetCompanyResponse{Company: companyToProto(c)}, nil
}

func (s *directoryServer) UpdateCompany(ctx context.Context, req *provisioningv1.UpdateCompanyRequest) (*provisioningv1.UpdateCompanyResponse, error) {
	actor, err := actorFrom(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	id, err := parseCompany("company.name", req.GetCompany().GetName())
	if err != nil {
		return nil, toStatus(err)
	}
	paths, err := maskPaths(req.GetUpdateMask(), "display_name")
	if err != nil {
		return nil, toStatus(err)
	}
	var u directory.CompanyUpdate
	if paths["display_name"] {
		u.DisplayName = ptr(req.GetCompany().GetDisplayName())
	}
	c, err := s.dir.UpdateCompany(ctx, actor, id, u)
	if err != nil {
		return nil, toStatus(err)
	}
	return &provisioningv1.UpdateCompanyResponse{Company: companyToProto(c)}, nil
}

func ptr[T any](v T) *T { return &v }

func (s *directoryServer) DeleteCompany(ctx context.Context, req *provisioningv1.DeleteCompanyRequest) (*provisioningv1.DeleteCompanyResponse, error) {
	actor, err := actorFrom(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	id, err := parseCompany("name", req.GetName())
	if err != nil {
		return nil, toStatus(err)
	}
	if err := s.dir.DeleteCompany(ctx, actor, id); err != nil {
		return nil, toStatus(err)
	}
	return &provisioningv1.DeleteCompanyResponse{}, nil
}

func (s *directoryServer) AddCompanyOwner(ctx context.Context, req *provisioningv1.AddCompanyOwnerRequest) (*provisioningv1.AddCompanyOwnerResponse, error) {
	actor, err := actorFrom(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	company, err := parseCompany("parent", req.GetParent())
	if err != nil {
		return nil, toStatus(err)
	}
	user, err := parseUser("user", req.GetUser())
	if err != nil {
		return nil, toStatus(err)
	}
	o, err := s.dir.AddCompanyOwner(ctx, actor, company, user)
	if err != nil {
		return nil, toStatus(err)
	}
	return &provisioningv1.AddCompanyOwnerResponse{Owner: ownerToProto(o)}, nil
}

func (s *directoryServer) ListCompanyOwners(ctx context.Context, req *provisioningv1.ListCompanyOwnersRequest) (*provisioningv1.ListCompanyOwnersResponse, error) {
	company, err := parseCompany("parent", req.GetParent())
	if err != nil {
		return nil, toStatus(err)
	}
	size, after, fp, err := pageParams(req.GetPageSize(), req.GetPageToken(), "owners", company)
	if err != nil {
		return nil, toStatus(err)
	}
	owners, err := s.dir.ListCompanyOwners(ctx, company, store.Page{After: after, Limit: size + 1})
	if err != nil {
		return nil, toStatus(err)
	}
	owners, next := cut(owners, size, func(o store.CompanyOwner) string { return o.User }, fp)
	return &provisioningv1.ListCompanyOwnersResponse{Owners: listToProto(owners, ownerToProto), NextPageToken: next}, nil
}

func (s *directoryServer) RemoveCompanyOwner(ctx context.Context, req *provisioningv1.RemoveCompanyOwnerRequest) (*provisioningv1.RemoveCompanyOwnerResponse, error) {
	actor, err := actorFrom(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	company, user, err := parse2("name", req.GetName(), "companies/*/owners/*")
	if err != nil {
		return nil, toStatus(err)
	}
	if err := s.dir.RemoveCompanyOwner(ctx, actor, company, user); err != nil {
		return nil, toStatus(err)
	}
	return &provisioningv1.RemoveCompanyOwnerResponse{}, nil
}

// Organizations.

func (s *directoryServer) CreateOrganization(ctx context.Context, req *provisioningv1.CreateOrganizationRequest) (*provisioningv1.CreateOrganizationResponse, error) {
	actor, err := actorFrom(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	o := req.GetOrganization()
	in := directory.OrganizationInput{DisplayName: o.GetDisplayName(), SeatLimit: int(o.GetSeatLimit())}
	if o.GetCompany() != "" {
		if in.Company, err = parseCompany("organization.company", o.GetCompany()); err != nil {
			return nil, toStatus(err)
		}
	}
	if in.Plan, err = planFromProto("organization.plan", o.GetPlan()); err != nil {
		return nil, toStatus(err)
	}
	created, err := s.dir.CreateOrganization(ctx, actor, req.GetOrganizationId(), in)
	if err != nil {
		return nil, toStatus(err)
	}
	return &provisioningv1.CreateOrganizationResponse{Organization: orgToProto(created)}, nil
}

func (s *directoryServer) GetOrganization(ctx context.Context, req *provisioningv1.GetOrganizationRequest) (*provisioningv1.GetOrganizationResponse, error) {
	id, err := parseOrg("name", req.GetName())
	if err != nil {
		return nil, toStatus(err)
	}
	o, err := s.dir.GetOrganization(ctx, id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &provisioningv1.GetOrganizationResponse{Organization: orgToProto(o)}, nil
}

func (s *directoryServer) ListOrganizations(ctx context.Context, req *provisioningv1.ListOrganizationsRequest) (*provisioningv1.ListOrganizationsResponse, error) {
	company, err := parseCompany("parent", req.GetParent())
	if err != nil {
		return nil, toStatus(err)
	}
	size, after, fp, err := pageParams(req.GetPageSize(), req.GetPageToken(), "organizations", company)
	if err != nil {
		return nil, toStatus(err)
	}
	orgs, err := s.dir.ListOrganizations(ctx, company, store.Page{After: after, Limit: size + 1})
	if err != nil {
		return nil, toStatus(err)
	}
	orgs, next := cut(orgs, size, func(o store.Organization) string { return o.ID }, fp)
	return &provisioningv1.ListOrganizationsResponse{Organizations: listToProto(orgs, orgToProto), NextPageToken: next}, nil
}

func (s *directoryServer) UpdateOrganization(ctx context.Context, req *provisioningv1.UpdateOrganizationRequest) (*provisioningv1.UpdateOrganizationResponse, error) {
	actor, err := actorFrom(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	o := req.GetOrganization()
	id, err := parseOrg("organization.name", o.GetName())
	if err != nil {
		return nil, toStatus(err)
	}
	paths, err := maskPaths(req.GetUpdateMask(), "display_name", "plan", "seat_limit", "company")
	if err != nil {
		return nil, toStatus(err)
	}
	var u directory.OrganizationUpdate
	if paths["display_name"] {
		u.DisplayName = ptr(o.GetDisplayName())
	}
	if paths["plan"] {
		plan, err := planFromProto("organization.plan", o.GetPlan())
		if err == nil && plan == "" {
			err = directory.Field("organization.plan", directory.ErrInvalidPlan)
		}
		if err != nil {
			return nil, toStatus(err)
		}
		u.Plan = &plan
	}
	if paths["seat_limit"] {
		u.SeatLimit = ptr(int(o.GetSeatLimit()))
	}
	// An empty mask means every field; an empty company then means "not given", since the field is
	// immutable and clients leave it out of replacements.
	if paths["company"] && (len(req.GetUpdateMask().GetPaths()) > 0 || o.GetCompany() != "") {
		company := ""
		if o.GetCompany() != "" {
			if company, err = parseCompany("organization.company", o.GetCompany()); err != nil {
				return nil, toStatus(err)
			}
		}
		u.Company = &company
	}
	updated, err := s.dir.UpdateOrganization(ctx, actor, id, u)
	if err != nil {
		return nil, toStatus(err)
	}
	return &provisioningv1.UpdateOrganizationResponse{Organization: orgToProto(updated)}, nil
}

func (s *directoryServer) DeleteOrganization(ctx context.Context, req *provisioningv1.DeleteOrganizationRequest) (*provisioningv1.DeleteOrganizationResponse, error) {
	actor, err := actorFrom(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	id, err := parseOrg("name", req.GetName())
	if err != nil {
		return nil, toStatus(err)
	}
	if err := s.dir.DeleteOrganization(ctx, actor, id); err != nil {
		return nil, toStatus(err)
	}
	return &provisioningv1.DeleteOrganizationResponse{}, nil
}

// Teams.

func (s *directoryServer) CreateTeam(ctx context.Context, req *provisioningv1.CreateTeamRequest) (*provisioningv1.CreateTeamResponse, error) {
	actor, err := actorFrom(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	org, err := parseOrg("parent", req.GetParent())
	if err != nil {
		return nil, toStatus(err)
	}
	t, err := s.dir.CreateTeam(ctx, actor, org, req.GetTeamId(), req.GetTeam().GetDisplayName(), req.GetTeam().GetDescription())
	if err != nil {
		return nil, toStatus(err)
	}
	return &provisioningv1.CreateTeamResponse{Team: teamToProto(t)}, nil
}

func (s *directoryServer) GetTeam(ctx context.Context, req *provisioningv1.GetTeamRequest) (*provisioningv1.GetTeamResponse, error) {
	org, id, err := parse2("name", req.GetName(), "organizations/*/teams/*")
	if err != nil {
		return nil, toStatus(err)
	}
	t, err := s.dir.GetTeam(ctx, org, id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &provisioningv1.GetTeamResponse{Team: teamToProto(t)}, nil
}

func (s *directoryServer) ListTeams(ctx context.Context, req *provisioningv1.ListTeamsRequest) (*provisioningv1.ListTeamsResponse, error) {
	org, err := parseOrg("parent", req.GetParent())
	if err != nil {
		return nil, toStatus(err)
	}
	size, after, fp, err := pageParams(req.GetPageSize(), req.GetPageToken(), "teams", org)
	if err != nil {
		return nil, toStatus(err)
	}
	teams, err := s.dir.ListTeams(ctx, org, store.Page{After: after, Limit: size + 1})
	if err != nil {
		return nil, toStatus(err)
	}
	teams, next := cut(teams, size, func(t store.Team) string { return t.ID }, fp)
	return &provisioningv1.ListTeamsResponse{Teams: listToProto(teams, teamToProto), NextPageToken: next}, nil
}

func (s *directoryServer) UpdateTeam(ctx context.Context, req *provisioningv1.UpdateTeamRequest) (*provisioningv1.UpdateTeamResponse, error) {
	actor, err := actorFrom(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	org, id, err := parse2("team.name", req.GetTeam().GetName(), "organizations/*/teams/*")
	if err != nil {
		return nil, toStatus(err)
	}
	paths, err := maskPaths(req.GetUpdateMask(), "display_name", "description")
	if err != nil {
		return nil, toStatus(err)
	}
	var u directory.TeamUpdate
	if paths["display_name"] {
		u.DisplayName = ptr(req.GetTeam().GetDisplayName())
	}
	if paths["description"] {
		u.Description = ptr(req.GetTeam().GetDescription())
	}
	t, err := s.dir.UpdateTeam(ctx, actor, org, id, u)
	if err != nil {
		return nil, toStatus(err)
	}
	return &provisioningv1.UpdateTeamResponse{Team: teamToProto(t)}, nil
}

func (s *directoryServer) DeleteTeam(ctx context.Context, req *provisioningv1.DeleteTeamRequest) (*provisioningv1.DeleteTeamResponse, error) {
	actor, err := actorFrom(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	org, id, err := parse2("name", req.GetName(), "organizations/*/teams/*")
	if err != nil {
		return nil, toStatus(err)
	}
	if err := s.dir.DeleteTeam(ctx, actor, org, id); err != nil {
		return nil, toStatus(err)
	}
	return &provisioningv1.DeleteTeamResponse{}, nil
}

// Users: a person reads their own.

func (s *directoryServer) GetUser(ctx context.Context, req *provisioningv1.GetUserRequest) (*provisioningv1.GetUserResponse, error) {
	actor, err := actorFrom(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	id, err := parseUser("name", req.GetName())
	if err != nil {
		return nil, toStatus(err)
	}
	u, err := s.dir.GetUser(ctx, actor, id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &provisioningv1.GetUserResponse{User: userToProto(u)}, nil
}

func (s *directoryServer) ListIdentityLinks(ctx context.Context, req *provisioningv1.ListIdentityLinksRequest) (*provisioningv1.ListIdentityLinksResponse, error) {
	actor, err := actorFrom(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	user, err := parseUser("parent", req.GetParent())
	if err != nil {
		return nil, toStatus(err)
	}
	size, after, fp, err := pageParams(req.GetPageSize(), req.GetPageToken(), "identityLinks", user)
	if err != nil {
		return nil, toStatus(err)
	}
	links, err := s.dir.ListIdentityLinks(ctx, actor, user, store.Page{After: after, Limit: size + 1})
	if err != nil {
		return nil, toStatus(err)
	}
	links, next := cut(links, size, func(l store.IdentityLink) string { return l.ID }, fp)
	return &provisioningv1.ListIdentityLinksResponse{IdentityLinks: listToProto(links, linkToProto), NextPageToken: next}, nil
}

// Memberships.

func (s *directoryServer) CreateMembership(ctx context.Context, req *provisioningv1.CreateMembershipRequest) (*provisioningv1.CreateMembershipResponse, error) {
	actor, err := actorFrom(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	org, err := parseOrg("parent", req.GetParent())
	if err != nil {
		return nil, toStatus(err)
	}
	user, err := parseUser("user", req.GetUser())
	if err != nil {
		return nil, toStatus(err)
	}
	role, err := roleFromProto("role", req.GetRole())
	if err != nil {
		return nil, toStatus(err)
	}
	m, err := s.dir.CreateMembership(ctx, actor, org, user, role)
	if err != nil {
		return nil, toStatus(err)
	}
	return &provisioningv1.CreateMembershipResponse{Membership: membershipToProto(m)}, nil
}

func (s *directoryServer) GetMembership(ctx context.Context, req *provisioningv1.GetMembershipRequest) (*provisioningv1.GetMembershipResponse, error) {
	org, user, err := parse2("name", req.GetName(), "organizations/*/members/*")
	if err != nil {
		return nil, toStatus(err)
	}
	m, err := s.dir.GetMembership(ctx, org, user)
	if err != nil {
		return nil, toStatus(err)
	}
	return &provisioningv1.GetMembershipResponse{Membership: membershipToProto(m)}, nil
}

func (s *directoryServer) ListMemberships(ctx context.Context, req *provisioningv1.ListMembershipsRequest) (*provisioningv1.ListMembershipsResponse, error) {
	org, err := parseOrg("parent", req.GetParent())
	if err != nil {
		return nil, toStatus(err)
	}
	size, after, fp, err := pageParams(req.GetPageSize(), req.GetPageToken(), "members", org)
	if err != nil {
		return nil, toStatus(err)
	}
	ms, err := s.dir.ListMemberships(ctx, org, store.Page{After: after, Limit: size + 1})
	if err != nil {
		return nil, toStatus(err)
	}
	ms, next := cut(ms, size, func(m store.Membership) string { return m.User }, fp)
	return &provisioningv1.ListMembershipsResponse{Memberships: listToProto(ms, membershipToProto), NextPageToken: next}, nil
}

func (s *directoryServer) UpdateMembership(ctx context.Context, req *provisioningv1.UpdateMembershipRequest) (*provisioningv1.UpdateMembershipResponse, error) {
	actor, err := actorFrom(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	org, user, err := parse2("membership.name", req.GetMembership().GetName(), "organizations/*/members/*")
	if err != nil {
		return nil, toStatus(err)
	}
	paths, err := maskPaths(req.GetUpdateMask(), "role")
	if err != nil {
		return nil, toStatus(err)
	}
	if !paths["role"] {
		m, err := s.dir.GetMembership(ctx, org, user)
		if err != nil {
			return nil, toStatus(err)
		}
		return &provisioningv1.UpdateMembershipResponse{Membership: membershipToProto(m)}, nil
	}
	role, err := roleFromProto("membership.role", req.GetMembership().GetRole())
	if err != nil {
		return nil, toStatus(err)
	}
	m, err := s.dir.UpdateMembership(ctx, actor, org, user, role)
	if err != nil {
		return nil, toStatus(err)
	}
	return &provisioningv1.UpdateMembershipResponse{Membership: membershipToProto(m)}, nil
}

func (s *directoryServer) DeleteMembership(ctx context.Context, req *provisioningv1.DeleteMembershipRequest) (*provisioningv1.DeleteMembershipResponse, error) {
	actor, err := actorFrom(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	org, user, err := parse2("name", req.GetName(), "organizations/*/members/*")
	if err != nil {
		return nil, toStatus(err)
	}
	if err := s.dir.DeleteMembership(ctx, actor, org, user); err != nil {
		return nil, toStatus(err)
	}
	return &provisioningv1.DeleteMembershipResponse{}, nil
}

// Team memberships.

func (s *directoryServer) AddTeamMember(ctx context.Context, req *provisioningv1.AddTeamMemberRequest) (*provisioningv1.AddTeamMemberResponse, error) {
	actor, err := actorFrom(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	org, team, err := parse2("parent", req.GetParent(), "organizations/*/teams/*")
	if err != nil {
		return nil, toStatus(err)
	}
	user, err := parseUser("user", req.GetUser())
	if err != nil {
		return nil, toStatus(err)
	}
	m, err := s.dir.AddTeamMember(ctx, actor, org, team, user)
	if err != nil {
		return nil, toStatus(err)
	}
	return &provisioningv1.AddTeamMemberResponse{Member: teamMemberToProto(m)}, nil
}

func (s *directoryServer) ListTeamMembers(ctx context.Context, req *provisioningv1.ListTeamMembersRequest) (*provisioningv1.ListTeamMembersResponse, error) {
	org, team, err := parse2("parent", req.GetParent(), "organizations/*/teams/*")
	if err != nil {
		return nil, toStatus(err)
	}
	size, after, fp, err := pageParams(req.GetPageSize(), req.GetPageToken(), "teamMembers", org, team)
	if err != nil {
		return nil, toStatus(err)
	}
	ms, err := s.dir.ListTeamMembers(ctx, org, team, store.Page{After: after, Limit: size + 1})
	if err != nil {
		return nil, toStatus(err)
	}
	ms, next := cut(ms, size, func(m store.TeamMember) string { return m.User }, fp)
	return &provisioningv1.ListTeamMembersResponse{Members: listToProto(ms, teamMemberToProto), NextPageToken: next}, nil
}

func (s *directoryServer) RemoveTeamMember(ctx context.Context, req *provisioningv1.RemoveTeamMemberRequest) (*provisioningv1.RemoveTeamMemberResponse, error) {
	actor, err := actorFrom(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	ids, err := segments("name", req.GetName(), "organizations/*/teams/*/members/*")
	if err != nil {
		return nil, toStatus(err)
	}
	if err := s.dir.RemoveTeamMember(ctx, actor, ids[0], ids[1], ids[2]); err != nil {
		return nil, toStatus(err)
	}
	return &provisioningv1.RemoveTeamMemberResponse{}, nil
}

// Invitations.

func (s *directoryServer) CreateInvitation(ctx context.Context, req *provisioningv1.CreateInvitationRequest) (*provisioningv1.CreateInvitationResponse, error) {
	actor, err := actorFrom(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	org, err := parseOrg("parent", req.GetParent())
	if err != nil {
		return nil, toStatus(err)
	}
	inv := req.GetInvitation()
	in := directory.InvitationInput{Email: inv.GetEmail()}
	if inv.GetUser() != "" {
		if in.User, err = parseUser("invitation.user", inv.GetUser()); err != nil {
			return nil, toStatus(err)
		}
	}
	if inv.GetTeam() != "" {
		teamOrg, team, err := parse2("invitation.team", inv.GetTeam(), "organizations/*/teams/*")
		if err == nil && teamOrg != org {
			err = badName("invitation.team")
		}
		if err != nil {
			return nil, toStatus(err)
		}
		in.Team = team
	}
	if in.Role, err = roleFromProto("invitation.role", inv.GetRole()); err != nil {
		return nil, toStatus(err)
	}
	created, err := s.dir.CreateInvitation(ctx, actor, org, in)
	if err != nil {
		return nil, toStatus(err)
	}
	return &provisioningv1.CreateInvitationResponse{Invitation: invitationToProto(created)}, nil
}

func (s *directoryServer) ListInvitations(ctx context.Context, req *provisioningv1.ListInvitationsRequest) (*provisioningv1.ListInvitationsResponse, error) {
	org, err := parseOrg("parent", req.GetParent())
	if err != nil {
		return nil, toStatus(err)
	}
	size, after, fp, err := pageParams(req.GetPageSize(), req.GetPageToken(), "invitations", org)
	if err != nil {
		return nil, toStatus(err)
	}
	invs, err := s.dir.ListInvitations(ctx, org, store.Page{After: after, Limit: size + 1})
	if err != nil {
		return nil, toStatus(err)
	}
	invs, next := cut(invs, size, func(i store.Invitation) string { return i.ID }, fp)
	return &provisioningv1.ListInvitationsResponse{Invitations: listToProto(invs, invitationToProto), NextPageToken: next}, nil
}

func (s *directoryServer) DeleteInvitation(ctx context.Context, req *provisioningv1.DeleteInvitationRequest) (*provisioningv1.DeleteInvitationResponse, error) {
	actor, err := actorFrom(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	org, id, err := parse2("name", req.GetName(), "organizations/*/invitations/*")
	if err != nil {
		return nil, toStatus(err)
	}
	if err := s.dir.DeleteInvitation(ctx, actor, org, id); err != nil {
		return nil, toStatus(err)
	}
	return &provisioningv1.DeleteInvitationResponse{}, nil
}

// ListUserInvitations lists the pending invitations to a user's email, for the user to accept.
func (s *directoryServer) ListUserInvitations(ctx context.Context, req *provisioningv1.ListUserInvitationsRequest) (*provisioningv1.ListUserInvitationsResponse, error) {
	actor, err := actorFrom(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	user, err := parseUser("parent", req.GetParent())
	if err != nil {
		return nil, toStatus(err)
	}
	size, after, fp, err := pageParams(req.GetPageSize(), req.GetPageToken(), "userInvitations", user)
	if err != nil {
		return nil, toStatus(err)
	}
	invs, err := s.dir.ListUserInvitations(ctx, actor, user, after, size+1)
	if err != nil {
		return nil, toStatus(err)
	}
	invs, next := cut(invs, size, directory.InvitationKey, fp)
	return &provisioningv1.ListUserInvitationsResponse{Invitations: listToProto(invs, invitationToProto), NextPageToken: next}, nil
}

// AcceptInvitation is the invited person accepting: the actor must be that person (the edge
// forwards the signed-in user), or a service or operator.
func (s *directoryServer) AcceptInvitation(ctx context.Context, req *provisioningv1.AcceptInvitationRequest) (*provisioningv1.AcceptInvitationResponse, error) {
	actor, err := actorFrom(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	user, err := parseUser("user", req.GetUser())
	if err != nil {
		return nil, toStatus(err)
	}
	org, id, err := parse2("invitation", req.GetInvitation(), "organizations/*/invitations/*")
	if err != nil {
		return nil, toStatus(err)
	}
	inv, m, err := s.dir.AcceptInvitation(ctx, actor, user, org, id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &provisioningv1.AcceptInvitationResponse{Invitation: invitationToProto(inv), Membership: membershipToProto(m)}, nil
}

// The audit log.

// ListAuditEvents serves the log of a company (with its organizations' events), of an
// organization, or, for operators over gRPC, of a user (users/{u}).
func (s *directoryServer) ListAuditEvents(ctx context.Context, req *provisioningv1.ListAuditEventsRequest) (*provisioningv1.ListAuditEventsResponse, error) {
	actor, err := actorFrom(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	parent, err := parseOwner("parent", req.GetParent())
	if err != nil {
		if id, uerr := parseUser("parent", req.GetParent()); uerr == nil {
			parent, err = resourcename.Owner{Kind: "users", ID: id}, nil
		}
	}
	if err != nil {
		return nil, toStatus(err)
	}
	size, after, fp, err := pageParams(req.GetPageSize(), req.GetPageToken(), "auditEvents", parent.String())
	if err != nil {
		return nil, toStatus(err)
	}
	before, err := beforeSeq(after)
	if err != nil {
		return nil, toStatus(err)
	}
	events, err := s.dir.ListAuditEvents(ctx, actor, parent, before, size+1)
	if err != nil {
		return nil, toStatus(err)
	}
	events, next := cut(events, size, func(e store.AuditEvent) string { return strconv.FormatInt(e.Seq, 10) }, fp)
	return &provisioningv1.ListAuditEventsResponse{AuditEvents: listToProto(events, eventToProto), NextPageToken: next}, nil
}
