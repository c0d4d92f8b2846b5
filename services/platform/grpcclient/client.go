// Package grpcclient dials the suite's own services: request ids travel with every call, every call
// has a deadline, and the connection uses mutual TLS when it is configured.
package grpcclient

import (
	"context"
	"crypto/tls"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/iechor/sso/services/platform/callmeta"
	"github.com/iechor/sso/services/platform/logging"
)

// DefaultTimeout bounds a call whose context carries no deadline.
const DefaultTimeout = 10 * time.Second

// Dial returns a lazily connecting client for target (host:port). A nil tlsConfig means plaintext,
// which is right only on loopback or inside a trusted network.
func Dial(target string, tlsConfig *tls.Config, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	creds := insecure.NewCredentials()
	if tlsConfig != nil {
		creds = credentials.NewTLS(tlsConfig)
	}
	all := append([]grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithChainUnaryInterceptor(propagateUnary),
		grpc.WithChainStreamInterceptor(propagateStream),
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"round_robin":{}}]}`),
	}, opts...)
	return grpc.NewClient(target, all...)
}

func outgoing(ctx context.Context) (context.Context, context.CancelFunc) {
	if id := logging.RequestID(ctx); id != "" {
		if md, ok := metadata.FromOutgoingContext(ctx); !ok || len(md.Get(callmeta.RequestIDKey)) == 0 {
			ctx = metadata.AppendToOutgoingContext(ctx, callmeta.RequestIDKey, id)
		}
	}
	if _, ok := ctx.Deadline(); !ok {
		return context.WithTimeout(ctx, DefaultTimeout)
	}
	return ctx, func() {}
}

func propagateUnary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	ctx, cancel := outgoing(ctx)
	defer cancel()
	return invoker(ctx, method, req, reply, cc, opts...)
}

func propagateStream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	if id := logging.RequestID(ctx); id != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, callmeta.RequestIDKey, id)
	}
	return streamer(ctx, desc, cc, method, opts...)
}
