// Package domain is the domain verification service: owners add email domains, publish a TXT
// record, and verify; other services ask which owner verified a domain.
package domain

import (
	"errors"
	"fmt"
	"time"

	"github.com/iechor/sso/services/platform/config"
	"github.com/iechor/sso/services/platform/mtls"
)

// Config is the domain service's configuration.
type Config struct {
	// ListenAddr is where the gRPC server listens (DOMAIN_LISTEN_ADDR).
	ListenAddr string `json:"listen_addr"`
	// MetricsAddr serves /metrics when the service runs alone (DOMAIN_METRICS_ADDR; empty: off).
	MetricsAddr string `json:"metrics_addr"`
	// DatabaseURL is postgres://... or sqlite:PATH (DOMAIN_DATABASE_URL, else DATABASE_URL).
	DatabaseURL config.DSN `json:"database_url"`
	// DNSResolvers are the resolvers asked for TXT records (DNS_RESOLVER, comma-separated host[:port];
	// empty: the system's from /etc/resolv.conf).
	DNSResolvers []string `json:"dns_resolvers"`
	// DNSTimeout bounds one TXT lookup (DNS_TIMEOUT).
	DNSTimeout time.Duration `json:"dns_timeout"`
	// RecheckInterval is how often the background check looks for due domains (DOMAIN_RECHECK_INTERVAL).
	RecheckInterval time.Duration `json:"recheck_interval"`
	// CheckWindow is how long after creation pending domains are re-checked (DOMAIN_CHECK_WINDOW).
	CheckWindow time.Duration `json:"check_window"`
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
		ListenAddr:      r.String("DOMAIN_LISTEN_ADDR", "127.0.0.1:9101"),
		MetricsAddr:     r.String("DOMAIN_METRICS_ADDR", ""),
		DatabaseURL:     r.DSN("sqlite:./data/domain.db", "DOMAIN_DATABASE_URL", "DATABASE_URL"),
		DNSResolvers:    r.List("DNS_RESOLVER", nil),
		DNSTimeout:      r.Duration("DNS_TIMEOUT", 5*time.Second),
		RecheckInterval: r.Duration("DOMAIN_RECHECK_INTERVAL", 30*time.Second),
		CheckWindow:     r.Duration("DOMAIN_CHECK_WINDOW", 72*time.Hour),
		LogLevel:        r.String("LOG_LEVEL", "info"),
		TLS:             mtls.Load(r),
		Shutdown:        config.LoadShutdown(r),
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
		errs = append(errs, errors.New("DOMAIN_LISTEN_ADDR is empty"))
	}
	if c.DNSTimeout <= 0 || c.DNSTimeout > time.Minute {
		errs = append(errs, fmt.Errorf("DNS_TIMEOUT %v must be between 0 and 1m", c.DNSTimeout))
	}
	if c.RecheckInterval < time.Second {
		errs = append(errs, fmt.Errorf("DOMAIN_RECHECK_INTERVAL %v must be at least 1s", c.RecheckInterval))
	}
	if c.CheckWindow <= 0 {
		errs = append(errs, fmt.Errorf("DOMAIN_CHECK_WINDOW %v must be positive", c.CheckWindow))
	}
	errs = append(errs, c.TLS.Validate(), c.Shutdown.Validate())
	return errors.Join(errs...)
}
