// Package domainlookup asks the domain service, over gRPC, which owner verified the domain of an
// email. Provisioning uses it to check again, before it writes anything, that the connection's owner
// verified the domain of the email it is about to provision. It fails closed: an answer it cannot
// get is an error, never a yes.
package domainlookup

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	domainv1 "github.com/iechor/sso/gen/iechor/sso/domain/v1"
	"github.com/iechor/sso/services/platform/rpcerror"
	"github.com/iechor/sso/services/provisioning/internal/jit"
)

// Client implements jit.DomainOwners on the domain service.
type Client struct {
	domains domainv1.DomainInternalServiceClient
	timeout time.Duration
}

// New returns a client on conn; each lookup gets at most timeout.
func New(conn grpc.ClientConnInterface, timeout time.Duration) *Client {
	return &Client{domains: domainv1.NewDomainInternalServiceClient(conn), timeout: timeout}
}

// VerifiedOwner returns the owner that verified the email's domain. The domain service's NOT_FOUND
// (nobody verified it) and INVALID_ARGUMENT (a domain that cannot be verified, such as a free email
// provider's) both mean "not verified"; anything else means the answer could not be had.
func (c *Client) VerifiedOwner(ctx context.Context, email string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	resp, err := c.domains.LookupDomain(ctx, &domainv1.LookupDomainRequest{Query: &domainv1.LookupDomainRequest_Email{Email: email}})
	if err == nil {
		return resp.GetOwner(), nil
	}
	code, reason, _ := rpcerror.Info(err)
	switch code {
	case codes.NotFound, codes.InvalidArgument:
		return "", fmt.Errorf("%w (%s)", jit.ErrDomainNotVerified, reason)
	}
	return "", fmt.Errorf("%w: %v", jit.ErrDomainCheckUnavailable, err)
}
