package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/iechor/sso/services/platform/rpcerror"
)

// Every error the edge sends is a google.rpc.Status with an ErrorInfo reason, in words of ours:
// either a service's typed error, passed through, or one of the edge's own. What a library wrote
// (grpc-go's transport and marshalling errors, grpc-gateway's parsing errors, Go's) is logged with
// the request id and replaced by the generic error of its code, which keeps the class.

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
	http.StatusInternalServerError:   codes.Internal,
	http.StatusServiceUnavailable:    codes.Unavailable,
	http.StatusGatewayTimeout:        codes.DeadlineExceeded,
}

func codeOf(httpStatus int) codes.Code {
	if c, ok := httpCodes[httpStatus]; ok {
		return c
	}
	return codes.Unknown
}

// writeError writes a google.rpc.Status JSON body with an ErrorInfo reason.
func writeError(w http.ResponseWriter, r *http.Request, httpStatus int, reason, message string) {
	writeStatus(w, r, httpStatus, rpcerror.New(codeOf(httpStatus), reason, message))
}

// writeStatus writes e as a google.rpc.Status JSON body.
func writeStatus(w http.ResponseWriter, _ *http.Request, httpStatus int, e *rpcerror.Error) {
	body, err := protojson.Marshal(e.GRPCStatus().Proto())
	if err != nil {
		httpStatus = http.StatusInternalServerError
		body, _ = protojson.Marshal(rpcerror.Internal.GRPCStatus().Proto())
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(httpStatus)
	_, _ = w.Write(body)
}

// errorWithReason is grpc-gateway's error handler: a typed error (a service's, or the in-process
// sign-in service's) passes through; anything else is logged and replaced, in rpcerror.ToStatus,
// by a typed error of the same class.
func (g *Gateway) errorWithReason(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	var out error
	var hse *runtime.HTTPStatusError
	if errors.As(err, &hse) {
		// grpc-gateway's own refusal of a path, such as a malformed escape.
		out = rpcerror.Generic(codeOf(hse.HTTPStatus))
		g.log.InfoContext(ctx, "request refused by the router", "path", r.URL.Path, "err", err)
	} else {
		var logCause bool
		out, logCause = rpcerror.ToStatus(err)
		if logCause {
			code, reason, _ := rpcerror.Info(out)
			level := slog.LevelWarn
			if code == codes.Internal {
				level = slog.LevelError
			}
			g.log.Log(ctx, level, "request failed", "path", r.URL.Path, "code", code.String(), "reason", reason, "err", err)
		}
	}
	// A rate-limited caller learns when to come back, in the header HTTP clients know. (Every other
	// 503 and 504 gets a Retry-After from withRetryAfter.)
	if _, _, md := rpcerror.Info(out); md["retry_after_seconds"] != "" {
		w.Header().Set("Retry-After", md["retry_after_seconds"])
	}
	runtime.DefaultHTTPErrorHandler(ctx, mux, m, w, r, out)
}
