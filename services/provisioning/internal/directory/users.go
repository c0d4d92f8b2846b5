package directory

import (
	"context"
	"errors"

	"github.com/iechor/sso/services/provisioning/internal/store"
)

func userName(id string) string { return "users/" + id }

// UserInput is a new user; an empty Username is generated.
type UserInput struct {
	Email    string
	FullName string
	Username string
}

// CreateUser creates a user.
func (d *Directory) CreateUser(ctx context.Context, actor Actor, in UserInput) (store.User, error) {
	addr, err := CheckEmail("user.email", in.Email)
	if err != nil {
		return store.User{}, err
	}
	if err := CheckText("user.full_name", in.FullName, MaxFullName); err != nil {
		return store.User{}, err
	}
	if in.Username != "" {
		if err := CheckUsername("user.username", in.Username); err != nil {
			return store.User{}, err
		}
	}
	now := d.now()
	var u store.User
	err = RunTx(ctx, d.Store, func(tx store.Tx) error {
		var err error
		if u, err = NewUser(ctx, tx, addr, in.FullName, in.Username, now); err != nil {
			return err
		}
		_, err = Record(ctx, tx, actor, now, Event{Action: "user.create", Parent: userName(u.ID), Resource: userName(u.ID),
			Details: map[string]string{"email": u.Email, "username": u.Username}})
		return err
	})
	return u, err
}

// GetUser returns a user; a person reads only their own.
func (d *Directory) GetUser(ctx context.Context, actor Actor, id string) (store.User, error) {
	if err := checkSelf(actor, id); err != nil {
		return store.User{}, err
	}
	u, err := d.Store.GetUser(ctx, id)
	return u, orMissing(err, ErrUserNotFound)
}

// LookupUser finds a user by email, case-insensitively. A person finds only themself: an answer
// about anyone else's email would tell whether that person has an account.
func (d *Directory) LookupUser(ctx context.Context, actor Actor, address string) (store.User, error) {
	addr, err := CheckEmail("email", address)
	if err != nil {
		return store.User{}, err
	}
	u, err := d.Store.GetUserByEmail(ctx, addr.Key)
	if err == nil {
		err = checkSelf(actor, u.ID)
	}
	if err != nil {
		return store.User{}, orMissing(err, ErrUserNotFound)
	}
	return u, nil
}

// UserUpdate holds the fields to change; nil leaves a field as it is.
type UserUpdate struct {
	Email    *string
	FullName *string
	Username *string
}

// UpdateUser changes a user; a person changes only their own. A new email or username must be free.
func (d *Directory) UpdateUser(ctx context.Context, actor Actor, id string, in UserUpdate) (store.User, error) {
	var newEmail string
	if in.Email != nil {
		addr, err := CheckEmail("user.email", *in.Email)
		if err != nil {
			return store.User{}, err
		}
		newEmail = addr.Display
	}
	if in.FullName != nil {
		if err := CheckText("user.full_name", *in.FullName, MaxFullName); err != nil {
			return store.User{}, err
		}
	}
	if in.Username != nil {
		if err := CheckUsername("user.username", *in.Username); err != nil {
			return store.User{}, err
		}
	}
	if err := checkSelf(actor, id); err != nil {
		return store.User{}, err
	}
	var u store.User
	err := RunTx(ctx, d.Store, func(tx store.Tx) error {
		var err error
		if u, err = tx.GetUser(ctx, id); err != nil {
			return orMissing(err, ErrUserNotFound)
		}
		details := map[string]string{}
		if in.Email != nil && newEmail != u.Email {
			if other, err := tx.GetUserByEmail(ctx, newEmail); err == nil && other.ID != id {
				return Field("user.email", ErrEmailTaken)
			} else if err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			details["email"] = newEmail
			u.Email = newEmail
		}
		if in.FullName != nil && *in.FullName != u.FullName {
			u.FullName = *in.FullName
			details["full_name"] = u.FullName
		}
		if in.Username != nil && *in.Username != u.Username {
			if taken, err := tx.UsernameTaken(ctx, *in.Username); err != nil {
				return err
			} else if taken {
				return Field("user.username", ErrUsernameTaken)
			}
			u.Username = *in.Username
			details["username"] = u.Username
		}
		if len(details) == 0 {
			return nil
		}
		u.UpdateTime = d.now()
		if err := tx.UpdateUser(ctx, u); err != nil {
			return err
		}
		_, err = Record(ctx, tx, actor, u.UpdateTime, Event{Action: "user.update", Parent: userName(id), Resource: userName(id), Details: details})
		return err
	})
	return u, err
}

// DeleteUser deletes a user with their memberships, ownerships and identity links. A user who is the
// last owner of a company, or of an organization outside any company, stays: nobody else could
// manage it afterwards. Each organization's log records the membership that went. A person deletes
// only their own user.
func (d *Directory) DeleteUser(ctx context.Context, actor Actor, id string) error {
	if err := checkSelf(actor, id); err != nil {
		return err
	}
	return RunTx(ctx, d.Store, func(tx store.Tx) error {
		if _, err := tx.GetUser(ctx, id); err != nil {
			return orMissing(err, ErrUserNotFound)
		}
		companies, err := tx.OwnedCompanies(ctx, id)
		if err != nil {
			return err
		}
		for _, c := range companies {
			if _, err := tx.LockCompany(ctx, c); err != nil {
				return err
			}
			if n, err := tx.CountCompanyOwners(ctx, c); err != nil {
				return err
			} else if n <= 1 {
				return Field("name", ErrLastOwner)
			}
		}
		memberships, err := tx.UserMemberships(ctx, id)
		if err != nil {
			return err
		}
		for _, m := range memberships {
			if err := keepsAnOwner(ctx, tx, m); err != nil {
				return Field("name", err)
			}
		}
		if err := tx.DeleteUser(ctx, id); err != nil {
			return orMissing(err, ErrUserNotFound)
		}
		now := d.now()
		for _, m := range memberships {
			if _, err := Record(ctx, tx, actor, now, Event{Action: "membership.delete", Parent: orgName(m.Organization),
				Resource: memberName(m.Organization, id), Details: map[string]string{"reason": "user deleted"}}); err != nil {
				return err
			}
		}
		_, err = Record(ctx, tx, actor, now, Event{Action: "user.delete", Parent: userName(id), Resource: userName(id)})
		return err
	})
}

// ListIdentityLinks returns a page of a user's identity links; a person lists only their own, which
// name the connections (and so the companies) they sign in through.
func (d *Directory) ListIdentityLinks(ctx context.Context, actor Actor, userID string, p store.Page) ([]store.IdentityLink, error) {
	if _, err := d.GetUser(ctx, actor, userID); err != nil {
		return nil, err
	}
	return d.Store.ListIdentityLinks(ctx, userID, p)
}
