// Package gateway is the REST edge of the suite: grpc-gateway maps the admin API onto the internal
// gRPC services behind bearer-token authentication, and plain HTTP handlers serve the sign-in
// endpoints that browsers visit. It keeps nothing durable; every decision is taken by the service
// that owns it.
package gateway

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/iechor/sso/services/gateway/internal/ratelimit"
	"github.com/iechor/sso/services/platform/config"
	"github.com/iechor/sso/services/platform/ephemeral"
	"github.com/iechor/sso/services/platform/mtls"
)

// Config is the gateway's configuration.
type Config struct {
	// ListenAddr is where the REST edge listens (GATEWAY_LISTEN_ADDR). It binds to loopback by
	// default: expose it deliberately, behind TLS.
	ListenAddr string `json:"listen_addr"`
	// PublicBaseURL is the edge's address as browsers and IdPs see it (PUBLIC_BASE_URL); the issuer
	// of access tokens. https, except on loopback.
	PublicBaseURL string `json:"public_base_url"`
	// Where the services are (DOMAIN_ADDR, PROVISIONING_ADDR, CONNECTION_ADDR, ASSERTION_ADDR).
	DomainAddr       string `json:"domain_addr"`
	ProvisioningAddr string `json:"provisioning_addr"`
	ConnectionAddr   string `json:"connection_addr"`
	AssertionAddr    string `json:"assertion_addr"`
	// SigningKeysFile holds the Ed25519 keys of access tokens, the signing key first
	// (GATEWAY_SIGNING_KEYS_FILE).
	SigningKeysFile string `json:"signing_keys_file"`
	// HubOrigins are the Hub's origins: CORS and sign-in return addresses (GATEWAY_HUB_ORIGINS).
	HubOrigins []string `json:"hub_origins"`
	// AllowLoopbackReturn admits Desktop's http://127.0.0.1:{port}/ return address
	// (GATEWAY_ALLOW_LOOPBACK_RETURN).
	AllowLoopbackReturn bool `json:"allow_loopback_return"`
	// DefaultReturnTo is where a bookmarked sign-in link returns (GATEWAY_DEFAULT_RETURN_TO).
	DefaultReturnTo string `json:"default_return_to"`
	// MinDesktopVersion is the oldest Desktop that may sign in with SSO (GATEWAY_MIN_DESKTOP_VERSION).
	MinDesktopVersion string `json:"min_desktop_version"`
	// CodeTTL is how long a one-time login code may wait to be redeemed (GATEWAY_CODE_TTL).
	CodeTTL time.Duration `json:"code_ttl"`
	// Default session lengths (GATEWAY_HUB_SESSION, GATEWAY_DESKTOP_SESSION).
	HubSession     time.Duration `json:"hub_session"`
	DesktopSession time.Duration `json:"desktop_session"`
	// Rate limits, "N/duration" (GATEWAY_RATE_LIMIT_START_IP, ..._START_EMAIL, ..._ACS_IP,
	// ..._ACS_EMAIL, ..._REDEEM_IP); "0" disables one.
	StartPerIP    ratelimit.Limit `json:"rate_limit_start_ip"`
	StartPerEmail ratelimit.Limit `json:"rate_limit_start_email"`
	ACSPerIP      ratelimit.Limit `json:"rate_limit_acs_ip"`
	ACSPerEmail   ratelimit.Limit `json:"rate_limit_acs_email"`
	RedeemPerIP   ratelimit.Limit `json:"rate_limit_redeem_ip"`
	// TrustedProxies are the proxies whose X-Forwarded-For is believed (GATEWAY_TRUSTED_PROXIES,
	// CIDRs).
	TrustedProxies []netip.Prefix `json:"trusted_proxies"`
	// MaxBodyBytes caps API request bodies (GATEWAY_MAX_BODY_BYTES); MaxACSBytes caps the IdP's
	// POST (GATEWAY_MAX_ACS_BYTES).
	MaxBodyBytes int64 `json:"max_body_bytes"`
	MaxACSBytes  int64 `json:"max_acs_bytes"`
	// InsecureCookies drops Secure and the __Host- prefix from the binding cookie
	// (GATEWAY_INSECURE_COOKIES): only for plain-http development on a host that is not loopback.
	InsecureCookies bool `json:"insecure_cookies"`
	// Ephemeral selects Redis (REDIS_URL...) for login codes, started sign-ins and rate limits.
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
	var errs []error
	limit := func(name, def string) ratelimit.Limit {
		l, err := parseLimit(r.String(name, def))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
		return l
	}
	c := Config{
		ListenAddr:          r.String("GATEWAY_LISTEN_ADDR", "127.0.0.1:8080"),
		PublicBaseURL:       strings.TrimSuffix(r.String("PUBLIC_BASE_URL", "http://127.0.0.1:8080"), "/"),
		DomainAddr:          r.String("DOMAIN_ADDR", "127.0.0.1:9101"),
		ProvisioningAddr:    r.String("PROVISIONING_ADDR", "127.0.0.1:9102"),
		ConnectionAddr:      r.String("CONNECTION_ADDR", "127.0.0.1:9103"),
		AssertionAddr:       r.String("ASSERTION_ADDR", "127.0.0.1:9104"),
		SigningKeysFile:     r.String("GATEWAY_SIGNING_KEYS_FILE", ""),
		HubOrigins:          r.List("GATEWAY_HUB_ORIGINS", nil),
		AllowLoopbackReturn: r.Bool("GATEWAY_ALLOW_LOOPBACK_RETURN", true),
		DefaultReturnTo:     r.String("GATEWAY_DEFAULT_RETURN_TO", ""),
		MinDesktopVersion:   r.String("GATEWAY_MIN_DESKTOP_VERSION", "4.4.2"),
		CodeTTL:             r.Duration("GATEWAY_CODE_TTL", 60*time.Second),
		HubSession:          r.Duration("GATEWAY_HUB_SESSION", 24*time.Hour),
		DesktopSession:      r.Duration("GATEWAY_DESKTOP_SESSION", 90*24*time.Hour),
		StartPerIP:          limit("GATEWAY_RATE_LIMIT_START_IP", "60/1m"),
		StartPerEmail:       limit("GATEWAY_RATE_LIMIT_START_EMAIL", "10/1m"),
		ACSPerIP:            limit("GATEWAY_RATE_LIMIT_ACS_IP", "60/1m"),
		ACSPerEmail:         limit("GATEWAY_RATE_LIMIT_ACS_EMAIL", "10/1m"),
		RedeemPerIP:         limit("GATEWAY_RATE_LIMIT_REDEEM_IP", "60/1m"),
		MaxBodyBytes:        int64(r.Int("GATEWAY_MAX_BODY_BYTES", 1<<20)),
		MaxACSBytes:         int64(r.Int("GATEWAY_MAX_ACS_BYTES", 512<<10)),
		InsecureCookies:     r.Bool("GATEWAY_INSECURE_COOKIES", false),
		Ephemeral:           ephemeral.LoadConfig(r),
		LogLevel:            r.String("LOG_LEVEL", "info"),
		TLS:                 mtls.Load(r),
		Shutdown:            config.LoadShutdown(r),
	}
	for _, p := range r.List("GATEWAY_TRUSTED_PROXIES", nil) {
		prefix, err := netip.ParsePrefix(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("GATEWAY_TRUSTED_PROXIES: %q is not a CIDR", p))
			continue
		}
		c.TrustedProxies = append(c.TrustedProxies, prefix)
	}
	if c.DefaultReturnTo == "" && len(c.HubOrigins) > 0 {
		c.DefaultReturnTo = strings.TrimSuffix(c.HubOrigins[0], "/") + "/"
	}
	errs = append(errs, r.Err())
	if err := errors.Join(errs...); err != nil {
		return c, err
	}
	return c, c.Validate()
}

