// Package mtls gives each service its identity on internal gRPC and reads the identity of whoever
// calls it.
//
// Internal gRPC carries trusted calls (provisioning grants memberships, the connection service hands
// out SP private keys), and trust is per caller, not per network: each service presents a
// certificate of the internal CA whose one URI SAN names it, spiffe://<trust domain>/sso/<service>,
// and a server learns who calls from the certificate chain that its TLS handshake verified. Outside
// one process the certificates come from files (deploy/mtls/make-certs.sh issues them); ssod and
// the tests issue them in memory from an ephemeral CA (ca.go), so that the path tested is the path
// deployed.
//
// Nothing here names a caller from anything the caller writes into a request (a header, metadata),
// from a certificate the handshake did not verify, or from a certificate of another trust domain.
package mtls

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
)

// DefaultTrustDomain is the trust domain of the suite's certificates unless GRPC_TRUST_DOMAIN says
// otherwise.
const DefaultTrustDomain = "iechor.internal"

// Files names the PEM files of a service's identity and of the CA that signs its peers.
type Files struct {
	Cert string // this service's certificate chain
	Key  string // its private key
	CA   string // the CA that signs every peer's certificate
}

// Enabled reports whether any file is configured.
func (f Files) Enabled() bool { return f.Cert != "" || f.Key != "" || f.CA != "" }

// Validate requires all three files or none.
func (f Files) Validate() error {
	if !f.Enabled() {
		return nil
	}
	if f.Cert == "" || f.Key == "" || f.CA == "" {
		return errors.New("GRPC_TLS_CERT, GRPC_TLS_KEY and GRPC_TLS_CA must be set together")
	}
	return nil
}

func (f Files) load() (*Identity, error) {
	cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return nil, fmt.Errorf("load gRPC TLS key pair: %w", err)
	}
	caPEM, err := os.ReadFile(f.CA)
	if err != nil {
		return nil, fmt.Errorf("read gRPC TLS CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("gRPC TLS CA %s holds no certificate", f.CA)
	}
	return &Identity{Certificate: cert, Roots: pool}, nil
}

// Identity is a service's certificate and key, and the CA pool that verifies its peers, in memory.
type Identity struct {
	Certificate tls.Certificate
	Roots       *x509.CertPool
}

// Config is a service's security on internal gRPC.
type Config struct {
	// Files are the certificate, key and CA (GRPC_TLS_CERT, GRPC_TLS_KEY, GRPC_TLS_CA).
	Files Files `json:"files"`
	// TrustDomain is the trust domain of the certificates that name callers (GRPC_TRUST_DOMAIN;
	// DefaultTrustDomain when empty).
	TrustDomain string `json:"trust_domain"`
	// AllowUnidentifiedCallers lets a call without a client certificate through the caller check
	// (GRPC_ALLOW_UNIDENTIFIED_CALLERS): for development without mutual TLS only. Without it a
	// service without mutual TLS answers health and reflection and refuses everything else.
	AllowUnidentifiedCallers bool `json:"allow_unidentified_callers"`
	// Identity, when set, is used instead of Files: ssod and the tests issue it in memory (CA.Issue).
	Identity *Identity `json:"-"`
}

// Reader is the part of config.Reader that Load needs.
type Reader interface {
	String(name, def string) string
	Bool(name string, def bool) bool
}

// Load reads GRPC_TLS_CERT, GRPC_TLS_KEY, GRPC_TLS_CA, GRPC_TRUST_DOMAIN and
// GRPC_ALLOW_UNIDENTIFIED_CALLERS: every service takes its internal identity from the same variables.
func Load(r Reader) Config {
	return Config{
		Files: Files{
			Cert: r.String("GRPC_TLS_CERT", ""),
			Key:  r.String("GRPC_TLS_KEY", ""),
			CA:   r.String("GRPC_TLS_CA", ""),
		},
		TrustDomain:              r.String("GRPC_TRUST_DOMAIN", DefaultTrustDomain),
		AllowUnidentifiedCallers: r.Bool("GRPC_ALLOW_UNIDENTIFIED_CALLERS", false),
	}
}

// Enabled reports whether the service has an identity: mutual TLS on every internal connection.
func (c Config) Enabled() bool { return c.Identity != nil || c.Files.Enabled() }

