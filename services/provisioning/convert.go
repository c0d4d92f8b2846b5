package provisioning

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	provisioningv1 "github.com/iechor/sso/gen/iechor/sso/provisioning/v1"
	"github.com/iechor/sso/services/provisioning/internal/directory"
	"github.com/iechor/sso/services/provisioning/internal/store"
)

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func companyToProto(c store.Company) *provisioningv1.Company {
	return &provisioningv1.Company{Name: "companies/" + c.ID, DisplayName: c.DisplayName, CreateTime: ts(c.CreateTime), UpdateTime: ts(c.UpdateTime)}
}

func ownerToProto(o store.CompanyOwner) *provisioningv1.CompanyOwner {
	return &provisioningv1.CompanyOwner{Name: "companies/" + o.Company + "/owners/" + o.User, User: "users/" + o.User,
		Email: o.Email, CreateTime: ts(o.CreateTime)}
}

var planToProto = map[store.Plan]provisioningv1.Plan{
	store.PlanFree:     provisioningv1.Plan_PLAN_FREE,
	store.PlanTeam:     provisioningv1.Plan_PLAN_TEAM,
	store.PlanBusiness: provisioningv1.Plan_PLAN_BUSINESS,
}

// planFromProto reads a plan; PLAN_UNSPECIFIED is "" and an unknown number is an invalid plan.
func planFromProto(field string, p provisioningv1.Plan) (store.Plan, error) {
	if p == provisioningv1.Plan_PLAN_UNSPECIFIED {
		return "", nil
	}
	for k, v := range planToProto {
		if v == p {
			return k, nil
		}
	}
	return "", directory.Field(field, directory.ErrInvalidPlan)
}

func orgToProto(o store.Organization) *provisioningv1.Organization {
	p := &provisioningv1.Organization{Name: "organizations/" + o.ID, DisplayName: o.DisplayName, Plan: planToProto[o.Plan],
		SeatLimit: int32(o.SeatLimit), SeatsUsed: int32(o.SeatsUsed), CreateTime: ts(o.CreateTime), UpdateTime: ts(o.UpdateTime)}
	if o.Company != "" {
		p.Company = "companies/" + o.Company
	}
	return p
}

func teamToProto(t store.Team) *provisioningv1.Team {
	return &provisioningv1.Team{Name: "organizations/" + t.Organization + "/teams/" + t.ID, DisplayName: t.DisplayName,
		Description: t.Description, CreateTime: ts(t.CreateTime)}
}

func userToProto(u store.User) *provisioningv1.User {
	return &provisioningv1.User{Name: "users/" + u.ID, Email: u.Email, FullName: u.FullName, Username: u.Username,
		CreateTime: ts(u.CreateTime), UpdateTime: ts(u.UpdateTime)}
}

var roleToProto = map[store.Role]provisioningv1.Role{
	store.RoleMember: provisioningv1.Role_ROLE_MEMBER,
	store.RoleEditor: provisioningv1.Role_ROLE_EDITOR,
	store.RoleOwner:  provisioningv1.Role_ROLE_OWNER,
}

// roleFromProto reads a role; ROLE_UNSPECIFIED is "" and an unknown number is an invalid role.
func roleFromProto(field string, r provisioningv1.Role) (store.Role, error) {
	if r == provisioningv1.Role_ROLE_UNSPECIFIED {
		return "", nil
	}
	for k, v := range roleToProto {
		if v == r {
			return k, nil
		}
	}
	return "", directory.Field(field, directory.ErrInvalidRole)
}

func membershipToProto(m store.Membership) *provisioningv1.Membership {
	return &provisioningv1.Membership{Name: "organizations/" + m.Organization + "/members/" + m.User, User: "users/" + m.User,
		Role: roleToProto[m.Role], Email: m.Email, Username: m.Username, FullName: m.FullName, CreateTime: ts(m.CreateTime)}
}

func teamMemberToProto(m store.TeamMember) *provisioningv1.TeamMember {
	return &provisioningv1.TeamMember{Name: "organizations/" + m.Organization + "/teams/" + m.Team + "/members/" + m.User,
		User: "users/" + m.User, Email: m.Email, CreateTime: ts(m.CreateTime)}
}

func invitationToProto(inv store.Invitation) *provisioningv1.Invitation {
	p := &provisioningv1.Invitation{Name: "organizations/" + inv.Organization + "/invitations/" + inv.ID, Email: inv.Email,
		Role: roleToProto[inv.Role], State: provisioningv1.InvitationState_INVITATION_STATE_PENDING,
		CreateTime: ts(inv.CreateTime), AcceptTime: ts(inv.AcceptTime)}
	if inv.Team != "" {
		p.Team = "organizations/" + inv.Organization + "/teams/" + inv.Team
	}
	if inv.State == store.InvitationAccepted {
		p.State = provisioningv1.InvitationState_INVITATION_STATE_ACCEPTED
	}
	return p
}

func linkToProto(l store.IdentityLink) *provisioningv1.IdentityLink {
	return &provisioningv1.IdentityLink{Name: "users/" + l.User + "/identityLinks/" + l.ID, Connection: l.Connection,
		Subject: l.Subject, CreateTime: ts(l.CreateTime), LastSignInTime: ts(l.LastSignIn)}
}

func eventToProto(e store.AuditEvent) *provisioningv1.AuditEvent {
	return &provisioningv1.AuditEvent{Name: e.Parent + "/auditEvents/" + e.ID, Actor: e.Actor, Action: e.Action,
		Resource: e.Resource, EventTime: ts(e.Time), Details: e.Details}
}

func listToProto[T, P any](items []T, conv func(T) P) []P {
	out := make([]P, 0, len(items))
	for _, it := range items {
		out = append(out, conv(it))
	}
	return out
}
