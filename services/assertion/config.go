// Package assertion is the assertion service, the SAML protocol engine of iEchor SSO: it starts
// SP-initiated sign-ins (AuthnRequest and relay state) and validates what identity providers post
// back, returning an identity or a typed failure, and keeps each connection's sign-in attempts for
// the admin's error log.
//
// It must never accept an assertion that fails any check, never read identity from anything a
// verified signature does not cover, and never accept an assertion without its replay check: when
// the ephemeral store cannot be reached, sign-in fails closed.
package assertion

import (
	"errors"
	"fmt"
	"time"

	"github.com/iechor/sso/services/assertion/internal/connections"
	"github.com/iechor/sso/services/platform/config"
	"github.com/iechor/sso/services/platform/ephemeral"
	"github.com/iechor/sso/services/platform/mtls"
)

// Config is the assertion service's configuration.
type Config struct {
	// ListenAddr is where the gRPC server listens (ASSERTION_LISTEN_ADDR).
	ListenAddr string `json:"listen_addr"`
	// MetricsAddr serves /metrics when the service runs alone (ASSERTION_METRICS_ADDR; empty: off).
	MetricsAddr string `json:"metrics_addr"`
	// DatabaseURL keeps the sign-in attempts: postgres://... or sqlite:PATH (ASSERTION_DATABASE_URL,
	// else DATABASE_URL).
	DatabaseURL config.DSN `json:"database_url"`
	// ConnectionAddr is the connection service's gRPC address (CONNECTION_ADDR).
	ConnectionAddr string `json:"connection_addr"`
	// ClockSkew is allowed on every time condition of an assertion unless the connection sets its own
	// (ASSERTION_CLOCK_SKEW; at most 180s).
	ClockSkew time.Duration `json:"clock_skew"`
	// ConnectionCacheTTL bounds how long a connection's configuration is reused without asking the
	// connection service again (ASSERTION_CONNECTION_CACHE_TTL).
	ConnectionCacheTTL time.Duration `json:"connection_cache_ttl"`
	// AttemptRetention is how long sign-in attempts are kept (ASSERTION_ATTEMPT_RETENTION).
	AttemptRetention time.Duration `json:"attempt_retention"`
	// PruneInterval is how often old attempts are deleted (ASSERTION_PRUNE_INTERVAL).
	PruneInterval time.Duration `json:"prune_interval"`
	// AttemptQueue bounds the sign-in log records waiting for the store (ASSERTION_ATTEMPT_QUEUE):
	// while the store fails they wait here, and past the bound they are dropped, counted and logged.
	AttemptQueue int `json:"attempt_queue"`
	// AttemptStopTimeout is how long a stopping service keeps trying to write the records it holds
	// (ASSERTION_ATTEMPT_STOP_TIMEOUT); what is left is logged.
	AttemptStopTimeout time.Duration `json:"attempt_stop_timeout"`
	// Ephemeral selects the store of relay states and the replay cache (REDIS_URL, ...).
	Ephemeral ephemeral.Config `json:"ephemeral"`
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
		ListenAddr:         r.String("ASSERTION_LISTEN_ADDR", "127.0.0.1:9104"),
		MetricsAddr:        r.String("ASSERTION_METRICS_ADDR", ""),
		DatabaseURL:        r.DSN("sqlite:./data/assertion.db", "ASSERTION_DATABASE_URL", "DATABASE_URL"),
		ConnectionAddr:     r.String("CONNECTION_ADDR", "127.0.0.1:9103"),
		ClockSkew:          r.Duration("ASSERTION_CLOCK_SKEW", 90*time.Second),
		ConnectionCacheTTL: r.Duration("ASSERTION_CONNECTION_CACHE_TTL", 5*time.Second),
		AttemptRetention:   r.Duration("ASSERTION_ATTEMPT_RETENTION", 7*24*time.Hour),
		PruneInterval:      r.Duration("ASSERTION_PRUNE_INTERVAL", 10*time.Minute),
		AttemptQueue:       r.Int("ASSERTION_ATTEMPT_QUEUE", 100_000),
		AttemptStopTimeout: r.Duration("ASSERTION_ATTEMPT_STOP_TIMEOUT", 10*time.Second),
		Ephemeral:          ephemeral.LoadConfig(r),
		LogLevel:           r.String("LOG_LEVEL", "info"),
		TLS:                mtls.Load(r),
		Shutdown:           config.LoadShutdown(r),
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
		errs = append(errs, errors.New("ASSERTION_LISTEN_ADDR is empty"))
	}
	if c.ConnectionAddr == "" {
		errs = append(errs, errors.New("CONNECTION_ADDR is empty"))
	}
	if c.DatabaseURL == "" {
		errs = append(errs, errors.New("ASSERTION_DATABASE_URL is empty"))
	}
	if c.ClockSkew < 0 || c.ClockSkew > connections.MaxClockSkew {
		errs = append(errs, fmt.Errorf("ASSERTION_CLOCK_SKEW %v must be between 0 and %v", c.ClockSkew, connections.MaxClockSkew))
	}
	if c.ConnectionCacheTTL < 100*time.Millisecond || c.ConnectionCacheTTL > time.Minute {
		errs = append(errs, fmt.Errorf("ASSERTION_CONNECTION_CACHE_TTL %v must be between 100ms and 1m", c.ConnectionCacheTTL))
	}
	if c.AttemptRetention < time.Hour {
		errs = append(errs, fmt.Errorf("ASSERTION_ATTEMPT_RETENTION %v must be at least 1h", c.AttemptRetention))
	}
	if c.PruneInterval < time.Second {
		errs = append(errs, fmt.Errorf("ASSERTION_PRUNE_INTERVAL %v must be at least 1s", c.PruneInterval))
	}
	if c.AttemptQueue < 100 || c.AttemptQueue > 10_000_000 {
		errs = append(errs, fmt.Errorf("ASSERTION_ATTEMPT_QUEUE %d must be between 100 and 10000000", c.AttemptQueue))
	}
	if c.AttemptStopTimeout < 0 || c.AttemptStopTimeout > 5*time.Minute {
		errs = append(errs, fmt.Errorf("ASSERTION_ATTEMPT_STOP_TIMEOUT %v must be between 0 and 5m", c.AttemptStopTimeout))
	}
	errs = append(errs, c.TLS.Validate(), c.Shutdown.Validate())
	return errors.Join(errs...)
}
