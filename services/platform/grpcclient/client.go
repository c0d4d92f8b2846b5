// Package grpcclient dials the suite's own services: request ids travel with every call, every call
// has a deadline, the connection uses mutual TLS when it is configured, and a service's refusal of
// its caller is never passed on as the caller's own answer.
package grpcclient

import (
	"context"
	"crypto/tls"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/iechor/sso/services/platform/callmeta"
	"github.com/iechor/sso/services/platform/logging"
	"github.com/iechor/sso/services/platform/rpcerror"
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
		grpc.WithChainUnaryInterceptor(propagateUnary, callerRefusedUnary),
		grpc.WithChainStreamInterceptor(propagateStream, callerRefusedStream),
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

// CallerRefusedError is a call that the called service refused because of who called
// (CALLER_NOT_ALLOWED, CALLER_UNIDENTIFIED): the deployment gave this service no identity, or one
// that the RPC does not list. That is a fault of the suite, not of the request that led to the
// call, so the error carries no gRPC status: whoever passes it up answers INTERNAL and logs it,
// rather than hand a person a 403 or a 401 meant for a service.
type CallerRefusedError struct {
	Method string
	Code   codes.Code
	Reason string
}

func (e *CallerRefusedError) Error() string {
	return fmt.Sprintf("%s refused this service as its caller: %s %s", e.Method, e.Code, e.Reason)
}

// callerRefused turns a refusal of the caller into a *CallerRefusedError and leaves every other
// error as it is.
func callerRefused(method string, err error) error {
	if err == nil {
		return nil
	}
	switch code, reason, _ := rpcerror.Info(err); reason {
	case "CALLER_NOT_ALLOWED", "CALLER_UNIDENTIFIED":
		return &CallerRefusedError{Method: method, Code: code, Reason: reason}
	}
	return err
}

func callerRefusedUnary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	return callerRefused(method, invoker(ctx, method, req, reply, cc, opts...))
}

func callerRefusedStream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	s, err := streamer(ctx, desc, cc, method, opts...)
	if err != nil {
		return nil, callerRefused(method, err)
	}
	return refusedStream{s, method}, nil
}

// refusedStream reports a stream's refusal, which arrives with its first message, as a unary
// call's.
type refusedStream struct {
	grpc.ClientStream
	method string
}

func (s refusedStream) RecvMsg(m any) error {
	return callerRefused(s.method, s.ClientStream.RecvMsg(m))
}
