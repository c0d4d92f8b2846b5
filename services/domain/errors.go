package domain

import (
	"errors"
	"strconv"

	"google.golang.org/grpc/codes"

	"github.com/iechor/sso/services/domain/internal/store"
	"github.com/iechor/sso/services/domain/internal/verification"
	"github.com/iechor/sso/services/platform/domainname"
	"github.com/iechor/sso/services/platform/paging"
	"github.com/iechor/sso/services/platform/resourcename"
	"github.com/iechor/sso/services/platform/rpcerror"
)

// The typed errors of the domain service, by ErrorInfo reason.
var (
	ErrDomainNotFound      = rpcerror.New(codes.NotFound, "DOMAIN_NOT_FOUND", "No such domain.")
	ErrDomainNotVerified   = rpcerror.New(codes.NotFound, "DOMAIN_NOT_VERIFIED", "No owner has verified this domain.")
	ErrDomainAlreadyExists = rpcerror.New(codes.AlreadyExists, "DOMAIN_ALREADY_EXISTS", "This domain has already been added.")
	ErrDomainClaimed       = rpcerror.New(codes.FailedPrecondition, "DOMAIN_CLAIMED",
		"This domain has been verified by another account. Contact support if you believe you own it.")
	ErrInvalidName      = rpcerror.New(codes.InvalidArgument, "INVALID_NAME", "The resource name is not valid.")
	ErrInvalidPageToken = rpcerror.New(codes.InvalidArgument, "INVALID_PAGE_TOKEN", "The page token is not valid for this query.")
	ErrInvalidPageSize  = rpcerror.New(codes.InvalidArgument, "INVALID_PAGE_SIZE", "The page size must not be negative.")
	ErrMissingQuery     = rpcerror.New(codes.InvalidArgument, "MISSING_QUERY", "Give an email or a domain name.")
)

var normalizeReasons = map[error]string{
	domainname.ErrEmpty:             "DOMAIN_EMPTY",
	domainname.ErrHasScheme:         "DOMAIN_HAS_SCHEME",
	domainname.ErrHasPath:           "DOMAIN_HAS_PATH",
	domainname.ErrWWWPrefix:         "DOMAIN_WWW_PREFIX",
	domainname.ErrIPAddress:         "DOMAIN_IS_IP_ADDRESS",
	domainname.ErrSingleLabel:       "DOMAIN_SINGLE_LABEL",
	domainname.ErrPublicSuffix:      "DOMAIN_PUBLIC_SUFFIX",
	domainname.ErrFreeEmailProvider: "DOMAIN_FREE_EMAIL_PROVIDER",
	domainname.ErrMalformed:         "DOMAIN_MALFORMED",
}

// DNS failures: the admin can fix the first three; the last three are transient.
var failureErrors = map[store.Outcome]*rpcerror.Error{
	store.OutcomeNXDomain:            rpcerror.New(codes.FailedPrecondition, "DNS_NXDOMAIN", ""),
	store.OutcomeNoTXTRecords:        rpcerror.New(codes.FailedPrecondition, "DNS_NO_TXT_RECORDS", ""),
	store.OutcomeValueMismatch:       rpcerror.New(codes.FailedPrecondition, "DNS_VALUE_MISMATCH", ""),
	store.OutcomeResolverUnreachable: rpcerror.New(codes.Unavailable, "DNS_RESOLVER_UNREACHABLE", ""),
	store.OutcomeTimeout:             rpcerror.New(codes.Unavailable, "DNS_TIMEOUT", ""),
	store.OutcomeResolverError:       rpcerror.New(codes.Unavailable, "DNS_RESOLVER_ERROR", ""),
}

// toStatus maps the errors of the domain service's packages to typed gRPC errors; the server
// interceptor turns anything left into INTERNAL.
func toStatus(err error, field string) error {
	if err == nil {
		return nil
	}
	var failure *verification.Failure
	switch {
	case errors.Is(err, store.ErrNotFound):
		return ErrDomainNotFound
	case errors.Is(err, store.ErrAlreadyExists):
		return ErrDomainAlreadyExists
	case errors.Is(err, store.ErrClaimed):
		return ErrDomainClaimed
	case errors.Is(err, resourcename.ErrInvalid):
		return ErrInvalidName.WithMessage("%s", err.Error()).With("field", field)
	case errors.Is(err, paging.ErrBadToken):
		return ErrInvalidPageToken.With("field", "page_token")
	case errors.Is(err, paging.ErrBadSize):
		return ErrInvalidPageSize.With("field", "page_size")
	case errors.As(err, &failure):
		e, ok := failureErrors[failure.Outcome]
		if !ok {
			return err
		}
		e = e.WithMessage("%s", failure.Detail)
		for i, v := range failure.Found {
			e = e.With("found_"+strconv.Itoa(i), v)
		}
		return e
	}
	for sentinel, reason := range normalizeReasons {
		if errors.Is(err, sentinel) {
			return rpcerror.FieldViolation(reason, field, "The domain is not valid: "+sentinel.Error()+".")
		}
	}
	return err
}
