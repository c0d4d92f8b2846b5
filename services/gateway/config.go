// Package gateway is the REST edge of the suite: grpc-gateway maps the admin API onto the internal
// gRPC services, and plain HTTP handlers serve the browser-facing endpoints. It keeps nothing
// durable; every decision is taken by the service that owns it.
package gateway

import (
	"errors"
	"fmt"

	"github.com/iechor/sso/services/platform/config"
	"github.com/iechor/sso/services/platform/mtls"
)

// Config is the gateway's configuration.
type Config struct {
	// ListenAddr is where the REST edge listens (GATEWAY_LISTEN_ADDR). It binds to loopback by
	// default: expose it deliberately.
	ListenAddr string `json:"listen_addr"`
	// DomainAddr is the domain service's gRPC address (DOMAIN_ADDR).
	DomainAddr string `json:"domain_addr"`
	// MaxBodyBytes caps request bodies (GATEWAY_MAX_BODY_BYTES).
	MaxBodyBytes int64 `json:"max_body_bytes"`
	// LogLevel is debug, info, warn or error (LOG_LEVEL).
	LogLevel string `json:"log_level"`
	// TLS holds the mutual TLS files of internal gRPC (GRPC_TLS_CERT, GRPC_TLS_KEY, GRPC_TLS_CA).
	TLS mtls.Files `json:"tls"`
}

// LoadConfig reads the configuration from the environment through r and validates it.
func LoadConfig(r *config.Reader) (Config, error) {
	c := Config{
		ListenAddr:   r.String("GATEWAY_LISTEN_ADDR", "127.0.0.1:8080"),
		DomainAddr:   r.String("DOMAIN_ADDR", "127.0.0.1:9101"),
		MaxBodyBytes: int64(r.Int("GATEWAY_MAX_BODY_BYTES", 1<<20)),
		LogLevel:     r.String("LOG_LEVEL", "info"),
		TLS: mtls.Files{
			Cert: r.String("GRPC_TLS_CERT", ""),
			Key:  r.String("GRPC_TLS_KEY", ""),
			CA:   r.String("GRPC_TLS_CA", ""),
		},
	}
	if err := r.Err(); err != nil {
		return c, err
	}
	return c, c.Validate()
}

// Validate checks values that parsed but make no sense.
func (c Config) Validate() error {
	var errs []error
	if c.ListenAddr == "" || c.DomainAddr == "" {
		errs = append(errs, errors.New("GATEWAY_LISTEN_ADDR and DOMAIN_ADDR must be set"))
	}
	if c.MaxBodyBytes < 1024 || c.MaxBodyBytes > 64<<20 {
		errs = append(errs, fmt.Errorf("GATEWAY_MAX_BODY_BYTES %d must be between 1 KiB and 64 MiB", c.MaxBodyBytes))
	}
	errs = append(errs, c.TLS.Validate())
	return errors.Join(errs...)
}
