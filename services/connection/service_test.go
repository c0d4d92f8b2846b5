package connection_test

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	connectionv1 "github.com/iechor/sso/gen/iechor/sso/connection/v1"
	"github.com/iechor/sso/services/connection"
	"github.com/iechor/sso/services/connection/internal/certs"
	"github.com/iechor/sso/services/connection/internal/certs/certstest"
	"github.com/iechor/sso/services/connection/internal/metadata"
	"github.com/iechor/sso/services/connection/internal/seal"
	"github.com/iechor/sso/services/platform/config"
	"github.com/iechor/sso/services/platform/rpcerror"
	"github.com/iechor/sso/services/platform/sqlstore/sqlstoretest"
)

// ctx bounds every call of the tests generously rather than by the clients' default of 10s: making
// an SP key pair under the race detector on a busy two-core machine can take several seconds.
var ctx, _ = context.WithTimeout(context.Background(), 5*time.Minute)

func samlFromMetadata(t testing.TB, file string, domains ...string) *connectionv1.Connection {
	return &connectionv1.Connection{
		DisplayName:   "Okta",
		Type:          connectionv1.ConnectionType_CONNECTION_TYPE_SAML,
		Domains:       domains,
		Organizations: []string{"organizations/eng"},
		Saml:          &connectionv1.SamlConfig{IdpMetadataXml: readFile(t, file)},
	}
}

func mask(paths ...string) *fieldmaskpb.FieldMask { return &fieldmaskpb.FieldMask{Paths: paths} }

