// Package callers decides who may call which RPC of a service.
//
// Each RPC of the suite declares its callers next to it, in its proto file, with the method option
// (iechor.sso.options.v1.access). A server reads the option of every method of every service
// registered on it when it starts serving (Table), and one interceptor (Check), the same in every
// service, lets a call run only when the service that the caller's verified mTLS certificate names
// is one of the method's callers. The proto is the policy: there is no second list to keep in step.
//
// It fails closed: an RPC that declares no callers is refused to every caller, and a call whose
// certificate names no service is refused before its handler runs. Only health and reflection,
// which reveal nothing secret, are open (probes, load balancers, grpcurl). Nothing here takes a
// caller's identity from anything the caller writes into a request.
package callers

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	optionsv1 "github.com/iechor/sso/gen/iechor/sso/options/v1"
	"github.com/iechor/sso/services/platform/mtls"
	"github.com/iechor/sso/services/platform/rpcerror"
)

// The refusals of the check.
var (
	// ErrCallerNotAllowed: the caller is known, and the RPC does not list it (or lists no one).
	ErrCallerNotAllowed = rpcerror.New(codes.PermissionDenied, "CALLER_NOT_ALLOWED", "This caller may not call this method.")
	// ErrCallerUnidentified: the call carries no client certificate that names a service of the
	// trust domain.
	ErrCallerUnidentified = rpcerror.New(codes.Unauthenticated, "CALLER_UNIDENTIFIED",
		"Internal calls need a client certificate of the internal CA that names the calling service.")
)

// open are the services that every peer may call, identified or not: health (probes and load
// balancers ask it without a certificate) and reflection (grpcurl lists the services). They say
// whether a server is serving and what its schema is, which is in this repository for anyone to
// read; nothing that either returns is secret.
var open = []string{
	healthpb.Health_ServiceDesc.ServiceName,
	"grpc.reflection.v1.ServerReflection",
	"grpc.reflection.v1alpha.ServerReflection",
}

// Open reports whether every peer may call service (a full name), identified or not: health and
// reflection.
func Open(service string) bool { return slices.Contains(open, service) }

// Name is the name of caller in its certificate's SPIFFE ID: CALLER_GATEWAY is "gateway".
func Name(caller optionsv1.Caller) string {
	return strings.ToLower(strings.TrimPrefix(caller.String(), "CALLER_"))
}

// Table holds the callers that each RPC declares, by full method name (/package.Service/Method).
type Table struct {
	methods map[string][]string
}

// FromServer reads the table of the services registered on srv, from their descriptors in the
// global registry (where the generated code registers them).
func FromServer(srv *grpc.Server) *Table {
	names := make([]string, 0, len(srv.GetServiceInfo()))
	for name := range srv.GetServiceInfo() {
		names = append(names, name)
	}
	return FromServices(protoregistry.GlobalFiles, names...)
}

// FromServices reads the table of the named services from files. A service that files does not
// know, and a method without the option, declare no callers.
func FromServices(files *protoregistry.Files, services ...string) *Table {
	t := &Table{methods: map[string][]string{}}
	for _, name := range services {
		d, err := files.FindDescriptorByName(protoreflect.FullName(name))
		if err != nil {
			continue
		}
		sd, ok := d.(protoreflect.ServiceDescriptor)
		if !ok {
			continue
		}
		for i := range sd.Methods().Len() {
			m := sd.Methods().Get(i)
			t.methods["/"+name+"/"+string(m.Name())] = Declared(m)
		}
	}
	return t
}

// Declared returns the callers that method declares in its (iechor.sso.options.v1.access) option,
// by name; nil when it has no option or lists no caller.
func Declared(method protoreflect.MethodDescriptor) []string {
	opts := method.Options()
	if opts == nil || !proto.HasExtension(opts, optionsv1.E_Access) {
		return nil
	}
	access, _ := proto.GetExtension(opts, optionsv1.E_Access).(*optionsv1.Access)
	var names []string
	for _, c := range access.GetCallers() {
		if c != optionsv1.Caller_CALLER_UNSPECIFIED {
			names = append(names, Name(c))
		}
	}
	return names
}

// Callers returns the callers that method (/package.Service/Method) declares.
func (t *Table) Callers(method string) []string { return t.methods[method] }

// Check is the caller check of one server. Its table is loaded when the server starts serving;
// until then every call but health and reflection is refused.
type Check struct {
	// TrustDomain is the trust domain of the caller certificates (mtls.DefaultTrustDomain when
	// empty).
	TrustDomain string
	// AllowUnidentified lets calls without a client certificate run any RPC that declares callers:
	// development without mutual TLS only (GRPC_ALLOW_UNIDENTIFIED_CALLERS).
	AllowUnidentified bool
	// Log receives every refusal, with the caller's identity.
	Log *slog.Logger

	table atomic.Pointer[Table]
}

// Load makes t the table the check enforces.
func (c *Check) Load(t *Table) { c.table.Store(t) }

// Unary is the check as a unary interceptor.
func (c *Check) Unary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if err := c.authorize(ctx, info.FullMethod); err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// Stream is the check as a stream interceptor: a stream is checked before its handler runs, as a
// unary call is.
func (c *Check) Stream() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if err := c.authorize(ss.Context(), info.FullMethod); err != nil {
			return err
		}
		return handler(srv, ss)
	}
}

func (c *Check) authorize(ctx context.Context, method string) error {
	service, _, _ := strings.Cut(strings.TrimPrefix(method, "/"), "/")
	if Open(service) {
		return nil
	}
	domain := c.TrustDomain
	if domain == "" {
		domain = mtls.DefaultTrustDomain
	}
	caller, err := mtls.PeerService(ctx, domain)
	var allowed []string
	if t := c.table.Load(); t != nil {
		allowed = t.Callers(method)
	}
	switch {
	case len(allowed) == 0:
		c.refuse(ctx, slog.LevelError, method, caller, "the method declares no callers", err)
		return ErrCallerNotAllowed.WithMessage("This method declares no callers: no one may call it.")
	case err != nil && c.AllowUnidentified && errors.Is(err, mtls.ErrNoCertificate):
		return nil
	case err != nil:
		c.refuse(ctx, slog.LevelWarn, method, "", "the caller is not identified", err)
		return ErrCallerUnidentified
	case !slices.Contains(allowed, caller):
		c.refuse(ctx, slog.LevelWarn, method, caller, "the caller is not one the method declares", nil)
		return ErrCallerNotAllowed.With("caller", caller)
	}
	return nil
}

func (c *Check) refuse(ctx context.Context, level slog.Level, method, caller, why string, err error) {
	if c.Log == nil {
		return
	}
	if caller == "" {
		caller = "unidentified"
	}
	attrs := []any{"method", method, "caller", caller, "why", why}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		attrs = append(attrs, "peer", p.Addr.String())
	}
	if err != nil {
		attrs = append(attrs, "err", err)
	}
	c.Log.Log(ctx, level, "call refused: caller not allowed", attrs...)
}
