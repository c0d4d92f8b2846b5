package directory

import (
	"context"
	"errors"

	"github.com/iechor/sso/services/platform/opaque"
	"github.com/iechor/sso/services/provisioning/internal/email"
	"github.com/iechor/sso/services/provisioning/internal/store"
)

func memberName(org, user string) string { return orgName(org) + "/members/" + user }

// CreateMembership adds a user to an organization; a full organization is refused with NO_SEATS.
// An empty role is member. A person adds only users already in the organization's company (or, for
// an organization on its own, linked through its connections); others are invited.
func (d *Directory) CreateMembership(ctx context.Context, actor Actor, orgID, userID string, role store.Role) (store.Membership, error) {
	if role == "" {
		role = store.RoleMember
	}
	now := d.now()
	var m store.Membership
	err := RunTx(ctx, d.Store, func(tx store.Tx) error {
		o, err := tx.GetOrganization(ctx, orgID)
		if err != nil {
			return orMissing(err, ErrOrganizationNotFound)
		}
		if _, err := tx.GetUser(ctx, userID); err != nil {
			return Field("user", orMissing(err, ErrUserNotFound))
		}
		if err := checkInReach(ctx, tx, actor, "user", userID, tenantOf(o)); err != nil {
			return err
		}
		var added bool
		if m, added, err = Grant(ctx, tx, orgID, userID, role, now); err != nil {
			return err
		}
		if !added {
			return Field("user", ErrAlreadyMember)
		}
		if m, err = tx.GetMembership(ctx, orgID, userID); err != nil {
			return err
		}
		_, err = Record(ctx, tx, actor, now, Event{Action: "membership.create", Parent: orgName(orgID),
			Resource: memberName(orgID, userID), Details: map[string]string{"user": userName(userID), "role": string(role)}})
		return err
	})
	return m, err
}

// GetMembership returns a membership.
func (d *Directory) GetMembership(ctx context.Context, orgID, userID string) (store.Membership, error) {
	m, err := d.Store.GetMembership(ctx, orgID, userID)
	return m, orMissing(err, ErrMembershipNotFound)
}

// ListMemberships returns a page of an organization's members, by user id.
func (d *Directory) ListMemberships(ctx context.Context, orgID string, p store.Page) ([]store.Membership, error) {
	if _, err := d.GetOrganization(ctx, orgID); err != nil {
		return nil, err
	}
	return d.Store.ListMemberships(ctx, orgID, p)
}

// keepsAnOwner refuses to take the owner role from m when it is the last owner of an organization
// outside any company: inside a company, the company's owners still manage it.
func keepsAnOwner(ctx context.Context, tx store.Tx, m store.Membership) error {
	if m.Role != store.RoleOwner {
		return nil
	}
	o, err := tx.LockOrganization(ctx, m.Organization)
	if err != nil {
		return orMissing(err, ErrOrganizationNotFound)
	}
	if o.Company != "" {
		return nil
	}
	n, err := tx.CountOwners(ctx, m.Organization)
	if err != nil {
		return err
	}
	if n <= 1 {
		return ErrLastOwner
	}
	return nil
}

// UpdateMembership changes a member's role.
func (d *Directory) UpdateMembership(ctx context.Context, actor Actor, orgID, userID string, role store.Role) (store.Membership, error) {
	if role == "" {
		return store.Membership{}, Field("membership.role", ErrInvalidRole)
	}
	var m store.Membership
	err := RunTx(ctx, d.Store, func(tx store.Tx) error {
		var err error
		if m, err = tx.GetMembership(ctx, orgID, userID); err != nil {
			return orMissing(err, ErrMembershipNotFound)
		}
		if m.Role == role {
			return nil
		}
		if err := keepsAnOwner(ctx, tx, m); err != nil {
			return Field("membership.role", err)
		}
		if err := tx.UpdateMembershipRole(ctx, orgID, userID, role); err != nil {
			return orMissing(err, ErrMembershipNotFound)
		}
		details := map[string]string{"role": string(role), "previous_role": string(m.Role)}
		m.Role = role
		_, err = Record(ctx, tx, actor, d.now(), Event{Action: "membership.update", Parent: orgName(orgID),
			Resource: memberName(orgID, userID), Details: details})
		return err
	})
	return m, err
}

