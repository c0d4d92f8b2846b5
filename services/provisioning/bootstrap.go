package provisioning

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/iechor/sso/services/platform/sqlstore"
	"github.com/iechor/sso/services/provisioning/internal/directory"
	"github.com/iechor/sso/services/provisioning/internal/store"
)

// BootstrapRequest asks for the first company or organization and its owner.
type BootstrapRequest struct {
	// Company is the company's name (--company): its id is Slug(Company), its display name Company.
	Company string
	// Organization is the organization's name (--organization), in the company when one is given.
	Organization string
	// Plan is the organization's plan (--plan): free, team or business; business when empty.
	Plan string
	// OwnerEmail is the owner's email (--owner); the user is created when none has it.
	OwnerEmail string
	// OwnerName is the owner's full name, used only when the user is created.
	OwnerName string
}

// BootstrapResult is what exists after a bootstrap. Running it again returns the same names.
type BootstrapResult struct {
	Company                 string // companies/{c}, or ""
	CompanyDisplayName      string
	Organization            string // organizations/{o}, or ""
	OrganizationDisplayName string
	Plan                    string
	Owner                   string // users/{u}
	OwnerEmail              string
	OwnerUsername           string
	// Created lists what this run made, such as "user", "company", "company owner"; empty when
	// everything existed already.
	Created []string
}

// Slug is the id that bootstrap gives a name: lower-case, each run of other characters than letters
// and digits becomes a hyphen ("Acme Corp" is acme-corp).
func Slug(name string) string { return directory.Slug(name) }

// Bootstrap opens the store of cfg (applying migrations) and creates, idempotently, the owner user
// (by email) and a company with that user as owner, and/or an organization with that user as an
// OWNER member: in the company when both are given. It is what `ssod bootstrap` runs; it needs
// neither the domain service nor a running server.
func Bootstrap(ctx context.Context, cfg Config, req BootstrapRequest) (BootstrapResult, error) {
	db, err := sqlstore.Open(ctx, cfg.DatabaseURL.Reveal(), sqlstore.Options{})
	if err != nil {
		return BootstrapResult{}, err
	}
	defer db.Close()
	st, err := store.NewSQL(ctx, db)
	if err != nil {
		return BootstrapResult{}, fmt.Errorf("provisioning store: %w", err)
	}
	return bootstrap(ctx, st, req, directory.Truncate(time.Now()))
}

