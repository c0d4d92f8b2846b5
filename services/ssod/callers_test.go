package ssod_test

import (
	"context"
	"crypto/tls"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	connectionv1 "github.com/iechor/sso/gen/iechor/sso/connection/v1"
	optionsv1 "github.com/iechor/sso/gen/iechor/sso/options/v1"
	"github.com/iechor/sso/services/platform/callers"
	"github.com/iechor/sso/services/platform/config"
	"github.com/iechor/sso/services/platform/dnstest"
	"github.com/iechor/sso/services/platform/grpcclient"
	"github.com/iechor/sso/services/ssod"
)

// suiteServices are the services of the suite's protos, from the global registry, where the
// generated code of every package registers them.
func suiteServices(t *testing.T) []protoreflect.ServiceDescriptor {
	t.Helper()
	var out []protoreflect.ServiceDescriptor
	protoregistry.GlobalFiles.RangeFiles(func(f protoreflect.FileDescriptor) bool {
		if strings.HasPrefix(string(f.Package()), "iechor.sso.") {
			for i := range f.Services().Len() {
				out = append(out, f.Services().Get(i))
			}
		}
		return true
	})
	if len(out) < 9 {
		t.Fatalf("only %d services of the suite are registered", len(out))
	}
	return out
}

func TestEveryRPCOfEveryServiceDeclaresItsCallers(t *testing.T) {
	for _, s := range suiteServices(t) {
		internal := strings.HasSuffix(string(s.Name()), "InternalService")
		for i := range s.Methods().Len() {
			m := s.Methods().Get(i)
			t.Run(string(m.FullName()), func(t *testing.T) {
				opts := m.Options()
				if !proto.HasExtension(opts, optionsv1.E_Access) {
					t.Fatal("declares no callers: (iechor.sso.options.v1.access) is missing, so no one may call it")
				}
				declared := proto.GetExtension(opts, optionsv1.E_Access).(*optionsv1.Access).GetCallers()
				if len(declared) == 0 {
					t.Fatal("lists no caller")
				}
				for _, c := range declared {
					if _, known := optionsv1.Caller_name[int32(c)]; !known || c == optionsv1.Caller_CALLER_UNSPECIFIED {
						t.Fatalf("lists the caller %v, which is no component of the suite", c)
					}
				}
				rest := proto.HasExtension(opts, annotations.E_Http)
				switch {
				case internal && rest:
					t.Fatal("an internal RPC has a REST mapping")
				case !internal && !rest:
					t.Fatal("a public RPC has no REST mapping: it belongs in the service's InternalService")
				case !internal && !slices.Equal(callers.Declared(m), []string{"gateway"}):
					t.Fatalf("a public RPC is called by the gateway only, not by %v", callers.Declared(m))
				}
			})
		}
	}
}

func TestTheSuitesServicesCheckTheirCallersWithTheInProcessIdentities(t *testing.T) {
	s := startSuite(t, map[string]string{"DATA_DIR": t.TempDir(), "DNS_RESOLVER": dnstest.Start(t).Addr()})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	addrs := map[string]string{"domain": s.suite.Addrs.Domain, "provisioning": s.suite.Addrs.Provisioning,
		"connection": s.suite.Addrs.Connection, "assertion": s.suite.Addrs.Assertion}
	roots := s.ca.Identity("gateway").Identity.Roots
	noCert := credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS13, RootCAs: roots})

	t.Run("every RPC that a component serves declares its callers", func(t *testing.T) {
		for component, addr := range addrs {
			// Reflection is open: no certificate is needed to list the services.
			conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(noCert))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
				t.Fatal(err)
			}
			resp, err := stream.Recv()
			if err != nil {
				t.Fatalf("%s: %v", component, err)
			}
			var served int
			for _, svc := range resp.GetListServicesResponse().GetService() {
				if callers.Open(svc.GetName()) {
					continue
				}
				served++
				d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svc.GetName()))
				if err != nil {
					t.Fatalf("%s serves %s, which the suite's protos do not describe", component, svc.GetName())
				}
				methods := d.(protoreflect.ServiceDescriptor).Methods()
				for i := range methods.Len() {
					if len(callers.Declared(methods.Get(i))) == 0 {
						t.Errorf("%s serves %s, which declares no callers", component, methods.Get(i).FullName())
					}
				}
			}
			if served != 2 {
				t.Errorf("%s serves %d services of ours, want its public and its internal one", component, served)
			}
		}
	})

	runtime := func(conn grpc.ClientConnInterface) error {
		_, err := connectionv1.NewConnectionInternalServiceClient(conn).GetRuntimeConnection(ctx,
			&connectionv1.GetRuntimeConnectionRequest{Connection: "conn_00000000000000000000000000"})
		return err
	}
	t.Run("the gateway's certificate cannot read a connection's runtime configuration", func(t *testing.T) {
		var refused *grpcclient.CallerRefusedError
		if err := runtime(s.ca.Dial(s.suite.Addrs.Connection, "gateway")); !errors.As(err, &refused) || refused.Reason != "CALLER_NOT_ALLOWED" {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("the assertion service's certificate reads it", func(t *testing.T) {
		if err := runtime(s.ca.Dial(s.suite.Addrs.Connection, "assertion")); status.Code(err) != codes.NotFound {
			t.Fatalf("got %v, want the connection service's own NOT_FOUND", err)
		}
	})
	t.Run("a caller without a certificate is not identified", func(t *testing.T) {
		conn, err := grpc.NewClient(s.suite.Addrs.Connection, grpc.WithTransportCredentials(noCert))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if err := runtime(conn); status.Code(err) != codes.Unauthenticated {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("a caller without TLS is not served", func(t *testing.T) {
		conn, err := grpc.NewClient(s.suite.Addrs.Connection, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if err := runtime(conn); status.Code(err) != codes.Unavailable {
			t.Fatalf("got %v", err)
		}
	})
}

func TestSsodRefusesCertificateFilesAndTheDevelopmentSwitch(t *testing.T) {
	for _, name := range []string{"GRPC_TLS_CERT", "GRPC_TLS_KEY", "GRPC_TLS_CA", "GRPC_ALLOW_UNIDENTIFIED_CALLERS"} {
		t.Run(name+" is refused: the components' certificates come from the process's own CA", func(t *testing.T) {
			_, err := ssod.LoadConfig(config.MapLookup(map[string]string{"DATA_DIR": t.TempDir(), name: "x"}))
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Fatalf("error %v", err)
			}
		})
	}
}
