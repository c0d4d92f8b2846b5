// Package jit provisions a person who signed in through SSO: it links or creates their user and
// grants the memberships that the identity provider asserted and the connection allows, in one
// transaction that either writes all of it, with its audit event, or nothing.
//
// It must never grant more than the assertion and the connection allow: only organizations the
// connection covers, only roles it honours, never past a seat limit. Everything that does not fit is
// ignored with a warning or refused before anything is written.
package jit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/iechor/sso/services/platform/resourcename"
	"github.com/iechor/sso/services/provisioning/internal/directory"
	"github.com/iechor/sso/services/provisioning/internal/email"
	"github.com/iechor/sso/services/provisioning/internal/store"
)

// DomainOwners answers, through the domain service, which owner verified the domain of an email.
type DomainOwners interface {
	// VerifiedOwner returns companies/{c} or organizations/{o}; ErrDomainNotVerified when nobody has
	// verified the domain, ErrDomainCheckUnavailable when the answer cannot be had.
	VerifiedOwner(ctx context.Context, email string) (string, error)
}

// Identity is a person as the identity provider asserted them, after validation.
type Identity struct {
	Connection     string // {owner}/connections/{id}
	Subject        string // SAML NameID or OIDC sub
	Email          string
	FullName       string
	Groups         []string // "organization:team" grant memberships
	IechorOrg      string   // replaces the default organization
	IechorTeam     string   // a team in that organization
	IechorRole     string   // member, editor or owner
	SessionMinutes int      // the session length asked for; 0 when absent
}

// Settings are what the connection allows.
type Settings struct {
	JIT                 bool
	Owner               string   // companies/{c} or organizations/{o}
	Organizations       []string // organizations/{o} the connection covers
	DefaultOrganization string   // organizations/{o}, or ""
	DefaultTeam         string   // organizations/{o}/teams/{t} in the default organization, or ""
	HonorIdPRoles       bool
}

// Result is the user and what the provisioning changed.
type Result struct {
	User                 store.User
	UserCreated          bool
	IdentityLinked       bool
	FullNameUpdated      bool
	InvitationsAccepted  []string // organizations/{o}/invitations/{i}
	MembershipsAdded     []string // organizations/{o}/members/{u}
	TeamMembershipsAdded []string // organizations/{o}/teams/{t}/members/{u}
	TeamsCreated         []string // organizations/{o}/teams/{t}
	Warnings             []string
}

