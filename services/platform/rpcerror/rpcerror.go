// Package rpcerror is the one place where errors become gRPC statuses.
//
// Services describe a failure as an *Error: a gRPC code, a reason that clients switch on (sent as
// google.rpc.ErrorInfo), a message a person can read, and optional metadata. Each service maps its
// own sentinel errors to *Error in one function; the server interceptor then passes *Error through
// and turns anything else into INTERNAL with a generic message, logging the cause, so that internal
// details never reach the wire.
package rpcerror

import (
	"context"
	"errors"
	"fmt"
	"maps"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
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

// ToStatus turns err into the error a gRPC handler returns: *Error and existing status errors pass
// through, context errors become CANCELED or DEADLINE_EXCEEDED, and anything else becomes Internal.
// The second result reports whether err was unexpected, so that the caller logs its cause.
func ToStatus(err error) (error, bool) {
	if err == nil {
		return nil, false
	}
	var e *Error
	if errors.As(err, &e) {
		return e, false
	}
	if _, ok := status.FromError(err); ok {
		return err, false
	}
	switch {
	case errors.Is(err, context.Canceled):
		return New(codes.Canceled, "CANCELED", "the request was canceled"), false
	case errors.Is(err, context.DeadlineExceeded):
		return New(codes.DeadlineExceeded, "DEADLINE_EXCEEDED", "the request ran out of time"), false
	}
	return Internal, true
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
