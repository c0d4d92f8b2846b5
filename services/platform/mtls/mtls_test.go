package mtls_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/iechor/sso/services/platform/config"
	"github.com/iechor/sso/services/platform/grpcclient"
	"github.com/iechor/sso/services/platform/grpcserver"
	"github.com/iechor/sso/services/platform/mtls"
)

type pki struct {
	dir    string
	caCert *x509.Certificate
	caKey  *ecdsa.PrivateKey
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func newPKI(t *testing.T) *pki {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test internal CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	p := &pki{dir: t.TempDir(), caCert: cert, caKey: key}
	writePEM(t, filepath.Join(p.dir, "ca.pem"), "CERTIFICATE", der)
	return p
}

// issue writes a certificate for name signed by the CA (or by itself when selfSigned), with the URI
// SAN spiffe://iechor.internal/sso/<name>, and returns the configuration of it.
func (p *pki) issue(t *testing.T, name string, selfSigned bool) mtls.Config {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		URIs:        []*url.URL{mtls.ServiceID(mtls.DefaultTrustDomain, name)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		KeyUsage:    x509.KeyUsageDigitalSignature,
	}
	parent, signer := p.caCert, p.caKey
	if selfSigned {
		parent, signer = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	f := mtls.Files{Cert: filepath.Join(p.dir, name+".pem"), Key: filepath.Join(p.dir, name+"-key.pem"), CA: filepath.Join(p.dir, "ca.pem")}
	writePEM(t, f.Cert, "CERTIFICATE", der)
	writePEM(t, f.Key, "PRIVATE KEY", keyDER)
	return mtls.Config{Files: f}
}

func TestServicesTalkOverMutualTLSAndRefuseStrangers(t *testing.T) {
	p := newPKI(t)
	serverTLS, err := p.issue(t, "domain", false).Server()
	if err != nil {
		t.Fatal(err)
	}
	s := grpcserver.New(grpcserver.Options{TLS: serverTLS, ReadyInterval: 10 * time.Millisecond})
	lis, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = s.Serve(ctx, lis) }()

	check := func(clientTLS *tls.Config) error {
		conn, err := grpcclient.Dial(lis.Addr().String(), clientTLS)
		if err != nil {
			return err
		}
		defer conn.Close()
		cctx, ccancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer ccancel()
		_, err = healthpb.NewHealthClient(conn).Check(cctx, &healthpb.HealthCheckRequest{})
		return err
	}
	member, err := p.issue(t, "gateway", false).Client()
	if err != nil {
		t.Fatal(err)
	}
	if err := check(member); err != nil {
		t.Fatalf("a peer with a certificate from the CA was refused: %v", err)
	}
	stranger, err := p.issue(t, "stranger", true).Client()
	if err != nil {
		t.Fatal(err)
	}
	stranger.RootCAs = member.RootCAs // it trusts the server, but the server must not trust it
	// Go's client keeps a certificate of a CA that the server does not ask for to itself; a
	// stranger sends it anyway.
	own := stranger.Certificates[0]
	stranger.Certificates = nil
	stranger.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &own, nil }
	if err := check(stranger); status.Code(err) != codes.Unavailable {
		t.Fatalf("a peer with a self-signed certificate: %v, want the handshake refused", err)
	}
	// Health is open: a probe without a certificate may ask it (what else it may call, the caller
	// check decides: nothing).
	noCert := &tls.Config{RootCAs: member.RootCAs, MinVersion: tls.VersionTLS13}
	if err := check(noCert); err != nil {
		t.Fatalf("a probe without a certificate could not ask health: %v", err)
	}
	if err := check(nil); status.Code(err) != codes.Unavailable {
		t.Fatalf("a plaintext peer: %v, want the connection refused", err)
	}
}

