package ephemeral

import (
	"errors"
	"time"

	"github.com/iechor/sso/services/platform/config"
)

// Config selects the ephemeral store of a service: Redis when any Redis variable is set, else the
// in-process store if the service allows it (one process only: relay states and codes would not be
// shared between replicas).
type Config struct {
	// RedisURL is a single node (REDIS_URL): redis://[user:password@]host:port/db, rediss:// for TLS.
	RedisURL config.DSN `json:"redis_url"`
	// SentinelAddrs and SentinelMaster select Sentinel (REDIS_SENTINEL_ADDRS, REDIS_SENTINEL_MASTER).
	SentinelAddrs  []string `json:"redis_sentinel_addrs"`
	SentinelMaster string   `json:"redis_sentinel_master"`
	// ClusterAddrs are Redis Cluster seed nodes (REDIS_CLUSTER_ADDRS).
	ClusterAddrs []string `json:"redis_cluster_addrs"`
	// Username and Password authenticate with Sentinel or Cluster (REDIS_USERNAME, REDIS_PASSWORD).
	Username string        `json:"redis_username"`
	Password config.Secret `json:"redis_password"`
	// TLS for Sentinel or Cluster (REDIS_TLS).
	TLS bool `json:"redis_tls"`
	// Prefix goes before every key (REDIS_KEY_PREFIX).
	Prefix string `json:"redis_key_prefix"`
	// Timeout bounds each call as a whole, dial included, without retries (REDIS_TIMEOUT).
	Timeout time.Duration `json:"redis_timeout"`
	// InProcess is set by EPHEMERAL_STORE=memory: use the in-process store although this service
	// runs alone. Right only for a single replica.
	InProcess bool `json:"in_process"`
}

// LoadConfig reads the Redis variables.
func LoadConfig(r *config.Reader) Config {
	return Config{
		RedisURL:       r.DSN("", "REDIS_URL"),
		SentinelAddrs:  r.List("REDIS_SENTINEL_ADDRS", nil),
		SentinelMaster: r.String("REDIS_SENTINEL_MASTER", ""),
		ClusterAddrs:   r.List("REDIS_CLUSTER_ADDRS", nil),
		Username:       r.String("REDIS_USERNAME", ""),
		Password:       r.Secret("REDIS_PASSWORD", ""),
		TLS:            r.Bool("REDIS_TLS", false),
		Prefix:         r.String("REDIS_KEY_PREFIX", "sso:"),
		Timeout:        r.Duration("REDIS_TIMEOUT", time.Second),
		InProcess:      r.String("EPHEMERAL_STORE", "") == "memory",
	}
}

// RedisConfigured reports whether any Redis deployment is configured.
func (c Config) RedisConfigured() bool {
	return c.RedisURL != "" || len(c.SentinelAddrs) > 0 || len(c.ClusterAddrs) > 0
}

// ErrNotConfigured means a service that runs alone has no Redis and was not told to run in-process.
var ErrNotConfigured = errors.New("no Redis configured: set REDIS_URL (or REDIS_SENTINEL_ADDRS / REDIS_CLUSTER_ADDRS), " +
	"or EPHEMERAL_STORE=memory for a single replica")

// Open returns Redis when it is configured; otherwise the in-process store when allowMemory (the
// all-in-one binary) or EPHEMERAL_STORE=memory says so; otherwise ErrNotConfigured.
func Open(c Config, allowMemory bool) (Store, error) {
	if c.RedisConfigured() {
		return NewRedis(RedisOptions{
			URL:            c.RedisURL.Reveal(),
			SentinelAddrs:  c.SentinelAddrs,
			SentinelMaster: c.SentinelMaster,
			ClusterAddrs:   c.ClusterAddrs,
			Username:       c.Username,
			Password:       c.Password.Reveal(),
			TLS:            c.TLS,
			Prefix:         c.Prefix,
			Timeout:        c.Timeout,
		})
	}
	if allowMemory || c.InProcess {
		return NewMemory(), nil
	}
	return nil, ErrNotConfigured
}
