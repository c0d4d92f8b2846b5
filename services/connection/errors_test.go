package connection_test

import (
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	connectionv1 "github.com/iechor/sso/gen/iechor/sso/connection/v1"
	"github.com/iechor/sso/services/connection"
	"github.com/iechor/sso/services/platform/sqlstore/sqlstoretest"
)

// What an admin is told of a metadata URL that could not be fetched is ours: the server's answer
// when there was one, never the network library's words, which name addresses and resolvers.
func TestAMetadataURLThatCannotBeFetchedIsDescribedInWordsOfOurs(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "https://" + l.Addr().String() + "/metadata"
	_ = l.Close()
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	defer srv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	// Loopback is allowed here, as an operator allows it: what is left to say is the network's answer.
	e := newEnv(t, sqlstoretest.Backends()[0], func(c *connection.Config, o *connection.Options) {
		c.MetadataAllowPrivate = true
		o.MetadataRootCAs = roots
	})
	for _, tc := range []struct {
		name, url, says string
	}{
		{"a port that refuses", closed, "refused the connection"},
		{"a server that answers 404", srv.URL + "/missing", "404"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.client.CreateConnection(ctx, &connectionv1.CreateConnectionRequest{Parent: "companies/acme", Connection: &connectionv1.Connection{
				DisplayName: "Okta", Type: connectionv1.ConnectionType_CONNECTION_TYPE_SAML, Saml: &connectionv1.SamlConfig{IdpMetadataUrl: tc.url},
			}})
			wantReason(t, err, codes.FailedPrecondition, "METADATA_FETCH_FAILED", "saml.idp_metadata_url")
			msg := status.Convert(err).Message()
			if !strings.Contains(msg, tc.says) {
				t.Fatalf("message %q does not say %q", msg, tc.says)
			}
			for _, leak := range []string{"dial tcp", "127.0.0.1", "Get \"", "connect:"} {
				if strings.Contains(msg, leak) {
					t.Fatalf("message %q repeats the library's %q", msg, leak)
				}
			}
		})
	}
}