// DeleteMembership removes a user from an organization and its teams.
func (d *Directory) DeleteMembership(ctx context.Context, actor Actor, orgID, userID string) error {
	return RunTx(ctx, d.Store, func(tx store.Tx) error {
		m, err := tx.GetMembership(ctx, orgID, userID)
		if err != nil {
			return orMissing(err, ErrMembershipNotFound)
		}
		if err := keepsAnOwner(ctx, tx, m); err != nil {
			return Field("name", err)
		}
		if err := tx.DeleteMembership(ctx, orgID, userID); err != nil {
			return orMissing(err, ErrMembershipNotFound)
		}
		_, err = Record(ctx, tx, actor, d.now(), Event{Action: "membership.delete", Parent: orgName(orgID),
			Resource: memberName(orgID, userID), Details: map[string]string{"user": userName(userID), "role": string(m.Role)}})
		return err
	})
}

// InvitationInput is a new invitation: of an email, or of a user by id (whose email it takes).
type InvitationInput struct {
	Email string
	User  string // user id, or ""
	Team  string // team id in the organization, or ""
	Role  store.Role
}

// CreateInvitation invites an email to an organization, and optionally one of its teams. The
// invitation takes no seat until it is accepted; someone who is already a member is not invited.
// Invited by id, a user must be in the organization's tenant as for CreateMembership.
func (d *Directory) CreateInvitation(ctx context.Context, actor Actor, orgID string, in InvitationInput) (store.Invitation, error) {
	var addr email.Address
	var err error
	switch {
	case in.User != "" && in.Email != "":
		return store.Invitation{}, Field("invitation.user", ErrEmailAndUser)
	case in.User == "":
		if addr, err = CheckEmail("invitation.email", in.Email); err != nil {
			return store.Invitation{}, err
		}
	}
	if in.Role == "" {
		in.Role = store.RoleMember
	}
	now := d.now()
	inv := store.Invitation{ID: opaque.ID("inv"), Organization: orgID, Team: in.Team, Role: in.Role,
		State: store.InvitationPending, CreateTime: now}
	err = RunTx(ctx, d.Store, func(tx store.Tx) error {
		o, err := tx.GetOrganization(ctx, orgID)
		if err != nil {
			return orMissing(err, ErrOrganizationNotFound)
		}
		if in.User != "" {
			u, err := tx.GetUser(ctx, in.User)
			if err != nil {
				return Field("invitation.user", orMissing(err, ErrUserNotFound))
			}
			if err := checkInReach(ctx, tx, actor, "invitation.user", in.User, tenantOf(o)); err != nil {
				return err
			}
			if addr, err = CheckEmail("invitation.user", u.Email); err != nil {
				return err
			}
		}
		inv.Email = addr.Display
		if in.Team != "" {
			if _, err := tx.GetTeam(ctx, orgID, in.Team); err != nil {
				return Field("invitation.team", orMissing(err, ErrTeamNotFound))
			}
		}
		emailField := "invitation.email"
		if in.User != "" {
			emailField = "invitation.user"
		}
		if u, err := tx.GetUserByEmail(ctx, addr.Key); err == nil {
			if _, err := tx.GetMembership(ctx, orgID, u.ID); err == nil {
				return Field(emailField, ErrAlreadyMember)
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			}
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err := tx.CreateInvitation(ctx, inv); err != nil {
			if errors.Is(err, store.ErrAlreadyExists) {
				return Field(emailField, ErrInvitationPending)
			}
			return err
		}
		details := map[string]string{"email": inv.Email, "role": string(inv.Role)}
		if inv.Team != "" {
			details["team"] = teamName(orgID, inv.Team)
		}
		if in.User != "" {
			details["user"] = userName(in.User)
		}
		_, err = Record(ctx, tx, actor, now, Event{Action: "invitation.create", Parent: orgName(orgID),
			Resource: orgName(orgID) + "/invitations/" + inv.ID, Details: details})
		return err
	})
	return inv, err
}

// ListInvitations returns a page of an organization's invitations, by id.
func (d *Directory) ListInvitations(ctx context.Context, orgID string, p store.Page) ([]store.Invitation, error) {
	if _, err := d.GetOrganization(ctx, orgID); err != nil {
		return nil, err
	}
	return d.Store.ListInvitations(ctx, orgID, p)
}

// DeleteInvitation withdraws an invitation (or removes an accepted one from the list).
func (d *Directory) DeleteInvitation(ctx context.Context, actor Actor, orgID, id string) error {
	return RunTx(ctx, d.Store, func(tx store.Tx) error {
		inv, err := tx.GetInvitation(ctx, orgID, id)
		if err != nil {
			return orMissing(err, ErrInvitationNotFound)
		}
		if err := tx.DeleteInvitation(ctx, orgID, id); err != nil {
			return orMissing(err, ErrInvitationNotFound)
		}
		_, err = Record(ctx, tx, actor, d.now(), Event{Action: "invitation.delete", Parent: orgName(orgID),
			Resource: orgName(orgID) + "/invitations/" + id, Details: map[string]string{"email": inv.Email, "state": string(inv.State)}})
		return err
	})
}