// Domain is the trust domain, DefaultTrustDomain when none is set.
func (c Config) Domain() string {
	if c.TrustDomain == "" {
		return DefaultTrustDomain
	}
	return c.TrustDomain
}

// Validate checks the files, the trust domain and that the development switch is not set beside
// mutual TLS, where it would mean nothing and suggest that the check is off.
func (c Config) Validate() error {
	errs := []error{c.Files.Validate()}
	if !validTrustDomain.MatchString(c.Domain()) {
		errs = append(errs, fmt.Errorf("GRPC_TRUST_DOMAIN %q must be a lower-case DNS name, such as %s", c.TrustDomain, DefaultTrustDomain))
	}
	if c.AllowUnidentifiedCallers && c.Enabled() {
		errs = append(errs, errors.New("GRPC_ALLOW_UNIDENTIFIED_CALLERS is for development without mutual TLS; unset it where GRPC_TLS_* are set"))
	}
	return errors.Join(errs...)
}

func (c Config) identity() (*Identity, error) {
	if c.Identity != nil {
		return c.Identity, nil
	}
	return c.Files.load()
}

// Server returns the server side, or nil without an identity: present our certificate, and verify
// the client's when it presents one. A certificate the CA did not sign fails the handshake. A client
// without one gets a connection but reaches only health and reflection, which the caller check
// leaves open (probes and grpcurl); every other RPC refuses it, because it names no caller.
func (c Config) Server() (*tls.Config, error) {
	if !c.Enabled() {
		return nil, nil
	}
	id, err := c.identity()
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{id.Certificate},
		ClientCAs:    id.Roots,
		ClientAuth:   tls.VerifyClientCertIfGiven,
	}, nil
}

// Client returns the client side, or nil without an identity: present our certificate, trust only
// servers of the CA.
func (c Config) Client() (*tls.Config, error) {
	if !c.Enabled() {
		return nil, nil
	}
	id, err := c.identity()
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{id.Certificate},
		RootCAs:      id.Roots,
	}, nil
}

var (
	// validTrustDomain is a SPIFFE trust domain: lower-case letters, digits, dots, hyphens and
	// underscores.
	validTrustDomain = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]{0,253}[a-z0-9])?$`)
	// validService is the name of a service in its SPIFFE ID, such as gateway.
	validService = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)
)

// servicePath is the path of every SPIFFE ID of the suite: /sso/<service>.
const servicePath = "/sso/"

// ServiceID is the URI SAN that names service in trustDomain: spiffe://<trust domain>/sso/<service>.
func ServiceID(trustDomain, service string) *url.URL {
	return &url.URL{Scheme: "spiffe", Host: trustDomain, Path: servicePath + service}
}

// Errors of ServiceOf and PeerService.
var (
	// ErrNoCertificate means the peer presented no verified certificate (or the connection is not
	// TLS at all).
	ErrNoCertificate = errors.New("the caller presented no client certificate")
	// ErrNotAService means the certificate was verified but does not name a service of the trust
	// domain in exactly one URI SAN.
	ErrNotAService = errors.New("the caller's certificate names no service of this trust domain")
)

// ServiceOf returns the service that cert names in trustDomain. An X.509 SVID has exactly one URI
// SAN; a certificate with none, with several, or with one of another form or another trust domain
// names no service.
func ServiceOf(cert *x509.Certificate, trustDomain string) (string, error) {
	if len(cert.URIs) != 1 {
		return "", fmt.Errorf("%w: it has %d URI SANs, want one", ErrNotAService, len(cert.URIs))
	}
	u := cert.URIs[0]
	name, ok := strings.CutPrefix(u.Path, servicePath)
	if u.Scheme != "spiffe" || u.Host != trustDomain || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" ||
		!ok || !validService.MatchString(name) {
		return "", fmt.Errorf("%w: %s is not spiffe://%s/sso/<service>", ErrNotAService, u.Redacted(), trustDomain)
	}
	return name, nil
}

// PeerService returns the service that the verified certificate of ctx's gRPC peer names in
// trustDomain.
func PeerService(ctx context.Context, trustDomain string) (string, error) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return "", ErrNoCertificate
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.VerifiedChains) == 0 || len(info.State.VerifiedChains[0]) == 0 {
		return "", ErrNoCertificate
	}
	return ServiceOf(info.State.VerifiedChains[0][0], trustDomain)
}
