package jit

import (
	"context"
	"errors"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/iechor/sso/services/platform/opaque"
	"github.com/iechor/sso/services/platform/resourcename"
	"github.com/iechor/sso/services/provisioning/internal/directory"
	"github.com/iechor/sso/services/provisioning/internal/store"
)

// findUser finds the user by identity link, else by email, linking the identity to them; it brings
// the full name up to date with the identity provider's.
func (p *Provisioner) findUser(ctx context.Context, tx store.Tx, r request, now time.Time, res *Result) (store.User, bool, error) {
	var user store.User
	link, err := tx.GetIdentityLink(ctx, r.id.Connection, r.id.Subject)
	switch {
	case err == nil:
		if user, err = tx.GetUser(ctx, link.User); err != nil {
			return user, false, err
		}
		if err := tx.TouchIdentityLink(ctx, link.ID, now); err != nil {
			return user, false, err
		}
	case errors.Is(err, store.ErrNotFound):
		user, err = tx.GetUserByEmail(ctx, r.addr.Key)
		if errors.Is(err, store.ErrNotFound) {
			return store.User{}, false, nil
		}
		if err != nil {
			return user, false, err
		}
		if err := createLink(ctx, tx, r, user.ID, now); err != nil {
			return user, false, err
		}
		res.IdentityLinked = true
	default:
		return user, false, err
	}
	if r.id.FullName != "" && r.id.FullName != user.FullName {
		user.FullName, user.UpdateTime = r.id.FullName, now
		if err := tx.UpdateUser(ctx, user); err != nil {
			return user, false, err
		}
		res.FullNameUpdated = true
	}
	return user, true, nil
}

func createLink(ctx context.Context, tx store.Tx, r request, userID string, now time.Time) error {
	err := tx.CreateIdentityLink(ctx, store.IdentityLink{ID: opaque.ID("idl"), User: userID, Connection: r.id.Connection,
		Subject: r.id.Subject, CreateTime: now, LastSignIn: now})
	if errors.Is(err, store.ErrAlreadyExists) {
		return errRace("identity linked")
	}
	return err
}

// createUser creates the user of a new identity, with its link.
func (p *Provisioner) createUser(ctx context.Context, tx store.Tx, r request, now time.Time, res *Result) (store.User, error) {
	user, err := directory.NewUser(ctx, tx, r.addr, r.id.FullName, "", now)
	if errors.Is(err, directory.ErrEmailTaken) {
		// Nobody had the email when this transaction looked: someone provisioned it since.
		return user, errRace("user created")
	}
	if err != nil {
		return user, err
	}
	if err := createLink(ctx, tx, r, user.ID, now); err != nil {
		return user, err
	}
	res.UserCreated, res.IdentityLinked = true, true
	return user, nil
}

// pendingInvitations returns the email's pending invitations to organizations the connection
// covers. Invitations elsewhere stay pending: signing in here does not accept them.
func pendingInvitations(ctx context.Context, tx store.Tx, emailKey string, orgs map[string]store.Organization) ([]store.Invitation, error) {
	all, err := tx.PendingInvitations(ctx, emailKey)
	if err != nil {
		return nil, err
	}
	var out []store.Invitation
	for _, inv := range all {
		if _, ok := orgs[inv.Organization]; ok {
			out = append(out, inv)
		}
	}
	return out, nil
}

// granter adds memberships and team memberships for one user and notes them in the result.
type granter struct {
	tx       store.Tx
	user     string
	now      time.Time
	res      *Result
	memberOf map[string]bool
}

// grant makes the user a member of org with role unless they are one: an existing membership keeps
// its role (step 7: roles apply only when a membership is created).
func (g *granter) grant(ctx context.Context, org string, role store.Role) error {
	m, added, err := directory.Grant(ctx, g.tx, org, g.user, role, g.now)
	if err != nil {
		return err
	}
	if added {
		g.res.MembershipsAdded = append(g.res.MembershipsAdded, "organizations/"+m.Organization+"/members/"+g.user)
	}
	g.memberOf[org] = true
	return nil
}

// team adds the user, a member of org, to a team, creating the team when it is missing.
func (g *granter) team(ctx context.Context, org, team, displayName string) error {
	name := "organizations/" + org + "/teams/" + team
	created, err := directory.EnsureTeam(ctx, g.tx, org, team, displayName, g.now)
	if err != nil {
		return err
	}
	if created {
		g.res.TeamsCreated = append(g.res.TeamsCreated, name)
	}
	joined, err := directory.JoinTeam(ctx, g.tx, org, team, g.user, g.now)
	if err != nil {
		return err
	}
	if joined {
		g.res.TeamMembershipsAdded = append(g.res.TeamMembershipsAdded, name+"/members/"+g.user)
	}
	return nil
}

// groupGrant is a membership and team that a group asks for.
type groupGrant struct {
	org, team, teamDisplay string
}

