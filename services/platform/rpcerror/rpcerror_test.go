package rpcerror_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/iechor/sso/services/platform/rpcerror"
	"github.com/iechor/sso/services/platform/sqlstore/storeerr"
)

func TestToStatusSendsATypedErrorAndNeverTheCause(t *testing.T) {
	typed := rpcerror.New(codes.NotFound, "DOMAIN_NOT_FOUND", "No such domain.").With("field", "name")
	storeDown := fmt.Errorf("list domains: %w", fmt.Errorf("%w: dial tcp 10.0.0.7:5432: connect: connection refused", storeerr.ErrUnavailable))
	for _, tc := range []struct {
		name   string
		err    error
		code   codes.Code
		reason string
		logged bool
	}{
		{"a typed error passes through", typed, codes.NotFound, "DOMAIN_NOT_FOUND", false},
		{"a wrapped typed error passes through", fmt.Errorf("get: %w", typed), codes.NotFound, "DOMAIN_NOT_FOUND", false},
		{"a database that cannot serve is unavailable, not internal", storeDown, codes.Unavailable, "STORE_UNAVAILABLE", true},
		{"a status with a reason from another service passes through", rpcerror.StoreUnavailable.GRPCStatus().Err(), codes.Unavailable, "STORE_UNAVAILABLE", false},
		{"a library's status keeps its class but not its words", status.Error(codes.Unavailable, "connection error: desc = \"transport: Error while dialing: dial tcp 10.0.0.9:9101\""), codes.Unavailable, "SERVICE_UNAVAILABLE", true},
		{"a library's invalid argument keeps its class", status.Error(codes.InvalidArgument, "proto: (line 1:2): unknown field \"x\""), codes.InvalidArgument, "INVALID_REQUEST", true},
		{"a library's internal error is internal", status.Error(codes.Internal, "grpc: error while marshaling: string field contains invalid UTF-8"), codes.Internal, "INTERNAL", true},
		{"the caller's deadline is a deadline", fmt.Errorf("query: %w", context.DeadlineExceeded), codes.DeadlineExceeded, "DEADLINE_EXCEEDED", false},
		{"the caller's cancel is a cancel", context.Canceled, codes.Canceled, "CANCELED", false},
		{"anything undescribed is internal", errors.New("sql: Scan error on column index 2: unsupported Scan"), codes.Internal, "INTERNAL", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, logged := rpcerror.ToStatus(tc.err)
			code, reason, _ := rpcerror.Info(out)
			if code != tc.code || reason != tc.reason || logged != tc.logged {
				t.Fatalf("ToStatus = %v %s (log %v), want %v %s (log %v)", code, reason, logged, tc.code, tc.reason, tc.logged)
			}
			msg := status.Convert(out).Message()
			for _, leak := range []string{"10.0.0", "dial tcp", "proto:", "grpc:", "sql:", "transport"} {
				if strings.Contains(msg, leak) {
					t.Fatalf("message %q carries the cause's %q", msg, leak)
				}
			}
		})
	}
	if out, _ := rpcerror.ToStatus(nil); out != nil {
		t.Fatalf("ToStatus(nil) = %v", out)
	}
}

func TestEveryCodeHasAGenericErrorOfTheSameClass(t *testing.T) {
	for c := codes.Canceled; c <= codes.Unauthenticated; c++ {
		e := rpcerror.Generic(c)
		switch c {
		case codes.Unknown, codes.DataLoss:
			if e.Code != codes.Internal {
				t.Errorf("%v became %v", c, e.Code)
			}
		default:
			if e.Code != c {
				t.Errorf("%v became %v", c, e.Code)
			}
		}
		if e.Reason == "" || e.Message == "" {
			t.Errorf("%v has no reason or message", c)
		}
	}
}

func TestInfoReadsTheReasonOfAReceivedStatus(t *testing.T) {
	sent := rpcerror.FieldViolation("INVALID_NAME", "parent", "The resource name is not valid.")
	received := status.FromContextError(context.Canceled).Err() // a status without details
	code, reason, md := rpcerror.Info(sent.GRPCStatus().Err())
	if code != codes.InvalidArgument || reason != "INVALID_NAME" || md["field"] != "parent" {
		t.Fatalf("Info = %v %q %v", code, reason, md)
	}
	if code, reason, _ := rpcerror.Info(received); code != codes.Canceled || reason != "" {
		t.Fatalf("Info of a status without ErrorInfo = %v %q", code, reason)
	}
	if !errors.Is(sent.WithMessage("other words"), sent) {
		t.Fatal("an error with another message no longer matches its sentinel")
	}
}