func TestASAMLConnectionFromMetadataServesSignIn(t *testing.T) {
	t.Parallel()
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		e := newEnv(t, b)
		e.verify("companies/acme", "example.com")
		c := e.client

		created, err := c.CreateConnection(ctx, &connectionv1.CreateConnectionRequest{
			Parent: "companies/acme", Connection: samlFromMetadata(t, "internal/metadata/testdata/okta.xml", "Example.COM"),
		})
		if err != nil {
			t.Fatal(err)
		}
		conn := created.GetConnection()
		id := conn.GetName()[strings.LastIndexByte(conn.GetName(), '/')+1:]
		if !strings.HasPrefix(conn.GetName(), "companies/acme/connections/conn_") || len(id) != len("conn_")+26 {
			t.Fatalf("name %s", conn.GetName())
		}
		sp := conn.GetServiceProvider()
		if sp.GetEntityId() != "https://sso.iechor.test/saml/"+id+"/metadata" || sp.GetMetadataUrl() != sp.GetEntityId() ||
			sp.GetAcsUrl() != "https://sso.iechor.test/saml/"+id+"/acs" || len(sp.GetCertificates()) != 1 || !sp.GetCertificates()[0].GetActive() {
			t.Fatalf("service provider %v", sp)
		}
		saml := conn.GetSaml()
		if saml.GetIdpEntityId() != "http://www.okta.com/exk1a2b3c4d5e6f7g8h9" || !strings.HasSuffix(saml.GetIdpSsoUrl(), "/sso/saml") ||
			len(saml.GetIdpCertificates()) != 1 || len(saml.GetCertificateInfo()) != 1 || saml.GetCertificateInfo()[0].GetSubject() != "CN=okta.idp.example" ||
			!saml.GetSignRequests() || saml.GetClockSkewSeconds() != 90 || saml.GetIdpMetadataXml() != "" {
			t.Fatalf("saml %v", saml)
		}
		if conn.GetState() != connectionv1.ConnectionState_CONNECTION_STATE_DRAFT || !conn.GetJitEnabled() ||
			conn.GetDefaultOrganization() != "organizations/eng" || len(conn.GetDomains()) != 1 || conn.GetDomains()[0] != "example.com" || len(conn.GetWarnings()) != 0 {
			t.Fatalf("connection %v", conn)
		}

		t.Run("our SP metadata parses back to the entity id, ACS URL and certificate we give", func(t *testing.T) {
			for _, ref := range []string{id, conn.GetName()} {
				md, err := e.internal.GetServiceProviderMetadata(ctx, &connectionv1.GetServiceProviderMetadataRequest{ConnectionId: ref})
				if err != nil {
					t.Fatal(err)
				}
				doc := etree.NewDocument()
				if err := doc.ReadFromString(md.GetMetadataXml()); err != nil {
					t.Fatal(err)
				}
				if doc.Root().SelectAttrValue("entityID", "") != sp.GetEntityId() {
					t.Fatalf("entity id %s", doc.Root().SelectAttrValue("entityID", ""))
				}
				acs := doc.FindElement("//SPSSODescriptor/AssertionConsumerService")
				if acs == nil || acs.SelectAttrValue("Location", "") != sp.GetAcsUrl() || acs.SelectAttrValue("Binding", "") != metadata.BindingPOST {
					t.Fatalf("ACS %v", acs)
				}
				want, _ := certs.Parse(sp.GetCertificates()[0].GetCertificatePem())
				for _, use := range []string{"signing", "encryption"} {
					xc := doc.FindElement("//KeyDescriptor[@use='" + use + "']/KeyInfo/X509Data/X509Certificate")
					got, err := certs.Parse(xc.Text())
					if err != nil || certs.Fingerprint(got) != certs.Fingerprint(want) {
						t.Fatalf("%s certificate: %v", use, err)
					}
				}
			}
		})

		t.Run("reads never return a private key, the runtime read does and it matches the certificate", func(t *testing.T) {
			got, err := c.GetConnection(ctx, &connectionv1.GetConnectionRequest{Name: conn.GetName()})
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(got.String(), "PRIVATE KEY") || !proto.Equal(got.GetConnection().GetServiceProvider(), sp) {
				t.Fatalf("get %v", got)
			}
			rt, err := e.runtime.GetRuntimeConnection(ctx, &connectionv1.GetRuntimeConnectionRequest{Connection: id})
			if err != nil {
				t.Fatal(err)
			}
			r := rt.GetConnection()
			if r.GetSpEntityId() != sp.GetEntityId() || r.GetAcsUrl() != sp.GetAcsUrl() || r.GetIdpSsoUrl() != saml.GetIdpSsoUrl() ||
				len(r.GetSpKeys()) != 1 || r.GetRevision() != 1 || r.GetAttributeMapping().GetEmail()[0] != "NameID" || r.GetDefaultOrganization() != "organizations/eng" {
				t.Fatalf("runtime %v", r)
			}
			block, _ := pem.Decode([]byte(r.GetSpKeys()[0].GetPrivateKeyPem()))
			key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			cert, _ := certs.Parse(r.GetSpKeys()[0].GetCertificatePem())
			if !key.(*rsa.PrivateKey).PublicKey.Equal(cert.PublicKey) || key.(*rsa.PrivateKey).N.BitLen() != 2048 {
				t.Fatal("the SP private key does not match its certificate")
			}
		})

		t.Run("activation with enforcement refuses password sign-in for the domain", func(t *testing.T) {
			up, err := c.UpdateConnection(ctx, &connectionv1.UpdateConnectionRequest{
				Connection: &connectionv1.Connection{Name: conn.GetName(), State: connectionv1.ConnectionState_CONNECTION_STATE_ACTIVE, EnforceSso: true},
				UpdateMask: mask("state", "enforce_sso"),
			})
			if err != nil {
				t.Fatal(err)
			}
			if !up.GetConnection().GetEnforceSso() || up.GetConnection().GetDisplayName() != "Okta" || up.GetConnection().GetSaml().GetIdpEntityId() == "" {
				t.Fatalf("the update touched fields outside its mask: %v", up.GetConnection())
			}
			p, err := e.internal.GetSignInPolicy(ctx, &connectionv1.GetSignInPolicyRequest{Email: "jane@example.com", Method: connectionv1.SignInMethod_SIGN_IN_METHOD_PASSWORD, Client: connectionv1.ClientType_CLIENT_TYPE_HUB})
			if err != nil {
				t.Fatal(err)
			}
			if p.GetAllowed() || p.GetReason() != "SSO_ENFORCED" || !p.GetSsoEnforced() || len(p.GetConnections()) != 1 || p.GetConnections()[0] != conn.GetName() {
				t.Fatalf("policy %v", p)
			}
		})

		t.Run("list pages the owner's connections", func(t *testing.T) {
			second, err := c.CreateConnection(ctx, &connectionv1.CreateConnectionRequest{
				Parent: "companies/acme", Connection: &connectionv1.Connection{DisplayName: "Entra", Type: connectionv1.ConnectionType_CONNECTION_TYPE_SAML, Domains: []string{"example.com"}},
			})
			if err != nil {
				t.Fatalf("a second connection of the owner on the same domain: %v", err)
			}
			p1, err := c.ListConnections(ctx, &connectionv1.ListConnectionsRequest{Parent: "companies/acme", PageSize: 1})
			if err != nil || len(p1.GetConnections()) != 1 || p1.GetConnections()[0].GetName() != conn.GetName() || p1.GetNextPageToken() == "" {
				t.Fatalf("page 1: %v, %v", p1, err)
			}
			p2, err := c.ListConnections(ctx, &connectionv1.ListConnectionsRequest{Parent: "companies/acme", PageSize: 1, PageToken: p1.GetNextPageToken()})
			if err != nil || len(p2.GetConnections()) != 1 || p2.GetConnections()[0].GetName() != second.GetConnection().GetName() || p2.GetNextPageToken() != "" {
				t.Fatalf("page 2: %v, %v", p2, err)
			}
			_, err = c.ListConnections(ctx, &connectionv1.ListConnectionsRequest{Parent: "companies/rival", PageToken: p1.GetNextPageToken()})
			wantReason(t, err, codes.InvalidArgument, "INVALID_PAGE_TOKEN", "page_token")
			if other, _ := c.ListConnections(ctx, &connectionv1.ListConnectionsRequest{Parent: "companies/rival"}); len(other.GetConnections()) != 0 {
				t.Fatalf("another owner lists %v", other)
			}
			_, err = c.GetConnection(ctx, &connectionv1.GetConnectionRequest{Name: "companies/rival/connections/" + id})
			wantReason(t, err, codes.NotFound, "CONNECTION_NOT_FOUND", "name")
		})

		t.Run("deleting is final and frees the domain", func(t *testing.T) {
			list, _ := c.ListConnections(ctx, &connectionv1.ListConnectionsRequest{Parent: "companies/acme"})
			for _, x := range list.GetConnections() {
				if _, err := c.DeleteConnection(ctx, &connectionv1.DeleteConnectionRequest{Name: x.GetName()}); err != nil {
					t.Fatal(err)
				}
			}
			_, err := c.GetConnection(ctx, &connectionv1.GetConnectionRequest{Name: conn.GetName()})
			wantReason(t, err, codes.NotFound, "CONNECTION_NOT_FOUND", "name")
			_, err = c.DeleteConnection(ctx, &connectionv1.DeleteConnectionRequest{Name: conn.GetName()})
			wantReason(t, err, codes.NotFound, "CONNECTION_NOT_FOUND", "name")
			p, err := e.internal.GetSignInPolicy(ctx, &connectionv1.GetSignInPolicyRequest{Email: "jane@example.com", Method: connectionv1.SignInMethod_SIGN_IN_METHOD_PASSWORD})
			if err != nil || !p.GetAllowed() || p.GetSsoEnforced() {
				t.Fatalf("policy after deletion %v, %v", p, err)
			}
			rivalOwned, err := c.CreateConnection(ctx, &connectionv1.CreateConnectionRequest{
				Parent: "companies/acme", Connection: samlFromMetadata(t, "internal/metadata/testdata/okta.xml", "example.com"),
			})
			if err != nil || rivalOwned.GetConnection().GetName() == conn.GetName() {
				t.Fatalf("a new connection on the freed domain: %v, %v", rivalOwned, err)
			}
		})

		t.Run("health reports serving once the store answers", func(t *testing.T) {
			h := healthpb.NewHealthClient(e.cc)
			eventually(t, 20*time.Second, func() error {
				resp, err := h.Check(ctx, &healthpb.HealthCheckRequest{Service: connectionv1.ConnectionService_ServiceDesc.ServiceName})
				if err == nil && resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
					return errString("status " + resp.GetStatus().String())
				}
				return err
			})
		})
	})
}

