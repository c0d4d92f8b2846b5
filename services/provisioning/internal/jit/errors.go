package jit

import (
	"errors"
	"fmt"
)

// Errors of provisioning; the service maps each to a gRPC status with an ErrorInfo reason.
var (
	// ErrNotAssigned means JIT is off and the person is neither a member nor invited.
	ErrNotAssigned = errors.New("user not assigned")
	// ErrDomainNotVerified means the connection's owner has not verified the email's domain.
	ErrDomainNotVerified = errors.New("email domain not verified by the connection's owner")
	// ErrDomainCheckUnavailable means the domain service could not answer; provisioning fails
	// closed.
	ErrDomainCheckUnavailable = errors.New("domain check unavailable")

	ErrConnectionOwnerMismatch               = errors.New("connection does not belong to the settings' owner")
	ErrUnknownOwner                          = errors.New("owner does not exist")
	ErrUnknownOrganization                   = errors.New("organization does not exist")
	ErrOrganizationOutsideOwner              = errors.New("organization is outside the connection's owner")
	ErrDefaultTeamOutsideDefaultOrganization = errors.New("default team is not in the default organization")
	ErrTooManyGroups                         = errors.New("too many groups")
	ErrInvalidSessionMinutes                 = errors.New("session minutes out of range")
)

// NotAssignedError is ErrNotAssigned with the person's name, which they read on the sign-in page.
type NotAssignedError struct {
	Name string // full name, else email
}

func (e *NotAssignedError) Error() string {
	return fmt.Sprintf("User '%s' is not assigned to this SSO organization. Contact your administrator.", e.Name)
}

// UserMessage is what the person sees: the message is written for them.
func (e *NotAssignedError) UserMessage() string { return e.Error() }

func (e *NotAssignedError) Is(target error) bool { return target == ErrNotAssigned }
