package provisioning

import (
	"context"

	provisioningv1 "github.com/iechor/sso/gen/iechor/sso/provisioning/v1"
	"github.com/iechor/sso/services/provisioning/internal/jit"
)

// provisioningServer implements ProvisioningService; the rules live in the jit package.
type provisioningServer struct {
	provisioningv1.UnimplementedProvisioningServiceServer
	jit *jit.Provisioner
}

func (s *provisioningServer) ProvisionUser(ctx context.Context, req *provisioningv1.ProvisionUserRequest) (*provisioningv1.ProvisionUserResponse, error) {
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
