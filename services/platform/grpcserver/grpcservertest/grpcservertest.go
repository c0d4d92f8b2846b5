// Package grpcservertest runs a service on a free loopback port for the length of a test and gives
// the test a client connection to it, over real gRPC.
package grpcservertest

import (
	"context"
	"net"
	"testing"

	"google.golang.org/grpc"

	"github.com/iechor/sso/services/platform/grpcclient"
)

// Serve runs serve (a service's Serve method) on a free loopback port until t ends, when it stops
// the service and fails t if the service stopped with an error. It returns a client connection.
func Serve(t testing.TB, serve func(ctx context.Context, lis net.Listener) error) *grpc.ClientConn {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, lis) }()
	conn, err := grpcclient.Dial(lis.Addr().String(), nil)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return conn
}
