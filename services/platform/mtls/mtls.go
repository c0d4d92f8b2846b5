// Package mtls loads the certificates with which services authenticate each other on internal gRPC.
//
// Internal gRPC carries trusted calls (provisioning grants memberships, assertion decides sign-ins),
// so outside a single host it must run with mutual TLS: each service presents a certificate signed by
// the internal CA and accepts only peers that do the same.
package mtls

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

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

func (f Files) load() (tls.Certificate, *x509.CertPool, error) {
	cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("load gRPC TLS key pair: %w", err)
	}
	caPEM, err := os.ReadFile(f.CA)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("read gRPC TLS CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return tls.Certificate{}, nil, fmt.Errorf("gRPC TLS CA %s holds no certificate", f.CA)
	}
	return cert, pool, nil
}

// Server returns the server side: present our certificate, require a client certificate from the CA.
// It returns nil when no file is configured.
func (f Files) Server() (*tls.Config, error) {
	if !f.Enabled() {
		return nil, nil
	}
	cert, pool, err := f.load()
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
	}, nil
}

// Client returns the client side: present our certificate, trust only servers from the CA.
// It returns nil when no file is configured.
func (f Files) Client() (*tls.Config, error) {
	if !f.Enabled() {
		return nil, nil
	}
	cert, pool, err := f.load()
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		RootCAs:      pool,
	}, nil
}

// Reader is the part of config.Reader that Load needs.
type Reader interface {
	String(name, def string) string
}

// Load reads GRPC_TLS_CERT, GRPC_TLS_KEY and GRPC_TLS_CA: every service takes its internal TLS
// identity from the same three variables.
func Load(r Reader) Files {
	return Files{
		Cert: r.String("GRPC_TLS_CERT", ""),
		Key:  r.String("GRPC_TLS_KEY", ""),
		CA:   r.String("GRPC_TLS_CA", ""),
	}
}
