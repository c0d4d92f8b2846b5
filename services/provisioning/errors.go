package provisioning

import (
	"errors"

	"google.golang.org/grpc/codes"

	"github.com/iechor/sso/services/platform/paging"
	"github.com/iechor/sso/services/platform/rpcerror"
	"github.com/iechor/sso/services/provisioning/internal/directory"
	"github.com/iechor/sso/services/provisioning/internal/jit"
)

var (
	// errUnsupportedAction means CheckAccess was asked about an action it does not know.
	errUnsupportedAction = errors.New("unsupported action")
	// errTooManyNames means LookupTenancy was asked about more than maxTenancyNames names.
	errTooManyNames = errors.New("too many names")
)

// reasons maps every error the service's packages return on purpose to its typed gRPC form. The
// first match wins; no two entries match one error.
var reasons = []struct {
	err error
	rpc *rpcerror.Error
}{
	{directory.ErrCompanyNotFound, rpcerror.New(codes.NotFound, "COMPANY_NOT_FOUND", "No such company.")},
	{directory.ErrCompanyOwnerNotFound, rpcerror.New(codes.NotFound, "COMPANY_OWNER_NOT_FOUND", "This user does not own this company.")},
	{directory.ErrOrganizationNotFound, rpcerror.New(codes.NotFound, "ORGANIZATION_NOT_FOUND", "No such organization.")},
	{directory.ErrTeamNotFound, rpcerror.New(codes.NotFound, "TEAM_NOT_FOUND", "No such team.")},
	{directory.ErrUserNotFound, rpcerror.New(codes.NotFound, "USER_NOT_FOUND", "No such user.")},
	{directory.ErrMembershipNotFound, rpcerror.New(codes.NotFound, "MEMBERSHIP_NOT_FOUND", "This user is not a member of this organization.")},
	{directory.ErrTeamMemberNotFound, rpcerror.New(codes.NotFound, "TEAM_MEMBER_NOT_FOUND", "This user is not a member of this team.")},
	{directory.ErrInvitationNotFound, rpcerror.New(codes.NotFound, "INVITATION_NOT_FOUND", "No such invitation.")},

	{directory.ErrCompanyExists, rpcerror.New(codes.AlreadyExists, "COMPANY_ALREADY_EXISTS", "A company with this id already exists.")},
	{directory.ErrOrganizationExists, rpcerror.New(codes.AlreadyExists, "ORGANIZATION_ALREADY_EXISTS", "An organization with this id already exists.")},
	{directory.ErrTeamExists, rpcerror.New(codes.AlreadyExists, "TEAM_ALREADY_EXISTS", "A team with this id already exists in this organization.")},
	{directory.ErrEmailTaken, rpcerror.New(codes.AlreadyExists, "EMAIL_ALREADY_USED", "Another user has this email address.")},
	{directory.ErrUsernameTaken, rpcerror.New(codes.AlreadyExists, "USERNAME_TAKEN", "Another user has this username.")},
	{directory.ErrAlreadyOwner, rpcerror.New(codes.AlreadyExists, "ALREADY_COMPANY_OWNER", "This user already owns this company.")},
	{directory.ErrAlreadyMember, rpcerror.New(codes.AlreadyExists, "ALREADY_A_MEMBER", "This user is already a member of this organization.")},
	{directory.ErrAlreadyTeamMember, rpcerror.New(codes.AlreadyExists, "ALREADY_A_TEAM_MEMBER", "This user is already a member of this team.")},
	{directory.ErrInvitationPending, rpcerror.New(codes.AlreadyExists, "INVITATION_ALREADY_PENDING", "An invitation for this email is already pending in this organization.")},

	{directory.ErrCompanyHasOrganizations, rpcerror.New(codes.FailedPrecondition, "COMPANY_HAS_ORGANIZATIONS",
		"The company still has organizations. Delete them, or keep the company.")},
	{directory.ErrLastOwner, rpcerror.New(codes.FailedPrecondition, "LAST_OWNER",
		"This is the last owner: add another owner first, so that someone can still manage it.")},
	{directory.ErrNotMember, rpcerror.New(codes.FailedPrecondition, "NOT_A_MEMBER", "Only members of the organization can join its teams.")},
	{directory.ErrSeatLimitBelowUsage, rpcerror.New(codes.FailedPrecondition, "SEAT_LIMIT_BELOW_USAGE",
		"The organization has more members than this seat limit. Remove members first.")},
	{directory.ErrNoSeats, rpcerror.New(codes.FailedPrecondition, "NO_SEATS", "Not enough seats in the organization.")},
	{directory.ErrConflict, rpcerror.New(codes.Aborted, "CONCURRENT_CHANGE", "Concurrent changes collided with this one. Try again.")},

	{directory.ErrInvalidID, rpcerror.New(codes.InvalidArgument, "INVALID_ID", "An id is 1 to 63 lower-case letters, digits, hyphens and underscores, starting and ending with a letter or digit.")},
	{directory.ErrInvalidName, rpcerror.New(codes.InvalidArgument, "INVALID_NAME", "The resource name is not valid.")},
	{directory.ErrInvalidEmail, rpcerror.New(codes.InvalidArgument, "INVALID_EMAIL", "The email address is not valid.")},
	{directory.ErrTooLong, rpcerror.New(codes.InvalidArgument, "VALUE_TOO_LONG", "The value is too long.")},
	{directory.ErrInvalidText, rpcerror.New(codes.InvalidArgument, "INVALID_TEXT", "The value holds control characters or is not valid UTF-8.")},
	{directory.ErrInvalidUsername, rpcerror.New(codes.InvalidArgument, "INVALID_USERNAME", "A username is 4 to 30 lower-case letters and digits.")},
	{directory.ErrInvalidRole, rpcerror.New(codes.InvalidArgument, "INVALID_ROLE", "The role must be member, editor or owner.")},
	{directory.ErrInvalidPlan, rpcerror.New(codes.InvalidArgument, "INVALID_PLAN", "The plan must be free, team or business.")},
	{directory.ErrInvalidSeatLimit, rpcerror.New(codes.InvalidArgument, "INVALID_SEAT_LIMIT", "The seat limit must be between 0 (no limit) and 1000000.")},
	{directory.ErrImmutable, rpcerror.New(codes.InvalidArgument, "IMMUTABLE_FIELD", "This field cannot change after creation.")},
	{directory.ErrInvalidUpdateMask, rpcerror.New(codes.InvalidArgument, "INVALID_UPDATE_MASK", "The update mask names a field that cannot be updated.")},
	{directory.ErrRequired, rpcerror.New(codes.InvalidArgument, "MISSING_FIELD", "A required field is missing.")},
	{directory.ErrInvalidActor, rpcerror.New(codes.InvalidArgument, "INVALID_ACTOR", "The actor must be users/{id}, service:{name} or system.")},
	{directory.ErrInvalidAction, rpcerror.New(codes.InvalidArgument, "INVALID_ACTION", "The action must be dotted lower-case words, such as connection.update.")},
	{directory.ErrTooManyDetails, rpcerror.New(codes.InvalidArgument, "TOO_MANY_DETAILS", "An audit event has at most 50 details.")},
	{directory.ErrEmailAndUser, rpcerror.New(codes.InvalidArgument, "EMAIL_AND_USER", "Invite an email or a user, not both.")},
	{errUnsupportedAction, rpcerror.New(codes.InvalidArgument, "UNSUPPORTED_ACTION", "The action is not one that access can be checked for.")},
	{errTooManyNames, rpcerror.New(codes.InvalidArgument, "TOO_MANY_NAMES", "At most 100 names may be looked up at once.")},

	{jit.ErrNotAssigned, rpcerror.New(codes.PermissionDenied, "USER_NOT_ASSIGNED", "The user is not assigned to this SSO organization.")},
	{jit.ErrDomainNotVerified, rpcerror.New(codes.PermissionDenied, "EMAIL_DOMAIN_NOT_VERIFIED",
		"The email's domain is not verified by the connection's owner.")},
	{jit.ErrDomainCheckUnavailable, rpcerror.New(codes.Unavailable, "DOMAIN_CHECK_UNAVAILABLE",
		"The email's domain could not be checked. Try again shortly.")},
	{jit.ErrConnectionOwnerMismatch, rpcerror.New(codes.InvalidArgument, "CONNECTION_OWNER_MISMATCH",
		"The connection does not belong to the owner in the settings.")},
	{jit.ErrUnknownOwner, rpcerror.New(codes.FailedPrecondition, "UNKNOWN_OWNER", "The connection's owner does not exist.")},
	{jit.ErrUnknownOrganization, rpcerror.New(codes.FailedPrecondition, "UNKNOWN_ORGANIZATION", "An organization of the connection does not exist.")},
	{jit.ErrOrganizationOutsideOwner, rpcerror.New(codes.PermissionDenied, "ORGANIZATION_OUTSIDE_OWNER",
		"An organization of the connection is outside the connection's owner.")},
	{jit.ErrDefaultTeamOutsideDefaultOrganization, rpcerror.New(codes.InvalidArgument, "DEFAULT_TEAM_OUTSIDE_DEFAULT_ORGANIZATION",
		"The default team must be in the default organization.")},
	{jit.ErrTooManyGroups, rpcerror.New(codes.InvalidArgument, "TOO_MANY_GROUPS", "The identity has more than 1000 groups.")},
	{jit.ErrInvalidSessionMinutes, rpcerror.New(codes.InvalidArgument, "INVALID_SESSION_MINUTES",
		"iechorSessionMinutes must be between 0 and 43200 (30 days).")},

	{paging.ErrBadToken, rpcerror.New(codes.InvalidArgument, "INVALID_PAGE_TOKEN", "The page token is not valid for this query.")},
	{paging.ErrBadSize, rpcerror.New(codes.InvalidArgument, "INVALID_PAGE_SIZE", "The page size must not be negative.")},
}

// userMessager is an error whose message is written for the person who will read it.
type userMessager interface{ UserMessage() string }

// toStatus maps the errors of the service's packages to typed gRPC errors, naming the field at fault
// in the metadata; the server interceptor turns anything left into INTERNAL.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	for _, r := range reasons {
		if !errors.Is(err, r.err) {
			continue
		}
		e := r.rpc
		var um userMessager
		if errors.As(err, &um) {
			e = e.WithMessage("%s", um.UserMessage())
		}
		var fe *directory.FieldError
		if errors.As(err, &fe) {
			e = e.With("field", fe.Field)
		}
		return e
	}
	return err
}
