// Package rpcerror is the one place where errors become gRPC statuses.
//
// Services describe a failure as an *Error: a gRPC code, a reason that clients switch on (sent as
// google.rpc.ErrorInfo), a message a person can read, and optional metadata. Each service maps its
// own sentinel errors to *Error in one function; the server interceptor then passes *Error through
// and turns anything else into a typed error of ours, logging the cause, so that internal details
// never reach the wire. Failures that every service shares are mapped here once: a database that
// cannot serve is UNAVAILABLE (STORE_UNAVAILABLE), never INTERNAL.
//
// Nothing here may put a cause's text (a driver's, a library's, another service's untyped message)
// into a message that leaves the process.
package rpcerror

import (
	"context"
	"errors"
	"fmt"
	"maps"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/iechor/sso/services/platform/sqlstore/storeerr"
)

// Domain is the ErrorInfo domain of every reason this suite sends.
const Domain = "sso.iechor.com"

// Error is a typed failure that knows its gRPC form.
type Error struct {
	Code     codes.Code
	Reason   string
	Message  string
	Metadata map[string]string
}

// New returns an error with a code, a reason (UPPER_SNAKE_CASE) and a message.
func New(code codes.Code, reason, message string) *Error {
	return &Error{Code: code, Reason: reason, Message: message}
}

// Newf is New with a formatted message.
func Newf(code codes.Code, reason, format string, args ...any) *Error {
	return New(code, reason, fmt.Sprintf(format, args...))
}

// With returns a copy of e with the metadata key set to value.
func (e *Error) With(key, value string) *Error {
	c := *e
	c.Metadata = maps.Clone(e.Metadata)
	if c.Metadata == nil {
		c.Metadata = map[string]string{}
	}
	c.Metadata[key] = value
	return &c
}

// WithMessage returns a copy of e with another message, keeping code, reason and metadata.
func (e *Error) WithMessage(format string, args ...any) *Error {
	c := *e
	c.Message = fmt.Sprintf(format, args...)
	return &c
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s (%s)", e.Code, e.Message, e.Reason)
}

// Is reports whether target is an *Error with the same code and reason, so that errors.Is matches
// a sentinel even when the message or metadata differ.
func (e *Error) Is(target error) bool {
	var t *Error
	if !errors.As(target, &t) {
		return false
	}
	return t.Code == e.Code && t.Reason == e.Reason
}

// GRPCStatus makes *Error a status error for grpc-go and grpc-gateway.
func (e *Error) GRPCStatus() *status.Status {
	st := status.New(e.Code, e.Message)
	info := &errdetails.ErrorInfo{Reason: e.Reason, Domain: Domain, Metadata: e.Metadata}
	if withInfo, err := st.WithDetails(info); err == nil {
		return withInfo
	}
	return st
}

// Internal is the error sent for anything a service did not describe.
var Internal = New(codes.Internal, "INTERNAL", "internal error; the request id in the response locates it in the logs")

// StoreUnavailable is the error of every call that failed because the service's database could not
// be reached or could not serve (sqlstore.ErrUnavailable): an outage, so UNAVAILABLE, never
// INTERNAL. The edge adds Retry-After.
var StoreUnavailable = New(codes.Unavailable, "STORE_UNAVAILABLE", "The service's data store cannot be reached right now; try again shortly.")

