package gateway

import (
	"context"
	"net/http"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	grpcstatus "google.golang.org/grpc/status"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/iechor/sso/services/platform/rpcerror"
)

// httpCodes maps the HTTP statuses the edge produces itself to gRPC codes, so that every JSON error
// has the google.rpc.Status shape of the errors grpc-gateway forwards.
var httpCodes = map[int]codes.Code{
	http.StatusBadRequest:            codes.InvalidArgument,
	http.StatusUnauthorized:          codes.Unauthenticated,
	http.StatusForbidden:             codes.PermissionDenied,
	http.StatusNotFound:              codes.NotFound,
	http.StatusMethodNotAllowed:      codes.Unimplemented,
	http.StatusRequestEntityTooLarge: codes.InvalidArgument,
	http.StatusTooManyRequests:       codes.ResourceExhausted,
	http.StatusServiceUnavailable:    codes.Unavailable,
}

// writeError writes a google.rpc.Status JSON body with an ErrorInfo reason.
func writeError(w http.ResponseWriter, r *http.Request, httpStatus int, reason, message string) {
	code, ok := httpCodes[httpStatus]
	if !ok {
		code = codes.Unknown
	}
	info, _ := anypb.New(&errdetails.ErrorInfo{Reason: reason, Domain: rpcerror.Domain})
	body, _ := protojson.Marshal(&status.Status{Code: int32(code), Message: message, Details: []*anypb.Any{info}})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(httpStatus)
	_, _ = w.Write(body)
}

// errorWithReason is grpc-gateway's error handler with one addition: errors that the edge itself
// produces (a body that is not valid JSON for the message, a service that cannot be reached) carry
// no ErrorInfo, so one is added, so that every error a client sees has a reason to switch on.
func (g *Gateway) errorWithReason(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	// A rate-limited caller learns when to come back, in the header HTTP clients know.
	if _, _, md := rpcerror.Info(err); md["retry_after_seconds"] != "" {
		w.Header().Set("Retry-After", md["retry_after_seconds"])
	}
	st := grpcstatus.Convert(err)
	if rpcerror.Reason(err) == "" {
		reason, message := "REQUEST_FAILED", st.Message()
		switch st.Code() {
		case codes.InvalidArgument:
			reason = "INVALID_REQUEST_BODY"
		case codes.Unavailable:
			// The transport's message names internal addresses: log it, do not send it.
			reason, message = "SERVICE_UNAVAILABLE", "A service behind the edge is unavailable; try again shortly."
			g.log.WarnContext(ctx, "backend unavailable", "path", r.URL.Path, "err", st.Message())
		case codes.DeadlineExceeded:
			reason = "DEADLINE_EXCEEDED"
		case codes.Canceled:
			reason = "CANCELED"
		}
		err = rpcerror.New(st.Code(), reason, message)
	}
	runtime.DefaultHTTPErrorHandler(ctx, mux, m, w, r, err)
}
