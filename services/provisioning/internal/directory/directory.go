// Package directory holds the rules of the directory: who may be added where, seat limits, the last
// owner that must stay, unique emails and generated usernames, and the audit event that every change
// writes in its own transaction. The gRPC server calls it with parsed values; the jit package builds
// provisioning from its building blocks (Grant, EnsureTeam, JoinTeam, NewUser, Record).
//
// Nothing here writes outside a store transaction, and no change is made without its audit event.
package directory

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/iechor/sso/services/platform/opaque"
	"github.com/iechor/sso/services/platform/resourcename"
	"github.com/iechor/sso/services/provisioning/internal/email"
	"github.com/iechor/sso/services/provisioning/internal/store"
	"github.com/iechor/sso/services/provisioning/internal/username"
)

// Directory applies admin changes to the store.
type Directory struct {
	Store store.Store
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// now returns the time as the store keeps it (microseconds, UTC), so that what a call returns is
// what a later read returns.
func (d *Directory) now() time.Time {
	n := time.Now
	if d.Now != nil {
		n = d.Now
	}
	return Truncate(n())
}

// Truncate returns t as the store keeps it.
func Truncate(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// maxAttempts bounds how often a transaction is run again after losing a race for a unique key.
const maxAttempts = 6

// RunTx runs fn in one transaction. When fn fails with store.ErrAlreadyExists (a concurrent writer
// took a key that fn had found free, such as the same new user's email) it runs fn again from the
// start, where fn finds what the other writer made. Errors that fn maps to its own sentinels are
// final.
func RunTx(ctx context.Context, st store.Store, fn func(tx store.Tx) error) error {
	var err error
	for range maxAttempts {
		err = st.InTx(ctx, fn)
		if !errors.Is(err, store.ErrAlreadyExists) || ctx.Err() != nil {
			return err
		}
	}
	return ErrConflict
}

// Actor is who makes a change: users/{id}, service:{name} or system.
type Actor string

// System is the actor of changes that no person or service asked for, such as bootstrap.
const System Actor = "system"

// ParseActor reads an actor; "" is System.
func ParseActor(s string) (Actor, error) {
	switch {
	case s == "" || s == string(System):
		return System, nil
	case strings.HasPrefix(s, "users/") && resourcename.ValidID(strings.TrimPrefix(s, "users/")):
		return Actor(s), nil
	case strings.HasPrefix(s, "service:") && resourcename.ValidID(strings.TrimPrefix(s, "service:")):
		return Actor(s), nil
	}
	return "", ErrInvalidActor
}

// User returns the user id of an actor that is a user, or "".
func (a Actor) User() string {
	id, ok := strings.CutPrefix(string(a), "users/")
	if !ok {
		return ""
	}
	return id
}

// Event is an audit event to record.
type Event struct {
	// ID is the event's id; a new one when empty. A caller that may send one event twice names it,
	// so that the second time is recognised (see RecordAuditEvent).
	ID       string
	Action   string
	Parent   string // companies/{c}, organizations/{o} or users/{u}: whose log
	Company  string // the parent's company; looked up when empty and the parent is an organization
	Resource string
	Details  map[string]string
}

// Record appends an audit event in tx, so that it commits or rolls back with the change it records.
func Record(ctx context.Context, tx store.Tx, actor Actor, at time.Time, e Event) (store.AuditEvent, error) {
	company := e.Company
	if company == "" {
		kind, id, _ := strings.Cut(e.Parent, "/")
		switch kind {
		case resourcename.Companies:
			company = id
		case resourcename.Organizations:
			o, err := tx.GetOrganization(ctx, id)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return store.AuditEvent{}, err
			}
			company = o.Company
		}
	}
	id := e.ID
	if id == "" {
		id = opaque.ID("evt")
	}
	return tx.AppendAuditEvent(ctx, store.AuditEvent{
		ID: id, Parent: e.Parent, Company: company, Actor: string(actor),
		Action: e.Action, Resource: e.Resource, Time: at, Details: e.Details,
	})
}

// orMissing turns store.ErrNotFound into the directory's error for the missing resource.
func orMissing(err, missing error) error {
	if errors.Is(err, store.ErrNotFound) {
		return missing
	}
	return err
}

// DisplayName is the name people read: the display name, else the id.
func DisplayName(o store.Organization) string {
	if o.DisplayName != "" {
		return o.DisplayName
	}
	return o.ID
}

// Grant makes a user a member of an organization unless they are one already, and reports whether
// it did. It locks the organization's row before it counts seats, so that concurrent grants cannot
// both take the last seat; a full organization gives a *NoSeatsError.
func Grant(ctx context.Context, tx store.Tx, orgID, userID string, role store.Role, now time.Time) (store.Membership, bool, error) {
	// Lock the organization, then insert unless the user is a member; only a new member is counted
	// against the seats, by a read made after the lock, so that two adders cannot both take the last
	// seat. A refusal rolls the insert back with the rest of the transaction.
	if err := tx.LockOrganizationRow(ctx, orgID); err != nil {
		return store.Membership{}, false, orMissing(err, ErrOrganizationNotFound)
	}
	m := store.Membership{Organization: orgID, User: userID, Role: role, CreateTime: now}
	switch err := tx.CreateMembership(ctx, m); {
	case errors.Is(err, store.ErrAlreadyExists):
		existing, err := tx.GetMembership(ctx, orgID, userID)
		return existing, false, err
	case errors.Is(err, store.ErrMissingReference):
		return m, false, ErrUserNotFound
	case err != nil:
		return m, false, err
	}
	org, err := tx.GetOrganization(ctx, orgID)
	if err != nil {
		return m, false, orMissing(err, ErrOrganizationNotFound)
	}
	if org.SeatLimit > 0 && org.SeatsUsed > org.SeatLimit {
		return store.Membership{}, false, &NoSeatsError{Organization: DisplayName(org)}
	}
	// The membership is returned as written, without the user's details: callers that show it read
	// it back. Provisioning, on the path of every sign-in, does not.
	return m, true, nil
}

// EnsureTeam creates a team unless it exists, and reports whether it did.
func EnsureTeam(ctx context.Context, tx store.Tx, orgID, teamID, displayName string, now time.Time) (bool, error) {
	if _, err := tx.GetTeam(ctx, orgID, teamID); err == nil {
		return false, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return false, err
	}
	err := tx.CreateTeam(ctx, store.Team{Organization: orgID, ID: teamID, DisplayName: displayName, CreateTime: now})
	if errors.Is(err, store.ErrMissingReference) {
		return false, ErrOrganizationNotFound
	}
	return err == nil, err
}

// JoinTeam adds a member of an organization to one of its teams unless they are in it, and reports
// whether it did.
func JoinTeam(ctx context.Context, tx store.Tx, orgID, teamID, userID string, now time.Time) (bool, error) {
	// One statement: the insert does nothing when the member is in the team already.
	err := tx.AddTeamMember(ctx, store.TeamMember{Organization: orgID, Team: teamID, User: userID, CreateTime: now})
	switch {
	case errors.Is(err, store.ErrAlreadyExists):
		return false, nil
	case errors.Is(err, store.ErrMissingReference):
		return false, ErrNotMember
	}
	return err == nil, err
}

// NewUser creates a user with a new opaque id. An empty name is generated from the email's local
// part or the full name, with digits appended while it is taken.
//
// The email's uniqueness is left to the insert, whose conflict is then told apart from a username
// taken in between: callers have usually just looked the email up, and a sign-in should not pay for
// the same question twice.
func NewUser(ctx context.Context, tx store.Tx, addr email.Address, fullName, name string, now time.Time) (store.User, error) {
	if name == "" {
		var err error
		if name, err = freeUsername(ctx, tx, username.Base(addr.Local, fullName)); err != nil {
			return store.User{}, err
		}
	} else if taken, err := tx.UsernameTaken(ctx, name); err != nil {
		return store.User{}, err
	} else if taken {
		return store.User{}, Field("user.username", ErrUsernameTaken)
	}
	u := store.User{ID: opaque.ID("usr"), Email: addr.Display, FullName: fullName, Username: name, CreateTime: now, UpdateTime: now}
	err := tx.CreateUser(ctx, u)
	if errors.Is(err, store.ErrAlreadyExists) {
		if _, gerr := tx.GetUserByEmail(ctx, addr.Key); gerr == nil {
			return store.User{}, Field("user.email", ErrEmailTaken)
		}
		// The username was taken in between: RunTx runs the whole change again.
	}
	return u, err
}

// freeUsername returns base if it is free, else base with the smallest free number from 1 to 99
// appended, else base with a random number: ordinary names stay readable, and a crowded base still
// ends after a few look-ups.
func freeUsername(ctx context.Context, tx store.Tx, base string) (string, error) {
	try := func(c string) (bool, error) {
		taken, err := tx.UsernameTaken(ctx, c)
		return !taken, err
	}
	if ok, err := try(base); ok || err != nil {
		return base, err
	}
	for n := 1; n < 100; n++ {
		c := username.WithSuffix(base, n)
		if ok, err := try(c); ok || err != nil {
			return c, err
		}
	}
	for range 20 {
		b := opaque.Bytes(4)
		n := 100 + int(uint32(b[0])<<24|uint32(b[1])<<16|uint32(b[2])<<8|uint32(b[3]))%999_900
		c := username.WithSuffix(base, n)
		if ok, err := try(c); ok || err != nil {
			return c, err
		}
	}
	return "", ErrConflict
}
