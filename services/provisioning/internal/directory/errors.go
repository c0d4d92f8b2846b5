package directory

import (
	"errors"
	"fmt"
)

// Sentinel errors of the directory. The service maps each to a gRPC status with an ErrorInfo reason
// in one place; the messages here are for logs and tests.
var (
	ErrCompanyNotFound      = errors.New("company not found")
	ErrCompanyOwnerNotFound = errors.New("company owner not found")
	ErrOrganizationNotFound = errors.New("organization not found")
	ErrTeamNotFound         = errors.New("team not found")
	ErrUserNotFound         = errors.New("user not found")
	ErrMembershipNotFound   = errors.New("membership not found")
	ErrTeamMemberNotFound   = errors.New("team member not found")
	ErrInvitationNotFound   = errors.New("invitation not found")

	ErrCompanyExists      = errors.New("company already exists")
	ErrOrganizationExists = errors.New("organization already exists")
	ErrTeamExists         = errors.New("team already exists")
	ErrEmailTaken         = errors.New("email already used by another user")
	ErrUsernameTaken      = errors.New("username already taken")
	ErrAlreadyOwner       = errors.New("user already owns the company")
	ErrAlreadyMember      = errors.New("user is already a member of the organization")
	ErrAlreadyTeamMember  = errors.New("user is already a member of the team")
	ErrInvitationPending  = errors.New("an invitation is already pending for this email")

	ErrCompanyHasOrganizations = errors.New("company still has organizations")
	ErrLastOwner               = errors.New("would remove the last owner")
	ErrNotMember               = errors.New("user is not a member of the organization")
	ErrSeatLimitBelowUsage     = errors.New("seat limit below the seats in use")
	ErrNoSeats                 = errors.New("no seats left")
	// ErrConflict means concurrent changes kept colliding with this one; the caller may try again.
	ErrConflict = errors.New("concurrent change")

	ErrInvalidID         = errors.New("invalid id: 1 to 63 lower-case letters, digits, hyphens and underscores")
	ErrInvalidName       = errors.New("invalid resource name")
	ErrInvalidEmail      = errors.New("invalid email address")
	ErrTooLong           = errors.New("value too long")
	ErrInvalidText       = errors.New("value holds control characters or invalid UTF-8")
	ErrInvalidUsername   = errors.New("invalid username: 4 to 30 lower-case letters and digits")
	ErrInvalidRole       = errors.New("invalid role: member, editor or owner")
	ErrInvalidPlan       = errors.New("invalid plan: free, team or business")
	ErrInvalidSeatLimit  = errors.New("invalid seat limit")
	ErrImmutable         = errors.New("field cannot change")
	ErrInvalidUpdateMask = errors.New("invalid update mask")
	ErrRequired          = errors.New("required field missing")
	ErrInvalidActor      = errors.New(`invalid actor: users/{id}, service:{name} or system`)
	ErrInvalidAction     = errors.New("invalid action: dotted lower-case words such as connection.update")
	ErrTooManyDetails    = errors.New("too many details")
	ErrEmailAndUser      = errors.New("an invitation names an email or a user, not both")
)

// FieldError names the request field that an error is about.
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

// Field wraps err with the name of the field at fault, such as "organization.seat_limit".
func Field(field string, err error) error { return &FieldError{Field: field, Err: err} }

// NoSeatsError is ErrNoSeats with the organization's name, which the person signing in or the admin
// reads.
type NoSeatsError struct {
	Organization string // display name, else id
}

func (e *NoSeatsError) Error() string {
	return fmt.Sprintf("Not enough seats in organization '%s'. Add more seats or contact your administrator.", e.Organization)
}

// UserMessage is what the person sees: the message is written for them.
func (e *NoSeatsError) UserMessage() string { return e.Error() }

func (e *NoSeatsError) Is(target error) bool { return target == ErrNoSeats }