// Provisioner runs provisioning against the store.
type Provisioner struct {
	Store   store.Store
	Domains DomainOwners
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Limits on what an identity provider may send.
const (
	MaxSubject        = 1024
	MaxGroups         = 1000
	MaxGroupLength    = 256
	MaxSessionMinutes = 30 * 24 * 60
	maxNamedInWarning = 10
)

// MalformedGroupsWarning is the warning for groups not written "organization:team".
const MalformedGroupsWarning = "Some of the groups assigned to the user are not formatted as '<organization name>:<team name>'. Those groups were ignored."

// request is an identity and settings after the checks that need no store.
type request struct {
	id         Identity
	addr       email.Address
	owner      resourcename.Owner
	jit        bool
	role       store.Role // the role new memberships get
	orgs       []string   // covered organization ids, in the order given
	orgFields  map[string]string
	defaultOrg string
	defaultTm  string
}

// Provision links or creates the user of id and grants what s allows, in one transaction.
func (p *Provisioner) Provision(ctx context.Context, actor directory.Actor, id Identity, s Settings) (Result, error) {
	req, err := check(id, s)
	if err != nil {
		return Result{}, err
	}
	// Defence in depth: the sign-in flow found the connection from the email's verified domain,
	// and this asks the domain service again before anything is written.
	verifiedBy, err := p.Domains.VerifiedOwner(ctx, req.addr.Display)
	if errors.Is(err, ErrDomainNotVerified) {
		return Result{}, directory.Field("identity.email", err)
	}
	if err != nil {
		return Result{}, err
	}
	if verifiedBy != req.owner.String() {
		return Result{}, directory.Field("identity.email", ErrDomainNotVerified)
	}
	var res Result
	err = directory.RunTx(ctx, p.Store, func(tx store.Tx) error {
		var err error
		res, err = p.provision(ctx, tx, actor, req)
		return err
	})
	return res, err
}

func (p *Provisioner) now() time.Time {
	n := time.Now
	if p.Now != nil {
		n = p.Now
	}
	return directory.Truncate(n())
}

// check validates what needs no store, so that bad input is refused before the domain service is
// asked or a transaction begins.
func check(id Identity, s Settings) (request, error) {
	r := request{id: id, jit: s.JIT, orgFields: map[string]string{}}
	owner, err := resourcename.ParseOwner(s.Owner)
	if err != nil {
		return r, directory.Field("settings.owner", directory.ErrInvalidName)
	}
	r.owner = owner
	connOwner, connID, err := resourcename.ParseChild(id.Connection, "connections")
	if err != nil || !resourcename.ValidID(connID) {
		return r, directory.Field("identity.connection", directory.ErrInvalidName)
	}
	if connOwner != owner {
		return r, directory.Field("identity.connection", ErrConnectionOwnerMismatch)
	}
	switch {
	case id.Subject == "":
		return r, directory.Field("identity.subject", directory.ErrRequired)
	case len(id.Subject) > MaxSubject:
		return r, directory.Field("identity.subject", directory.ErrTooLong)
	}
	if err := directory.CheckText("identity.subject", id.Subject, MaxSubject); err != nil {
		return r, err
	}
	if r.addr, err = directory.CheckEmail("identity.email", id.Email); err != nil {
		return r, err
	}
	if err := directory.CheckText("identity.full_name", id.FullName, directory.MaxFullName); err != nil {
		return r, err
	}
	if len(id.Groups) > MaxGroups {
		return r, directory.Field("identity.groups", ErrTooManyGroups)
	}
	idpRole, err := directory.ParseRole(id.IechorRole)
	if err != nil {
		return r, directory.Field("identity.iechor_role", err)
	}
	r.role = store.RoleMember
	if s.HonorIdPRoles && idpRole != "" {
		r.role = idpRole
	}
	if id.SessionMinutes < 0 || id.SessionMinutes > MaxSessionMinutes {
		return r, directory.Field("identity.iechor_session_minutes", ErrInvalidSessionMinutes)
	}
	for _, name := range s.Organizations {
		o, err := resourcename.ParseOwner(name)
		if err != nil || o.Kind != resourcename.Organizations {
			return r, directory.Field("settings.organizations", directory.ErrInvalidName)
		}
		if _, dup := r.orgFields[o.ID]; !dup {
			r.orgs = append(r.orgs, o.ID)
			r.orgFields[o.ID] = "settings.organizations"
		}
	}
	if s.DefaultOrganization != "" {
		o, err := resourcename.ParseOwner(s.DefaultOrganization)
		if err != nil || o.Kind != resourcename.Organizations {
			return r, directory.Field("settings.default_organization", directory.ErrInvalidName)
		}
		r.defaultOrg = o.ID
		if _, dup := r.orgFields[o.ID]; !dup {
			r.orgs = append(r.orgs, o.ID)
			r.orgFields[o.ID] = "settings.default_organization"
		}
	}
	if s.DefaultTeam != "" {
		o, team, err := resourcename.ParseChild(s.DefaultTeam, "teams")
		if err != nil || o.Kind != resourcename.Organizations || !resourcename.ValidID(team) {
			return r, directory.Field("settings.default_team", directory.ErrInvalidName)
		}
		if o.ID != r.defaultOrg {
			return r, directory.Field("settings.default_team", ErrDefaultTeamOutsideDefaultOrganization)
		}
		r.defaultTm = team
	}
	r.id.Email = r.addr.Display
	return r, nil
}

// covered reads the organizations the connection covers, refusing unknown ones and ones outside the
// connection's owner: an organization is inside a company when it belongs to it, and inside an
// organization only when it is that organization.
func covered(ctx context.Context, tx store.Tx, r request) (map[string]store.Organization, error) {
	switch r.owner.Kind {
	case resourcename.Companies:
		if _, err := tx.GetCompany(ctx, r.owner.ID); err != nil {
			return nil, directory.Field("settings.owner", notFoundAs(err, ErrUnknownOwner))
		}
	default:
		if _, err := tx.GetOrganization(ctx, r.owner.ID); err != nil {
			return nil, directory.Field("settings.owner", notFoundAs(err, ErrUnknownOwner))
		}
	}
	orgs := map[string]store.Organization{}
	for _, id := range r.orgs {
		o, err := tx.GetOrganization(ctx, id)
		if err != nil {
			return nil, directory.Field(r.orgFields[id], notFoundAs(err, ErrUnknownOrganization))
		}
		inside := o.Company == r.owner.ID
		if r.owner.Kind == resourcename.Organizations {
			inside = o.ID == r.owner.ID
		}
		if !inside {
			return nil, directory.Field(r.orgFields[id], ErrOrganizationOutsideOwner)
		}
		orgs[id] = o
	}
	return orgs, nil
}

func notFoundAs(err, as error) error {
	if errors.Is(err, store.ErrNotFound) {
		return as
	}
	return err
}

// errRace makes directory.RunTx run the provisioning again: a concurrent provisioning of the same
// person got somewhere first, and the next run finds what it wrote.
func errRace(what string) error {
	return fmt.Errorf("%s concurrently: %w", what, store.ErrAlreadyExists)
}

// provision runs the steps of a provisioning in tx, in the order the product defines them.
func (p *Provisioner) provision(ctx context.Context, tx store.Tx, actor directory.Actor, r request) (Result, error) {
	var res Result
	now := p.now()
	orgs, err := covered(ctx, tx, r)
	if err != nil {
		return res, err
	}

	// 1. Find the user by identity link, else by email (and link them); keep the full name current.
	user, found, err := p.findUser(ctx, tx, r, now, &res)
	if err != nil {
		return res, err
	}
	invitations, err := pendingInvitations(ctx, tx, r.addr.Key, orgs)
	if err != nil {
		return res, err
	}
	memberOf := map[string]bool{}
	if found {
		ms, err := tx.UserMemberships(ctx, user.ID)
		if err != nil {
			return res, err
		}
		for _, m := range ms {
			if _, ok := orgs[m.Organization]; ok {
				memberOf[m.Organization] = true
			}
		}
	}
	assigned := len(memberOf) > 0 || len(invitations) > 0

	// 2. Create the user when none exists and JIT is on. Without JIT, only someone already assigned
	// (a member, or invited) may come in; an invitation creates its user.
	if !r.jit && !assigned {
		return res, &NotAssignedError{Name: personName(r.id, user)}
	}
	if !found {
		if user, err = p.createUser(ctx, tx, r, now, &res); err != nil {
			return res, err
		}
	}

	g := granter{tx: tx, user: user.ID, now: now, res: &res, memberOf: memberOf}

	// 3. Accept pending invitations for the email, with their teams and their roles.
	for _, inv := range invitations {
		if err := g.grant(ctx, inv.Organization, inv.Role); err != nil {
			return res, err
		}
		if inv.Team != "" {
			if err := g.team(ctx, inv.Organization, inv.Team, inv.Team); err != nil {
				return res, err
			}
		}
		if err := tx.AcceptInvitation(ctx, inv.Organization, inv.ID, user.ID, now); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return res, errRace("invitation accepted")
			}
			return res, err
		}
		res.InvitationsAccepted = append(res.InvitationsAccepted, "organizations/"+inv.Organization+"/invitations/"+inv.ID)
	}

	// 4. Group mapping: "organization:team" adds the organization, if covered, and the team.
	grants, warnings := mapGroups(r.id.Groups, orgs)
	res.Warnings = append(res.Warnings, warnings...)
	for _, gr := range grants {
		if err := g.grant(ctx, gr.org, r.role); err != nil {
			return res, err
		}
		if err := g.team(ctx, gr.org, gr.team, gr.teamDisplay); err != nil {
			return res, err
		}
	}

	// 5. iechorOrg replaces the default organization and drops the default team; iechorTeam names
	// a team in that organization.
	target, targetTeam, idpTeam, warnings := targets(r, orgs)
	res.Warnings = append(res.Warnings, warnings...)

	// 6. Someone with no membership in what the connection covers goes to the default
	// organization and team.
	if len(g.memberOf) == 0 {
		if target == "" {
			res.Warnings = append(res.Warnings, "The connection has no default organization, so the user was not added to any organization.")
		} else {
			if err := g.grant(ctx, target, r.role); err != nil {
				return res, err
			}
			if targetTeam != "" {
				if err := g.team(ctx, target, targetTeam, targetTeam); err != nil {
					return res, err
				}
			}
		}
	}
	// iechorTeam adds its team to a member of its organization on every sign-in, not only the first.
	if idpTeam != "" && g.memberOf[target] {
		if err := g.team(ctx, target, idpTeam, r.id.IechorTeam); err != nil {
			return res, err
		}
	}

	res.User = user
	_, err = directory.Record(ctx, tx, actor, now, directory.Event{
		Action: "user.provision", Parent: r.owner.String(), Resource: "users/" + user.ID, Details: details(r, &res),
	})
	return res, err
}

func personName(id Identity, u store.User) string {
	switch {
	case id.FullName != "":
		return id.FullName
	case u.FullName != "":
		return u.FullName
	}
	return id.Email
}