// parseLimit reads "N/duration", such as 60/1m; "0" disables.
func parseLimit(s string) (ratelimit.Limit, error) {
	if s == "0" {
		return ratelimit.Limit{}, nil
	}
	n, d, ok := strings.Cut(s, "/")
	count, err := strconv.Atoi(n)
	window, derr := time.ParseDuration(d)
	if !ok || err != nil || derr != nil || count < 0 || window <= 0 {
		return ratelimit.Limit{}, fmt.Errorf("%q is not N/duration such as 60/1m", s)
	}
	return ratelimit.Limit{Requests: count, Window: window}, nil
}

// Validate checks values that parsed but make no sense.
func (c Config) Validate() error {
	var errs []error
	for name, v := range map[string]string{"GATEWAY_LISTEN_ADDR": c.ListenAddr, "DOMAIN_ADDR": c.DomainAddr,
		"PROVISIONING_ADDR": c.ProvisioningAddr, "CONNECTION_ADDR": c.ConnectionAddr, "ASSERTION_ADDR": c.AssertionAddr} {
		if v == "" {
			errs = append(errs, fmt.Errorf("%s is empty", name))
		}
	}
	if u, err := url.Parse(c.PublicBaseURL); err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && isLoopbackHost(u.Hostname()))) {
		errs = append(errs, fmt.Errorf("PUBLIC_BASE_URL %q must be an https URL (http only on loopback)", c.PublicBaseURL))
	}
	for _, o := range c.HubOrigins {
		if u, err := url.Parse(o); err != nil || u.Host == "" || (u.Path != "" && u.Path != "/") || (u.Scheme != "https" && u.Scheme != "http") {
			errs = append(errs, fmt.Errorf("GATEWAY_HUB_ORIGINS: %q is not an origin such as https://hub.example.com", o))
		}
	}
	if c.SigningKeysFile == "" {
		errs = append(errs, errors.New("GATEWAY_SIGNING_KEYS_FILE is empty: the edge needs a key to sign access tokens"))
	}
	if c.MaxBodyBytes < 1024 || c.MaxBodyBytes > 64<<20 {
		errs = append(errs, fmt.Errorf("GATEWAY_MAX_BODY_BYTES %d must be between 1 KiB and 64 MiB", c.MaxBodyBytes))
	}
	if c.MaxACSBytes < 16<<10 || c.MaxACSBytes > 16<<20 {
		errs = append(errs, fmt.Errorf("GATEWAY_MAX_ACS_BYTES %d must be between 16 KiB and 16 MiB", c.MaxACSBytes))
	}
	if c.CodeTTL < time.Second || c.CodeTTL > 5*time.Minute {
		errs = append(errs, fmt.Errorf("GATEWAY_CODE_TTL %v must be between 1s and 5m", c.CodeTTL))
	}
	if c.HubSession <= 0 || c.DesktopSession <= 0 {
		errs = append(errs, errors.New("session lengths must be positive"))
	}
	errs = append(errs, c.TLS.Validate(), c.Shutdown.Validate())
	return errors.Join(errs...)
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.IsLoopback()
}
