package connection

import (
	"errors"
	"fmt"
	"strconv"

	"google.golang.org/grpc/codes"

	"github.com/iechor/sso/services/connection/internal/certs"
	"github.com/iechor/sso/services/connection/internal/mapping"
	"github.com/iechor/sso/services/connection/internal/metadata"
	"github.com/iechor/sso/services/connection/internal/ownership"
	"github.com/iechor/sso/services/connection/internal/policy"
	"github.com/iechor/sso/services/connection/internal/secureurl"
	"github.com/iechor/sso/services/connection/internal/store"
	"github.com/iechor/sso/services/platform/domainname"
	"github.com/iechor/sso/services/platform/paging"
	"github.com/iechor/sso/services/platform/resourcename"
	"github.com/iechor/sso/services/platform/rpcerror"
)

// The service's own validation failures. Each becomes one ErrorInfo reason in toStatus.
var (
	errMissing              = errors.New("this field is required")
	errDisplayName          = errors.New("the display name must be 1 to 200 printable characters")
	errType                 = errors.New("the type must be CONNECTION_TYPE_SAML or CONNECTION_TYPE_OIDC")
	errConfigMismatch       = errors.New("this configuration does not match the connection's type")
	errState                = errors.New("the state must be CONNECTION_STATE_DRAFT or CONNECTION_STATE_ACTIVE")
	errEntityID             = errors.New("the IdP entity id must be 1 to 1024 characters without spaces")
	errClockSkew            = errors.New("the clock skew must be between 0 and 180 seconds")
	errSessionMinutes       = fmt.Errorf("the default session length must be between 0 and %d minutes", maxSessionMinutes)
	errTooManyDomains       = fmt.Errorf("a connection covers at most %d domains", maxDomains)
	errTooManyOrganizations = fmt.Errorf("a connection covers at most %d organizations", maxOrganizations)
	errOrganizationName     = errors.New("an organization is named organizations/{organization}")
	errTeamName             = errors.New("a team is named organizations/{organization}/teams/{team}")
	errDefaultOrganization  = errors.New("the default organization must be one of the organizations the connection covers")
	errIncomplete           = errors.New("the connection cannot be active before this field is set")
	errMetadataConflict     = errors.New("give the IdP metadata as a document or as a URL, not both")
	errOIDCProvider         = errors.New("the OIDC provider must be OIDC_PROVIDER_ENTRA_ID or OIDC_PROVIDER_GENERIC")
	errClientID             = errors.New("the client id must be 1 to 512 characters without spaces")
	errClientSecret         = errors.New("the client secret must be at most 4096 characters")
	errTenant               = errors.New("the tenant must be a domain such as contoso.onmicrosoft.com or a tenant id")
	errScope                = errors.New("a scope is 1 to 128 printable characters without spaces or quotes; at most 20 scopes")
	errIssuerQuery          = errors.New("an OIDC issuer URL has no query")
	errMissingMask          = errors.New("name the fields to update in update_mask")
	errUnknownField         = errors.New("there is no such field")
	errNotUpdatable         = errors.New("this field cannot be changed")
	errNotApplicable        = errors.New("this field does not apply to a connection of this type")
	errOverlap              = fmt.Errorf("the overlap must be between 0 and %d hours", maxOverlapHours)
	errActor                = errors.New("the x-actor metadata must be 1 to 256 printable characters")
	errMethod               = errors.New("the sign-in method must be PASSWORD, SSO or PAT")
	errNotSAML              = errors.New("only a SAML connection has SP metadata")
	errConnectionID         = errors.New("not a connection id (conn_...) or name ({owner}/connections/{id})")
)

// fieldError names the request field at fault.
type fieldError struct {
	field string
	err   error
}

func (e *fieldError) Error() string { return e.field + ": " + e.err.Error() }
func (e *fieldError) Unwrap() error { return e.err }

func atField(field string, err error) error {
	if err == nil {
		return nil
	}
	return &fieldError{field: field, err: err}
}

type mapped struct {
	sentinel error
	code     codes.Code
	reason   string
	// detail sends the whole error message (it says something the admin can act on, such as the
	// status a metadata server answered) rather than the sentinel's.
	detail bool
}

