package grpcclient_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	optionsv1 "github.com/iechor/sso/gen/iechor/sso/options/v1"
	"github.com/iechor/sso/services/platform/callers/callerstest"
	"github.com/iechor/sso/services/platform/grpcclient"
	"github.com/iechor/sso/services/platform/grpcserver"
	"github.com/iechor/sso/services/platform/mtls"
	"github.com/iechor/sso/services/platform/rpcerror"
)

const probe = "iechor.sso.test.v1.ClientProbe"

func init() {
	err := callerstest.Register(probe, []optionsv1.Caller{optionsv1.Caller_CALLER_GATEWAY}, []optionsv1.Caller{optionsv1.Caller_CALLER_GATEWAY})
	if err != nil {
		panic(err)
	}
}

func TestARefusalOfTheCallerIsOursToLogNeverTheRequestersAnswer(t *testing.T) {
	ca, err := mtls.NewCA(mtls.DefaultTrustDomain)
	if err != nil {
		t.Fatal(err)
	}
	issue := func(name string) mtls.Config {
		c, err := ca.Issue(name)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	serverTLS, err := issue("connection").Server()
	if err != nil {
		t.Fatal(err)
	}
	gs := grpcserver.New(grpcserver.Options{TLS: serverTLS})
	gs.RegisterService(callerstest.Desc(probe, callerstest.Handlers{
		Call: func(context.Context) error { return rpcerror.New(codes.NotFound, "THING_NOT_FOUND", "No such thing.") },
	}), struct{}{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = gs.Serve(ctx, lis) }()

	as := func(name string) *tls.Config {
		c, err := issue(name).Client()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, tc := range []struct {
		name    string
		as      *tls.Config
		refused string // the reason of the refusal, or "" for the service's own answer
	}{
		{"the service's own answer passes through as it is", as("gateway"), ""},
		{"a caller the method does not list gets an error without a status", as("assertion"), "CALLER_NOT_ALLOWED"},
		{"a caller without a certificate gets an error without a status", &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: as("gateway").RootCAs}, "CALLER_UNIDENTIFIED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := grpcclient.Dial(lis.Addr().String(), tc.as)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer ccancel()
			for _, call := range []func() error{
				func() error { return callerstest.Call(cctx, conn, probe) },
				func() error { return callerstest.Watch(cctx, conn, probe) },
			} {
				err := call()
				var refused *grpcclient.CallerRefusedError
				if tc.refused == "" {
					if errors.As(err, &refused) {
						t.Fatalf("the service's answer became %v", err)
					}
					continue
				}
				if !errors.As(err, &refused) || refused.Reason != tc.refused {
					t.Fatalf("got %v, want a refusal %s", err, tc.refused)
				}
				if _, ok := status.FromError(err); ok {
					t.Fatalf("the refusal still carries a status: %v", err)
				}
				out, logIt := rpcerror.ToStatus(err)
				if code, reason, _ := rpcerror.Info(out); code != codes.Internal || reason != "INTERNAL" || !logIt {
					t.Fatalf("passed up, the refusal becomes %v %s (logged: %v), want INTERNAL, logged", code, reason, logIt)
				}
			}
		})
	}
}
