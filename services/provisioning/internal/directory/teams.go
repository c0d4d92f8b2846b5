package directory

import (
	"context"
	"errors"

	"github.com/iechor/sso/services/provisioning/internal/store"
)

func teamName(org, id string) string { return orgName(org) + "/teams/" + id }

// CreateTeam creates a team in an organization.
func (d *Directory) CreateTeam(ctx context.Context, actor Actor, orgID, id, displayName, description string) (store.Team, error) {
	if err := CheckID("team_id", id); err != nil {
		return store.Team{}, err
	}
	if err := CheckText("team.display_name", displayName, MaxDisplayName); err != nil {
		return store.Team{}, err
	}
	if err := CheckText("team.description", description, MaxDescription); err != nil {
		return store.Team{}, err
	}
	if displayName == "" {
		displayName = id
	}
	now := d.now()
	t := store.Team{Organization: orgID, ID: id, DisplayName: displayName, Description: description, CreateTime: now}
	err := RunTx(ctx, d.Store, func(tx store.Tx) error {
		if _, err := tx.GetOrganization(ctx, orgID); err != nil {
			return orMissing(err, ErrOrganizationNotFound)
		}
		if err := tx.CreateTeam(ctx, t); err != nil {
			if errors.Is(err, store.ErrAlreadyExists) {
				return Field("team_id", ErrTeamExists)
			}
			return err
		}
		_, err := Record(ctx, tx, actor, now, Event{Action: "team.create", Parent: orgName(orgID), Resource: teamName(orgID, id),
			Details: map[string]string{"display_name": displayName}})
		return err
	})
	return t, err
}

// GetTeam returns a team.
func (d *Directory) GetTeam(ctx context.Context, orgID, id string) (store.Team, error) {
	t, err := d.Store.GetTeam(ctx, orgID, id)
	return t, orMissing(err, ErrTeamNotFound)
}

// ListTeams returns a page of an organization's teams, by id.
func (d *Directory) ListTeams(ctx context.Context, orgID string, p store.Page) ([]store.Team, error) {
	if _, err := d.GetOrganization(ctx, orgID); err != nil {
		return nil, err
	}
	return d.Store.ListTeams(ctx, orgID, p)
}

// TeamUpdate holds the fields to change; nil leaves a field as it is.
type TeamUpdate struct {
	DisplayName *string
	Description *string
}

// UpdateTeam changes a team.
func (d *Directory) UpdateTeam(ctx context.Context, actor Actor, orgID, id string, u TeamUpdate) (store.Team, error) {
	if u.DisplayName != nil {
		if err := CheckText("team.display_name", *u.DisplayName, MaxDisplayName); err != nil {
			return store.Team{}, err
		}
	}
	if u.Description != nil {
		if err := CheckText("team.description", *u.Description, MaxDescription); err != nil {
			return store.Team{}, err
		}
	}
	var t store.Team
	err := RunTx(ctx, d.Store, func(tx store.Tx) error {
		var err error
		if t, err = tx.GetTeam(ctx, orgID, id); err != nil {
			return orMissing(err, ErrTeamNotFound)
		}
		details := map[string]string{}
		if u.DisplayName != nil && *u.DisplayName != t.DisplayName {
			t.DisplayName = *u.DisplayName
			if t.DisplayName == "" {
				t.DisplayName = id
			}
			details["display_name"] = t.DisplayName
		}
		if u.Description != nil && *u.Description != t.Description {
			t.Description = *u.Description
			details["description"] = t.Description
		}
		if len(details) == 0 {
			return nil
		}
		if err := tx.UpdateTeam(ctx, t); err != nil {
			return orMissing(err, ErrTeamNotFound)
		}
		_, err = Record(ctx, tx, actor, d.now(), Event{Action: "team.update", Parent: orgName(orgID), Resource: teamName(orgID, id), Details: details})
		return err
	})
	return t, err
}

// DeleteTeam deletes a team and its memberships; pending invitations to it still invite to the
// organization.
func (d *Directory) DeleteTeam(ctx context.Context, actor Actor, orgID, id string) error {
	return RunTx(ctx, d.Store, func(tx store.Tx) error {
		if err := tx.DeleteTeam(ctx, orgID, id); err != nil {
			return orMissing(err, ErrTeamNotFound)
		}
		_, err := Record(ctx, tx, actor, d.now(), Event{Action: "team.delete", Parent: orgName(orgID), Resource: teamName(orgID, id)})
		return err
	})
}

// AddTeamMember adds a member of the organization to one of its teams. To a person, a user outside
// the organization's company is missing, not "not a member": whether the id exists does not show.
func (d *Directory) AddTeamMember(ctx context.Context, actor Actor, orgID, teamID, userID string) (store.TeamMember, error) {
	now := d.now()
	var m store.TeamMember
	err := RunTx(ctx, d.Store, func(tx store.Tx) error {
		if _, err := tx.GetTeam(ctx, orgID, teamID); err != nil {
			return orMissing(err, ErrTeamNotFound)
		}
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
		if _, err := tx.GetMembership(ctx, orgID, userID); err != nil {
			return Field("user", orMissing(err, ErrNotMember))
		}
		added, err := JoinTeam(ctx, tx, orgID, teamID, userID, now)
		if err != nil {
			return err
		}
		if !added {
			return Field("user", ErrAlreadyTeamMember)
		}
		if m, err = tx.GetTeamMember(ctx, orgID, teamID, userID); err != nil {
			return err
		}
		_, err = Record(ctx, tx, actor, now, Event{Action: "team.member.add", Parent: orgName(orgID),
			Resource: teamName(orgID, teamID) + "/members/" + userID, Details: map[string]string{"user": "users/" + userID}})
		return err
	})
	return m, err
}

// ListTeamMembers returns a page of a team's members, by user id.
func (d *Directory) ListTeamMembers(ctx context.Context, orgID, teamID string, p store.Page) ([]store.TeamMember, error) {
	if _, err := d.GetTeam(ctx, orgID, teamID); err != nil {
		return nil, err
	}
	return d.Store.ListTeamMembers(ctx, orgID, teamID, p)
}

// RemoveTeamMember removes a user from a team; they stay a member of the organization.
func (d *Directory) RemoveTeamMember(ctx context.Context, actor Actor, orgID, teamID, userID string) error {
	return RunTx(ctx, d.Store, func(tx store.Tx) error {
		if err := tx.RemoveTeamMember(ctx, orgID, teamID, userID); err != nil {
			return orMissing(err, ErrTeamMemberNotFound)
		}
		_, err := Record(ctx, tx, actor, d.now(), Event{Action: "team.member.remove", Parent: orgName(orgID),
			Resource: teamName(orgID, teamID) + "/members/" + userID, Details: map[string]string{"user": "users/" + userID}})
		return err
	})
}
