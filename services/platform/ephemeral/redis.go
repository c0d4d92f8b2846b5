package ephemeral

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisOptions select a Redis deployment. Exactly one of URL, SentinelAddrs or ClusterAddrs is used.
type RedisOptions struct {
	// URL is a single node: redis://[user:password@]host:port/db or rediss://... for TLS.
	URL string
	// SentinelAddrs and SentinelMaster select a Sentinel-managed primary.
	SentinelAddrs  []string
	SentinelMaster string
	// ClusterAddrs are seed nodes of a Redis Cluster.
	ClusterAddrs []string
	// Username and Password authenticate with Sentinel and Cluster deployments (a URL carries its own).
	Username string
	Password string
	// TLS enables TLS for Sentinel and Cluster deployments.
	TLS bool
	// Prefix is put before every key, so that several deployments or tests can share a server.
	Prefix string
	// Timeout bounds each call as a whole (pool wait, dial, handshake, command); a store that does
	// not answer in time is unavailable. 0 means 1s.
	Timeout time.Duration
}

// Redis is the store used in production, on one node, Sentinel or Cluster.
type Redis struct {
	client  redis.UniversalClient
	prefix  string
	timeout time.Duration
}

// incrementScript increments and, on first use, sets the expiry in one atomic step on one key.
var incrementScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return n`)

// quietLogger drops go-redis's own log lines: every failure reaches the caller as ErrUnavailable and
// is logged there, with the request id, once.
type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

func init() { redis.SetLogger(quietLogger{}) }

// NewRedis returns a client for the deployment opts describe. It does not connect until first use.
func NewRedis(opts RedisOptions) (*Redis, error) {
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = time.Second
	}
	u := &redis.UniversalOptions{
		// One bound, Timeout, for the whole call: every operation below runs under a context with
		// that deadline, and go-redis applies it to the pool wait, the dial, the handshake, the
		// write and the read. The per-step timeouts are the same value, as a backstop.
		ContextTimeoutEnabled: true,
		DialTimeout:           timeout,
		ReadTimeout:           timeout,
		WriteTimeout:          timeout,
		PoolTimeout:           timeout,
		// No retries, of the command or of the dial. A refused dial retried (go-redis's default is
		// five dials 100 ms apart, and once more for the command) made a stopped Redis cost 830 ms
		// per call instead of failing at once. And the values here are one-time values: a SET NX or
		// GETDEL whose reply was lost and that is sent again answers "taken" or "gone", a wrong
		// verdict where the truth is "unavailable". A stale pooled connection is no reason to retry:
		// the pool checks an idle connection before it hands it out.
		MaxRetries:    -1,
		DialerRetries: 1,
		Username:      opts.Username,
		Password:      opts.Password,
	}
	if opts.TLS {
		u.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	switch {
	case len(opts.ClusterAddrs) > 0:
		u.Addrs = opts.ClusterAddrs
		u.IsClusterMode = true
	case len(opts.SentinelAddrs) > 0:
		if opts.SentinelMaster == "" {
			return nil, errors.New("redis sentinel needs a master name")
		}
		u.Addrs = opts.SentinelAddrs
		u.MasterName = opts.SentinelMaster
	case opts.URL != "":
		o, err := redis.ParseURL(opts.URL)
		if err != nil {
			return nil, fmt.Errorf("redis URL: %w", err)
		}
		u.Addrs = []string{o.Addr}
		u.Username, u.Password, u.DB, u.TLSConfig = o.Username, o.Password, o.DB, o.TLSConfig
	default:
		return nil, errors.New("redis: no URL, sentinel or cluster addresses")
	}
	return &Redis{client: redis.NewUniversalClient(u), prefix: opts.Prefix, timeout: timeout}, nil
}

func (r *Redis) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, r.timeout)
}

// wrap turns a client error into ErrUnavailable, keeping the caller's own cancellation visible:
// when the caller's context has ended, that is why the call failed, whatever form go-redis gave
// the failure (a network timeout at the context's deadline, for one).
func wrap(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// The network deadline go-redis sets from the context can expire a moment before the
	// context's own timer marks it done.
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return fmt.Errorf("%w: %v", ErrUnavailable, err)
}

func (r *Redis) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := check(key, ttl); err != nil {
		return err
	}
	c, cancel := r.ctx(ctx)
	defer cancel()
	return wrap(ctx, r.client.Set(c, r.prefix+key, value, ttl).Err())
}

func (r *Redis) SetIfAbsent(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	if err := check(key, ttl); err != nil {
		return false, err
	}
	c, cancel := r.ctx(ctx)
	defer cancel()
	ok, err := r.client.SetNX(c, r.prefix+key, value, ttl).Result()
	if err != nil {
		return false, wrap(ctx, err)
	}
	return ok, nil
}

func (r *Redis) GetDelete(ctx context.Context, key string) ([]byte, error) {
	if key == "" {
		return nil, ErrInvalid
	}
	c, cancel := r.ctx(ctx)
	defer cancel()
	v, err := r.client.GetDel(c, r.prefix+key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, wrap(ctx, err)
	}
	return v, nil
}

func (r *Redis) Increment(ctx context.Context, key string, ttl time.Duration) (int64, error) {
	if err := check(key, ttl); err != nil {
		return 0, err
	}
	c, cancel := r.ctx(ctx)
	defer cancel()
	n, err := incrementScript.Run(c, r.client, []string{r.prefix + key}, ttl.Milliseconds()).Int64()
	if err != nil {
		return 0, wrap(ctx, err)
	}
	return n, nil
}

func (r *Redis) Ping(ctx context.Context) error {
	c, cancel := r.ctx(ctx)
	defer cancel()
	return wrap(ctx, r.client.Ping(c).Err())
}

func (r *Redis) Close() error { return r.client.Close() }

// DeletePrefix removes every key under the store's prefix; tests use it to clean up after themselves.
// It scans, so it is not for production paths.
func (r *Redis) DeletePrefix(ctx context.Context) error {
	if r.prefix == "" {
		return errors.New("refusing to delete every key: the store has no prefix")
	}
	del := func(ctx context.Context, c *redis.Client) error {
		iter := c.Scan(ctx, 0, r.prefix+"*", 500).Iterator()
		for iter.Next(ctx) {
			if err := c.Del(ctx, iter.Val()).Err(); err != nil {
				return err
			}
		}
		return iter.Err()
	}
	switch c := r.client.(type) {
	case *redis.Client:
		return del(ctx, c)
	case *redis.ClusterClient:
		return c.ForEachMaster(ctx, del)
	}
	return fmt.Errorf("DeletePrefix: unsupported client %T", r.client)
}

func (r *Redis) Get(ctx context.Context, key string) ([]byte, error) {
	if key == "" {
		return nil, ErrInvalid
	}
	c, cancel := r.ctx(ctx)
	defer cancel()
	v, err := r.client.Get(c, r.prefix+key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, wrap(ctx, err)
	}
	return v, nil
}
