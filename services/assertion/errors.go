package assertion

import (
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"

	assertionv1 "github.com/iechor/sso/gen/iechor/sso/assertion/v1"
	"github.com/iechor/sso/services/assertion/internal/authnrequest"
	"github.com/iechor/sso/services/assertion/internal/connections"
	"github.com/iechor/sso/services/assertion/internal/failure"
	"github.com/iechor/sso/services/assertion/internal/relaystate"
	"github.com/iechor/sso/services/platform/ephemeral"
	"github.com/iechor/sso/services/platform/paging"
	"github.com/iechor/sso/services/platform/resourcename"
	"github.com/iechor/sso/services/platform/rpcerror"
)

// The typed errors of the assertion service other than validation failures, by ErrorInfo reason.
var (
	ErrConnectionNotFound = rpcerror.New(codes.NotFound, "CONNECTION_NOT_FOUND", "No such connection.")
	ErrNotSAML            = rpcerror.New(codes.FailedPrecondition, "NOT_A_SAML_CONNECTION", "This connection does not use SAML.")
	ErrMisconfigured      = rpcerror.New(codes.FailedPrecondition, "CONNECTION_MISCONFIGURED",
		"The connection's configuration cannot run a sign-in; the admin must correct it.")
	ErrConnectionInactive = rpcerror.New(codes.FailedPrecondition, string(failure.ConnectionInactive),
		"This connection is still a draft: only an admin's test sign-in can use it.")
	ErrConnectionServiceUnavailable = rpcerror.New(codes.Unavailable, "CONNECTION_SERVICE_UNAVAILABLE",
		"Sign-in is unavailable right now; try again shortly.")
	ErrEphemeralUnavailable = rpcerror.New(codes.Unavailable, "EPHEMERAL_STORE_UNAVAILABLE",
		"Sign-in is unavailable right now; try again shortly.")
	ErrMissingField     = rpcerror.New(codes.InvalidArgument, "MISSING_FIELD", "A required field is empty.")
	ErrInvalidField     = rpcerror.New(codes.InvalidArgument, "INVALID_FIELD", "A field's value is not valid.")
	ErrFlowDataTooLarge = rpcerror.New(codes.InvalidArgument, "FLOW_DATA_TOO_LARGE", "The flow data exceeds 4 KiB.")
	ErrInvalidName      = rpcerror.New(codes.InvalidArgument, "INVALID_NAME", "The resource name is not valid.")
	ErrInvalidPageToken = rpcerror.New(codes.InvalidArgument, "INVALID_PAGE_TOKEN", "The page token is not valid for this query.")
	ErrInvalidPageSize  = rpcerror.New(codes.InvalidArgument, "INVALID_PAGE_SIZE", "The page size must not be negative.")
)

// genericFailure is what a person signing in outside test mode is told: the details are for admins.
const genericFailure = "Sign-in failed. Give your company administrator this reference: %s."

// failureCode is the gRPC code of a validation failure: the message was malformed, the connection
// is not ready, or (everything else) the response does not grant a sign-in.
func failureCode(r failure.Reason) codes.Code {
	switch r {
	case failure.MalformedXML, failure.ResponseTooLarge:
		return codes.InvalidArgument
	case failure.ConnectionInactive:
		return codes.FailedPrecondition
	}
	return codes.PermissionDenied
}

// failureField names the request field a failure is about: the relay state, the browser, the
// connection, or (for every check of the message itself) the given field.
func failureField(r failure.Reason, field string) string {
	switch r {
	case failure.RelayStateUnknown, failure.WrongConnection:
		return "relay_state"
	case failure.BrowserMismatch:
		return "browser_binding"
	case failure.ConnectionInactive:
		return "connection_id"
	}
	return field
}

var fixByProto = map[failure.FixBy]assertionv1.FixBy{
	failure.IdPAdmin: assertionv1.FixBy_FIX_BY_IDP_ADMIN,
	failure.IEchor:   assertionv1.FixBy_FIX_BY_IECHOR,
	failure.User:     assertionv1.FixBy_FIX_BY_USER,
}

// attemptInfo is what a validation error carries besides its cause.
type attemptInfo struct {
	id       string
	testMode bool
}

// toStatus maps the errors of the assertion service's packages to typed gRPC errors; field names
// the request field at fault, and attempt, when not nil, the recorded sign-in attempt. The server
// interceptor turns anything left into INTERNAL.
func toStatus(err error, field string, attempt *attemptInfo) error {
	if err == nil {
		return nil
	}
	var (
		f   *failure.Error
		mis *connections.MisconfiguredError
		out *rpcerror.Error
	)
	switch {
	case errors.As(err, &f):
		msg := f.Message
		switch {
		case msg != "":
		case attempt != nil && attempt.testMode:
			msg = f.Check + ": wanted " + quote(f.Wanted) + ", got " + quote(f.Got) + "."
		case attempt != nil:
			msg = fmt.Sprintf(genericFailure, attempt.id)
		default:
			msg = "Sign-in failed."
		}
		out = rpcerror.New(failureCode(f.Reason), string(f.Reason), msg).
			With("check", f.Check).With("wanted", f.Wanted).With("got", f.Got).With("fix_by", fixByProto[f.FixBy].String()).
			With("field", failureField(f.Reason, field))
	case errors.Is(err, ephemeral.ErrUnavailable):
		out = ErrEphemeralUnavailable
	case errors.Is(err, connections.ErrNotFound):
		return ErrConnectionNotFound.With("field", field)
	case errors.Is(err, connections.ErrNotSAML):
		return ErrNotSAML.With("field", field)
	case errors.Is(err, connections.ErrUnavailable):
		out = ErrConnectionServiceUnavailable
	case errors.As(err, &mis):
		out = ErrMisconfigured.With("field", mis.Field).With("problem", mis.Problem)
	case errors.Is(err, authnrequest.ErrBadDestination):
		out = ErrMisconfigured.With("field", "idp_sso_url").With("problem", err.Error())
	case errors.Is(err, relaystate.ErrFlowDataTooLarge):
		return ErrFlowDataTooLarge.With("field", "flow_data")
	case errors.Is(err, resourcename.ErrInvalid):
		return ErrInvalidName.WithMessage("%s", err.Error()).With("field", field)
	case errors.Is(err, paging.ErrBadToken):
		return ErrInvalidPageToken.With("field", "page_token")
	case errors.Is(err, paging.ErrBadSize):
		return ErrInvalidPageSize.With("field", "page_size")
	default:
		return err
	}
	if attempt != nil {
		out = out.With("attempt_id", attempt.id)
		if attempt.testMode {
			out = out.With("test_mode", "true")
		} else {
			out = out.With("test_mode", "false")
		}
	}
	return out
}

func quote(s string) string {
	if s == "" {
		return "nothing"
	}
	return "“" + s + "”"
}