type errString string

func (e errString) Error() string { return string(e) }

func TestBadInputIsRefusedWithATypedReasonAndNothingIsWritten(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sqlstoretest.Backends()[0])
	e.verify("companies/acme", "example.com")
	e.verify("companies/rival", "rival.example")
	now := time.Now()
	expired := certstest.New(t, certstest.Options{Now: now, NotBefore: now.AddDate(-2, 0, 0), NotAfter: now.AddDate(0, 0, -1)})
	good := certstest.New(t, certstest.Options{Now: now})
	saml := func(mod func(*connectionv1.Connection)) *connectionv1.Connection {
		c := &connectionv1.Connection{DisplayName: "IdP", Type: connectionv1.ConnectionType_CONNECTION_TYPE_SAML, Saml: &connectionv1.SamlConfig{}}
		mod(c)
		return c
	}
	for _, tc := range []struct {
		name, parent string
		conn         *connectionv1.Connection
		code         codes.Code
		reason       string
		field        string
	}{
		{"a parent that is not an owner", "users/bob", saml(func(*connectionv1.Connection) {}), codes.InvalidArgument, "INVALID_NAME", "parent"},
		{"an unknown company", "companies/nobody", saml(func(*connectionv1.Connection) {}), codes.FailedPrecondition, "OWNER_NOT_FOUND", "parent"},
		{"an organization outside a company on the free plan", "organizations/free", saml(func(*connectionv1.Connection) {}), codes.FailedPrecondition, "PLAN_REQUIRED", "parent"},
		{"no connection", "companies/acme", nil, codes.InvalidArgument, "MISSING_FIELD", "connection"},
		{"no type", "companies/acme", &connectionv1.Connection{DisplayName: "x"}, codes.InvalidArgument, "INVALID_TYPE", "type"},
		{"OIDC settings on a SAML connection", "companies/acme", saml(func(c *connectionv1.Connection) { c.Oidc = &connectionv1.OidcConfig{} }), codes.InvalidArgument, "CONFIG_DOES_NOT_MATCH_TYPE", "oidc"},
		{"an empty display name", "companies/acme", saml(func(c *connectionv1.Connection) { c.DisplayName = "" }), codes.InvalidArgument, "INVALID_DISPLAY_NAME", "display_name"},
		{"an http sign-in URL", "companies/acme", saml(func(c *connectionv1.Connection) { c.Saml.IdpSsoUrl = "http://idp.example.com/sso" }), codes.InvalidArgument, "INSECURE_URL", "saml.idp_sso_url"},
		{"a sign-in URL that is not a URL", "companies/acme", saml(func(c *connectionv1.Connection) { c.Saml.IdpSsoUrl = "idp.example.com/sso" }), codes.InvalidArgument, "INVALID_URL", "saml.idp_sso_url"},
		{"an invalid certificate", "companies/acme", saml(func(c *connectionv1.Connection) { c.Saml.IdpCertificates = []string{good.PEM, "MIIBogus"} }), codes.InvalidArgument, "INVALID_CERTIFICATE", "saml.idp_certificates[1]"},
		{"only expired certificates", "companies/acme", saml(func(c *connectionv1.Connection) { c.Saml.IdpCertificates = []string{expired.PEM} }), codes.InvalidArgument, "CERTIFICATES_EXPIRED", "saml.idp_certificates[0]"},
		{"metadata with a DTD", "companies/acme", saml(func(c *connectionv1.Connection) {
			c.Saml.IdpMetadataXml = readFile(t, "internal/metadata/testdata/hostile/billion-laughs.xml")
		}), codes.InvalidArgument, "METADATA_HAS_DTD", "saml.idp_metadata_xml"},
		{"metadata without a signing key", "companies/acme", saml(func(c *connectionv1.Connection) {
			c.Saml.IdpMetadataXml = readFile(t, "internal/metadata/testdata/hostile/no-signing-key.xml")
		}), codes.InvalidArgument, "METADATA_NO_SIGNING_KEY", "saml.idp_metadata_xml"},
		{"metadata without an identity provider", "companies/acme", saml(func(c *connectionv1.Connection) {
			c.Saml.IdpMetadataXml = readFile(t, "internal/metadata/testdata/hostile/no-idp-descriptor.xml")
		}), codes.InvalidArgument, "METADATA_NO_IDP_DESCRIPTOR", "saml.idp_metadata_xml"},
		{"garbage metadata", "companies/acme", saml(func(c *connectionv1.Connection) { c.Saml.IdpMetadataXml = "{}" }), codes.InvalidArgument, "METADATA_MALFORMED", "saml.idp_metadata_xml"},
		{"metadata both inline and by URL", "companies/acme", saml(func(c *connectionv1.Connection) {
			c.Saml.IdpMetadataXml, c.Saml.IdpMetadataUrl = readFile(t, "internal/metadata/testdata/okta.xml"), "https://idp.example.com/md"
		}), codes.InvalidArgument, "METADATA_CONFLICT", "saml.idp_metadata_url"},
		{"a metadata URL over http", "companies/acme", saml(func(c *connectionv1.Connection) { c.Saml.IdpMetadataUrl = "http://idp.example.com/md" }), codes.InvalidArgument, "INSECURE_URL", "saml.idp_metadata_url"},
		{"a clock skew over 180 seconds", "companies/acme", saml(func(c *connectionv1.Connection) { c.Saml.ClockSkewSeconds = 181 }), codes.InvalidArgument, "INVALID_CLOCK_SKEW", "saml.clock_skew_seconds"},
		{"a malformed domain", "companies/acme", saml(func(c *connectionv1.Connection) { c.Domains = []string{"example.com", "https://x.example"} }), codes.InvalidArgument, "INVALID_DOMAIN", "domains[1]"},
		{"an unverified domain", "companies/acme", saml(func(c *connectionv1.Connection) { c.Domains = []string{"unknown.example"} }), codes.FailedPrecondition, "DOMAIN_NOT_VERIFIED", "domains[0]"},
		{"a domain verified by another owner", "companies/acme", saml(func(c *connectionv1.Connection) { c.Domains = []string{"example.com", "rival.example"} }), codes.FailedPrecondition, "DOMAIN_NOT_VERIFIED", "domains[1]"},
		{"an organization of another company", "companies/acme", saml(func(c *connectionv1.Connection) {
			c.Organizations = []string{"organizations/eng", "organizations/rival-org"}
		}), codes.FailedPrecondition, "ORGANIZATION_OUTSIDE_OWNER", "organizations[1]"},
		{"an unknown organization", "companies/acme", saml(func(c *connectionv1.Connection) { c.Organizations = []string{"organizations/ghost"} }), codes.FailedPrecondition, "ORGANIZATION_OUTSIDE_OWNER", "organizations[0]"},
		{"another organization on an organization's connection", "organizations/solo", saml(func(c *connectionv1.Connection) { c.Organizations = []string{"organizations/eng"} }), codes.FailedPrecondition, "ORGANIZATION_OUTSIDE_OWNER", "organizations[0]"},
		{"a malformed organization", "companies/acme", saml(func(c *connectionv1.Connection) { c.Organizations = []string{"eng"} }), codes.InvalidArgument, "INVALID_ORGANIZATION", "organizations[0]"},
		{"a default organization that is not covered", "companies/acme", saml(func(c *connectionv1.Connection) {
			c.Organizations, c.DefaultOrganization = []string{"organizations/eng"}, "organizations/ops"
		}), codes.FailedPrecondition, "DEFAULT_ORGANIZATION_NOT_COVERED", "default_organization"},
		{"a default team outside the default organization", "companies/acme", saml(func(c *connectionv1.Connection) {
			c.Organizations, c.DefaultOrganization, c.DefaultTeam = []string{"organizations/eng", "organizations/ops"}, "organizations/eng", "organizations/ops/teams/oncall"
		}), codes.FailedPrecondition, "DEFAULT_TEAM_OUTSIDE_ORGANIZATION", "default_team"},
		{"a default team that does not exist", "companies/acme", saml(func(c *connectionv1.Connection) {
			c.Organizations, c.DefaultTeam = []string{"organizations/eng"}, "organizations/eng/teams/ghosts"
		}), codes.FailedPrecondition, "DEFAULT_TEAM_OUTSIDE_ORGANIZATION", "default_team"},
		{"an attribute name with a control character", "companies/acme", saml(func(c *connectionv1.Connection) {
			c.AttributeMapping = &connectionv1.AttributeMapping{Groups: "gro\nups"}
		}), codes.InvalidArgument, "INVALID_ATTRIBUTE_NAME", "attribute_mapping.groups"},
		{"an active connection without an IdP", "companies/acme", saml(func(c *connectionv1.Connection) { c.State = connectionv1.ConnectionState_CONNECTION_STATE_ACTIVE }), codes.FailedPrecondition, "CONNECTION_INCOMPLETE", "saml.idp_entity_id"},
		{"a session over 90 days", "companies/acme", saml(func(c *connectionv1.Connection) { c.DefaultSessionMinutes = 90*24*60 + 1 }), codes.InvalidArgument, "INVALID_SESSION_MINUTES", "default_session_minutes"},
		{"an OIDC connection without a provider", "companies/acme", &connectionv1.Connection{DisplayName: "x", Type: connectionv1.ConnectionType_CONNECTION_TYPE_OIDC, Oidc: &connectionv1.OidcConfig{}}, codes.InvalidArgument, "INVALID_OIDC_PROVIDER", "oidc.provider"},
		{"an OIDC issuer over http", "companies/acme", &connectionv1.Connection{DisplayName: "x", Type: connectionv1.ConnectionType_CONNECTION_TYPE_OIDC, Oidc: &connectionv1.OidcConfig{
			Provider: connectionv1.OidcProvider_OIDC_PROVIDER_GENERIC, IssuerUrl: "http://issuer.example.com"}}, codes.InvalidArgument, "INSECURE_URL", "oidc.issuer_url"},
		{"an Entra tenant that is not a domain", "companies/acme", &connectionv1.Connection{DisplayName: "x", Type: connectionv1.ConnectionType_CONNECTION_TYPE_OIDC, Oidc: &connectionv1.OidcConfig{
			Provider: connectionv1.OidcProvider_OIDC_PROVIDER_ENTRA_ID, TenantDomain: "contoso/../x"}}, codes.InvalidArgument, "INVALID_TENANT", "oidc.tenant_domain"},
		{"a scope with a space", "companies/acme", &connectionv1.Connection{DisplayName: "x", Type: connectionv1.ConnectionType_CONNECTION_TYPE_OIDC, Oidc: &connectionv1.OidcConfig{
			Provider: connectionv1.OidcProvider_OIDC_PROVIDER_GENERIC, Scopes: []string{"openid", "a b"}}}, codes.InvalidArgument, "INVALID_SCOPE", "oidc.scopes[1]"},
	} {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			_, err := e.client.CreateConnection(ctx, &connectionv1.CreateConnectionRequest{Parent: tc.parent, Connection: tc.conn})
			wantReason(t, err, tc.code, tc.reason, tc.field)
		})
	}
	_, err := e.client.CreateConnection(ctx, &connectionv1.CreateConnectionRequest{Parent: "companies/acme", Connection: saml(func(c *connectionv1.Connection) {
		c.Domains = []string{"rival.example"}
	})})
	if err == nil || strings.Contains(err.Error(), "companies/rival") {
		t.Fatalf("the refusal names the holder of the domain: %v", err)
	}
	if _, _, md := rpcerror.Info(err); len(md) != 1 {
		t.Fatalf("the refusal carries more than the field: %v", md)
	}
	for _, owner := range []string{"companies/acme", "organizations/solo", "organizations/free"} {
		if list, err := e.client.ListConnections(ctx, &connectionv1.ListConnectionsRequest{Parent: owner}); err != nil || len(list.GetConnections()) != 0 {
			t.Fatalf("refused creates left connections for %s: %v, %v", owner, list, err)
		}
	}
	// A change leaves its audit event in the outbox until provisioning has it, and counts its
	// delivery before it deletes it: none in either place, and none received, means none made.
	if ev, pending, delivered := e.dir.recorded(), e.metric("connection_audit_events_pending"),
		e.metric("connection_audit_events_delivered_total"); len(ev) != 0 || pending != 0 || delivered != 0 {
		t.Fatalf("refused creates were audited: %d pending, %v delivered, received %v", int(pending), delivered, ev)
	}
}

