// Package connection is the connection registry: the SAML and OIDC connections of companies and
// organizations, what we give their identity providers (entity id, ACS URL, SP metadata and keys),
// what the identity providers give us (sign-in URL, certificates), the domains and organizations a
// connection covers, its switches, and the sign-in policy that every password sign-in asks for.
//
// It never returns a secret (SP private key, OIDC client secret) from any read other than the
// internal GetRuntimeConnection, and it never accepts a change it cannot record: every change
// commits with its change record and its audit event.
package connection

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/iechor/sso/services/connection/internal/seal"
	"github.com/iechor/sso/services/connection/internal/secureurl"
	"github.com/iechor/sso/services/platform/config"
	"github.com/iechor/sso/services/platform/mtls"
	"github.com/iechor/sso/services/platform/outbound"
)

// Config is the connection service's configuration.
type Config struct {
	// ListenAddr is where the gRPC server listens (CONNECTION_LISTEN_ADDR).
	ListenAddr string `json:"listen_addr"`
	// MetricsAddr serves /metrics when the service runs alone (CONNECTION_METRICS_ADDR; empty: off).
	MetricsAddr string `json:"metrics_addr"`
	// DatabaseURL is postgres://... or sqlite:PATH (CONNECTION_DATABASE_URL, else DATABASE_URL).
	DatabaseURL config.DSN `json:"database_url"`
	// DomainAddr is the domain service's gRPC address (DOMAIN_ADDR).
	DomainAddr string `json:"domain_addr"`
	// ProvisioningAddr is the provisioning service's gRPC address (PROVISIONING_ADDR).
	ProvisioningAddr string `json:"provisioning_addr"`
	// PublicBaseURL is where the gateway serves our SAML and OIDC endpoints (PUBLIC_BASE_URL); entity
	// ids, ACS and redirect URLs are derived from it.
	PublicBaseURL string `json:"public_base_url"`
	// EncryptionKey seals SP private keys and OIDC client secrets at rest: base64 of 32 random bytes
	// (ENCRYPTION_KEY, or the content of the file named by ENCRYPTION_KEY_FILE).
	EncryptionKey config.Secret `json:"encryption_key"`
	// SPKeyBits is the size of the RSA keys made for connections, 2048 or 3072 (CONNECTION_SP_KEY_BITS).
	SPKeyBits int `json:"sp_key_bits"`
	// SPCertValidity is how long our self-signed SP certificates are valid (CONNECTION_SP_CERT_VALIDITY).
	SPCertValidity time.Duration `json:"sp_cert_validity"`
	// ChangePollInterval is how often each replica reads the change sequence to refresh its sign-in
	// policy cache and feed WatchConnections (CONNECTION_CHANGE_POLL_INTERVAL).
	ChangePollInterval time.Duration `json:"change_poll_interval"`
	// AuditRetryMax caps the wait between attempts to deliver an audit event (CONNECTION_AUDIT_RETRY_MAX).
	AuditRetryMax time.Duration `json:"audit_retry_max"`
	// MetadataFetchTimeout bounds the fetch of an IdP metadata URL (CONNECTION_METADATA_FETCH_TIMEOUT).
	MetadataFetchTimeout time.Duration `json:"metadata_fetch_timeout"`
	// MetadataMaxBytes caps an IdP metadata document (CONNECTION_METADATA_MAX_BYTES).
	MetadataMaxBytes int `json:"metadata_max_bytes"`
	// MetadataAllowPrivate lets metadata URLs reach loopback, private, carrier-grade NAT and
	// unique-local addresses, for IdPs inside the operator's network; link-local (cloud metadata)
	// stays refused (CONNECTION_METADATA_ALLOW_PRIVATE).
	MetadataAllowPrivate bool `json:"metadata_allow_private"`
	// PeerTimeout bounds each call to the domain and provisioning services (CONNECTION_PEER_TIMEOUT).
	PeerTimeout time.Duration `json:"peer_timeout"`
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
		ListenAddr:           r.String("CONNECTION_LISTEN_ADDR", "127.0.0.1:9103"),
		MetricsAddr:          r.String("CONNECTION_METRICS_ADDR", ""),
		DatabaseURL:          r.DSN("sqlite:./data/connection.db", "CONNECTION_DATABASE_URL", "DATABASE_URL"),
		DomainAddr:           r.String("DOMAIN_ADDR", "127.0.0.1:9101"),
		ProvisioningAddr:     r.String("PROVISIONING_ADDR", "127.0.0.1:9102"),
		PublicBaseURL:        r.String("PUBLIC_BASE_URL", "http://127.0.0.1:8080"),
		EncryptionKey:        r.Secret("ENCRYPTION_KEY", ""),
		SPKeyBits:            r.Int("CONNECTION_SP_KEY_BITS", 2048),
		SPCertValidity:       r.Duration("CONNECTION_SP_CERT_VALIDITY", 10*365*24*time.Hour),
		ChangePollInterval:   r.Duration("CONNECTION_CHANGE_POLL_INTERVAL", time.Second),
		AuditRetryMax:        r.Duration("CONNECTION_AUDIT_RETRY_MAX", 5*time.Minute),
		MetadataFetchTimeout: r.Duration("CONNECTION_METADATA_FETCH_TIMEOUT", 10*time.Second),
		MetadataMaxBytes:     r.Int("CONNECTION_METADATA_MAX_BYTES", 1<<20),
		MetadataAllowPrivate: r.Bool("CONNECTION_METADATA_ALLOW_PRIVATE", false),
		PeerTimeout:          r.Duration("CONNECTION_PEER_TIMEOUT", 5*time.Second),
		LogLevel:             r.String("LOG_LEVEL", "info"),
		TLS:                  mtls.Load(r),
		Shutdown:             config.LoadShutdown(r),
	}
	var errs []error
	if file := r.String("ENCRYPTION_KEY_FILE", ""); file != "" {
		if c.EncryptionKey != "" {
			errs = append(errs, errors.New("set ENCRYPTION_KEY or ENCRYPTION_KEY_FILE, not both"))
		} else if b, err := os.ReadFile(file); err != nil {
			errs = append(errs, fmt.Errorf("ENCRYPTION_KEY_FILE: %w", err))
		} else {
			c.EncryptionKey = config.Secret(strings.TrimSpace(string(b)))
		}
	}
	if err := r.Err(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return c, err
	}
	return c, c.Validate()
}

