// Package ownership checks, through the domain and provisioning services, that a connection's owner
// may have it and owns what it covers: the owner exists (an organization outside any company on the
// business plan), every domain is verified by the owner, every organization belongs to the owner, and
// the default team is in the default organization.
//
// A refusal never says who else verified a domain or owns an organization. When a peer cannot be
// reached the check fails as unavailable: nothing is accepted unchecked.
package ownership

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	domainv1 "github.com/iechor/sso/gen/iechor/sso/domain/v1"
	provisioningv1 "github.com/iechor/sso/gen/iechor/sso/provisioning/v1"
	"github.com/iechor/sso/services/platform/resourcename"
)

var (
	// ErrOwnerNotFound means the company or organization does not exist.
	ErrOwnerNotFound = errors.New("the owner does not exist")
	// ErrPlanRequired means an organization outside any company is not on the business plan.
	ErrPlanRequired = errors.New("SSO connections need the business plan for an organization outside a company")
	// ErrDomainNotVerified means the owner has not verified the domain (nobody has, or someone else has).
	ErrDomainNotVerified = errors.New("the domain is not verified by this owner; add and verify it first")
	// ErrOrganizationOutsideOwner means the organization does not exist or does not belong to the owner.
	ErrOrganizationOutsideOwner = errors.New("the organization does not belong to the connection's owner")
	// ErrTeamOutsideOrganization means the team does not exist in the default organization.
	ErrTeamOutsideOrganization = errors.New("the default team must be a team of the default organization")
	// ErrDirectoryUnavailable means provisioning could not be asked.
	ErrDirectoryUnavailable = errors.New("the directory (provisioning service) is unavailable")
	// ErrDomainServiceUnavailable means the domain service could not be asked.
	ErrDomainServiceUnavailable = errors.New("the domain service is unavailable")
)

// IndexError says which item of a list failed.
type IndexError struct {
	Index int
	Err   error
}

func (e *IndexError) Error() string { return fmt.Sprintf("item %d: %v", e.Index, e.Err) }
func (e *IndexError) Unwrap() error { return e.Err }

// Directory is the part of provisioning's internal service the checks use.
type Directory interface {
	LookupTenancy(ctx context.Context, in *provisioningv1.LookupTenancyRequest, opts ...grpc.CallOption) (*provisioningv1.LookupTenancyResponse, error)
}

// Domains is the part of the domain service's internal service the checks use.
type Domains interface {
	LookupDomain(ctx context.Context, in *domainv1.LookupDomainRequest, opts ...grpc.CallOption) (*domainv1.LookupDomainResponse, error)
}

// Checker asks the peers.
type Checker struct {
	Directory Directory
	Domains   Domains
	// Timeout bounds each call.
	Timeout time.Duration
}

func (c *Checker) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.Timeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, c.Timeout)
}

// peerError turns a peer's failure into notFound for NOT_FOUND, unavailable for transport trouble,
// and a wrapped internal error otherwise.
func peerError(err, notFound, unavailable error) error {
	switch status.Code(err) {
	case codes.NotFound:
		return notFound
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Aborted:
		return fmt.Errorf("%w: %v", unavailable, err)
	}
	return fmt.Errorf("peer call failed: %w", err)
}

// Owner checks that the owner exists and, for an organization outside any company, that it is on the
// business plan. An organization inside a company may hold its own connections on the company's
// plan.
func (c *Checker) Owner(ctx context.Context, owner resourcename.Owner) error {
	entries, err := c.lookup(ctx, []string{owner.String()})
	if err != nil {
		return err
	}
	e := entries[0]
	switch {
	case !e.GetExists():
		return ErrOwnerNotFound
	case owner.Kind == resourcename.Organizations && e.GetCompany() == "" && e.GetPlan() != provisioningv1.Plan_PLAN_BUSINESS:
		return ErrPlanRequired
	}
	return nil
}

// lookup asks the directory about names, one entry per name in their order. A directory that
// cannot answer is ErrDirectoryUnavailable; an answer that does not fit the question is an error.
func (c *Checker) lookup(ctx context.Context, names []string) ([]*provisioningv1.TenancyEntry, error) {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	resp, err := c.Directory.LookupTenancy(ctx, &provisioningv1.LookupTenancyRequest{Names: names})
	if err != nil {
		// The directory answers a name it does not know with exists: false, never NOT_FOUND.
		return nil, peerError(err, fmt.Errorf("peer call failed: %w", err), ErrDirectoryUnavailable)
	}
	entries := resp.GetEntries()
	if len(entries) != len(names) {
		return nil, fmt.Errorf("the directory answered %d entries for %d names", len(entries), len(names))
	}
	for i, e := range entries {
		if e.GetName() != names[i] {
			return nil, fmt.Errorf("the directory answered %q for %q", e.GetName(), names[i])
		}
	}
	return entries, nil
}

// DomainsVerified checks that owner verified each domain; indexes[i] is the position of domains[i]
// in the request, which the error names.
func (c *Checker) DomainsVerified(ctx context.Context, owner string, domains []string, indexes []int) error {
	for i, d := range domains {
		cctx, cancel := c.ctx(ctx)
		resp, err := c.Domains.LookupDomain(cctx, &domainv1.LookupDomainRequest{Query: &domainv1.LookupDomainRequest_DomainName{DomainName: d}})
		cancel()
		if err != nil {
			if code := status.Code(err); code == codes.InvalidArgument {
				err = ErrDomainNotVerified
			} else {
				err = peerError(err, ErrDomainNotVerified, ErrDomainServiceUnavailable)
			}
			return &IndexError{Index: indexes[i], Err: err}
		}
		if resp.GetOwner() != owner {
			return &IndexError{Index: indexes[i], Err: ErrDomainNotVerified}
		}
	}
	return nil
}

// Organizations checks that each organization belongs to owner: to the company for a company owner,
// or is the owner itself for an organization owner.
func (c *Checker) Organizations(ctx context.Context, owner resourcename.Owner, orgs []string) error {
	if owner.Kind == resourcename.Organizations {
		for i, name := range orgs {
			if name != owner.String() {
				return &IndexError{Index: i, Err: ErrOrganizationOutsideOwner}
			}
		}
		return nil
	}
	if len(orgs) == 0 {
		return nil
	}
	entries, err := c.lookup(ctx, orgs)
	if err != nil {
		return err
	}
	for i, e := range entries {
		if !e.GetExists() || e.GetCompany() != owner.String() {
			return &IndexError{Index: i, Err: ErrOrganizationOutsideOwner}
		}
	}
	return nil
}

// Team checks that team (organizations/{o}/teams/{t}) exists and is in org.
func (c *Checker) Team(ctx context.Context, team, org string) error {
	if !strings.HasPrefix(team, org+"/teams/") {
		return ErrTeamOutsideOrganization
	}
	entries, err := c.lookup(ctx, []string{team})
	if err != nil {
		return err
	}
	if !entries[0].GetExists() {
		return ErrTeamOutsideOrganization
	}
	return nil
}
