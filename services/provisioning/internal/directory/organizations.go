package directory

import (
	"context"
	"errors"
	"strconv"

	"github.com/iechor/sso/services/platform/callmeta"
	"github.com/iechor/sso/services/provisioning/internal/store"
)

func orgName(id string) string { return "organizations/" + id }

// OrganizationInput is a new organization.
type OrganizationInput struct {
	DisplayName string
	Company     string // company id, or ""
	Plan        store.Plan
	SeatLimit   int
}

// CreateOrganization creates an organization. When the actor is a user and the organization stands
// alone, that user becomes its first owner (taking a seat); in a company, the company's owners
// already manage it.
func (d *Directory) CreateOrganization(ctx context.Context, actor Actor, id string, in OrganizationInput) (store.Organization, error) {
	if err := CheckID("organization_id", id); err != nil {
		return store.Organization{}, err
	}
	if err := CheckText("organization.display_name", in.DisplayName, MaxDisplayName); err != nil {
		return store.Organization{}, err
	}
	if in.Plan == "" {
		in.Plan = store.PlanFree
	}
	if err := CheckPlan("organization.plan", in.Plan); err != nil {
		return store.Organization{}, err
	}
	if err := CheckSeatLimit("organization.seat_limit", in.SeatLimit); err != nil {
		return store.Organization{}, err
	}
	if in.DisplayName == "" {
		in.DisplayName = id
	}
	now := d.now()
	o := store.Organization{ID: id, DisplayName: in.DisplayName, Company: in.Company, Plan: in.Plan, SeatLimit: in.SeatLimit,
		CreateTime: now, UpdateTime: now}
	err := RunTx(ctx, d.Store, func(tx store.Tx) error {
		if in.Company != "" {
			if _, err := tx.GetCompany(ctx, in.Company); err != nil {
				return Field("organization.company", orMissing(err, ErrCompanyNotFound))
			}
		}
		if err := tx.CreateOrganization(ctx, o); err != nil {
			if errors.Is(err, store.ErrAlreadyExists) {
				return Field("organization_id", ErrOrganizationExists)
			}
			return err
		}
		details := map[string]string{"display_name": o.DisplayName, "plan": string(o.Plan), "seat_limit": strconv.Itoa(o.SeatLimit)}
		if o.Company != "" {
			details["company"] = companyName(o.Company)
		}
		if u := actor.User(); u != "" && o.Company == "" {
			if _, err := tx.GetUser(ctx, u); err != nil {
				return Field(callmeta.ActorKey, orMissing(err, ErrUserNotFound))
			}
			if _, _, err := Grant(ctx, tx, id, u, store.RoleOwner, now); err != nil {
				return err
			}
			details["owner"] = string(actor)
		}
		var err error
		if o, err = tx.GetOrganization(ctx, id); err != nil {
			return err
		}
		_, err = Record(ctx, tx, actor, now, Event{Action: "organization.create", Parent: orgName(id), Company: o.Company,
			Resource: orgName(id), Details: details})
		return err
	})
	return o, err
}

// GetOrganization returns an organization with its seat count.
func (d *Directory) GetOrganization(ctx context.Context, id string) (store.Organization, error) {
	o, err := d.Store.GetOrganization(ctx, id)
	return o, orMissing(err, ErrOrganizationNotFound)
}

// ListOrganizations returns a page of a company's organizations, by id.
func (d *Directory) ListOrganizations(ctx context.Context, companyID string, p store.Page) ([]store.Organization, error) {
	if _, err := d.GetCompany(ctx, companyID); err != nil {
		return nil, err
	}
	return d.Store.ListOrganizations(ctx, companyID, p)
}

// OrganizationUpdate holds the fields to change; nil leaves a field as it is. Company may be given
// only unchanged: an organization never moves between companies.
type OrganizationUpdate struct {
	DisplayName *string
	Company     *string
	Plan        *store.Plan
	SeatLimit   *int
}

// UpdateOrganization changes an organization. A seat limit below the members it has is refused:
// lowering it would not remove anyone, and the organization would be over its limit.
func (d *Directory) UpdateOrganization(ctx context.Context, actor Actor, id string, u OrganizationUpdate) (store.Organization, error) {
	if u.DisplayName != nil {
		if err := CheckText("organization.display_name", *u.DisplayName, MaxDisplayName); err != nil {
			return store.Organization{}, err
		}
	}
	if u.Plan != nil {
		if err := CheckPlan("organization.plan", *u.Plan); err != nil {
			return store.Organization{}, err
		}
	}
	if u.SeatLimit != nil {
		if err := CheckSeatLimit("organization.seat_limit", *u.SeatLimit); err != nil {
			return store.Organization{}, err
		}
	}
	var o store.Organization
	err := RunTx(ctx, d.Store, func(tx store.Tx) error {
		var err error
		if o, err = tx.LockOrganization(ctx, id); err != nil {
			return orMissing(err, ErrOrganizationNotFound)
		}
		if u.Company != nil && *u.Company != o.Company {
			return Field("organization.company", ErrImmutable)
		}
		details := map[string]string{}
		if u.DisplayName != nil && *u.DisplayName != o.DisplayName {
			o.DisplayName = *u.DisplayName
			if o.DisplayName == "" {
				o.DisplayName = id
			}
			details["display_name"] = o.DisplayName
		}
		if u.Plan != nil && *u.Plan != o.Plan {
			o.Plan = *u.Plan
			details["plan"] = string(o.Plan)
		}
		if u.SeatLimit != nil && *u.SeatLimit != o.SeatLimit {
			if *u.SeatLimit > 0 && *u.SeatLimit < o.SeatsUsed {
				return Field("organization.seat_limit", ErrSeatLimitBelowUsage)
			}
			o.SeatLimit = *u.SeatLimit
			details["seat_limit"] = strconv.Itoa(o.SeatLimit)
		}
		if len(details) == 0 {
			return nil
		}
		o.UpdateTime = d.now()
		if err := tx.UpdateOrganization(ctx, o); err != nil {
			return err
		}
		_, err = Record(ctx, tx, actor, o.UpdateTime, Event{Action: "organization.update", Parent: orgName(id), Company: o.Company,
			Resource: orgName(id), Details: details})
		return err
	})
	return o, err
}

// DeleteOrganization deletes an organization with its teams, memberships and invitations. Its audit
// log stays.
func (d *Directory) DeleteOrganization(ctx context.Context, actor Actor, id string) error {
	return RunTx(ctx, d.Store, func(tx store.Tx) error {
		o, err := tx.LockOrganization(ctx, id)
		if err != nil {
			return orMissing(err, ErrOrganizationNotFound)
		}
		if err := tx.DeleteOrganization(ctx, id); err != nil {
			return orMissing(err, ErrOrganizationNotFound)
		}
		_, err = Record(ctx, tx, actor, d.now(), Event{Action: "organization.delete", Parent: orgName(id), Company: o.Company,
			Resource: orgName(id), Details: map[string]string{"members_removed": strconv.Itoa(o.SeatsUsed)}})
		return err
	})
}
