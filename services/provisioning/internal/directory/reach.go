package directory

import (
	"context"

	"github.com/iechor/sso/services/platform/resourcename"
	"github.com/iechor/sso/services/provisioning/internal/store"
)

// Who may name whom. The REST edge forwards the person it authenticated as the actor, after
// CheckAccess let them manage the company or organization the call names. That is not enough for a
// call that names a user by id: an owner of one company could otherwise add anyone's id to their own
// company and read that person's email and name back. So a person may name, by id, only themself and
// the users already in the tenant (store.InReach: an ownership, a membership of one of its
// organizations, an identity link through one of its connections); anyone else is invited by email
// and accepts the invitation themself. A user out of reach is reported exactly as a user that does
// not exist, so that whether an id exists does not show either.
//
// Services and the system (operators, over internal gRPC) are trusted callers and name anyone.

// tenantOf returns the tenant an organization belongs to: its company, else the organization itself.
func tenantOf(o store.Organization) resourcename.Owner {
	if o.Company != "" {
		return resourcename.Owner{Kind: resourcename.Companies, ID: o.Company}
	}
	return resourcename.Owner{Kind: resourcename.Organizations, ID: o.ID}
}

// checkInReach returns ErrUserNotFound (for field) when actor is a person who may not name userID in
// tenant; the caller has checked that the user exists.
func checkInReach(ctx context.Context, tx store.Tx, actor Actor, field, userID string, tenant resourcename.Owner) error {
	self := actor.User()
	if self == "" || self == userID {
		return nil
	}
	ok, err := tx.InReach(ctx, userID, tenant.Kind, tenant.ID)
	if err != nil {
		return err
	}
	if !ok {
		return Field(field, ErrUserNotFound)
	}
	return nil
}

// checkSelf returns ErrUserNotFound when actor is a person other than userID: a person reads and
// changes their own user only. Callers wrap it as they wrap a missing user.
func checkSelf(actor Actor, userID string) error {
	if self := actor.User(); self != "" && self != userID {
		return ErrUserNotFound
	}
	return nil
}
