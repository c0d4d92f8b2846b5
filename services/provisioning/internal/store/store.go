// Package store keeps the directory: companies and their owners, organizations, teams, users,
// memberships, team memberships, invitations, identity links and the audit log. The Store interface
// has the methods the provisioning service calls; SQL implements it on PostgreSQL and SQLite, and
// storetest is the conformance suite both pass.
//
// The store enforces what the schema can (unique emails and usernames, one link per IdP subject, one
// membership per user and organization, team members being members) and nothing more: seat limits,
// owners and provisioning rules live in the directory and jit packages, which run them inside one
// transaction through InTx.
package store

import (
	"context"
	"errors"
	"time"
)

var (
	// ErrNotFound means the row asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists means a unique key is taken: an id, an email, a username, an IdP subject, a
	// membership, a pending invitation.
	ErrAlreadyExists = errors.New("already exists")
	// ErrReferenced means a row cannot be deleted because another refers to it (a company with
	// organizations).
	ErrReferenced = errors.New("still referenced")
	// ErrMissingReference means a row refers to one that does not exist (a membership of a deleted
	// user).
	ErrMissingReference = errors.New("refers to a missing row")
)

// Plan is an organization's plan.
type Plan string

const (
	PlanFree     Plan = "free"
	PlanTeam     Plan = "team"
	PlanBusiness Plan = "business"
)

// Role is a member's role in an organization.
type Role string

const (
	RoleMember Role = "member"
	RoleEditor Role = "editor"
	RoleOwner  Role = "owner"
)

// InvitationState is pending until the invited person joins.
type InvitationState string

const (
	InvitationPending  InvitationState = "pending"
	InvitationAccepted InvitationState = "accepted"
)

// Company owns domains and connections above its organizations.
type Company struct {
	ID          string
	DisplayName string
	CreateTime  time.Time
	UpdateTime  time.Time
}

// CompanyOwner is a user who owns a company.
type CompanyOwner struct {
	Company    string
	User       string
	Email      string // read from the user
	CreateTime time.Time
}

// Organization is a group of users, optionally in one company.
type Organization struct {
	ID          string
	DisplayName string
	Company     string // "" for an organization on its own; never changes
	Plan        Plan
	SeatLimit   int // 0: no limit
	SeatsUsed   int // counted by the store
	CreateTime  time.Time
	UpdateTime  time.Time
}

// Team is a team within an organization.
type Team struct {
	Organization string
	ID           string
	DisplayName  string
	Description  string
	CreateTime   time.Time
}

// User is a person. Email is unique case-insensitively: the store keys it lower-cased.
type User struct {
	ID         string
	Email      string
	FullName   string
	Username   string
	CreateTime time.Time
	UpdateTime time.Time
}

// Membership is a user's membership of an organization; Email, Username and FullName are read from
// the user.
type Membership struct {
	Organization string
	User         string
	Role         Role
	CreateTime   time.Time
	Email        string
	Username     string
	FullName     string
}

// TeamMember is a member of an organization in one of its teams.
type TeamMember struct {
	Organization string
	Team         string
	User         string
	Email        string // read from the user
	CreateTime   time.Time
}

// Invitation invites an email to an organization, and optionally a team.
type Invitation struct {
	ID           string
	Organization string
	Email        string
	Team         string // team id in the organization, or ""
	Role         Role
	State        InvitationState
	CreateTime   time.Time
	AcceptTime   time.Time // zero while pending
	AcceptedBy   string    // user id, "" while pending
}

// IdentityLink ties an IdP subject on a connection to a user.
type IdentityLink struct {
	ID         string
	User       string
	Connection string
	Subject    string
	CreateTime time.Time
	LastSignIn time.Time
}

// AuditEvent is an entry of the append-only audit log.
type AuditEvent struct {
	Seq      int64  // assigned by the store, increasing
	ID       string // opaque
	Parent   string // whose log: companies/{c}, organizations/{o} or users/{u}
	Company  string // the company whose log also shows the event: the parent's, or ""
	Actor    string
	Action   string
	Resource string
	Time     time.Time
	Details  map[string]string
}

// Page selects a page of a list in key order: keys after After, at most Limit of them.
type Page struct {
	After string
	Limit int
}

// AuditQuery selects a page of audit events, newest first: those of Parent, or, when Company is set,
// those of the company and of its organizations; with sequence numbers below Before (0: from the
// newest).
type AuditQuery struct {
	Parent  string
	Company string
	Before  int64
	Limit   int
}