var (
	inv = codes.InvalidArgument
	pre = codes.FailedPrecondition
)

// mappings are tried in order; the first sentinel the error wraps wins.
var mappings = []mapped{
	{store.ErrNotFound, codes.NotFound, "CONNECTION_NOT_FOUND", false},
	{store.ErrAlreadyExists, codes.AlreadyExists, "CONNECTION_ALREADY_EXISTS", false},
	{store.ErrConflict, codes.Aborted, "CONCURRENT_MODIFICATION", false},
	{resourcename.ErrInvalid, inv, "INVALID_NAME", true},
	{errConnectionID, inv, "INVALID_NAME", false},
	{paging.ErrBadToken, inv, "INVALID_PAGE_TOKEN", false},
	{paging.ErrBadSize, inv, "INVALID_PAGE_SIZE", false},
	{errMissing, inv, "MISSING_FIELD", false},
	{errDisplayName, inv, "INVALID_DISPLAY_NAME", false},
	{errType, inv, "INVALID_TYPE", false},
	{errConfigMismatch, inv, "CONFIG_DOES_NOT_MATCH_TYPE", false},
	{errState, inv, "INVALID_STATE", false},
	{errEntityID, inv, "INVALID_ENTITY_ID", false},
	{errClockSkew, inv, "INVALID_CLOCK_SKEW", false},
	{errSessionMinutes, inv, "INVALID_SESSION_MINUTES", false},
	{errTooManyDomains, inv, "TOO_MANY_DOMAINS", false},
	{errTooManyOrganizations, inv, "TOO_MANY_ORGANIZATIONS", false},
	{errOrganizationName, inv, "INVALID_ORGANIZATION", false},
	{errTeamName, inv, "INVALID_TEAM", false},
	{errDefaultOrganization, pre, "DEFAULT_ORGANIZATION_NOT_COVERED", false},
	{errIncomplete, pre, "CONNECTION_INCOMPLETE", false},
	{errMetadataConflict, inv, "METADATA_CONFLICT", false},
	{errOIDCProvider, inv, "INVALID_OIDC_PROVIDER", false},
	{errClientID, inv, "INVALID_CLIENT_ID", false},
	{errClientSecret, inv, "INVALID_CLIENT_SECRET", false},
	{errTenant, inv, "INVALID_TENANT", false},
	{errScope, inv, "INVALID_SCOPE", false},
	{errIssuerQuery, inv, "INVALID_URL", false},
	{errMissingMask, inv, "MISSING_UPDATE_MASK", false},
	{errUnknownField, inv, "UNKNOWN_FIELD", false},
	{errNotUpdatable, inv, "FIELD_NOT_UPDATABLE", false},
	{errNotApplicable, inv, "FIELD_NOT_APPLICABLE", false},
	{errOverlap, inv, "INVALID_OVERLAP", false},
	{errActor, inv, "INVALID_ACTOR", false},
	{errMethod, inv, "INVALID_SIGN_IN_METHOD", false},
	{errNotSAML, pre, "NOT_A_SAML_CONNECTION", false},
	{policy.ErrInvalidEmail, inv, "INVALID_EMAIL", false},
	{secureurl.ErrInsecure, inv, "INSECURE_URL", false},
	{secureurl.ErrInvalid, inv, "INVALID_URL", false},
	{certs.ErrAllExpired, inv, "CERTIFICATES_EXPIRED", false},
	{certs.ErrTooMany, inv, "TOO_MANY_CERTIFICATES", false},
	{certs.ErrInvalid, inv, "INVALID_CERTIFICATE", false},
	{certs.ErrUnsupportedKey, inv, "INVALID_CERTIFICATE", false},
	{metadata.ErrTooLarge, inv, "METADATA_TOO_LARGE", false},
	{metadata.ErrNotUTF8, inv, "METADATA_NOT_UTF8", false},
	{metadata.ErrDTD, inv, "METADATA_HAS_DTD", false},
	{metadata.ErrMalformed, inv, "METADATA_MALFORMED", false},
	{metadata.ErrNotMetadata, inv, "METADATA_MALFORMED", false},
	{metadata.ErrNoIDPDescriptor, inv, "METADATA_NO_IDP_DESCRIPTOR", false},
	{metadata.ErrMultipleIdPs, inv, "METADATA_MULTIPLE_IDPS", true},
	{metadata.ErrNoEntityID, inv, "METADATA_NO_ENTITY_ID", false},
	{metadata.ErrNoRedirectBinding, inv, "METADATA_NO_REDIRECT_BINDING", false},
	{metadata.ErrInsecureSSOURL, inv, "INSECURE_URL", false},
	{metadata.ErrNoSigningKey, inv, "METADATA_NO_SIGNING_KEY", false},
	{metadata.ErrBadCertificate, inv, "INVALID_CERTIFICATE", false},
	{metadata.ErrFetch, pre, "METADATA_FETCH_FAILED", true},
	{mapping.ErrInvalidName, inv, "INVALID_ATTRIBUTE_NAME", false},
	{ownership.ErrOwnerNotFound, pre, "OWNER_NOT_FOUND", false},
	{ownership.ErrPlanRequired, pre, "PLAN_REQUIRED", false},
	{ownership.ErrDomainNotVerified, pre, "DOMAIN_NOT_VERIFIED", false},
	{ownership.ErrOrganizationOutsideOwner, pre, "ORGANIZATION_OUTSIDE_OWNER", false},
	{ownership.ErrTeamOutsideOrganization, pre, "DEFAULT_TEAM_OUTSIDE_ORGANIZATION", false},
	{ownership.ErrDirectoryUnavailable, codes.Unavailable, "DIRECTORY_UNAVAILABLE", false},
	{ownership.ErrDomainServiceUnavailable, codes.Unavailable, "DOMAIN_SERVICE_UNAVAILABLE", false},
}

