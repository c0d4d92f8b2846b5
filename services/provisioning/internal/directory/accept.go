package directory

import (
	"context"
	"errors"
	"sort"
	"strings"

	"github.com/iechor/sso/services/provisioning/internal/store"
)

// ListUserInvitations returns the pending invitations to a user's email, in every organization, in
// the order of their names (organization, then id), from after the name after. A person lists their
// own only.
func (d *Directory) ListUserInvitations(ctx context.Context, actor Actor, userID, after string, limit int) ([]store.Invitation, error) {
	u, err := d.GetUser(ctx, actor, userID)
	if err != nil {
		return nil, Field("parent", err)
	}
	all, err := d.Store.PendingInvitations(ctx, u.Email)
	if err != nil {
		return nil, err
	}
	// A person has a handful of pending invitations: they are paged here rather than in the store.
	sort.Slice(all, func(i, j int) bool { return InvitationKey(all[i]) < InvitationKey(all[j]) })
	out := all[:0]
	for _, inv := range all {
		if InvitationKey(inv) > after && len(out) < limit {
			out = append(out, inv)
		}
	}
	return out, nil
}

// InvitationKey orders a user's invitations across organizations: organization/id.
func InvitationKey(inv store.Invitation) string { return inv.Organization + "/" + inv.ID }

// AcceptInvitation is the invited person accepting an invitation to their email: they become a
// member of its organization with its role (an existing member keeps theirs), join its team, and
// the invitation is accepted, in one transaction with its audit event. A person accepts for
// themself only. An invitation to another email, or accepted by someone else, is not found, so that
// nobody learns of invitations that are not theirs; accepting twice answers the same.
func (d *Directory) AcceptInvitation(ctx context.Context, actor Actor, userID, orgID, invID string) (store.Invitation, store.Membership, error) {
	if err := checkSelf(actor, userID); err != nil {
		return store.Invitation{}, store.Membership{}, Field("user", err)
	}
	now := d.now()
	var (
		inv store.Invitation
		m   store.Membership
	)
	err := RunTx(ctx, d.Store, func(tx store.Tx) error {
		u, err := tx.GetUser(ctx, userID)
		if err != nil {
			return Field("user", orMissing(err, ErrUserNotFound))
		}
		// Lock first: two acceptances of one invitation then take turns, and the second finds it
		// accepted.
		if err := tx.LockOrganizationRow(ctx, orgID); err != nil {
			return Field("invitation", orMissing(err, ErrInvitationNotFound))
		}
		if inv, err = tx.GetInvitation(ctx, orgID, invID); err != nil {
			return Field("invitation", orMissing(err, ErrInvitationNotFound))
		}
		if strings.ToLower(inv.Email) != strings.ToLower(u.Email) {
			return Field("invitation", ErrInvitationNotFound)
		}
		if inv.State == store.InvitationAccepted {
			if inv.AcceptedBy != userID {
				return Field("invitation", ErrInvitationNotFound)
			}
			m, err = tx.GetMembership(ctx, orgID, userID)
			return orMissing(err, ErrMembershipNotFound)
		}
		_, added, err := Grant(ctx, tx, orgID, userID, inv.Role, now)
		if err != nil {
			return err
		}
		teamJoined := false
		if inv.Team != "" {
			// The user is a member by now, so ErrNotMember can only mean that the team went in
			// between (deleting a team clears it from pending invitations): the invitation still
			// brings them into the organization.
			if teamJoined, err = JoinTeam(ctx, tx, orgID, inv.Team, userID, now); err != nil && !errors.Is(err, ErrNotMember) {
				return err
			}
		}
		if err := tx.AcceptInvitation(ctx, orgID, invID, userID, now); err != nil {
			return Field("invitation", orMissing(err, ErrInvitationNotFound))
		}
		inv.State, inv.AcceptTime, inv.AcceptedBy = store.InvitationAccepted, now, userID
		if m, err = tx.GetMembership(ctx, orgID, userID); err != nil {
			return err
		}
		details := map[string]string{"user": userName(userID), "email": inv.Email, "role": string(m.Role),
			"membership_created": boolString(added)}
		if inv.Team != "" {
			details["team"] = teamName(orgID, inv.Team)
			details["team_joined"] = boolString(teamJoined)
		}
		_, err = Record(ctx, tx, actor, now, Event{Action: "invitation.accept", Parent: orgName(orgID),
			Resource: orgName(orgID) + "/invitations/" + invID, Details: details})
		return err
	})
	if err != nil {
		return store.Invitation{}, store.Membership{}, err
	}
	return inv, m, nil
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
