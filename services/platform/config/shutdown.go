package config

import (
	"errors"
	"fmt"
	"time"
)

// Shutdown is how every server of the suite stops, read once here from the same two variables so
// that the services of one deployment stop alike.
type Shutdown struct {
	// Drain is how long a server keeps serving after SIGTERM while it reports NOT_SERVING, so that
	// load balancers take it out before it stops taking calls (SHUTDOWN_DRAIN).
	Drain time.Duration `json:"drain"`
	// Grace is how long calls in flight may still run once the server stops taking new ones
	// (SHUTDOWN_GRACE).
	Grace time.Duration `json:"grace"`
}

// Defaults of Shutdown: a drain of a few load-balancer probe periods, and room for a sign-in that
// waits on a slow store.
const (
	DefaultShutdownDrain = 5 * time.Second
	DefaultShutdownGrace = 10 * time.Second
)

// MaxShutdown bounds the drain and the grace each: Kubernetes kills a pod whose shutdown outlasts
// its terminationGracePeriodSeconds, and a shutdown of minutes only hides a hung call.
const MaxShutdown = 5 * time.Minute

// LoadShutdown reads SHUTDOWN_DRAIN and SHUTDOWN_GRACE.
func LoadShutdown(r *Reader) Shutdown {
	return Shutdown{
		Drain: r.Duration("SHUTDOWN_DRAIN", DefaultShutdownDrain),
		Grace: r.Duration("SHUTDOWN_GRACE", DefaultShutdownGrace),
	}
}

// Validate checks values that parsed but make no sense. A drain of 0 is allowed (a laptop, a test);
// a grace of 0 would cut every call in flight.
func (s Shutdown) Validate() error {
	var errs []error
	if s.Drain < 0 || s.Drain > MaxShutdown {
		errs = append(errs, fmt.Errorf("SHUTDOWN_DRAIN %v must be between 0 and %v", s.Drain, MaxShutdown))
	}
	if s.Grace < 100*time.Millisecond || s.Grace > MaxShutdown {
		errs = append(errs, fmt.Errorf("SHUTDOWN_GRACE %v must be between 100ms and %v", s.Grace, MaxShutdown))
	}
	return errors.Join(errs...)
}