// fetchMessage is what the admin is told of a metadata URL that could not be fetched: the
// *metadata.FetchError's message, written in our words (what the server answered, or which way the
// network or the address check refused); never an error's text that could carry a library's words.
func fetchMessage(err error) string {
	var fe *metadata.FetchError
	if errors.As(err, &fe) {
		return fe.Error()
	}
	return metadata.ErrFetch.Error() + "."
}

var domainNameErrors = []error{
	domainname.ErrEmpty, domainname.ErrHasScheme, domainname.ErrHasPath, domainname.ErrWWWPrefix, domainname.ErrIPAddress,
	domainname.ErrSingleLabel, domainname.ErrPublicSuffix, domainname.ErrFreeEmailProvider, domainname.ErrMalformed,
}

// toStatus maps the errors of the connection service's packages to typed gRPC errors, naming the
// field at fault (from the error when it carries one, else field). Anything left is turned into
// INTERNAL by the server interceptor, which logs it.
func toStatus(err error, field string) error {
	if err == nil {
		return nil
	}
	var fe *fieldError
	if errors.As(err, &fe) {
		field = fe.field
	}
	withField := func(e *rpcerror.Error) *rpcerror.Error {
		if field != "" {
			e = e.With("field", field)
		}
		return e
	}
	for _, m := range mappings {
		if !errors.Is(err, m.sentinel) {
			continue
		}
		msg := m.sentinel.Error()
		switch {
		case m.sentinel == metadata.ErrFetch:
			msg = fetchMessage(err)
		case m.detail:
			msg = err.Error()
			if fe != nil {
				msg = fe.err.Error()
			}
		}
		e := withField(rpcerror.New(m.code, m.reason, msg))
		var multi *metadata.MultipleIdPsError
		if errors.As(err, &multi) {
			for i, id := range multi.EntityIDs {
				e = e.With("entity_id_"+strconv.Itoa(i), id)
			}
		}
		return e
	}
	for _, sentinel := range domainNameErrors {
		if errors.Is(err, sentinel) {
			return withField(rpcerror.New(inv, "INVALID_DOMAIN", "The domain is not valid: "+sentinel.Error()+"."))
		}
	}
	return err
}
