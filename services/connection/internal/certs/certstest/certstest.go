// Package certstest makes self-signed certificates with chosen flaws for tests: a key size, a
// validity window, a SHA-1 signature. It is for tests only and never for a running service.
package certstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"sync"
	"testing"
	"time"
)

// Options choose the certificate. Zero values mean a sound certificate: RSA 2048, SHA-256, valid
// from a year before to ten years after Now.
type Options struct {
	CommonName string
	Now        time.Time
	NotBefore  time.Time
	NotAfter   time.Time
	RSABits    int
	ECDSA      bool
	SHA1       bool
}

// Cert is a made certificate in the forms tests need.
type Cert struct {
	X509   *x509.Certificate
	PEM    string
	Base64 string // base64 DER, as inside <ds:X509Certificate>
}

var (
	keysMu sync.Mutex
	keys   = map[int]*rsa.PrivateKey{}
)

// rsaKey reuses one key per size: generating RSA keys is slow under the race detector, and the tests
// care about the certificate, not the key's secrecy.
func rsaKey(t testing.TB, bits int) *rsa.PrivateKey {
	keysMu.Lock()
	defer keysMu.Unlock()
	if k, ok := keys[bits]; ok {
		return k
	}
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	keys[bits] = k
	return k
}

// New makes a self-signed certificate.
func New(t testing.TB, o Options) Cert {
	t.Helper()
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.NotBefore.IsZero() {
		o.NotBefore = o.Now.AddDate(-1, 0, 0)
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = o.Now.AddDate(10, 0, 0)
	}
	if o.CommonName == "" {
		o.CommonName = "idp.example.com"
	}
	tpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: o.CommonName},
		NotBefore:    o.NotBefore,
		NotAfter:     o.NotAfter,
	}
	var pub, priv any
	if o.ECDSA {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		pub, priv = &k.PublicKey, k
		if o.SHA1 {
			tpl.SignatureAlgorithm = x509.ECDSAWithSHA1
		}
	} else {
		bits := o.RSABits
		if bits == 0 {
			bits = 2048
		}
		k := rsaKey(t, bits)
		pub, priv = &k.PublicKey, k
		if o.SHA1 {
			tpl.SignatureAlgorithm = x509.SHA1WithRSA
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return Cert{
		X509:   c,
		PEM:    string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		Base64: base64.StdEncoding.EncodeToString(der),
	}
}
