package mtls_test

import (
	"crypto/tls"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/iechor/sso/services/platform/mtls"
)

// TestTheDeployScriptIssuesACertificateThatNamesEachComponent runs deploy/mtls/make-certs.sh as an
// operator does and checks what the services will make of its files: each certificate names its
// component in the trust domain given, and a handshake between two of them tells the server who
// called.
func TestTheDeployScriptIssuesACertificateThatNamesEachComponent(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("make-certs.sh needs openssl: apt-get install openssl")
	}
	dir := t.TempDir()
	out, err := exec.Command("../../../deploy/mtls/make-certs.sh", dir, ".sso.svc.cluster.local", "sso.acme.internal").CombinedOutput()
	if err != nil {
		t.Fatalf("make-certs.sh: %v\n%s", err, out)
	}
	files := func(name string) mtls.Config {
		return mtls.Config{TrustDomain: "sso.acme.internal", Files: mtls.Files{
			Cert: filepath.Join(dir, name+".pem"), Key: filepath.Join(dir, name+"-key.pem"), CA: filepath.Join(dir, "ca.pem"),
		}}
	}
	for _, name := range []string{"gateway", "domain", "provisioning", "connection", "assertion", "operator"} {
		t.Run(name+"'s certificate names it", func(t *testing.T) {
			c, err := files(name).Client()
			if err != nil {
				t.Fatal(err)
			}
			leaf := c.Certificates[0].Leaf
			if got, err := mtls.ServiceOf(leaf, "sso.acme.internal"); err != nil || got != name {
				t.Fatalf("names %q, %v", got, err)
			}
			if _, err := mtls.ServiceOf(leaf, mtls.DefaultTrustDomain); err == nil {
				t.Fatal("it names a service of another trust domain too")
			}
		})
	}

	t.Run("the connection service learns from the handshake that the gateway calls", func(t *testing.T) {
		serverTLS, err := files("connection").Server()
		if err != nil {
			t.Fatal(err)
		}
		lis, err := tls.Listen("tcp", "127.0.0.1:0", serverTLS)
		if err != nil {
			t.Fatal(err)
		}
		defer lis.Close()
		caller := make(chan string, 1)
		go func() {
			conn, err := lis.Accept()
			if err != nil {
				caller <- err.Error()
				return
			}
			defer conn.Close()
			tc := conn.(*tls.Conn)
			if err := tc.Handshake(); err != nil {
				caller <- err.Error()
				return
			}
			st := tc.ConnectionState()
			name, err := mtls.ServiceOf(st.VerifiedChains[0][0], "sso.acme.internal")
			if err != nil {
				name = err.Error()
			}
			caller <- name
		}()
		clientTLS, err := files("gateway").Client()
		if err != nil {
			t.Fatal(err)
		}
		clientTLS.ServerName = "connection.sso.svc.cluster.local"
		conn, err := tls.Dial("tcp", lis.Addr().String(), clientTLS)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if got := <-caller; got != "gateway" {
			t.Fatalf("the server saw %q", got)
		}
	})
}
