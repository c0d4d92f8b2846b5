package store

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/iechor/sso/services/platform/sqlstore"
)

//go:embed migrations
var migrations embed.FS

// SQL is the Store on PostgreSQL or SQLite. One set of queries serves both; only row locking
// differs: PostgreSQL takes SELECT ... FOR UPDATE, while SQLite needs none because its transactions
// take the database's write lock when they begin.
type SQL struct {
	queries
}

// NewSQL migrates db and returns a store on it.
func NewSQL(ctx context.Context, db *sqlstore.DB) (*SQL, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx, "provisioning", sub); err != nil {
		return nil, err
	}
	return &SQL{queries{q: db, db: db}}, nil
}

// InTx runs fn in one transaction, retried by sqlstore on serialization failures and deadlocks.
func (s *SQL) InTx(ctx context.Context, fn func(tx Tx) error) error {
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		return fn(&queries{q: tx, db: s.db, inTx: true})
	})
}

func (s *SQL) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// queries runs every statement on q: the database itself, or one transaction.
type queries struct {
	q    execer
	db   *sqlstore.DB
	inTx bool
}

// atomic runs fn in the current transaction, or in a new one when the call stands alone, for the
// methods that take more than one statement.
func (s *queries) atomic(ctx context.Context, fn func(q *queries) error) error {
	if s.inTx {
		return fn(s)
	}
	return s.db.InTx(ctx, func(tx *sql.Tx) error { return fn(&queries{q: tx, db: s.db, inTx: true}) })
}

func (s *queries) forUpdate() string {
	if s.db.Dialect == sqlstore.Postgres {
		return " FOR UPDATE"
	}
	return ""
}

// classify turns constraint violations into the store's sentinels and leaves every other error as
// it is, so that sqlstore still recognises serialization failures to retry.
func classify(err error) error {
	switch {
	case err == nil:
		return nil
	case sqlstore.IsUniqueViolation(err):
		return ErrAlreadyExists
	case sqlstore.IsForeignKeyViolation(err):
		return ErrMissingReference
	}
	return err
}

// insert adds a row; ErrAlreadyExists when a unique key is taken. ON CONFLICT DO NOTHING keeps the
// transaction usable after a conflict on PostgreSQL, and waits for a concurrent insert of the same
// key to commit or roll back before deciding.
func (s *queries) insert(ctx context.Context, query string, args ...any) error {
	res, err := s.q.ExecContext(ctx, query+" ON CONFLICT DO NOTHING", args...)
	if err != nil {
		return classify(err)
	}
	return expectOne(res, ErrAlreadyExists)
}

// exec runs an UPDATE or DELETE of one row; ErrNotFound when there was none.
func (s *queries) exec(ctx context.Context, query string, args ...any) error {
	res, err := s.q.ExecContext(ctx, query, args...)
	if err != nil {
		return classify(err)
	}
	return expectOne(res, ErrNotFound)
}

func expectOne(res sql.Result, none error) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return none
	}
	return nil
}

func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

type scanner interface{ Scan(dest ...any) error }