func TestOwnersAndOrganizationsFollowTheDirectory(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sqlstoretest.Backends()[0])
	e.verify("organizations/solo", "solo.example")
	for _, tc := range []struct {
		name, parent  string
		conn          *connectionv1.Connection
		wantOrgs      string
		wantDefault   string
		wantTeam      string
		wantEnforcing bool
	}{
		{"an organization on the business plan outside a company gets its own connection covering itself", "organizations/solo",
			&connectionv1.Connection{DisplayName: "Solo", Type: connectionv1.ConnectionType_CONNECTION_TYPE_SAML, Domains: []string{"solo.example"}, DefaultTeam: "organizations/solo/teams/core"},
			"organizations/solo", "organizations/solo", "organizations/solo/teams/core", false},
		{"an organization inside a company may hold a connection on the company's plan", "organizations/ops",
			&connectionv1.Connection{DisplayName: "Ops", Type: connectionv1.ConnectionType_CONNECTION_TYPE_SAML},
			"organizations/ops", "organizations/ops", "", false},
		{"a company connection covers several of its organizations, each once, with a default team", "companies/acme",
			&connectionv1.Connection{DisplayName: "Acme", Type: connectionv1.ConnectionType_CONNECTION_TYPE_SAML,
				Organizations: []string{"organizations/eng", "organizations/ops", "organizations/eng"}, DefaultOrganization: "organizations/ops", DefaultTeam: "organizations/ops/teams/oncall"},
			"organizations/eng,organizations/ops", "organizations/ops", "organizations/ops/teams/oncall", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := e.client.CreateConnection(ctx, &connectionv1.CreateConnectionRequest{Parent: tc.parent, Connection: tc.conn})
			if err != nil {
				t.Fatal(err)
			}
			c := r.GetConnection()
			if strings.Join(c.GetOrganizations(), ",") != tc.wantOrgs || c.GetDefaultOrganization() != tc.wantDefault || c.GetDefaultTeam() != tc.wantTeam {
				t.Fatalf("connection %v", c)
			}
		})
	}
}

