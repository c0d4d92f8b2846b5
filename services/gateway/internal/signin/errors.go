package signin

import (
	"google.golang.org/grpc/codes"

	"github.com/iechor/sso/services/platform/rpcerror"
)

// The typed refusals of the sign-in endpoints.
var (
	ErrInvalidEmail        = rpcerror.New(codes.InvalidArgument, "INVALID_EMAIL", "Enter a work email address.")
	ErrInvalidClient       = rpcerror.New(codes.InvalidArgument, "INVALID_CLIENT", "The client type is missing or unknown.")
	ErrInvalidVersion      = rpcerror.New(codes.InvalidArgument, "INVALID_CLIENT_VERSION", "iEchor Desktop must send its version, such as 4.5.0.")
	ErrDesktopTooOld       = rpcerror.New(codes.FailedPrecondition, "DESKTOP_TOO_OLD", "")
	ErrUsePAT              = rpcerror.New(codes.FailedPrecondition, "USE_PERSONAL_ACCESS_TOKEN", "unauthorized: please use personal access token to login when SSO is enforced")
	ErrReturnToNotAllowed  = rpcerror.New(codes.InvalidArgument, "RETURN_TO_NOT_ALLOWED", "return_to is not an allowed address.")
	ErrInvalidChallenge    = rpcerror.New(codes.InvalidArgument, "INVALID_CODE_CHALLENGE", "code_challenge must be base64url(SHA-256(code_verifier)) without padding: 43 characters.")
	ErrChallengeMethod     = rpcerror.New(codes.InvalidArgument, "CODE_CHALLENGE_METHOD_UNSUPPORTED", "Only the S256 code challenge method is supported.")
	ErrNoConnection        = rpcerror.New(codes.NotFound, "NO_SSO_CONNECTION", "There is no SSO connection for this email's domain.")
	ErrConnectionNotFound  = rpcerror.New(codes.NotFound, "CONNECTION_NOT_FOUND", "That SSO connection does not serve this email's domain.")
	ErrConnectionInactive  = rpcerror.New(codes.FailedPrecondition, "CONNECTION_INACTIVE", "This SSO connection is still being set up; only its admins can test it.")
	ErrTestModeForbidden   = rpcerror.New(codes.PermissionDenied, "TEST_MODE_FORBIDDEN", "Test sign-ins are for the owners of the connection; sign in as one and send the access token.")
	ErrCodeInvalid         = rpcerror.New(codes.InvalidArgument, "CODE_INVALID", "The sign-in code is unknown, expired or already used. Sign in again.")
	ErrCodeVerifier        = rpcerror.New(codes.InvalidArgument, "CODE_VERIFIER_MISMATCH", "The code verifier does not match the code challenge of this sign-in. Sign in again.")
	ErrCodeBrowser         = rpcerror.New(codes.InvalidArgument, "BROWSER_MISMATCH", "This sign-in code belongs to another browser. Sign in again.")
	ErrRateLimited         = rpcerror.New(codes.ResourceExhausted, "RATE_LIMITED", "Too many sign-in attempts; wait a moment and try again.")
	ErrStoreUnavailable    = rpcerror.New(codes.Unavailable, "SIGN_IN_UNAVAILABLE", "Sign-in is unavailable right now; try again shortly.")
	ErrIntentUnknown       = rpcerror.New(codes.NotFound, "SIGN_IN_EXPIRED", "This sign-in link has expired or was already used. Start again.")
	ErrMissingConnectionID = rpcerror.New(codes.InvalidArgument, "INVALID_CONNECTION", "The connection in the address is not valid.")
)

// sessionLost is the seed product's wording for a sign-in whose session cannot be found.
const sessionLost = "We couldn't find your session. You may have pressed the back button, refreshed the page, " +
	"opened too many sign-in windows, or there is some issue with cookies. Try signing in again. " +
	"If the issue persists, contact your company administrator."
