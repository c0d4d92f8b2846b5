// Package provisioning is the directory and just-in-time provisioning service: companies,
// organizations, teams, users, memberships, invitations, identity links and the audit log, over
// gRPC (and REST through the gateway), and ProvisionUser, which adds a person who signed in through
// SSO to the directory in one transaction. It also answers CheckAccess, the question the REST edge
// asks on every admin call.
//
// It serves only the callers that each RPC declares (the gateway provisions and checks access, the
// connection service writes the audit log and checks its owners), as their mTLS certificates name
// them; it must never grant a membership that the identity provider did not assert or the
// connection does not allow.
package provisioning

import (
	"errors"
	"fmt"
	"time"

	"github.com/iechor/sso/services/platform/config"
	"github.com/iechor/sso/services/platform/mtls"
)

// Config is the provisioning service's configuration.
type Config struct {
	// ListenAddr is where the gRPC server listens (PROVISIONING_LISTEN_ADDR).
	ListenAddr string `json:"listen_addr"`
	// MetricsAddr serves /metrics when the service runs alone (PROVISIONING_METRICS_ADDR; empty: off).
	MetricsAddr string `json:"metrics_addr"`
	// DatabaseURL is postgres://... or sqlite:PATH (PROVISIONING_DATABASE_URL, else DATABASE_URL).
	DatabaseURL config.DSN `json:"database_url"`
	// DomainAddr is the domain service's gRPC address, asked whether an email's domain is verified
	// (DOMAIN_ADDR).
	DomainAddr string `json:"domain_addr"`
	// DomainTimeout bounds one question to the domain service (PROVISIONING_DOMAIN_TIMEOUT).
	DomainTimeout time.Duration `json:"domain_timeout"`
	// LogLevel is debug, info, warn or error (LOG_LEVEL).
	LogLevel string `json:"log_level"`
	// TLS is the service's identity on internal gRPC and the caller check's settings
	// (GRPC_TLS_CERT, GRPC_TLS_KEY, GRPC_TLS_CA, GRPC_TRUST_DOMAIN, GRPC_ALLOW_UNIDENTIFIED_CALLERS).
	TLS mtls.Config `json:"tls"`
	// Shutdown is the drain and the grace of a stop (SHUTDOWN_DRAIN, SHUTDOWN_GRACE).
	Shutdown config.Shutdown `json:"shutdown"`
}

// LoadConfig reads the configuration from the environment through r and validates it.
func LoadConfig(r *config.Reader) (Config, error) {
	c := Config{
		ListenAddr:    r.String("PROVISIONING_LISTEN_ADDR", "127.0.0.1:9102"),
		MetricsAddr:   r.String("PROVISIONING_METRICS_ADDR", ""),
		DatabaseURL:   r.DSN("sqlite:./data/provisioning.db", "PROVISIONING_DATABASE_URL", "DATABASE_URL"),
		DomainAddr:    r.String("DOMAIN_ADDR", "127.0.0.1:9101"),
		DomainTimeout: r.Duration("PROVISIONING_DOMAIN_TIMEOUT", 5*time.Second),
		LogLevel:      r.String("LOG_LEVEL", "info"),
		TLS:           mtls.Load(r),
		Shutdown:      config.LoadShutdown(r),
	}
	if err := r.Err(); err != nil {
		return c, err
	}
	return c, c.Validate()
}

// Validate checks values that parsed but make no sense.
func (c Config) Validate() error {
	var errs []error
	if c.ListenAddr == "" {
		errs = append(errs, errors.New("PROVISIONING_LISTEN_ADDR is empty"))
	}
	if c.DatabaseURL == "" {
		errs = append(errs, errors.New("PROVISIONING_DATABASE_URL (or DATABASE_URL) is empty"))
	}
	if c.DomainAddr == "" {
		errs = append(errs, errors.New("DOMAIN_ADDR is empty: provisioning checks email domains with the domain service"))
	}
	if c.DomainTimeout <= 0 || c.DomainTimeout > time.Minute {
		errs = append(errs, fmt.Errorf("PROVISIONING_DOMAIN_TIMEOUT %v must be between 0 and 1m", c.DomainTimeout))
	}
	errs = append(errs, c.TLS.Validate(), c.Shutdown.Validate())
	return errors.Join(errs...)
}
