package signin

import (
	"net/http"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/iechor/sso/services/platform/rpcerror"
)

func TestAnOutageOrATimeoutAsksThePersonToTryAgain(t *testing.T) {
	for _, err := range []error{
		rpcerror.StoreUnavailable,
		rpcerror.Generic(codes.DeadlineExceeded),
	} {
		status, body := renderedPage(t, err)
		if status != http.StatusServiceUnavailable || !strings.Contains(body, "Try again") || strings.Contains(body, "administrator") {
			t.Errorf("%v: %d\n%s", err, status, body)
		}
	}
}
