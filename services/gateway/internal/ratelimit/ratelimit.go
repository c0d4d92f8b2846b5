// Package ratelimit counts requests per key in fixed windows kept in the ephemeral store (Redis in
// production), so that every gateway replica sees the same counts. When the store cannot be reached
// the limiter fails closed: the caller refuses the request rather than letting it through uncounted.
package ratelimit

import (
	"context"
	"strconv"
	"time"

	"github.com/iechor/sso/services/platform/ephemeral"
)

// Limit is a number of requests per window; Requests 0 disables the limit.
type Limit struct {
	Requests int
	Window   time.Duration
}

// Limiter counts in fixed windows.
type Limiter struct {
	Store ephemeral.Store
	Now   func() time.Time
}

// Decision is the outcome of one count.
type Decision struct {
	Allowed bool
	// RetryAfter is how long until the window ends, when refused.
	RetryAfter time.Duration
}

// Allow counts one request for key under limit. The key names the window it falls in, so a window's
// counter expires with the window and needs no reset.
func (l *Limiter) Allow(ctx context.Context, scope, key string, limit Limit) (Decision, error) {
	if limit.Requests <= 0 || limit.Window <= 0 {
		return Decision{Allowed: true}, nil
	}
	now := time.Now()
	if l.Now != nil {
		now = l.Now()
	}
	window := now.UnixNano() / int64(limit.Window)
	end := time.Unix(0, (window+1)*int64(limit.Window))
	n, err := l.Store.Increment(ctx, "ratelimit:"+scope+":"+key+":"+strconv.FormatInt(window, 10), limit.Window+time.Second)
	if err != nil {
		return Decision{}, err
	}
	if n > int64(limit.Requests) {
		return Decision{Allowed: false, RetryAfter: end.Sub(now)}, nil
	}
	return Decision{Allowed: true}, nil
}