func TestUpdatesFollowTheFieldMask(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sqlstoretest.Backends()[0])
	e.verify("companies/acme", "example.com")
	e.verify("companies/acme", "example.org")
	created, err := e.client.CreateConnection(ctx, &connectionv1.CreateConnectionRequest{
		Parent: "companies/acme", Connection: samlFromMetadata(t, "internal/metadata/testdata/adfs.xml", "example.com"),
	})
	if err != nil {
		t.Fatal(err)
	}
	name := created.GetConnection().GetName()
	update := func(c *connectionv1.Connection, paths ...string) (*connectionv1.Connection, error) {
		c.Name = name
		r, err := e.client.UpdateConnection(ctx, &connectionv1.UpdateConnectionRequest{Connection: c, UpdateMask: mask(paths...)})
		return r.GetConnection(), err
	}
	if n := len(created.GetConnection().GetSaml().GetIdpCertificates()); n != 2 {
		t.Fatalf("ADFS metadata gave %d certificates", n)
	}

	t.Run("a dotted path changes one field and leaves its siblings", func(t *testing.T) {
		c, err := update(&connectionv1.Connection{AttributeMapping: &connectionv1.AttributeMapping{Groups: "roles", Email: "ignored"}}, "attribute_mapping.groups")
		if err != nil {
			t.Fatal(err)
		}
		if c.GetAttributeMapping().GetGroups() != "roles" || c.GetAttributeMapping().GetEmail() != "" {
			t.Fatalf("mapping %v", c.GetAttributeMapping())
		}
		c, err = update(&connectionv1.Connection{Saml: &connectionv1.SamlConfig{ClockSkewSeconds: 120}}, "saml.clock_skew_seconds")
		if err != nil || c.GetSaml().GetClockSkewSeconds() != 120 || len(c.GetSaml().GetIdpCertificates()) != 2 {
			t.Fatalf("saml %v, %v", c.GetSaml(), err)
		}
	})

	t.Run("the IdP certificates are replaced as a set for a rotation", func(t *testing.T) {
		next := certstest.New(t, certstest.Options{CommonName: "adfs-next"})
		cur := created.GetConnection().GetSaml().GetIdpCertificates()[0]
		c, err := update(&connectionv1.Connection{Saml: &connectionv1.SamlConfig{IdpCertificates: []string{cur, next.Base64}}}, "saml.idp_certificates")
		if err != nil {
			t.Fatal(err)
		}
		if len(c.GetSaml().GetCertificateInfo()) != 2 || c.GetSaml().GetCertificateInfo()[1].GetSubject() != "CN=adfs-next" || !strings.HasPrefix(c.GetSaml().GetIdpCertificates()[1], "-----BEGIN CERTIFICATE-----") {
			t.Fatalf("certificates %v", c.GetSaml().GetCertificateInfo())
		}
	})

	t.Run("domains are replaced and new ones are checked", func(t *testing.T) {
		c, err := update(&connectionv1.Connection{Domains: []string{"example.org", "EXAMPLE.com"}}, "domains")
		if err != nil || strings.Join(c.GetDomains(), ",") != "example.org,example.com" {
			t.Fatalf("domains %v, %v", c.GetDomains(), err)
		}
		_, err = update(&connectionv1.Connection{Domains: []string{"example.org", "unverified.example"}}, "domains")
		wantReason(t, err, codes.FailedPrecondition, "DOMAIN_NOT_VERIFIED", "domains[1]")
	})

	t.Run("bad masks are refused and change nothing", func(t *testing.T) {
		before, _ := e.client.GetConnection(ctx, &connectionv1.GetConnectionRequest{Name: name})
		for _, tc := range []struct {
			name   string
			paths  []string
			reason string
			field  string
		}{
			{"an empty mask", nil, "MISSING_UPDATE_MASK", "update_mask"},
			{"an unknown field", []string{"display_name", "colour"}, "UNKNOWN_FIELD", "colour"},
			{"an unknown mapping field", []string{"attribute_mapping.department"}, "UNKNOWN_FIELD", "attribute_mapping.department"},
			{"the type", []string{"type"}, "FIELD_NOT_UPDATABLE", "type"},
			{"an output field", []string{"service_provider.entity_id"}, "FIELD_NOT_UPDATABLE", "service_provider.entity_id"},
			{"OIDC fields on a SAML connection", []string{"oidc.client_id"}, "FIELD_NOT_APPLICABLE", "oidc.client_id"},
			{"an empty metadata document", []string{"saml.idp_metadata_xml"}, "MISSING_FIELD", "saml.idp_metadata_xml"},
		} {
			t.Run("refuses "+tc.name, func(t *testing.T) {
				_, err := update(&connectionv1.Connection{DisplayName: "changed"}, tc.paths...)
				wantReason(t, err, codes.InvalidArgument, tc.reason, tc.field)
			})
		}
		_, err := update(&connectionv1.Connection{DisplayName: "changed", Saml: &connectionv1.SamlConfig{IdpSsoUrl: "http://idp.example.com"}}, "display_name", "saml.idp_sso_url")
		wantReason(t, err, codes.InvalidArgument, "INSECURE_URL", "saml.idp_sso_url")
		_, err = update(&connectionv1.Connection{DefaultOrganization: "organizations/ops"}, "default_organization")
		wantReason(t, err, codes.FailedPrecondition, "DEFAULT_ORGANIZATION_NOT_COVERED", "default_organization")
		after, _ := e.client.GetConnection(ctx, &connectionv1.GetConnectionRequest{Name: name})
		if !proto.Equal(before, after) {
			t.Fatalf("a refused update changed the connection:\n%v\n%v", before, after)
		}
	})

	t.Run("new metadata replaces the IdP side", func(t *testing.T) {
		c, err := update(&connectionv1.Connection{Saml: &connectionv1.SamlConfig{IdpMetadataXml: readFile(t, "internal/metadata/testdata/google-workspace.xml")}}, "saml.idp_metadata_xml")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(c.GetSaml().GetIdpEntityId(), "https://accounts.google.com/") || len(c.GetSaml().GetIdpCertificates()) != 1 || c.GetSaml().GetClockSkewSeconds() != 120 {
			t.Fatalf("saml %v", c.GetSaml())
		}
	})
}

