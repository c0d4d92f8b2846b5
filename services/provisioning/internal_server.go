package provisioning

import (
	"context"
	"errors"
	"fmt"
	"strings"

	provisioningv1 "github.com/iechor/sso/gen/iechor/sso/provisioning/v1"
	"github.com/iechor/sso/services/provisioning/internal/directory"
	"github.com/iechor/sso/services/provisioning/internal/jit"
	"github.com/iechor/sso/services/provisioning/internal/store"
)

// internalServer implements ProvisioningInternalService, for the other services of the suite and
// for operators: just-in-time provisioning (the rules live in the jit package), access checks, the
// audit log's writes, the directory facts behind a connection, and the user records.
type internalServer struct {
	provisioningv1.UnimplementedProvisioningInternalServiceServer
	dir *directory.Directory
	jit *jit.Provisioner
}

func (s *internalServer) ProvisionUser(ctx context.Context, req *provisioningv1.ProvisionUserRequest) (*provisioningv1.ProvisionUserResponse, error) {
	actor, err := actorFrom(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	id, set := req.GetIdentity(), req.GetSettings()
	res, err := s.jit.Provision(ctx, actor, jit.Identity{
		Connection:     id.GetConnection(),
		Subject:        id.GetSubject(),
		Email:          id.GetEmail(),
		FullName:       id.GetFullName(),
		Groups:         id.GetGroups(),
		IechorOrg:      id.GetIechorOrg(),
		IechorTeam:     id.GetIechorTeam(),
		IechorRole:     id.GetIechorRole(),
		SessionMinutes: int(id.GetIechorSessionMinutes()),
	}, jit.Settings{
		JIT:                 set.GetJitEnabled(),
		Owner:               set.GetOwner(),
		Organizations:       set.GetOrganizations(),
		DefaultOrganization: set.GetDefaultOrganization(),
		DefaultTeam:         set.GetDefaultTeam(),
		HonorIdPRoles:       set.GetHonorIdpRoles(),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	return &provisioningv1.ProvisionUserResponse{
		User: userToProto(res.User),
		Changes: &provisioningv1.ProvisioningChanges{
			UserCreated:          res.UserCreated,
			IdentityLinked:       res.IdentityLinked,
			FullNameUpdated:      res.FullNameUpdated,
			InvitationsAccepted:  res.InvitationsAccepted,
			MembershipsAdded:     res.MembershipsAdded,
			TeamMembershipsAdded: res.TeamMembershipsAdded,
			TeamsCreated:         res.TeamsCreated,
		},
		Warnings: res.Warnings,
	}, nil
}

// Access and audit.

// CheckAccess answers for the owner at the root of the resource: companies/acme/connections/c1 is
// decided on companies/acme. "No" is an answer, never an error; only malformed requests are errors.
func (s *internalServer) CheckAccess(ctx context.Context, req *provisioningv1.CheckAccessRequest) (*provisioningv1.CheckAccessResponse, error) {
	user, err := parseUser("principal", req.GetPrincipal())
	if err != nil {
		return nil, toStatus(err)
	}
	if req.GetAction() != provisioningv1.Action_ACTION_MANAGE_SSO {
		return nil, toStatus(directory.Field("action", errUnsupportedAction))
	}
	parts := strings.SplitN(req.GetResource(), "/", 3)
	if len(parts) < 2 {
		return nil, toStatus(badName("resource"))
	}
	owner, err := parseOwner("resource", parts[0]+"/"+parts[1])
	if err != nil || (len(parts) == 3 && parts[2] == "") {
		return nil, toStatus(badName("resource"))
	}
	ok, err := s.dir.CanManageSSO(ctx, user, owner)
	if err != nil {
		return nil, toStatus(err)
	}
	return &provisioningv1.CheckAccessResponse{Allowed: ok}, nil
}

func (s *internalServer) RecordAuditEvent(ctx context.Context, req *provisioningv1.RecordAuditEventRequest) (*provisioningv1.RecordAuditEventResponse, error) {
	actor, err := actorFrom(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	parent, err := parseOwner("parent", req.GetParent())
	if err != nil {
		return nil, toStatus(err)
	}
	e := req.GetEvent()
	recorded, err := s.dir.RecordAuditEvent(ctx, actor, parent, directory.EventInput{
		Actor: e.GetActor(), Action: e.GetAction(), Resource: e.GetResource(), Details: e.GetDetails(),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	return &provisioningv1.RecordAuditEventResponse{Event: eventToProto(recorded)}, nil
}

// Users.

func (s *internalServer) CreateUser(ctx context.Context, req *provisioningv1.CreateUserRequest) (*provisioningv1.CreateUserResponse, error) {
	actor, err := actorFrom(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	u := req.GetUser()
	created, err := s.dir.CreateUser(ctx, actor, directory.UserInput{Email: u.GetEmail(), FullName: u.GetFullName(), Username: u.GetUsername()})
	if err != nil {
		return nil, toStatus(err)
	}
	return &provisioningv1.CreateUserResponse{User: userToProto(created)}, nil
}

func (s *internalServer) LookupUser(ctx context.Context, req *provisioningv1.LookupUserRequest) (*provisioningv1.LookupUserResponse, error) {
	actor, err := actorFrom(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	u, err := s.dir.LookupUser(ctx, actor, req.GetEmail())
	if err != nil {
		return nil, toStatus(err)
	}
	return &provisioningv1.LookupUserResponse{User: userToProto(u)}, nil
}

func (s *internalServer) UpdateUser(ctx context.Context, req *provisioningv1.UpdateUserRequest) (*provisioningv1.UpdateUserResponse, error) {
	actor, err := actorFrom(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	u := req.GetUser()
	id, err := parseUser("user.name", u.GetName())
	if err != nil {
		return nil, toStatus(err)
	}
	paths, err := maskPaths(req.GetUpdateMask(), "email", "full_name", "username")
	if err != nil {
		return nil, toStatus(err)
	}
	var in directory.UserUpdate
	if paths["email"] {
		in.Email = ptr(u.GetEmail())
	}
	if paths["full_name"] {
		in.FullName = ptr(u.GetFullName())
	}
	if paths["username"] {
		in.Username = ptr(u.GetUsername())
	}
	updated, err := s.dir.UpdateUser(ctx, actor, id, in)
	if err != nil {
		return nil, toStatus(err)
	}
	return &provisioningv1.UpdateUserResponse{User: userToProto(updated)}, nil
}

func (s *internalServer) DeleteUser(ctx context.Context, req *provisioningv1.DeleteUserRequest) (*provisioningv1.DeleteUserResponse, error) {
	actor, err := actorFrom(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	id, err := parseUser("name", req.GetName())
	if err != nil {
		return nil, toStatus(err)
	}
	if err := s.dir.DeleteUser(ctx, actor, id); err != nil {
		return nil, toStatus(err)
	}
	return &provisioningv1.DeleteUserResponse{}, nil
}

// Directory facts.

// maxTenancyNames bounds one LookupTenancy: a connection names its owner, its organizations and its
// default team, far fewer than this.
const maxTenancyNames = 100

// LookupTenancy says of each name whether it exists, and of an organization its company and plan.
// A name that does not exist is an answer, not an error; a malformed one is INVALID_NAME with the
// field names[i].
func (s *internalServer) LookupTenancy(ctx context.Context, req *provisioningv1.LookupTenancyRequest) (*provisioningv1.LookupTenancyResponse, error) {
	names := req.GetNames()
	switch {
	case len(names) == 0:
		return nil, toStatus(directory.Field("names", directory.ErrRequired))
	case len(names) > maxTenancyNames:
		return nil, toStatus(directory.Field("names", errTooManyNames))
	}
	resp := &provisioningv1.LookupTenancyResponse{Entries: make([]*provisioningv1.TenancyEntry, 0, len(names))}
	for i, name := range names {
		e, err := s.tenancyEntry(ctx, fmt.Sprintf("names[%d]", i), name)
		if err != nil {
			return nil, toStatus(err)
		}
		resp.Entries = append(resp.Entries, e)
	}
	return resp, nil
}

func (s *internalServer) tenancyEntry(ctx context.Context, field, name string) (*provisioningv1.TenancyEntry, error) {
	e := &provisioningv1.TenancyEntry{Name: name}
	var err error
	switch {
	case strings.HasPrefix(name, "companies/"):
		id, perr := parseCompany(field, name)
		if perr != nil {
			return nil, perr
		}
		_, err = s.dir.GetCompany(ctx, id)
	case strings.Count(name, "/") == 1:
		id, perr := parseOrg(field, name)
		if perr != nil {
			return nil, perr
		}
		var o store.Organization
		if o, err = s.dir.GetOrganization(ctx, id); err == nil {
			p := orgToProto(o)
			e.Company, e.Plan = p.GetCompany(), p.GetPlan()
		}
	default:
		org, id, perr := parse2(field, name, "organizations/*/teams/*")
		if perr != nil {
			return nil, perr
		}
		_, err = s.dir.GetTeam(ctx, org, id)
	}
	switch {
	case err == nil:
		e.Exists = true
	case errors.Is(err, directory.ErrCompanyNotFound), errors.Is(err, directory.ErrOrganizationNotFound), errors.Is(err, directory.ErrTeamNotFound):
	default:
		return nil, err
	}
	return e, nil
}
