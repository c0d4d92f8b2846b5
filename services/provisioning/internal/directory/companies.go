package directory

import (
	"context"
	"errors"

	"github.com/iechor/sso/services/platform/callmeta"
	"github.com/iechor/sso/services/platform/resourcename"
	"github.com/iechor/sso/services/provisioning/internal/store"
)

func companyName(id string) string { return "companies/" + id }

// CreateCompany creates a company. When the actor is a user, that user becomes its first owner.
func (d *Directory) CreateCompany(ctx context.Context, actor Actor, id, displayName string) (store.Company, error) {
	if err := CheckID("company_id", id); err != nil {
		return store.Company{}, err
	}
	if err := CheckText("company.display_name", displayName, MaxDisplayName); err != nil {
		return store.Company{}, err
	}
	if displayName == "" {
		displayName = id
	}
	now := d.now()
	c := store.Company{ID: id, DisplayName: displayName, CreateTime: now, UpdateTime: now}
	err := RunTx(ctx, d.Store, func(tx store.Tx) error {
		if err := tx.CreateCompany(ctx, c); err != nil {
			if errors.Is(err, store.ErrAlreadyExists) {
				return Field("company_id", ErrCompanyExists)
			}
			return err
		}
		details := map[string]string{"display_name": displayName}
		if u := actor.User(); u != "" {
			if err := tx.AddCompanyOwner(ctx, store.CompanyOwner{Company: id, User: u, CreateTime: now}); err != nil {
				return Field(callmeta.ActorKey, orMissing(missingAsNotFound(err), ErrUserNotFound))
			}
			details["owner"] = string(actor)
		}
		_, err := Record(ctx, tx, actor, now, Event{Action: "company.create", Parent: companyName(id), Resource: companyName(id), Details: details})
		return err
	})
	return c, err
}

// missingAsNotFound reads a reference to a missing row as the row not being found.
func missingAsNotFound(err error) error {
	if errors.Is(err, store.ErrMissingReference) {
		return store.ErrNotFound
	}
	return err
}

// GetCompany returns a company.
func (d *Directory) GetCompany(ctx context.Context, id string) (store.Company, error) {
	c, err := d.Store.GetCompany(ctx, id)
	return c, orMissing(err, ErrCompanyNotFound)
}

// CompanyUpdate holds the fields to change; nil leaves a field as it is.
type CompanyUpdate struct {
	DisplayName *string
}

// UpdateCompany changes a company.
func (d *Directory) UpdateCompany(ctx context.Context, actor Actor, id string, u CompanyUpdate) (store.Company, error) {
	if u.DisplayName != nil {
		if err := CheckText("company.display_name", *u.DisplayName, MaxDisplayName); err != nil {
			return store.Company{}, err
		}
	}
	var c store.Company
	err := RunTx(ctx, d.Store, func(tx store.Tx) error {
		var err error
		if c, err = tx.LockCompany(ctx, id); err != nil {
			return orMissing(err, ErrCompanyNotFound)
		}
		details := map[string]string{}
		if u.DisplayName != nil && *u.DisplayName != c.DisplayName {
			details["display_name"] = *u.DisplayName
			c.DisplayName = *u.DisplayName
			if c.DisplayName == "" {
				c.DisplayName = id
			}
		}
		if len(details) == 0 {
			return nil
		}
		c.UpdateTime = d.now()
		if err := tx.UpdateCompany(ctx, c); err != nil {
			return err
		}
		_, err = Record(ctx, tx, actor, c.UpdateTime, Event{Action: "company.update", Parent: companyName(id), Resource: companyName(id), Details: details})
		return err
	})
	return c, err
}

// DeleteCompany deletes a company and its ownerships. A company that still has organizations is
// refused rather than cascaded: deleting the organizations, with their members, is a separate and
// deliberate act for each.
func (d *Directory) DeleteCompany(ctx context.Context, actor Actor, id string) error {
	return RunTx(ctx, d.Store, func(tx store.Tx) error {
		if _, err := tx.LockCompany(ctx, id); err != nil {
			return orMissing(err, ErrCompanyNotFound)
		}
		if err := tx.DeleteCompany(ctx, id); err != nil {
			if errors.Is(err, store.ErrReferenced) {
				return ErrCompanyHasOrganizations
			}
			return orMissing(err, ErrCompanyNotFound)
		}
		_, err := Record(ctx, tx, actor, d.now(), Event{Action: "company.delete", Parent: companyName(id), Resource: companyName(id)})
		return err
	})
}

// AddCompanyOwner makes a user an owner of a company. A person adds only users already in the
// company (see checkInReach).
func (d *Directory) AddCompanyOwner(ctx context.Context, actor Actor, companyID, userID string) (store.CompanyOwner, error) {
	now := d.now()
	var o store.CompanyOwner
	err := RunTx(ctx, d.Store, func(tx store.Tx) error {
		if _, err := tx.GetCompany(ctx, companyID); err != nil {
			return orMissing(err, ErrCompanyNotFound)
		}
		if _, err := tx.GetUser(ctx, userID); err != nil {
			return Field("user", orMissing(err, ErrUserNotFound))
		}
		if err := checkInReach(ctx, tx, actor, "user", userID, resourcename.Owner{Kind: resourcename.Companies, ID: companyID}); err != nil {
			return err
		}
		if err := tx.AddCompanyOwner(ctx, store.CompanyOwner{Company: companyID, User: userID, CreateTime: now}); err != nil {
			if errors.Is(err, store.ErrAlreadyExists) {
				return Field("user", ErrAlreadyOwner)
			}
			return err
		}
		var err error
		if o, err = tx.GetCompanyOwner(ctx, companyID, userID); err != nil {
			return err
		}
		_, err = Record(ctx, tx, actor, now, Event{Action: "company.owner.add", Parent: companyName(companyID),
			Resource: companyName(companyID) + "/owners/" + userID, Details: map[string]string{"user": "users/" + userID}})
		return err
	})
	return o, err
}

// ListCompanyOwners returns a page of a company's owners, by user id.
func (d *Directory) ListCompanyOwners(ctx context.Context, companyID string, p store.Page) ([]store.CompanyOwner, error) {
	if _, err := d.GetCompany(ctx, companyID); err != nil {
		return nil, err
	}
	return d.Store.ListCompanyOwners(ctx, companyID, p)
}

// RemoveCompanyOwner removes an owner from a company; the last owner stays, so that someone can
// always manage it.
func (d *Directory) RemoveCompanyOwner(ctx context.Context, actor Actor, companyID, userID string) error {
	return RunTx(ctx, d.Store, func(tx store.Tx) error {
		if _, err := tx.LockCompany(ctx, companyID); err != nil {
			return orMissing(err, ErrCompanyNotFound)
		}
		if _, err := tx.GetCompanyOwner(ctx, companyID, userID); err != nil {
			return orMissing(err, ErrCompanyOwnerNotFound)
		}
		n, err := tx.CountCompanyOwners(ctx, companyID)
		if err != nil {
			return err
		}
		if n <= 1 {
			return ErrLastOwner
		}
		if err := tx.RemoveCompanyOwner(ctx, companyID, userID); err != nil {
			return orMissing(err, ErrCompanyOwnerNotFound)
		}
		_, err = Record(ctx, tx, actor, d.now(), Event{Action: "company.owner.remove", Parent: companyName(companyID),
			Resource: companyName(companyID) + "/owners/" + userID, Details: map[string]string{"user": "users/" + userID}})
		return err
	})
}