func TestMetadataIsFetchedFromAURL(t *testing.T) {
	t.Parallel()
	okta := readFile(t, "internal/metadata/testdata/okta.xml")
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/app/metadata" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/samlmetadata+xml")
		_, _ = w.Write([]byte(okta))
	})
	tlsSrv := httptest.NewTLSServer(handler)
	defer tlsSrv.Close()
	devSrv := httptest.NewServer(handler)
	defer devSrv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(tlsSrv.Certificate())
	// The test's CA is the only thing the tests change; the address check is the service's own.
	withRoots := func(_ *connection.Config, o *connection.Options) { o.MetadataRootCAs = roots }
	// The operator's switch, read as the binary reads it.
	allowPrivate := func(c *connection.Config, _ *connection.Options) {
		loaded, err := connection.LoadConfig(config.NewReader(config.MapLookup(map[string]string{
			"ENCRYPTION_KEY": seal.NewKey(), "CONNECTION_METADATA_ALLOW_PRIVATE": "true",
		})))
		if err != nil || !loaded.MetadataAllowPrivate {
			t.Fatalf("CONNECTION_METADATA_ALLOW_PRIVATE=true read as %v, %v", loaded.MetadataAllowPrivate, err)
		}
		c.MetadataAllowPrivate = loaded.MetadataAllowPrivate
	}
	strict := newEnv(t, sqlstoretest.Backends()[0], withRoots)
	private := strict.startReplica(t, withRoots, allowPrivate)
	for _, tc := range []struct {
		name, url string
		client    connectionv1.ConnectionServiceClient
		code      codes.Code
		reason    string
		says      string
	}{
		{"an https URL on loopback is refused by default", tlsSrv.URL + "/app/metadata", strict.client, codes.FailedPrecondition, "METADATA_FETCH_FAILED",
			"The metadata URL could not be fetched. The host resolves to 127.0.0.1, a loopback address, which this service does not connect to unless the operator sets CONNECTION_METADATA_ALLOW_PRIVATE=true."},
		{"a plain http URL on loopback is refused before any request", devSrv.URL + "/app/metadata", strict.client, codes.InvalidArgument, "INSECURE_URL", "the URL must use https"},
		{"the cloud metadata address is refused", "https://169.254.169.254/latest/meta-data", private.client, codes.FailedPrecondition, "METADATA_FETCH_FAILED", "a link-local address"},
		{"an https URL on loopback is fetched with CONNECTION_METADATA_ALLOW_PRIVATE=true", tlsSrv.URL + "/app/metadata", private.client, codes.OK, "", ""},
		{"a plain http URL stays refused with private addresses allowed", devSrv.URL + "/app/metadata", private.client, codes.InvalidArgument, "INSECURE_URL", "the URL must use https"},
		{"a URL that answers 404 is refused", tlsSrv.URL + "/missing", private.client, codes.FailedPrecondition, "METADATA_FETCH_FAILED",
			"The metadata URL could not be fetched. The server answered 404 Not Found instead of 200 OK."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := tc.client.CreateConnection(ctx, &connectionv1.CreateConnectionRequest{Parent: "companies/acme", Connection: &connectionv1.Connection{
				DisplayName: "Okta", Type: connectionv1.ConnectionType_CONNECTION_TYPE_SAML, Saml: &connectionv1.SamlConfig{IdpMetadataUrl: tc.url},
			}})
			if tc.reason != "" {
				wantReason(t, err, tc.code, tc.reason, "saml.idp_metadata_url")
				if msg := status.Convert(err).Message(); !strings.Contains(msg, tc.says) {
					t.Fatalf("message %q, want it to say %q", msg, tc.says)
				}
				return
			}
			if err != nil || r.GetConnection().GetSaml().GetIdpEntityId() != "http://www.okta.com/exk1a2b3c4d5e6f7g8h9" {
				t.Fatalf("created %v, %v", r, err)
			}
		})
	}
}

