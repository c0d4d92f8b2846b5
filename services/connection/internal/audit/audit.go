// Package audit delivers the connection service's audit events to provisioning's audit log.
//
// Events are written to the store's outbox in the same transaction as the change they describe; the
// relay here delivers them in the background and deletes each one only after provisioning has
// recorded it. An outage of provisioning therefore delays events and loses none: a failed delivery is
// retried with exponential backoff, without limit. Delivery is at least once; each event carries its
// event_id in its details so that a duplicate can be recognised.
package audit

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	provisioningv1 "github.com/iechor/sso/gen/iechor/sso/provisioning/v1"
	"github.com/iechor/sso/services/connection/internal/store"
)

// Outbox is the part of the store the relay uses.
type Outbox interface {
	DueEvents(ctx context.Context, now time.Time, limit int) ([]store.OutboxEntry, error)
	ClaimEvent(ctx context.Context, seq int64, was, until time.Time) (bool, error)
	DeleteEvent(ctx context.Context, seq int64) error
	RetryEvent(ctx context.Context, seq int64, attempts int, next time.Time, lastError string) error
	PendingEvents(ctx context.Context) (int, error)
}

// Recorder is provisioning's RecordAuditEvent.
type Recorder interface {
	RecordAuditEvent(ctx context.Context, in *provisioningv1.RecordAuditEventRequest, opts ...grpc.CallOption) (*provisioningv1.RecordAuditEventResponse, error)
}

// EventIDKey is the details key that carries an event's id.
const EventIDKey = "event_id"

// Relay moves events from the outbox to provisioning.
type Relay struct {
	Outbox   Outbox
	Recorder Recorder
	Log      *slog.Logger
	// Interval is how often the outbox is read when nothing pokes the relay.
	Interval time.Duration
	// MinBackoff and MaxBackoff bound the wait before retrying a failed delivery.
	MinBackoff, MaxBackoff time.Duration
	// Lease is how long a claimed event is left alone by other replicas while it is being delivered.
	Lease time.Duration
	// CallTimeout bounds one RecordAuditEvent call.
	CallTimeout time.Duration

	wake      chan struct{}
	delivered prometheus.Counter
	failed    prometheus.Counter
}

// NewRelay returns a relay with its metrics registered on reg (nil: none).
func NewRelay(outbox Outbox, rec Recorder, log *slog.Logger, interval, maxBackoff time.Duration, reg interface {
	MustRegister(...prometheus.Collector)
}) *Relay {
	r := &Relay{
		Outbox: outbox, Recorder: rec, Log: log, Interval: interval,
		MinBackoff: min(time.Second, maxBackoff), MaxBackoff: maxBackoff, Lease: 30 * time.Second, CallTimeout: 5 * time.Second,
		wake: make(chan struct{}, 1),
		delivered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "connection_audit_events_delivered_total", Help: "Audit events delivered to provisioning.",
		}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "connection_audit_delivery_failures_total", Help: "Failed attempts to deliver an audit event; each is retried.",
		}),
	}
	if reg != nil {
		reg.MustRegister(r.delivered, r.failed, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "connection_audit_events_pending", Help: "Audit events waiting in the outbox.",
		}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			n, err := outbox.PendingEvents(ctx)
			if err != nil {
				return -1
			}
			return float64(n)
		}))
	}
	return r
}

// Poke makes Run read the outbox now, after a change made by this replica.
func (r *Relay) Poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run delivers due events until ctx ends. It stops between passes: a pass under way when ctx ends
// is finished (within the lease of its claims), since an event cut off mid-delivery would wait out
// a backoff for nothing.
func (r *Relay) Run(ctx context.Context) {
	t := time.NewTicker(r.Interval)
	defer t.Stop()
	for {
		for {
			pass, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.Lease)
			n, err := r.DeliverDue(pass)
			cancel()
			if err != nil && ctx.Err() == nil {
				r.Log.Warn("reading the audit outbox failed", "err", err)
			}
			// A full batch means more may be waiting.
			if err != nil || n < batch || ctx.Err() != nil {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-r.wake:
		}
	}
}

const batch = 100

// DeliverDue makes one pass over the due events and returns how many it handled.
func (r *Relay) DeliverDue(ctx context.Context) (int, error) {
	now := time.Now()
	due, err := r.Outbox.DueEvents(ctx, now, batch)
	if err != nil {
		return 0, err
	}
	for _, e := range due {
		ok, err := r.Outbox.ClaimEvent(ctx, e.Seq, e.NextAttempt, now.Add(r.Lease))
		if err != nil {
			return 0, err
		}
		if !ok {
			continue // another replica has it
		}
		if err := r.deliver(ctx, e.Event); err != nil {
			r.failed.Inc()
			attempts := e.Attempts + 1
			next := time.Now().Add(r.backoff(attempts))
			level := slog.LevelWarn
			if attempts == 1 {
				level = slog.LevelInfo
			}
			r.Log.Log(ctx, level, "audit event not delivered; will retry", "event_id", e.Event.ID, "action", e.Event.Action,
				"attempts", attempts, "retry_at", next, "err", err)
			if err := r.Outbox.RetryEvent(context.WithoutCancel(ctx), e.Seq, attempts, next, err.Error()); err != nil {
				return 0, err
			}
			continue
		}
		r.delivered.Inc()
		if err := r.Outbox.DeleteEvent(context.WithoutCancel(ctx), e.Seq); err != nil {
			return 0, err
		}
	}
	return len(due), nil
}

func (r *Relay) deliver(ctx context.Context, ev store.AuditEvent) error {
	ctx, cancel := context.WithTimeout(ctx, r.CallTimeout)
	defer cancel()
	details := make(map[string]string, len(ev.Details)+1)
	for k, v := range ev.Details {
		details[k] = v
	}
	details[EventIDKey] = ev.ID
	_, err := r.Recorder.RecordAuditEvent(ctx, &provisioningv1.RecordAuditEventRequest{
		Parent: ev.Parent,
		Event: &provisioningv1.AuditEvent{
			Actor: ev.Actor, Action: ev.Action, Resource: ev.Resource, Details: details,
		},
	})
	return err
}

// backoff doubles from MinBackoff up to MaxBackoff, with a fifth of jitter so that replicas recovering
// from one outage do not retry in step.
func (r *Relay) backoff(attempts int) time.Duration {
	d := r.MinBackoff
	for i := 1; i < attempts && d < r.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, r.MaxBackoff)
	jitter := time.Duration(rand.Int64N(int64(d)/5 + 1))
	return d - d/10 + jitter
}
