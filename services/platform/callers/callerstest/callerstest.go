// Package callerstest declares probe services for tests of servers and of the caller check: a
// unary Call, a server-streaming Watch and a unary Undeclared, each from google.protobuf.Empty to
// google.protobuf.Empty, registered in the global registry with the callers a test chooses, as the
// generated code registers the suite's own services. Undeclared never has the access option.
package callerstest

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/emptypb"

	optionsv1 "github.com/iechor/sso/gen/iechor/sso/options/v1"
)

// Handlers answer the probe's methods; a nil handler answers with an empty message (Watch: one).
type Handlers struct {
	Call  func(ctx context.Context) error
	Watch func(ctx context.Context, send func() error) error
}

var (
	mu         sync.Mutex
	registered = map[string]bool{}
)

// Register declares service (a full name such as "test.v1.Probe") in the global registry: Call
// may be called by call, Watch by watch, and Undeclared by no one. A service registers once; a
// second Register of the same name returns an error.
func Register(service string, call, watch []optionsv1.Caller) error {
	mu.Lock()
	defer mu.Unlock()
	if registered[service] {
		return fmt.Errorf("%s is registered already", service)
	}
	pkg, name, ok := cut(service)
	if !ok {
		return fmt.Errorf("%q is not a full service name", service)
	}
	method := func(name string, callers []optionsv1.Caller, streaming bool) *descriptorpb.MethodDescriptorProto {
		m := &descriptorpb.MethodDescriptorProto{
			Name:            proto.String(name),
			InputType:       proto.String(".google.protobuf.Empty"),
			OutputType:      proto.String(".google.protobuf.Empty"),
			ServerStreaming: proto.Bool(streaming),
		}
		if callers != nil {
			m.Options = &descriptorpb.MethodOptions{}
			proto.SetExtension(m.Options, optionsv1.E_Access, &optionsv1.Access{Callers: callers})
		}
		return m
	}
	file := &descriptorpb.FileDescriptorProto{
		Name:       proto.String(strings.ReplaceAll(service, ".", "/") + ".proto"),
		Package:    proto.String(pkg),
		Dependency: []string{"google/protobuf/empty.proto"},
		Syntax:     proto.String("proto3"),
		Service: []*descriptorpb.ServiceDescriptorProto{{
			Name: proto.String(name),
			Method: []*descriptorpb.MethodDescriptorProto{
				method("Call", call, false),
				method("Watch", watch, true),
				method("Undeclared", nil, false),
			},
		}},
	}
	fd, err := protodesc.NewFile(file, protoregistry.GlobalFiles)
	if err != nil {
		return err
	}
	if err := protoregistry.GlobalFiles.RegisterFile(fd); err != nil {
		return err
	}
	registered[service] = true
	return nil
}

func cut(service string) (pkg, name string, ok bool) {
	i := strings.LastIndexByte(service, '.')
	if i <= 0 || i == len(service)-1 {
		return "", "", false
	}
	return service[:i], service[i+1:], true
}

// Desc is the gRPC description of service, answered by h, to register on a server.
func Desc(service string, h Handlers) *grpc.ServiceDesc {
	unary := func(method string, call func(context.Context) error) grpc.MethodDesc {
		return grpc.MethodDesc{
			MethodName: method,
			Handler: func(_ any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
				in := new(emptypb.Empty)
				if err := dec(in); err != nil {
					return nil, err
				}
				run := func(ctx context.Context, _ any) (any, error) {
					if call == nil {
						return &emptypb.Empty{}, nil
					}
					return &emptypb.Empty{}, call(ctx)
				}
				if ic == nil {
					return run(ctx, in)
				}
				return ic(ctx, in, &grpc.UnaryServerInfo{FullMethod: "/" + service + "/" + method}, run)
			},
		}
	}
	return &grpc.ServiceDesc{
		ServiceName: service,
		HandlerType: (*any)(nil),
		Methods:     []grpc.MethodDesc{unary("Call", h.Call), unary("Undeclared", h.Call)},
		Streams: []grpc.StreamDesc{{
			StreamName:    "Watch",
			ServerStreams: true,
			Handler: func(_ any, stream grpc.ServerStream) error {
				if err := stream.RecvMsg(new(emptypb.Empty)); err != nil {
					return err
				}
				send := func() error { return stream.SendMsg(&emptypb.Empty{}) }
				if h.Watch == nil {
					return send()
				}
				return h.Watch(stream.Context(), send)
			},
		}},
	}
}

// Call invokes service's Call on conn.
func Call(ctx context.Context, conn grpc.ClientConnInterface, service string) error {
	return conn.Invoke(ctx, "/"+service+"/Call", &emptypb.Empty{}, &emptypb.Empty{})
}

// Undeclared invokes service's Undeclared on conn.
func Undeclared(ctx context.Context, conn grpc.ClientConnInterface, service string) error {
	return conn.Invoke(ctx, "/"+service+"/Undeclared", &emptypb.Empty{}, &emptypb.Empty{})
}

// Watch opens service's Watch on conn and receives its first message: a refused stream fails here.
func Watch(ctx context.Context, conn grpc.ClientConnInterface, service string) error {
	stream, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, "/"+service+"/Watch")
	if err != nil {
		return err
	}
	if err := stream.SendMsg(&emptypb.Empty{}); err != nil {
		return err
	}
	if err := stream.CloseSend(); err != nil {
		return err
	}
	return stream.RecvMsg(new(emptypb.Empty))
}
