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

// MinShutdownGrace is the shortest grace: less would cut every call in flight.
const MinShutdownGrace = 100 * time.Millisecond

// LoadShutdown reads SHUTDOWN_DRAIN and SHUTDOWN_GRACE.
func LoadShutdown(r *Reader) Shutdown {
	s := Shutdown{
		Drain: r.Duration("SHUTDOWN_DRAIN", DefaultShutdownDrain),
		Grace: r.Duration("SHUTDOWN_GRACE", DefaultShutdownGrace),
	}
	if s.Grace == 0 {
		// Written out as 0 it means no grace at all, which Validate would take for "unset".
		r.errs = append(r.errs, fmt.Errorf("SHUTDOWN_GRACE 0 would cut every call in flight; it must be at least %v", MinShutdownGrace))
	}
	return s
}

// Validate checks values that parsed but make no sense. A drain of 0 is allowed (a laptop, a test).
// A grace of 0 is a Shutdown built in code without one, and means DefaultShutdownGrace.
func (s Shutdown) Validate() error {
	var errs []error
	if s.Drain < 0 || s.Drain > MaxShutdown {
		errs = append(errs, fmt.Errorf("SHUTDOWN_DRAIN %v must be between 0 and %v", s.Drain, MaxShutdown))
	}
	if s.Grace != 0 && (s.Grace < MinShutdownGrace || s.Grace > MaxShutdown) {
		errs = append(errs, fmt.Errorf("SHUTDOWN_GRACE %v must be between %v and %v", s.Grace, MinShutdownGrace, MaxShutdown))
	}
	return errors.Join(errs...)
}

// GraceOrDefault is Grace, or DefaultShutdownGrace when it was left zero.
func (s Shutdown) GraceOrDefault() time.Duration {
	if s.Grace == 0 {
		return DefaultShutdownGrace
	}
	return s.Grace
}
