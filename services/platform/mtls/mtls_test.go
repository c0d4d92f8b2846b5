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
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

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

// issue writes a certificate for name signed by the CA (or by itself when selfSigned) and returns
// the Files of it.
func (p *pki) issue(t *testing.T, name string, selfSigned bool) mtls.Files {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
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
	return f
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
	if err := check(stranger); err == nil {
		t.Fatal("a peer with a self-signed certificate was let in")
	}
	noCert := &tls.Config{RootCAs: member.RootCAs, MinVersion: tls.VersionTLS13}
	if err := check(noCert); err == nil {
		t.Fatal("a peer without a certificate was let in")
	}
	if err := check(nil); err == nil {
		t.Fatal("a plaintext peer was let in")
	}
}

func TestFilesMustComeTogether(t *testing.T) {
	if err := (mtls.Files{Cert: "a"}).Validate(); err == nil {
		t.Fatal("a certificate without key and CA was accepted")
	}
	if err := (mtls.Files{}).Validate(); err != nil {
		t.Fatal(err)
	}
}