// Tx is every read and write of the directory. Inside InTx the calls share one transaction; called
// on the Store, each runs on its own.
type Tx interface {
	CreateCompany(ctx context.Context, c Company) error
	GetCompany(ctx context.Context, id string) (Company, error)
	// LockCompany reads a company and, on PostgreSQL, locks its row until the transaction ends, so
	// that owner counts taken after it stay true until commit.
	LockCompany(ctx context.Context, id string) (Company, error)
	UpdateCompany(ctx context.Context, c Company) error
	// DeleteCompany removes a company and its owners; ErrReferenced while organizations are in it.
	DeleteCompany(ctx context.Context, id string) error

	AddCompanyOwner(ctx context.Context, o CompanyOwner) error
	GetCompanyOwner(ctx context.Context, company, user string) (CompanyOwner, error)
	ListCompanyOwners(ctx context.Context, company string, p Page) ([]CompanyOwner, error)
	CountCompanyOwners(ctx context.Context, company string) (int, error)
	RemoveCompanyOwner(ctx context.Context, company, user string) error
	// OwnedCompanies lists the companies that user owns.
	OwnedCompanies(ctx context.Context, user string) ([]string, error)

	CreateOrganization(ctx context.Context, o Organization) error
	GetOrganization(ctx context.Context, id string) (Organization, error)
	// LockOrganization reads an organization with its seat count and, on PostgreSQL, locks its row
	// until the transaction ends: whoever adds members locks first, so seat counts cannot race.
	LockOrganization(ctx context.Context, id string) (Organization, error)
	// LockOrganizationRow locks an organization's row like LockOrganization, without reading it;
	// ErrNotFound when there is none.
	LockOrganizationRow(ctx context.Context, id string) error
	ListOrganizations(ctx context.Context, company string, p Page) ([]Organization, error)
	UpdateOrganization(ctx context.Context, o Organization) error
	// DeleteOrganization removes an organization with its teams, memberships and invitations.
	DeleteOrganization(ctx context.Context, id string) error

	CreateTeam(ctx context.Context, t Team) error
	GetTeam(ctx context.Context, org, id string) (Team, error)
	ListTeams(ctx context.Context, org string, p Page) ([]Team, error)
	UpdateTeam(ctx context.Context, t Team) error
	// DeleteTeam removes a team with its members and clears it from pending invitations.
	DeleteTeam(ctx context.Context, org, id string) error

	CreateUser(ctx context.Context, u User) error
	GetUser(ctx context.Context, id string) (User, error)
	// GetUserByEmail finds a user by email, case-insensitively.
	GetUserByEmail(ctx context.Context, email string) (User, error)
	UsernameTaken(ctx context.Context, username string) (bool, error)
	UpdateUser(ctx context.Context, u User) error
	// DeleteUser removes a user with memberships, team memberships, ownerships and identity links.
	DeleteUser(ctx context.Context, id string) error

	CreateIdentityLink(ctx context.Context, l IdentityLink) error
	GetIdentityLink(ctx context.Context, connection, subject string) (IdentityLink, error)
	// TouchIdentityLink records a sign-in through the link.
	TouchIdentityLink(ctx context.Context, id string, at time.Time) error
	ListIdentityLinks(ctx context.Context, user string, p Page) ([]IdentityLink, error)

	CreateMembership(ctx context.Context, m Membership) error
	GetMembership(ctx context.Context, org, user string) (Membership, error)
	ListMemberships(ctx context.Context, org string, p Page) ([]Membership, error)
	// UserMemberships lists every membership of a user.
	UserMemberships(ctx context.Context, user string) ([]Membership, error)
	UpdateMembershipRole(ctx context.Context, org, user string, role Role) error
	// DeleteMembership removes a membership and the user's team memberships in the organization.
	DeleteMembership(ctx context.Context, org, user string) error
	CountOwners(ctx context.Context, org string) (int, error)

	AddTeamMember(ctx context.Context, m TeamMember) error
	GetTeamMember(ctx context.Context, org, team, user string) (TeamMember, error)
	ListTeamMembers(ctx context.Context, org, team string, p Page) ([]TeamMember, error)
	RemoveTeamMember(ctx context.Context, org, team, user string) error

	// CreateInvitation adds a pending invitation; ErrAlreadyExists while one is pending for the email
	// in the organization.
	CreateInvitation(ctx context.Context, inv Invitation) error
	GetInvitation(ctx context.Context, org, id string) (Invitation, error)
	ListInvitations(ctx context.Context, org string, p Page) ([]Invitation, error)
	// PendingInvitations lists the pending invitations of an email, case-insensitively, in every
	// organization, oldest first.
	PendingInvitations(ctx context.Context, email string) ([]Invitation, error)
	// AcceptInvitation marks a pending invitation accepted by user; ErrNotFound when it is not
	// pending any more.
	AcceptInvitation(ctx context.Context, org, id, user string, at time.Time) error
	DeleteInvitation(ctx context.Context, org, id string) error

	// CanManage reports whether user owns the company, or, for an organization, is one of its
	// owners or an owner of its company. kind is "companies" or "organizations".
	CanManage(ctx context.Context, user, kind, id string) (bool, error)
	// InReach reports whether user belongs to a tenant, so that its admins may name the user by id:
	// for a company ("companies"), an owner of it, a member of one of its organizations, or someone
	// linked through a connection of the company or of one of its organizations; for an
	// organization outside any company ("organizations"), a member of it or someone linked through
	// one of its connections.
	InReach(ctx context.Context, user, kind, id string) (bool, error)

	AppendAuditEvent(ctx context.Context, e AuditEvent) (AuditEvent, error)
	ListAuditEvents(ctx context.Context, q AuditQuery) ([]AuditEvent, error)
}

// Store is the durable store of the provisioning service.
type Store interface {
	Tx
	// InTx runs fn in one transaction and commits it when fn returns nil. It runs fn again when the
	// database reports a serialization failure or a deadlock, so fn must be safe to repeat.
	InTx(ctx context.Context, fn func(tx Tx) error) error
	// Ping reports whether the store answers.
	Ping(ctx context.Context) error
}
