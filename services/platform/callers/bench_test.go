package callers_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/iechor/sso/services/platform/callers"
	"github.com/iechor/sso/services/platform/logging"
	"github.com/iechor/sso/services/platform/mtls"
)

// BenchmarkTheCallerCheck measures what the check adds to every internal call: reading the
// caller from the verified certificate of the connection and looking the method up.
func BenchmarkTheCallerCheck(b *testing.B) {
	ca, err := mtls.NewCA(mtls.DefaultTrustDomain)
	if err != nil {
		b.Fatal(err)
	}
	gateway, err := ca.Issue("gateway")
	if err != nil {
		b.Fatal(err)
	}
	leaf := gateway.Identity.Certificate.Leaf
	ctx := peer.NewContext(context.Background(), &peer.Peer{
		Addr:     &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000},
		AuthInfo: credentials.TLSInfo{State: tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{leaf}}}},
	})
	check := &callers.Check{Log: logging.Discard()}
	check.Load(callers.FromServices(protoregistry.GlobalFiles, probe))
	interceptor := check.Unary()
	info := &grpc.UnaryServerInfo{FullMethod: "/" + probe + "/Call"}
	handler := func(context.Context, any) (any, error) { return nil, nil }
	b.ReportAllocs()
	for b.Loop() {
		if _, err := interceptor(ctx, nil, info, handler); err != nil {
			b.Fatal(err)
		}
	}
}