func bootstrap(ctx context.Context, st store.Store, req BootstrapRequest, now time.Time) (BootstrapResult, error) {
	companyID, orgID := Slug(req.Company), Slug(req.Organization)
	if req.Company == "" && req.Organization == "" {
		return BootstrapResult{}, errors.New("bootstrap needs --company NAME, --organization NAME, or both")
	}
	if req.Company != "" && directory.CheckID("company", companyID) != nil {
		return BootstrapResult{}, fmt.Errorf("company name %q gives no usable id: use letters and digits", req.Company)
	}
	if req.Organization != "" && directory.CheckID("organization", orgID) != nil {
		return BootstrapResult{}, fmt.Errorf("organization name %q gives no usable id: use letters and digits", req.Organization)
	}
	for field, v := range map[string]string{"company": req.Company, "organization": req.Organization} {
		if err := directory.CheckText(field, v, directory.MaxDisplayName); err != nil {
			return BootstrapResult{}, fmt.Errorf("%s name: %w", field, err)
		}
	}
	if err := directory.CheckText("owner name", req.OwnerName, directory.MaxFullName); err != nil {
		return BootstrapResult{}, err
	}
	plan := store.Plan(strings.ToLower(req.Plan))
	if plan == "" {
		plan = store.PlanBusiness
	}
	if directory.CheckPlan("plan", plan) != nil {
		return BootstrapResult{}, fmt.Errorf("plan %q: want free, team or business", req.Plan)
	}
	addr, err := directory.CheckEmail("owner", req.OwnerEmail)
	if err != nil {
		return BootstrapResult{}, fmt.Errorf("owner email %q is not a valid email address", req.OwnerEmail)
	}

	var res BootstrapResult
	err = directory.RunTx(ctx, st, func(tx store.Tx) error {
		res = BootstrapResult{}
		record := func(action, parent, resource string, details map[string]string) error {
			details["via"] = "bootstrap"
			_, err := directory.Record(ctx, tx, directory.System, now, directory.Event{Action: action, Parent: parent, Resource: resource, Details: details})
			return err
		}

		user, err := tx.GetUserByEmail(ctx, addr.Key)
		if errors.Is(err, store.ErrNotFound) {
			if user, err = directory.NewUser(ctx, tx, addr, req.OwnerName, "", now); err != nil {
				return err
			}
			res.Created = append(res.Created, "user")
			if err := record("user.create", "users/"+user.ID, "users/"+user.ID, map[string]string{"email": user.Email}); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
		res.Owner, res.OwnerEmail, res.OwnerUsername = "users/"+user.ID, user.Email, user.Username

		if req.Company != "" {
			c, err := tx.GetCompany(ctx, companyID)
			if errors.Is(err, store.ErrNotFound) {
				c = store.Company{ID: companyID, DisplayName: req.Company, CreateTime: now, UpdateTime: now}
				if err := tx.CreateCompany(ctx, c); err != nil {
					return err
				}
				res.Created = append(res.Created, "company")
				if err := record("company.create", "companies/"+c.ID, "companies/"+c.ID, map[string]string{"display_name": c.DisplayName}); err != nil {
					return err
				}
			} else if err != nil {
				return err
			}
			res.Company, res.CompanyDisplayName = "companies/"+c.ID, c.DisplayName
			if _, err := tx.GetCompanyOwner(ctx, c.ID, user.ID); errors.Is(err, store.ErrNotFound) {
				if err := tx.AddCompanyOwner(ctx, store.CompanyOwner{Company: c.ID, User: user.ID, CreateTime: now}); err != nil {
					return err
				}
				res.Created = append(res.Created, "company owner")
				if err := record("company.owner.add", "companies/"+c.ID, "companies/"+c.ID+"/owners/"+user.ID,
					map[string]string{"user": res.Owner}); err != nil {
					return err
				}
			} else if err != nil {
				return err
			}
		}

		if req.Organization != "" {
			o, err := tx.GetOrganization(ctx, orgID)
			if errors.Is(err, store.ErrNotFound) {
				o = store.Organization{ID: orgID, DisplayName: req.Organization, Company: companyID, Plan: plan, CreateTime: now, UpdateTime: now}
				if req.Company == "" {
					o.Company = ""
				}
				if err := tx.CreateOrganization(ctx, o); err != nil {
					return err
				}
				res.Created = append(res.Created, "organization")
				if err := record("organization.create", "organizations/"+o.ID, "organizations/"+o.ID,
					map[string]string{"display_name": o.DisplayName, "plan": string(o.Plan)}); err != nil {
					return err
				}
			} else if err != nil {
				return err
			} else if req.Company != "" && o.Company != companyID {
				return fmt.Errorf("organization %s exists outside company %s; an organization never moves between companies", o.ID, companyID)
			}
			res.Organization, res.OrganizationDisplayName, res.Plan = "organizations/"+o.ID, o.DisplayName, string(o.Plan)
			m, added, err := directory.Grant(ctx, tx, o.ID, user.ID, store.RoleOwner, now)
			if err != nil {
				return err
			}
			if added {
				res.Created = append(res.Created, "organization owner")
			} else if m.Role != store.RoleOwner {
				if err := tx.UpdateMembershipRole(ctx, o.ID, user.ID, store.RoleOwner); err != nil {
					return err
				}
				res.Created = append(res.Created, "organization owner role")
			}
			if added || m.Role != store.RoleOwner {
				if err := record("membership.create", "organizations/"+o.ID, "organizations/"+o.ID+"/members/"+user.ID,
					map[string]string{"user": res.Owner, "role": string(store.RoleOwner)}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return res, err
}

// Summary is what `ssod bootstrap` prints: what exists, and — given the REST edge's address (such as
// http://127.0.0.1:8080) and an access token of the owner — the first calls to make with curl.
func (r BootstrapResult) Summary(apiBase, token string) string {
	var b strings.Builder
	b.WriteString("iEchor SSO bootstrap\n")
	if r.Company != "" {
		fmt.Fprintf(&b, "  company:      %s (%q)\n", r.Company, r.CompanyDisplayName)
	}
	if r.Organization != "" {
		fmt.Fprintf(&b, "  organization: %s (%q, plan %s)\n", r.Organization, r.OrganizationDisplayName, r.Plan)
	}
	fmt.Fprintf(&b, "  owner:        %s (%s, username %s)\n", r.Owner, r.OwnerEmail, r.OwnerUsername)
	if len(r.Created) == 0 {
		b.WriteString("  created:      nothing; everything existed already\n")
	} else {
		fmt.Fprintf(&b, "  created:      %s\n", strings.Join(r.Created, ", "))
	}
	if apiBase != "" && token != "" {
		root := r.Company
		if root == "" {
			root = r.Organization
		}
		apiBase = strings.TrimRight(apiBase, "/")
		b.WriteString("An access token for the owner, for the first admin calls:\n")
		fmt.Fprintf(&b, "  export TOKEN=%s\n", token)
		fmt.Fprintf(&b, "  curl -H \"Authorization: Bearer $TOKEN\" %s/v1/%s\n", apiBase, root)
		if r.Company != "" {
			fmt.Fprintf(&b, "  curl -H \"Authorization: Bearer $TOKEN\" %s/v1/%s/organizations\n", apiBase, r.Company)
		}
		if r.Organization != "" {
			fmt.Fprintf(&b, "  curl -H \"Authorization: Bearer $TOKEN\" %s/v1/%s/members\n", apiBase, r.Organization)
		}
		fmt.Fprintf(&b, "  curl -H \"Authorization: Bearer $TOKEN\" %s/v1/%s/auditEvents\n", apiBase, root)
	}
	return b.String()
}