// mapGroups reads groups named "organization:team". The organization part is matched against the
// ids of the organizations the connection covers, and the team part becomes a team id, both
// slugged ("Platform Team" is platform-team), so that the names IdPs use map onto ids. The grants
// come sorted by organization, so that concurrent provisionings lock organizations in one order.
func mapGroups(groups []string, orgs map[string]store.Organization) ([]groupGrant, []string) {
	var grants []groupGrant
	var malformed, uncovered []string
	seen := map[groupGrant]bool{}
	for _, group := range groups {
		orgPart, teamPart, ok := strings.Cut(group, ":")
		orgPart, teamPart = strings.TrimSpace(orgPart), strings.TrimSpace(teamPart)
		orgID, teamID := directory.Slug(orgPart), directory.Slug(teamPart)
		if !ok || strings.Contains(teamPart, ":") || len(group) > MaxGroupLength ||
			!resourcename.ValidID(orgID) || !resourcename.ValidID(teamID) ||
			directory.CheckText("group", teamPart, directory.MaxDisplayName) != nil {
			malformed = append(malformed, group)
			continue
		}
		if _, ok := orgs[orgID]; !ok {
			uncovered = append(uncovered, group)
			continue
		}
		key := groupGrant{org: orgID, team: teamID}
		if seen[key] {
			continue
		}
		seen[key] = true
		grants = append(grants, groupGrant{org: orgID, team: teamID, teamDisplay: teamPart})
	}
	sort.Slice(grants, func(i, j int) bool {
		if grants[i].org != grants[j].org {
			return grants[i].org < grants[j].org
		}
		return grants[i].team < grants[j].team
	})
	var warnings []string
	if len(malformed) > 0 {
		warnings = append(warnings, MalformedGroupsWarning+" Groups: "+quoteSome(malformed)+".")
	}
	if len(uncovered) > 0 {
		warnings = append(warnings, "Some of the groups assigned to the user name organizations that this connection does not cover. "+
			"Those groups were ignored. Groups: "+quoteSome(uncovered)+".")
	}
	return grants, warnings
}

// quoteSome quotes the first few names, so that a warning stays readable with a thousand groups.
func quoteSome(names []string) string {
	var quoted []string
	for i, n := range names {
		if i == maxNamedInWarning {
			quoted = append(quoted, "and "+strconv.Itoa(len(names)-i)+" more")
			break
		}
		quoted = append(quoted, strconv.Quote(n))
	}
	return strings.Join(quoted, ", ")
}

// targets works out step 5: the organization and team a person with no membership goes to, and the
// team that iechorTeam adds.
func targets(r request, orgs map[string]store.Organization) (org, team, idpTeam string, warnings []string) {
	org, team = r.defaultOrg, r.defaultTm
	if r.id.IechorOrg != "" {
		want := directory.Slug(strings.TrimPrefix(r.id.IechorOrg, "organizations/"))
		if _, ok := orgs[want]; ok {
			org, team = want, ""
		} else {
			warnings = append(warnings, "The iechorOrg attribute names organization "+strconv.Quote(r.id.IechorOrg)+
				", which this connection does not cover. It was ignored.")
		}
	}
	if r.id.IechorTeam != "" {
		want := directory.Slug(r.id.IechorTeam)
		switch {
		case org == "":
			warnings = append(warnings, "The iechorTeam attribute was ignored: the connection has no organization to put the team in.")
		case !resourcename.ValidID(want) || directory.CheckText("identity.iechor_team", r.id.IechorTeam, directory.MaxDisplayName) != nil:
			warnings = append(warnings, "The iechorTeam attribute "+strconv.Quote(r.id.IechorTeam)+" is not a valid team name. It was ignored.")
		default:
			team, idpTeam = want, want
		}
	}
	return org, team, idpTeam, warnings
}

// details is what the audit event of a provisioning records.
func details(r request, res *Result) map[string]string {
	d := map[string]string{
		"connection":        r.id.Connection,
		"subject":           r.id.Subject,
		"email":             r.addr.Display,
		"user_created":      strconv.FormatBool(res.UserCreated),
		"identity_linked":   strconv.FormatBool(res.IdentityLinked),
		"full_name_updated": strconv.FormatBool(res.FullNameUpdated),
	}
	put := func(k string, v []string) {
		if len(v) > 0 {
			d[k] = strings.Join(v, ",")
		}
	}
	put("invitations_accepted", res.InvitationsAccepted)
	put("memberships_added", res.MembershipsAdded)
	put("team_memberships_added", res.TeamMembershipsAdded)
	put("teams_created", res.TeamsCreated)
	if len(res.Warnings) > 0 {
		d["warnings"] = strconv.Itoa(len(res.Warnings))
	}
	if r.id.SessionMinutes > 0 {
		d["session_minutes"] = strconv.Itoa(r.id.SessionMinutes)
	}
	return d
}