// generic are the errors sent for a status that carries no ErrorInfo: one raised by a library
// (grpc-go, grpc-gateway) or passed up from another service untyped. Its code is kept, because the
// class is still true; its message, written by the library, is not.
var generic = map[codes.Code]*Error{
	codes.Canceled:           New(codes.Canceled, "CANCELED", "The request was canceled."),
	codes.Unknown:            Internal,
	codes.InvalidArgument:    New(codes.InvalidArgument, "INVALID_REQUEST", "The request is not valid for this call."),
	codes.DeadlineExceeded:   New(codes.DeadlineExceeded, "DEADLINE_EXCEEDED", "The request ran out of time; try again shortly."),
	codes.NotFound:           New(codes.NotFound, "NOT_FOUND", "No such resource."),
	codes.AlreadyExists:      New(codes.AlreadyExists, "ALREADY_EXISTS", "The resource already exists."),
	codes.PermissionDenied:   New(codes.PermissionDenied, "PERMISSION_DENIED", "This call is not allowed."),
	codes.ResourceExhausted:  New(codes.ResourceExhausted, "RESOURCE_EXHAUSTED", "The request is too large or too frequent; try again later."),
	codes.FailedPrecondition: New(codes.FailedPrecondition, "FAILED_PRECONDITION", "The resource is not in a state that allows this call."),
	codes.Aborted:            New(codes.Aborted, "ABORTED", "The request collided with another change; try again."),
	codes.OutOfRange:         New(codes.OutOfRange, "OUT_OF_RANGE", "A value is out of range."),
	codes.Unimplemented:      New(codes.Unimplemented, "UNIMPLEMENTED", "This call is not implemented."),
	codes.Internal:           Internal,
	codes.Unavailable:        New(codes.Unavailable, "SERVICE_UNAVAILABLE", "A service is unavailable; try again shortly."),
	codes.DataLoss:           Internal,
	codes.Unauthenticated:    New(codes.Unauthenticated, "UNAUTHENTICATED", "The request carries no valid credentials."),
}

// Generic returns the typed error sent in place of an untyped status of code: the same class, a
// reason and a message of ours.
func Generic(code codes.Code) *Error {
	if e, ok := generic[code]; ok {
		return e
	}
	return Internal
}

// ToStatus turns err into the error a gRPC handler returns:
//   - an *Error, and a status that carries an ErrorInfo reason, pass through;
//   - a database that cannot serve (sqlstore.ErrUnavailable) becomes StoreUnavailable;
//   - a status without ErrorInfo (a library's, or another service's passed up untyped) keeps its
//     code and gets the generic reason and message of that code;
//   - context errors become CANCELED or DEADLINE_EXCEEDED;
//   - anything else becomes Internal.
//
// The second result reports whether the caller must log err's cause: it was not an error the
// service described (a bug), or it is an outage whose cause the operator needs.
func ToStatus(err error) (error, bool) {
	if err == nil {
		return nil, false
	}
	var e *Error
	if errors.As(err, &e) {
		return e, false
	}
	if errors.Is(err, storeerr.ErrUnavailable) {
		return StoreUnavailable, true
	}
	if st, ok := status.FromError(err); ok {
		if reasonOf(st) != "" {
			return err, false
		}
		return Generic(st.Code()), true
	}
	switch {
	case errors.Is(err, context.Canceled):
		return Generic(codes.Canceled), false
	case errors.Is(err, context.DeadlineExceeded):
		return Generic(codes.DeadlineExceeded), false
	}
	return Internal, true
}

func reasonOf(st *status.Status) string {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	return ""
}

// Info returns the code, the ErrorInfo reason and the metadata of an error received from a gRPC call
// (or of an *Error); reason is "" when the status carries no ErrorInfo.
func Info(err error) (code codes.Code, reason string, metadata map[string]string) {
	if err == nil {
		return codes.OK, "", nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code, e.Reason, e.Metadata
	}
	st, ok := status.FromError(err)
	if !ok {
		return codes.Unknown, "", nil
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return st.Code(), info.GetReason(), info.GetMetadata()
		}
	}
	return st.Code(), "", nil
}

// Reason returns the ErrorInfo reason of err, or "".
func Reason(err error) string {
	_, r, _ := Info(err)
	return r
}

// FieldViolation is a convenience for INVALID_ARGUMENT naming the field at fault.
func FieldViolation(reason, field, message string) *Error {
	return New(codes.InvalidArgument, reason, message).With("field", field)
}