func TestOIDCConnectionsKeepTheirSecretSealed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sqlstoretest.Backends()[0])
	r, err := e.client.CreateConnection(ctx, &connectionv1.CreateConnectionRequest{Parent: "companies/acme", Connection: &connectionv1.Connection{
		DisplayName: "Entra ID", Type: connectionv1.ConnectionType_CONNECTION_TYPE_OIDC, Organizations: []string{"organizations/eng"},
		Oidc: &connectionv1.OidcConfig{Provider: connectionv1.OidcProvider_OIDC_PROVIDER_ENTRA_ID, TenantDomain: "Contoso.onmicrosoft.com",
			ClientId: "11111111-2222-3333-4444-555555555555", ClientSecret: "s3cr3t-value"},
		State: connectionv1.ConnectionState_CONNECTION_STATE_ACTIVE,
	}})
	if err != nil {
		t.Fatal(err)
	}
	c := r.GetConnection()
	o := c.GetOidc()
	if o.GetIssuerUrl() != "https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0" || !o.GetClientSecretSet() || o.GetClientSecret() != "" ||
		strings.Join(o.GetScopes(), " ") != "openid email profile" || c.GetServiceProvider().GetRedirectUrl() == "" || c.GetServiceProvider().GetEntityId() != "" {
		t.Fatalf("oidc %v / %v", o, c.GetServiceProvider())
	}
	if strings.Contains(c.String(), "s3cr3t") {
		t.Fatal("the response carries the secret")
	}
	id := c.GetName()[strings.LastIndexByte(c.GetName(), '/')+1:]
	if c.GetServiceProvider().GetRedirectUrl() != "https://sso.iechor.test/oidc/"+id+"/callback" {
		t.Fatalf("redirect URL %s", c.GetServiceProvider().GetRedirectUrl())
	}
	runtime := func() *connectionv1.RuntimeConnection {
		rt, err := e.runtime.GetRuntimeConnection(ctx, &connectionv1.GetRuntimeConnectionRequest{Connection: c.GetName()})
		if err != nil {
			t.Fatal(err)
		}
		return rt.GetConnection()
	}
	if rt := runtime(); rt.GetOidcClientSecret() != "s3cr3t-value" || rt.GetOidcIssuerUrl() != o.GetIssuerUrl() || rt.GetAttributeMapping().GetEmail()[0] != "email" {
		t.Fatalf("runtime %v", rt)
	}
	// A client that sends back the OIDC side it read has no secret: the stored one stays.
	read, _ := e.client.GetConnection(ctx, &connectionv1.GetConnectionRequest{Name: c.GetName()})
	read.GetConnection().GetOidc().ClientId = "new-client"
	if _, err := e.client.UpdateConnection(ctx, &connectionv1.UpdateConnectionRequest{Connection: read.GetConnection(), UpdateMask: mask("oidc")}); err != nil {
		t.Fatal(err)
	}
	if rt := runtime(); rt.GetOidcClientSecret() != "s3cr3t-value" || rt.GetOidcClientId() != "new-client" {
		t.Fatalf("after a whole-OIDC update: %v", rt)
	}
	_, err = e.client.UpdateConnection(ctx, &connectionv1.UpdateConnectionRequest{
		Connection: &connectionv1.Connection{Name: c.GetName(), Oidc: &connectionv1.OidcConfig{}}, UpdateMask: mask("oidc.client_secret"),
	})
	wantReason(t, err, codes.FailedPrecondition, "CONNECTION_INCOMPLETE", "oidc.client_secret")
	_, err = e.internal.GetServiceProviderMetadata(ctx, &connectionv1.GetServiceProviderMetadataRequest{ConnectionId: id})
	wantReason(t, err, codes.FailedPrecondition, "NOT_A_SAML_CONNECTION", "connection_id")
}

