package signin

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/iechor/sso/services/platform/logging"
	"github.com/iechor/sso/services/platform/rpcerror"
)

func renderedPage(t *testing.T, err error) (int, string) {
	t.Helper()
	r := httptest.NewRequest("POST", "/saml/conn_x/acs", nil)
	r = r.WithContext(logging.WithRequestID(r.Context(), "req-7"))
	rec := httptest.NewRecorder()
	renderError(rec, r, err)
	return rec.Code, rec.Body.String()
}

func TestFailurePagesSayWhatAPersonCanActOn(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		status int
		shows  string
		hides  string
	}{
		{"a lost session uses the product's wording", rpcerror.New(codes.PermissionDenied, "RELAY_STATE_UNKNOWN", "internal detail"),
			http.StatusForbidden, "We couldn&#39;t find your session", "internal detail"},
		{"a failure written for people is shown as it is", rpcerror.New(codes.PermissionDenied, "USER_NOT_ASSIGNED",
			"User 'Jane' is not assigned to this SSO organization. Contact your administrator."),
			http.StatusForbidden, "User &#39;Jane&#39; is not assigned", ""},
		{"a connection that is not SAML says so", rpcerror.New(codes.FailedPrecondition, "NOT_A_SAML_CONNECTION", "This connection does not use SAML."),
			http.StatusBadRequest, "This connection does not use SAML.", ""},
		{"any other check failure is generic", rpcerror.New(codes.PermissionDenied, "BAD_AUDIENCE", "Audience: wanted x, got y").
			With("check", "Audience of the Assertion"), http.StatusForbidden, "Contact your company administrator", "Audience of the Assertion"},
		{"a test sign-in shows the check for the admin", rpcerror.New(codes.PermissionDenied, "BAD_AUDIENCE", "m").
			With("check", "Audience of the Assertion").With("test_mode", "true"), http.StatusForbidden, "Audience of the Assertion", ""},
		{"an unavailable service asks to retry", rpcerror.New(codes.Unavailable, "EPHEMERAL_STORE_UNAVAILABLE", "redis down"),
			http.StatusServiceUnavailable, "Try again in a moment", "redis"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := renderedPage(t, tc.err)
			if status != tc.status || !strings.Contains(body, tc.shows) || !strings.Contains(body, "req-7") ||
				(tc.hides != "" && strings.Contains(body, tc.hides)) {
				t.Fatalf("%d\n%s", status, body)
			}
		})
	}
}