func TestTheCertificateNamesItsServiceInOneURISAN(t *testing.T) {
	ca, err := mtls.NewCA("iechor.internal")
	if err != nil {
		t.Fatal(err)
	}
	gateway, err := ca.Issue("gateway")
	if err != nil {
		t.Fatal(err)
	}
	leaf := gateway.Identity.Certificate.Leaf
	uri := func(s string) *url.URL {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	for _, tc := range []struct {
		name string
		uris []*url.URL
		want string // the service, or "" for none
	}{
		{"the issued certificate names its service", leaf.URIs, "gateway"},
		{"a certificate with DNS names only names none", nil, ""},
		{"two URI SANs name none", []*url.URL{uri("spiffe://iechor.internal/sso/gateway"), uri("spiffe://iechor.internal/sso/assertion")}, ""},
		{"another trust domain names none", []*url.URL{uri("spiffe://evil.example/sso/gateway")}, ""},
		{"a trust domain in capitals names none", []*url.URL{uri("spiffe://IECHOR.internal/sso/gateway")}, ""},
		{"an https URI names none", []*url.URL{uri("https://iechor.internal/sso/gateway")}, ""},
		{"a path outside /sso/ names none", []*url.URL{uri("spiffe://iechor.internal/ns/default/sa/gateway")}, ""},
		{"a nested path names none", []*url.URL{uri("spiffe://iechor.internal/sso/gateway/extra")}, ""},
		{"a service in capitals names none", []*url.URL{uri("spiffe://iechor.internal/sso/Gateway")}, ""},
		{"a port names none", []*url.URL{uri("spiffe://iechor.internal:443/sso/gateway")}, ""},
		{"a query names none", []*url.URL{uri("spiffe://iechor.internal/sso/gateway?as=assertion")}, ""},
		{"user info names none", []*url.URL{uri("spiffe://assertion@iechor.internal/sso/gateway")}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := *leaf
			c.URIs = tc.uris
			got, err := mtls.ServiceOf(&c, "iechor.internal")
			switch {
			case tc.want != "" && (err != nil || got != tc.want):
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			case tc.want == "" && (err == nil || !errors.Is(err, mtls.ErrNotAService)):
				t.Fatalf("got %q, %v; want ErrNotAService", got, err)
			}
		})
	}
}

func TestConfiguration(t *testing.T) {
	load := func(env map[string]string) mtls.Config {
		return mtls.Load(config.NewReader(config.MapLookup(env)))
	}
	t.Run("the defaults are no mutual TLS, the default trust domain and a closed check", func(t *testing.T) {
		c := load(nil)
		if c.Enabled() || c.Domain() != "iechor.internal" || c.AllowUnidentifiedCallers || c.Validate() != nil {
			t.Fatalf("%+v", c)
		}
		if tlsConfig, err := c.Server(); tlsConfig != nil || err != nil {
			t.Fatalf("a server without files: %v, %v", tlsConfig, err)
		}
	})
	for _, tc := range []struct {
		name string
		env  map[string]string
		bad  string // part of the error, or "" when the configuration is valid
	}{
		{"the files come together", map[string]string{"GRPC_TLS_CERT": "a"}, "must be set together"},
		{"a trust domain of another form is refused", map[string]string{"GRPC_TRUST_DOMAIN": "spiffe://x"}, "GRPC_TRUST_DOMAIN"},
		{"a trust domain in capitals is refused", map[string]string{"GRPC_TRUST_DOMAIN": "Acme.internal"}, "GRPC_TRUST_DOMAIN"},
		{"a trust domain of our own is taken", map[string]string{"GRPC_TRUST_DOMAIN": "sso.acme.internal"}, ""},
		{"the development switch alone is taken", map[string]string{"GRPC_ALLOW_UNIDENTIFIED_CALLERS": "true"}, ""},
		{"the development switch beside mutual TLS is refused", map[string]string{"GRPC_ALLOW_UNIDENTIFIED_CALLERS": "true",
			"GRPC_TLS_CERT": "c", "GRPC_TLS_KEY": "k", "GRPC_TLS_CA": "ca"}, "GRPC_ALLOW_UNIDENTIFIED_CALLERS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := load(tc.env).Validate()
			switch {
			case tc.bad == "" && err != nil:
				t.Fatal(err)
			case tc.bad != "" && (err == nil || !strings.Contains(err.Error(), tc.bad)):
				t.Fatalf("error %v, want one naming %s", err, tc.bad)
			}
		})
	}
}

func TestTheInProcessCAIssuesOnlyWellFormedIdentities(t *testing.T) {
	if _, err := mtls.NewCA("Not A Domain"); err == nil {
		t.Fatal("a CA of a malformed trust domain was made")
	}
	ca, err := mtls.NewCA("iechor.internal")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"", "Gateway", "gate/way", "1gateway", "gateway?x"} {
		if _, err := ca.Issue(name); err == nil {
			t.Errorf("a certificate for %q was issued", name)
		}
	}
	issued, err := ca.Issue("assertion")
	if err != nil {
		t.Fatal(err)
	}
	leaf := issued.Identity.Certificate.Leaf
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: issued.Identity.Roots, DNSName: "localhost",
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("the issued certificate does not verify as a client of the CA: %v", err)
	}
	if issued.Domain() != "iechor.internal" || !issued.Enabled() || issued.Validate() != nil {
		t.Fatalf("the issued configuration: %+v", issued)
	}
}