func TestServiceProviderKeysRotateWithAnOverlap(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sqlstoretest.Backends()[0])
	r, err := e.client.CreateConnection(ctx, &connectionv1.CreateConnectionRequest{Parent: "companies/acme", Connection: samlFromMetadata(t, "internal/metadata/testdata/okta.xml")})
	if err != nil {
		t.Fatal(err)
	}
	name := r.GetConnection().GetName()
	first := r.GetConnection().GetServiceProvider().GetCertificates()[0].GetCertificatePem()
	_, err = e.client.RotateServiceProviderKey(ctx, &connectionv1.RotateServiceProviderKeyRequest{Name: name, OverlapHours: -1})
	wantReason(t, err, codes.InvalidArgument, "INVALID_OVERLAP", "overlap_hours")
	before := time.Now()
	rot, err := e.client.RotateServiceProviderKey(ctx, &connectionv1.RotateServiceProviderKeyRequest{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	cs := rot.GetConnection().GetServiceProvider().GetCertificates()
	if len(cs) != 2 || !cs[0].GetActive() || cs[1].GetActive() || cs[1].GetCertificatePem() != first || cs[0].GetCertificatePem() == first || cs[0].GetRetireTime() != nil {
		t.Fatalf("certificates after rotation %v", cs)
	}
	if retire := cs[1].GetRetireTime().AsTime(); retire.Before(before.Add(167*time.Hour)) || retire.After(time.Now().Add(169*time.Hour)) {
		t.Fatalf("the previous key retires at %v, want a week from now", retire)
	}
	rt, err := e.runtime.GetRuntimeConnection(ctx, &connectionv1.GetRuntimeConnectionRequest{Connection: name})
	if err != nil || len(rt.GetConnection().GetSpKeys()) != 2 || !rt.GetConnection().GetSpKeys()[0].GetActive() || rt.GetConnection().GetSpKeys()[1].GetPrivateKeyPem() == "" {
		t.Fatalf("runtime keys %v, %v", rt.GetConnection().GetSpKeys(), err)
	}
	md, _ := e.internal.GetServiceProviderMetadata(ctx, &connectionv1.GetServiceProviderMetadataRequest{ConnectionId: name})
	if strings.Count(md.GetMetadataXml(), "<ds:X509Certificate>") != 4 {
		t.Fatalf("the metadata does not publish both keys for signing and encryption:\n%s", md.GetMetadataXml())
	}
}

func TestWarningsAreRecomputedAsTimePasses(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Now()}
	e := newEnv(t, sqlstoretest.Backends()[0], func(_ *connection.Config, o *connection.Options) { o.Now = clock.Now })
	now := clock.Now()
	soon := certstest.New(t, certstest.Options{Now: now, CommonName: "soon", NotAfter: now.AddDate(0, 0, 40)})
	weak := certstest.New(t, certstest.Options{Now: now, CommonName: "weak", RSABits: 1024, SHA1: true})
	r, err := e.client.CreateConnection(ctx, &connectionv1.CreateConnectionRequest{Parent: "companies/acme", Connection: &connectionv1.Connection{
		DisplayName: "Old IdP", Type: connectionv1.ConnectionType_CONNECTION_TYPE_SAML,
		Saml: &connectionv1.SamlConfig{IdpEntityId: "urn:idp", IdpSsoUrl: "https://idp.example.com/sso", IdpCertificates: []string{soon.PEM, weak.PEM}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	codesOf := func(c *connectionv1.Connection) string {
		var out []string
		for _, w := range c.GetWarnings() {
			out = append(out, w.GetCode()+"@"+w.GetField())
		}
		return strings.Join(out, " ")
	}
	if got := codesOf(r.GetConnection()); got != "WEAK_RSA_KEY@saml.idp_certificates[1] SHA1_CERTIFICATE_SIGNATURE@saml.idp_certificates[1]" {
		t.Fatalf("warnings at creation: %s", got)
	}
	clock.Advance(15 * 24 * time.Hour)
	got, _ := e.client.GetConnection(ctx, &connectionv1.GetConnectionRequest{Name: r.GetConnection().GetName()})
	if w := codesOf(got.GetConnection()); !strings.HasPrefix(w, "CERTIFICATE_EXPIRING@saml.idp_certificates[0] ") {
		t.Fatalf("warnings fifteen days later: %s", w)
	}
	clock.Advance(30 * 24 * time.Hour)
	got, _ = e.client.GetConnection(ctx, &connectionv1.GetConnectionRequest{Name: r.GetConnection().GetName()})
	if w := codesOf(got.GetConnection()); !strings.HasPrefix(w, "CERTIFICATE_EXPIRED@saml.idp_certificates[0] ") {
		t.Fatalf("warnings after expiry: %s", w)
	}

	t.Run("metadata that advertises no email warns until the mapping names one it advertises", func(t *testing.T) {
		r, err := e.client.CreateConnection(ctx, &connectionv1.CreateConnectionRequest{Parent: "companies/acme", Connection: samlFromMetadata(t, "internal/metadata/testdata/entra-id.xml")})
		if err != nil {
			t.Fatal(err)
		}
		if w := codesOf(r.GetConnection()); w != "NO_EMAIL_ATTRIBUTE@attribute_mapping.email" {
			t.Fatalf("warnings %s", w)
		}
		adfs, err := e.client.CreateConnection(ctx, &connectionv1.CreateConnectionRequest{Parent: "companies/acme", Connection: samlFromMetadata(t, "internal/metadata/testdata/adfs.xml")})
		if err != nil || codesOf(adfs.GetConnection()) != "" {
			t.Fatalf("ADFS advertises its email claim: %v, %v", codesOf(adfs.GetConnection()), err)
		}
		up, err := e.client.UpdateConnection(ctx, &connectionv1.UpdateConnectionRequest{
			Connection: &connectionv1.Connection{Name: adfs.GetConnection().GetName(), AttributeMapping: &connectionv1.AttributeMapping{Email: "mail"}},
			UpdateMask: mask("attribute_mapping.email"),
		})
		if err != nil || codesOf(up.GetConnection()) != "NO_EMAIL_ATTRIBUTE@attribute_mapping.email" {
			t.Fatalf("a mapping to an attribute the metadata does not advertise: %v, %v", codesOf(up.GetConnection()), err)
		}
	})
}
