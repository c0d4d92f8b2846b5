package connection_test

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"

	connectionv1 "github.com/iechor/sso/gen/iechor/sso/connection/v1"
	"github.com/iechor/sso/services/platform/grpcclient"
	"github.com/iechor/sso/services/platform/sqlstore/sqlstoretest"
)

// Secrets leave the connection service only for the assertion service: the test plays every
// other caller of the suite with a certificate of the internal CA, over real mutual TLS, against
// the real service.
func TestOnlyTheAssertionServiceReadsAConnectionsSecrets(t *testing.T) {
	e := newEnv(t, sqlstoretest.Backends()[0])
	e.verify("companies/acme", "example.com")
	saml, err := e.client.CreateConnection(ctx, &connectionv1.CreateConnectionRequest{
		Parent: "companies/acme", Connection: samlFromMetadata(t, "internal/metadata/testdata/okta.xml", "example.com"),
	})
	if err != nil {
		t.Fatal(err)
	}
	oidc, err := e.client.CreateConnection(ctx, &connectionv1.CreateConnectionRequest{Parent: "companies/acme", Connection: &connectionv1.Connection{
		DisplayName: "Entra ID", Type: connectionv1.ConnectionType_CONNECTION_TYPE_OIDC, Organizations: []string{"organizations/eng"},
		Oidc: &connectionv1.OidcConfig{Provider: connectionv1.OidcProvider_OIDC_PROVIDER_ENTRA_ID, TenantDomain: "contoso.onmicrosoft.com",
			ClientId: "11111111-2222-3333-4444-555555555555", ClientSecret: "s3cr3t-value"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	samlName, oidcName := saml.GetConnection().GetName(), oidc.GetConnection().GetName()

	t.Run("the assertion service reads the SP private key and the client secret", func(t *testing.T) {
		runtime := connectionv1.NewConnectionInternalServiceClient(e.ca.Dial(e.cc.Target(), "assertion"))
		rt, err := runtime.GetRuntimeConnection(ctx, &connectionv1.GetRuntimeConnectionRequest{Connection: samlName})
		if err != nil || len(rt.GetConnection().GetSpKeys()) != 1 ||
			!strings.HasPrefix(rt.GetConnection().GetSpKeys()[0].GetPrivateKeyPem(), "-----BEGIN ") {
			t.Fatalf("runtime %v, %v", rt, err)
		}
		rt, err = runtime.GetRuntimeConnection(ctx, &connectionv1.GetRuntimeConnectionRequest{Connection: oidcName})
		if err != nil || rt.GetConnection().GetOidcClientSecret() != "s3cr3t-value" {
			t.Fatalf("runtime %v, %v", rt, err)
		}
	})

	for _, caller := range []string{"gateway", "provisioning", "domain", "connection", "operator"} {
		t.Run("a certificate issued to "+caller+" cannot read an SP private key", func(t *testing.T) {
			internal := connectionv1.NewConnectionInternalServiceClient(e.ca.Dial(e.cc.Target(), caller))
			for _, name := range []string{samlName, oidcName} {
				rt, err := internal.GetRuntimeConnection(ctx, &connectionv1.GetRuntimeConnectionRequest{Connection: name})
				var refused *grpcclient.CallerRefusedError
				if !errors.As(err, &refused) || refused.Code != codes.PermissionDenied || refused.Reason != "CALLER_NOT_ALLOWED" || rt != nil {
					t.Fatalf("GetRuntimeConnection %s: %v, %v", name, rt, err)
				}
			}
			stream, err := internal.WatchConnections(ctx, &connectionv1.WatchConnectionsRequest{})
			if err == nil {
				_, err = stream.Recv()
			}
			var refused *grpcclient.CallerRefusedError
			if !errors.As(err, &refused) || refused.Reason != "CALLER_NOT_ALLOWED" {
				t.Fatalf("WatchConnections: %v", err)
			}
		})
	}

	t.Run("what the gateway reads of a connection holds no secret", func(t *testing.T) {
		var answers []string
		for _, name := range []string{samlName, oidcName} {
			got, err := e.client.GetConnection(ctx, &connectionv1.GetConnectionRequest{Name: name})
			if err != nil {
				t.Fatal(err)
			}
			answers = append(answers, protojson.Format(got))
		}
		list, err := e.client.ListConnections(ctx, &connectionv1.ListConnectionsRequest{Parent: "companies/acme"})
		if err != nil || len(list.GetConnections()) != 2 {
			t.Fatalf("list %v, %v", list, err)
		}
		answers = append(answers, protojson.Format(list))
		resolved, err := e.internal.ResolveConnections(ctx, &connectionv1.ResolveConnectionsRequest{Email: "jane@example.com", IncludeDrafts: true})
		if err != nil || len(resolved.GetConnections()) != 1 {
			t.Fatalf("resolve %v, %v", resolved, err)
		}
		answers = append(answers, protojson.Format(resolved))
		id := samlName[strings.LastIndexByte(samlName, '/')+1:]
		md, err := e.internal.GetServiceProviderMetadata(ctx, &connectionv1.GetServiceProviderMetadataRequest{ConnectionId: id})
		if err != nil {
			t.Fatal(err)
		}
		answers = append(answers, md.GetMetadataXml())
		for _, a := range answers {
			if strings.Contains(a, "PRIVATE KEY") || strings.Contains(a, "s3cr3t") {
				t.Fatalf("an answer to the gateway carries a secret:\n%s", a)
			}
		}
	})
}