// Validate checks values that parsed but make no sense.
func (c Config) Validate() error {
	var errs []error
	if c.ListenAddr == "" || c.DomainAddr == "" || c.ProvisioningAddr == "" {
		errs = append(errs, errors.New("CONNECTION_LISTEN_ADDR, DOMAIN_ADDR and PROVISIONING_ADDR must be set"))
	}
	if _, err := publicBase(c.PublicBaseURL); err != nil {
		errs = append(errs, fmt.Errorf("PUBLIC_BASE_URL %q: %w", c.PublicBaseURL, err))
	}
	if c.EncryptionKey == "" {
		errs = append(errs, errors.New("ENCRYPTION_KEY (or ENCRYPTION_KEY_FILE) is required: base64 of 32 random bytes, such as the output of `openssl rand -base64 32`"))
	} else if _, err := seal.ParseKey(c.EncryptionKey.Reveal()); err != nil {
		errs = append(errs, fmt.Errorf("ENCRYPTION_KEY: %w", err))
	}
	if c.SPKeyBits != 2048 && c.SPKeyBits != 3072 {
		errs = append(errs, fmt.Errorf("CONNECTION_SP_KEY_BITS %d must be 2048 or 3072", c.SPKeyBits))
	}
	if c.SPCertValidity < 24*time.Hour {
		errs = append(errs, fmt.Errorf("CONNECTION_SP_CERT_VALIDITY %v must be at least 24h", c.SPCertValidity))
	}
	if c.ChangePollInterval < 10*time.Millisecond || c.ChangePollInterval > time.Minute {
		errs = append(errs, fmt.Errorf("CONNECTION_CHANGE_POLL_INTERVAL %v must be between 10ms and 1m", c.ChangePollInterval))
	}
	if c.AuditRetryMax < 10*time.Millisecond {
		errs = append(errs, fmt.Errorf("CONNECTION_AUDIT_RETRY_MAX %v must be at least 10ms", c.AuditRetryMax))
	}
	if c.MetadataFetchTimeout <= 0 || c.MetadataFetchTimeout > time.Minute {
		errs = append(errs, fmt.Errorf("CONNECTION_METADATA_FETCH_TIMEOUT %v must be between 0 and 1m", c.MetadataFetchTimeout))
	}
	if c.MetadataMaxBytes < 4<<10 || c.MetadataMaxBytes > 16<<20 {
		errs = append(errs, fmt.Errorf("CONNECTION_METADATA_MAX_BYTES %d must be between 4 KiB and 16 MiB", c.MetadataMaxBytes))
	}
	if c.PeerTimeout <= 0 || c.PeerTimeout > time.Minute {
		errs = append(errs, fmt.Errorf("CONNECTION_PEER_TIMEOUT %v must be between 0 and 1m", c.PeerTimeout))
	}
	errs = append(errs, c.TLS.Validate(), c.Shutdown.Validate())
	return errors.Join(errs...)
}

// metadataFetch is what the fetch of an IdP metadata URL may do.
func (c Config) metadataFetch(opts Options) outbound.Options {
	return outbound.Options{
		Timeout:        c.MetadataFetchTimeout,
		MaxBytes:       int64(c.MetadataMaxBytes),
		MaxRedirects:   5,
		AllowPrivate:   c.MetadataAllowPrivate,
		PrivateSetting: "CONNECTION_METADATA_ALLOW_PRIVATE",
		RootCAs:        opts.MetadataRootCAs,
		Resolver:       opts.MetadataResolver,
	}
}

// publicBase checks PUBLIC_BASE_URL (https, or http on loopback; no query or fragment) and returns
// it without a trailing slash.
func publicBase(raw string) (string, error) {
	u, err := secureurl.Check(raw)
	if err != nil {
		return "", err
	}
	if u.RawQuery != "" || u.ForceQuery {
		return "", errors.New("must not have a query")
	}
	return strings.TrimRight((&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String(), "/"), nil
}
