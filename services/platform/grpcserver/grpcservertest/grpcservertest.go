// Package grpcservertest runs a service on a free loopback port for the length of a test and gives
// the test client connections to it, over real gRPC and real mutual TLS: a test's CA issues the
// certificate of each service it starts and of each caller it plays, as ssod does at start.
package grpcservertest

import (
	"context"
	"net"
	"testing"

	"google.golang.org/grpc"

	"github.com/iechor/sso/services/platform/grpcclient"
	"github.com/iechor/sso/services/platform/mtls"
)

// Serve runs serve (a service's Serve method) on a free loopback port until t ends, when it stops
// the service and fails t if the service stopped with an error. It returns a client connection that
// calls as the identity as (no certificate when as has none).
func Serve(t testing.TB, serve func(ctx context.Context, lis net.Listener) error, as mtls.Config) *grpc.ClientConn {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, lis) }()
	conn, err := dial(lis.Addr().String(), as)
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

// Dial returns a connection to target that calls as the identity as, closed when t ends.
func Dial(t testing.TB, target string, as mtls.Config) *grpc.ClientConn {
	t.Helper()
	conn, err := dial(target, as)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func dial(target string, as mtls.Config) (*grpc.ClientConn, error) {
	tlsConfig, err := as.Client()
	if err != nil {
		return nil, err
	}
	return grpcclient.Dial(target, tlsConfig)
}

// CA is a test's internal certificate authority.
type CA struct {
	t  testing.TB
	ca *mtls.CA
}

// NewCA makes a CA of the default trust domain for t.
func NewCA(t testing.TB) *CA {
	t.Helper()
	ca, err := mtls.NewCA(mtls.DefaultTrustDomain)
	if err != nil {
		t.Fatal(err)
	}
	return &CA{t: t, ca: ca}
}

// CA is the CA itself, for code that issues identities on its own (ssod.Config.CA).
func (c *CA) CA() *mtls.CA { return c.ca }

// Identity is the configuration of the service or caller name: a service's Config.TLS, or the
// identity of a test's client.
func (c *CA) Identity(name string) mtls.Config {
	c.t.Helper()
	id, err := c.ca.Issue(name)
	if err != nil {
		c.t.Fatal(err)
	}
	return id
}

// Dial returns a connection to target that calls as name, closed when t ends.
func (c *CA) Dial(target, name string) *grpc.ClientConn {
	c.t.Helper()
	return Dial(c.t, target, c.Identity(name))
}
