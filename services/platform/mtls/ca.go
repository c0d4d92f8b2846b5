package mtls

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"time"
)

// CA is an internal certificate authority held in memory: ssod makes one at start and issues each
// of its components a certificate, and tests do the same for the services and the callers they
// play. Its key never leaves the process, so no one outside it can hold a certificate it issued:
// the identity of an in-process caller is as real as a deployed one's, and cannot be written into a
// request.
type CA struct {
	trustDomain string
	cert        *x509.Certificate
	key         *ecdsa.PrivateKey
	roots       *x509.CertPool
}

// caValidity bounds the ephemeral CA and what it issues: longer than any process runs, since the
// keys live only as long as the process.
const caValidity = 10 * 365 * 24 * time.Hour

// NewCA makes a CA (ECDSA P-256) whose certificates name services of trustDomain.
func NewCA(trustDomain string) (*CA, error) {
	if !validTrustDomain.MatchString(trustDomain) {
		return nil, fmt.Errorf("trust domain %q must be a lower-case DNS name", trustDomain)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "iEchor SSO in-process CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caValidity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	return &CA{trustDomain: trustDomain, cert: cert, key: key, roots: roots}, nil
}

// TrustDomain is the trust domain of the services the CA names.
func (ca *CA) TrustDomain() string { return ca.trustDomain }

// Issue returns the configuration of service: a certificate whose one URI SAN is
// spiffe://<trust domain>/sso/<service>, valid for localhost, 127.0.0.1 and ::1 (servers on
// loopback) and for both server and client authentication, with the CA as the only root.
func (ca *CA) Issue(service string) (Config, error) {
	if !validService.MatchString(service) {
		return Config{}, errors.New("a service name is lower-case letters, digits and hyphens, starting with a letter")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Config{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: service},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     ca.cert.NotAfter,
		URIs:         []*url.URL{ServiceID(ca.trustDomain, service)},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return Config{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return Config{}, err
	}
	return Config{TrustDomain: ca.trustDomain, Identity: &Identity{
		Certificate: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf},
		Roots:       ca.roots,
	}}, nil
}

// serial is a random 128-bit serial number, as RFC 5280 asks (positive, at most 20 bytes).
func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	return n.Add(n, big.NewInt(1))
}