// list runs a query and scans each row with scan.
func list[T any](ctx context.Context, s *queries, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := s.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func limit(p Page) string {
	n := p.Limit
	if n <= 0 {
		n = 50
	}
	return fmt.Sprintf(" LIMIT %d", n)
}

// --- companies

func scanCompany(r scanner) (Company, error) {
	var c Company
	var created, updated int64
	err := r.Scan(&c.ID, &c.DisplayName, &created, &updated)
	c.CreateTime, c.UpdateTime = sqlstore.FromMicros(created), sqlstore.FromMicros(updated)
	return c, notFound(err)
}

const companyColumns = `id, display_name, create_time_us, update_time_us`

func (s *queries) CreateCompany(ctx context.Context, c Company) error {
	return s.insert(ctx, `INSERT INTO companies (`+companyColumns+`) VALUES ($1, $2, $3, $4)`,
		c.ID, c.DisplayName, sqlstore.Micros(c.CreateTime), sqlstore.Micros(c.UpdateTime))
}

func (s *queries) GetCompany(ctx context.Context, id string) (Company, error) {
	return scanCompany(s.q.QueryRowContext(ctx, `SELECT `+companyColumns+` FROM companies WHERE id = $1`, id))
}

func (s *queries) LockCompany(ctx context.Context, id string) (Company, error) {
	return scanCompany(s.q.QueryRowContext(ctx, `SELECT `+companyColumns+` FROM companies WHERE id = $1`+s.forUpdate(), id))
}

func (s *queries) UpdateCompany(ctx context.Context, c Company) error {
	return s.exec(ctx, `UPDATE companies SET display_name = $2, update_time_us = $3 WHERE id = $1`,
		c.ID, c.DisplayName, sqlstore.Micros(c.UpdateTime))
}

// DeleteCompany checks for organizations itself rather than reading the RESTRICT violation, which
// the two backends report under different codes; the foreign key still guards against a race.
func (s *queries) DeleteCompany(ctx context.Context, id string) error {
	return s.atomic(ctx, func(q *queries) error {
		var inUse bool
		if err := q.q.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM organizations WHERE company_id = $1)`, id).Scan(&inUse); err != nil {
			return err
		}
		if inUse {
			return ErrReferenced
		}
		err := q.exec(ctx, `DELETE FROM companies WHERE id = $1`, id)
		if errors.Is(err, ErrMissingReference) {
			return ErrReferenced
		}
		return err
	})
}

// --- company owners

func scanOwner(r scanner) (CompanyOwner, error) {
	var o CompanyOwner
	var created int64
	err := r.Scan(&o.Company, &o.User, &o.Email, &created)
	o.CreateTime = sqlstore.FromMicros(created)
	return o, notFound(err)
}

const ownerSelect = `SELECT co.company_id, co.user_id, u.email, co.create_time_us
	FROM company_owners co JOIN users u ON u.id = co.user_id`

func (s *queries) AddCompanyOwner(ctx context.Context, o CompanyOwner) error {
	return s.insert(ctx, `INSERT INTO company_owners (company_id, user_id, create_time_us) VALUES ($1, $2, $3)`,
		o.Company, o.User, sqlstore.Micros(o.CreateTime))
}

func (s *queries) GetCompanyOwner(ctx context.Context, company, user string) (CompanyOwner, error) {
	return scanOwner(s.q.QueryRowContext(ctx, ownerSelect+` WHERE co.company_id = $1 AND co.user_id = $2`, company, user))
}

func (s *queries) ListCompanyOwners(ctx context.Context, company string, p Page) ([]CompanyOwner, error) {
	return list(ctx, s, scanOwner, ownerSelect+` WHERE co.company_id = $1 AND co.user_id > $2 ORDER BY co.user_id`+limit(p), company, p.After)
}

func (s *queries) CountCompanyOwners(ctx context.Context, company string) (int, error) {
	var n int
	err := s.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM company_owners WHERE company_id = $1`, company).Scan(&n)
	return n, err
}

func (s *queries) RemoveCompanyOwner(ctx context.Context, company, user string) error {
	return s.exec(ctx, `DELETE FROM company_owners WHERE company_id = $1 AND user_id = $2`, company, user)
}

func (s *queries) OwnedCompanies(ctx context.Context, user string) ([]string, error) {
	return list(ctx, s, scanString, `SELECT company_id FROM company_owners WHERE user_id = $1 ORDER BY company_id`, user)
}

func scanString(r scanner) (string, error) {
	var v string
	err := r.Scan(&v)
	return v, err
}

// --- organizations

// orgSelect counts seats in the same statement; callers that need a count that concurrent adders
// cannot change lock the row first, in an earlier statement (see LockOrganization).
const orgSelect = `SELECT o.id, o.display_name, COALESCE(o.company_id, ''), o.plan, o.seat_limit, o.create_time_us,
	o.update_time_us, (SELECT COUNT(*) FROM memberships m WHERE m.org_id = o.id) FROM organizations o`

func scanOrg(r scanner) (Organization, error) {
	var o Organization
	var plan string
	var created, updated int64
	err := r.Scan(&o.ID, &o.DisplayName, &o.Company, &plan, &o.SeatLimit, &created, &updated, &o.SeatsUsed)
	o.Plan = Plan(plan)
	o.CreateTime, o.UpdateTime = sqlstore.FromMicros(created), sqlstore.FromMicros(updated)
	return o, notFound(err)
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

func (s *queries) CreateOrganization(ctx context.Context, o Organization) error {
	return s.insert(ctx, `INSERT INTO organizations (id, display_name, company_id, plan, seat_limit, create_time_us, update_time_us)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		o.ID, o.DisplayName, nullString(o.Company), string(o.Plan), o.SeatLimit, sqlstore.Micros(o.CreateTime), sqlstore.Micros(o.UpdateTime))
}

func (s *queries) GetOrganization(ctx context.Context, id string) (Organization, error) {
	return scanOrg(s.q.QueryRowContext(ctx, orgSelect+` WHERE o.id = $1`, id))
}

// LockOrganization locks first and counts after, in two statements: on PostgreSQL a statement reads
// from a snapshot taken when it starts, so a count taken by the locking statement itself could miss
// the members that the transaction it waited for has just added.
func (s *queries) LockOrganization(ctx context.Context, id string) (Organization, error) {
	if s.db.Dialect == sqlstore.Postgres {
		if err := s.LockOrganizationRow(ctx, id); err != nil {
			return Organization{}, err
		}
	}
	return s.GetOrganization(ctx, id)
}

func (s *queries) LockOrganizationRow(ctx context.Context, id string) error {
	query := `SELECT id FROM organizations WHERE id = $1`
	if s.db.Dialect == sqlstore.Postgres {
		query += ` FOR UPDATE`
	}
	var got string
	return notFound(s.q.QueryRowContext(ctx, query, id).Scan(&got))
}

func (s *queries) ListOrganizations(ctx context.Context, company string, p Page) ([]Organization, error) {
	return list(ctx, s, scanOrg, orgSelect+` WHERE o.company_id = $1 AND o.id > $2 ORDER BY o.id`+limit(p), company, p.After)
}

func (s *queries) UpdateOrganization(ctx context.Context, o Organization) error {
	return s.exec(ctx, `UPDATE organizations SET display_name = $2, plan = $3, seat_limit = $4, update_time_us = $5 WHERE id = $1`,
		o.ID, o.DisplayName, string(o.Plan), o.SeatLimit, sqlstore.Micros(o.UpdateTime))
}

func (s *queries) DeleteOrganization(ctx context.Context, id string) error {
	return s.exec(ctx, `DELETE FROM organizations WHERE id = $1`, id)
}

// --- teams

const teamColumns = `org_id, id, display_name, description, create_time_us`

func scanTeam(r scanner) (Team, error) {
	var t Team
	var created int64
	err := r.Scan(&t.Organization, &t.ID, &t.DisplayName, &t.Description, &created)
	t.CreateTime = sqlstore.FromMicros(created)
	return t, notFound(err)
}

func (s *queries) CreateTeam(ctx context.Context, t Team) error {
	return s.insert(ctx, `INSERT INTO teams (`+teamColumns+`) VALUES ($1, $2, $3, $4, $5)`,
		t.Organization, t.ID, t.DisplayName, t.Description, sqlstore.Micros(t.CreateTime))
}

func (s *queries) GetTeam(ctx context.Context, org, id string) (Team, error) {
	return scanTeam(s.q.QueryRowContext(ctx, `SELECT `+teamColumns+` FROM teams WHERE org_id = $1 AND id = $2`, org, id))
}

func (s *queries) ListTeams(ctx context.Context, org string, p Page) ([]Team, error) {
	return list(ctx, s, scanTeam, `SELECT `+teamColumns+` FROM teams WHERE org_id = $1 AND id > $2 ORDER BY id`+limit(p), org, p.After)
}

func (s *queries) UpdateTeam(ctx context.Context, t Team) error {
	return s.exec(ctx, `UPDATE teams SET display_name = $3, description = $4 WHERE org_id = $1 AND id = $2`,
		t.Organization, t.ID, t.DisplayName, t.Description)
}

func (s *queries) DeleteTeam(ctx context.Context, org, id string) error {
	return s.atomic(ctx, func(q *queries) error {
		if err := q.exec(ctx, `DELETE FROM teams WHERE org_id = $1 AND id = $2`, org, id); err != nil {
			return err
		}
		// A pending invitation to a deleted team still invites to the organization.
		_, err := q.q.ExecContext(ctx, `UPDATE invitations SET team_id = '' WHERE org_id = $1 AND team_id = $2 AND state = 'pending'`, org, id)
		return err
	})
}

// --- users

const userColumns = `id, email, full_name, username, create_time_us, update_time_us`

func scanUser(r scanner) (User, error) {
	var u User
	var created, updated int64
	err := r.Scan(&u.ID, &u.Email, &u.FullName, &u.Username, &created, &updated)
	u.CreateTime, u.UpdateTime = sqlstore.FromMicros(created), sqlstore.FromMicros(updated)
	return u, notFound(err)
}

func (s *queries) CreateUser(ctx context.Context, u User) error {
	return s.insert(ctx, `INSERT INTO users (id, email, email_key, full_name, username, create_time_us, update_time_us)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		u.ID, u.Email, strings.ToLower(u.Email), u.FullName, u.Username, sqlstore.Micros(u.CreateTime), sqlstore.Micros(u.UpdateTime))
}

func (s *queries) GetUser(ctx context.Context, id string) (User, error) {
	return scanUser(s.q.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
}

func (s *queries) GetUserByEmail(ctx context.Context, email string) (User, error) {
	return scanUser(s.q.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE email_key = $1`, strings.ToLower(email)))
}

func (s *queries) UsernameTaken(ctx context.Context, username string) (bool, error) {
	var taken bool
	err := s.q.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE username = $1)`, username).Scan(&taken)
	return taken, err
}

func (s *queries) UpdateUser(ctx context.Context, u User) error {
	return s.exec(ctx, `UPDATE users SET email = $2, email_key = $3, full_name = $4, username = $5, update_time_us = $6 WHERE id = $1`,
		u.ID, u.Email, strings.ToLower(u.Email), u.FullName, u.Username, sqlstore.Micros(u.UpdateTime))
}

func (s *queries) DeleteUser(ctx context.Context, id string) error {
	return s.exec(ctx, `DELETE FROM users WHERE id = $1`, id)
}

// --- identity links

const linkColumns = `id, user_id, connection, subject, create_time_us, last_sign_in_us`

func scanLink(r scanner) (IdentityLink, error) {
	var l IdentityLink
	var created, last int64
	err := r.Scan(&l.ID, &l.User, &l.Connection, &l.Subject, &created, &last)
	l.CreateTime, l.LastSignIn = sqlstore.FromMicros(created), sqlstore.FromMicros(last)
	return l, notFound(err)
}

func (s *queries) CreateIdentityLink(ctx context.Context, l IdentityLink) error {
	return s.insert(ctx, `INSERT INTO identity_links (`+linkColumns+`) VALUES ($1, $2, $3, $4, $5, $6)`,
		l.ID, l.User, l.Connection, l.Subject, sqlstore.Micros(l.CreateTime), sqlstore.Micros(l.LastSignIn))
}

func (s *queries) GetIdentityLink(ctx context.Context, connection, subject string) (IdentityLink, error) {
	return scanLink(s.q.QueryRowContext(ctx, `SELECT `+linkColumns+` FROM identity_links WHERE connection = $1 AND subject = $2`, connection, subject))
}

func (s *queries) TouchIdentityLink(ctx context.Context, id string, at time.Time) error {
	return s.exec(ctx, `UPDATE identity_links SET last_sign_in_us = $2 WHERE id = $1`, id, sqlstore.Micros(at))
}

func (s *queries) ListIdentityLinks(ctx context.Context, user string, p Page) ([]IdentityLink, error) {
	return list(ctx, s, scanLink, `SELECT `+linkColumns+` FROM identity_links WHERE user_id = $1 AND id > $2 ORDER BY id`+limit(p), user, p.After)
}

// --- memberships

const membershipSelect = `SELECT m.org_id, m.user_id, m.role, m.create_time_us, u.email, u.username, u.full_name
	FROM memberships m JOIN users u ON u.id = m.user_id`

func scanMembership(r scanner) (Membership, error) {
	var m Membership
	var role string
	var created int64
	err := r.Scan(&m.Organization, &m.User, &role, &created, &m.Email, &m.Username, &m.FullName)
	m.Role, m.CreateTime = Role(role), sqlstore.FromMicros(created)
	return m, notFound(err)
}

func (s *queries) CreateMembership(ctx context.Context, m Membership) error {
	return s.insert(ctx, `INSERT INTO memberships (org_id, user_id, role, create_time_us) VALUES ($1, $2, $3, $4)`,
		m.Organization, m.User, string(m.Role), sqlstore.Micros(m.CreateTime))
}

func (s *queries) GetMembership(ctx context.Context, org, user string) (Membership, error) {
	return scanMembership(s.q.QueryRowContext(ctx, membershipSelect+` WHERE m.org_id = $1 AND m.user_id = $2`, org, user))
}

func (s *queries) ListMemberships(ctx context.Context, org string, p Page) ([]Membership, error) {
	return list(ctx, s, scanMembership, membershipSelect+` WHERE m.org_id = $1 AND m.user_id > $2 ORDER BY m.user_id`+limit(p), org, p.After)
}

func (s *queries) UserMemberships(ctx context.Context, user string) ([]Membership, error) {
	return list(ctx, s, scanMembership, membershipSelect+` WHERE m.user_id = $1 ORDER BY m.org_id`, user)
}

func (s *queries) UpdateMembershipRole(ctx context.Context, org, user string, role Role) error {
	return s.exec(ctx, `UPDATE memberships SET role = $3 WHERE org_id = $1 AND user_id = $2`, org, user, string(role))
}

func (s *queries) DeleteMembership(ctx context.Context, org, user string) error {
	return s.exec(ctx, `DELETE FROM memberships WHERE org_id = $1 AND user_id = $2`, org, user)
}

func (s *queries) CountOwners(ctx context.Context, org string) (int, error) {
	var n int
	err := s.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM memberships WHERE org_id = $1 AND role = 'owner'`, org).Scan(&n)
	return n, err
}

// --- team members

const teamMemberSelect = `SELECT tm.org_id, tm.team_id, tm.user_id, u.email, tm.create_time_us
	FROM team_members tm JOIN users u ON u.id = tm.user_id`

func scanTeamMember(r scanner) (TeamMember, error) {
	var m TeamMember
	var created int64
	err := r.Scan(&m.Organization, &m.Team, &m.User, &m.Email, &created)
	m.CreateTime = sqlstore.FromMicros(created)
	return m, notFound(err)
}

func (s *queries) AddTeamMember(ctx context.Context, m TeamMember) error {
	return s.insert(ctx, `INSERT INTO team_members (org_id, team_id, user_id, create_time_us) VALUES ($1, $2, $3, $4)`,
		m.Organization, m.Team, m.User, sqlstore.Micros(m.CreateTime))
}

func (s *queries) GetTeamMember(ctx context.Context, org, team, user string) (TeamMember, error) {
	return scanTeamMember(s.q.QueryRowContext(ctx, teamMemberSelect+` WHERE tm.org_id = $1 AND tm.team_id = $2 AND tm.user_id = $3`, org, team, user))
}

func (s *queries) ListTeamMembers(ctx context.Context, org, team string, p Page) ([]TeamMember, error) {
	return list(ctx, s, scanTeamMember, teamMemberSelect+` WHERE tm.org_id = $1 AND tm.team_id = $2 AND tm.user_id > $3
		ORDER BY tm.user_id`+limit(p), org, team, p.After)
}

func (s *queries) RemoveTeamMember(ctx context.Context, org, team, user string) error {
	return s.exec(ctx, `DELETE FROM team_members WHERE org_id = $1 AND team_id = $2 AND user_id = $3`, org, team, user)
}

// --- invitations

const invitationColumns = `org_id, id, email, team_id, role, state, create_time_us, accept_time_us, COALESCE(accepted_by, '')`

func scanInvitation(r scanner) (Invitation, error) {
	var inv Invitation
	var role, state string
	var created int64
	var accepted sql.NullInt64
	err := r.Scan(&inv.Organization, &inv.ID, &inv.Email, &inv.Team, &role, &state, &created, &accepted, &inv.AcceptedBy)
	inv.Role, inv.State = Role(role), InvitationState(state)
	inv.CreateTime, inv.AcceptTime = sqlstore.FromMicros(created), sqlstore.FromNullMicros(accepted)
	return inv, notFound(err)
}

func (s *queries) CreateInvitation(ctx context.Context, inv Invitation) error {
	return s.insert(ctx, `INSERT INTO invitations (org_id, id, email, email_key, team_id, role, state, create_time_us)
		VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7)`,
		inv.Organization, inv.ID, inv.Email, strings.ToLower(inv.Email), inv.Team, string(inv.Role), sqlstore.Micros(inv.CreateTime))
}

func (s *queries) GetInvitation(ctx context.Context, org, id string) (Invitation, error) {
	return scanInvitation(s.q.QueryRowContext(ctx, `SELECT `+invitationColumns+` FROM invitations WHERE org_id = $1 AND id = $2`, org, id))
}

func (s *queries) ListInvitations(ctx context.Context, org string, p Page) ([]Invitation, error) {
	return list(ctx, s, scanInvitation, `SELECT `+invitationColumns+` FROM invitations WHERE org_id = $1 AND id > $2 ORDER BY id`+limit(p), org, p.After)
}

func (s *queries) PendingInvitations(ctx context.Context, email string) ([]Invitation, error) {
	return list(ctx, s, scanInvitation, `SELECT `+invitationColumns+` FROM invitations
		WHERE email_key = $1 AND state = 'pending' ORDER BY create_time_us, org_id, id`, strings.ToLower(email))
}

func (s *queries) AcceptInvitation(ctx context.Context, org, id, user string, at time.Time) error {
	return s.exec(ctx, `UPDATE invitations SET state = 'accepted', accept_time_us = $3, accepted_by = $4
		WHERE org_id = $1 AND id = $2 AND state = 'pending'`, org, id, sqlstore.Micros(at), user)
}

func (s *queries) DeleteInvitation(ctx context.Context, org, id string) error {
	return s.exec(ctx, `DELETE FROM invitations WHERE org_id = $1 AND id = $2`, org, id)
}

// --- access

// CanManage is one indexed query: it runs on every admin request.
func (s *queries) CanManage(ctx context.Context, user, kind, id string) (bool, error) {
	var query string
	switch kind {
	case "companies":
		query = `SELECT EXISTS (SELECT 1 FROM company_owners WHERE company_id = $1 AND user_id = $2)`
	case "organizations":
		query = `SELECT EXISTS (SELECT 1 FROM memberships WHERE org_id = $1 AND user_id = $2 AND role = 'owner')
			OR EXISTS (SELECT 1 FROM organizations o JOIN company_owners co ON co.company_id = o.company_id
				WHERE o.id = $1 AND co.user_id = $2)`
	default:
		return false, fmt.Errorf("unknown resource kind %q", kind)
	}
	var ok bool
	err := s.q.QueryRowContext(ctx, query, id, user).Scan(&ok)
	return ok, err
}

// InReach reads the user's own rows (ownerships, memberships and identity links, each by an index on
// the user), so it costs the same however large the tenant. A connection belongs to a tenant when its
// name starts with the tenant's name and "/connections/": compared as a prefix with substr rather
// than LIKE, in which the "_" of an id would match any character.
func (s *queries) InReach(ctx context.Context, user, kind, id string) (bool, error) {
	var query string
	switch kind {
	case "companies":
		query = `SELECT EXISTS (SELECT 1 FROM company_owners WHERE company_id = $1 AND user_id = $2)
			OR EXISTS (SELECT 1 FROM memberships m JOIN organizations o ON o.id = m.org_id
				WHERE m.user_id = $2 AND o.company_id = $1)
			OR EXISTS (SELECT 1 FROM identity_links l WHERE l.user_id = $2
				AND substr(l.connection, 1, length('companies/' || $1 || '/connections/')) = 'companies/' || $1 || '/connections/')
			OR EXISTS (SELECT 1 FROM identity_links l JOIN organizations o ON o.company_id = $1 WHERE l.user_id = $2
				AND substr(l.connection, 1, length('organizations/' || o.id || '/connections/')) = 'organizations/' || o.id || '/connections/')`
	case "organizations":
		query = `SELECT EXISTS (SELECT 1 FROM memberships WHERE org_id = $1 AND user_id = $2)
			OR EXISTS (SELECT 1 FROM identity_links l WHERE l.user_id = $2
				AND substr(l.connection, 1, length('organizations/' || $1 || '/connections/')) = 'organizations/' || $1 || '/connections/')`
	default:
		return false, fmt.Errorf("unknown resource kind %q", kind)
	}
	var ok bool
	err := s.q.QueryRowContext(ctx, query, id, user).Scan(&ok)
	return ok, err
}

// --- audit

func (s *queries) AppendAuditEvent(ctx context.Context, e AuditEvent) (AuditEvent, error) {
	details := e.Details
	if details == nil {
		details = map[string]string{}
	}
	b, err := json.Marshal(details)
	if err != nil {
		return e, err
	}
	err = s.q.QueryRowContext(ctx, `INSERT INTO audit_events (id, parent, company, actor, action, resource, event_time_us, details)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING seq`,
		e.ID, e.Parent, e.Company, e.Actor, e.Action, e.Resource, sqlstore.Micros(e.Time), string(b)).Scan(&e.Seq)
	return e, classify(err)
}

func scanEvent(r scanner) (AuditEvent, error) {
	var e AuditEvent
	var at int64
	var details string
	if err := r.Scan(&e.Seq, &e.ID, &e.Parent, &e.Company, &e.Actor, &e.Action, &e.Resource, &at, &details); err != nil {
		return e, err
	}
	e.Time = sqlstore.FromMicros(at)
	return e, json.Unmarshal([]byte(details), &e.Details)
}

func (s *queries) ListAuditEvents(ctx context.Context, q AuditQuery) ([]AuditEvent, error) {
	query := `SELECT seq, id, parent, company, actor, action, resource, event_time_us, details FROM audit_events WHERE `
	args := []any{}
	if q.Company != "" {
		// The company <> '' term lets PostgreSQL use the partial index on company.
		query += `company = $1 AND company <> ''`
		args = append(args, q.Company)
	} else {
		query += `parent = $1`
		args = append(args, q.Parent)
	}
	if q.Before > 0 {
		query += ` AND seq < $2`
		args = append(args, q.Before)
	}
	query += ` ORDER BY seq DESC` + limit(Page{Limit: q.Limit})
	return list(ctx, s, scanEvent, query, args...)
}
