package audit_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	provisioningv1 "github.com/iechor/sso/gen/iechor/sso/provisioning/v1"
	"github.com/iechor/sso/services/connection/internal/audit"
	"github.com/iechor/sso/services/connection/internal/store"
	"github.com/iechor/sso/services/platform/logging"
	"github.com/iechor/sso/services/platform/sqlstore/sqlstoretest"
)

// flakyRecorder stands in for provisioning (the service tests use a real gRPC peer): it fails the
// first calls, then records.
type flakyRecorder struct {
	mu       sync.Mutex
	failures int
	calls    []time.Time
	got      []*provisioningv1.RecordAuditEventRequest
}

func (r *flakyRecorder) RecordAuditEvent(_ context.Context, in *provisioningv1.RecordAuditEventRequest, _ ...grpc.CallOption) (*provisioningv1.RecordAuditEventResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, time.Now())
	if r.failures > 0 {
		r.failures--
		return nil, status.Error(codes.Unavailable, "provisioning is down")
	}
	r.got = append(r.got, in)
	return &provisioningv1.RecordAuditEventResponse{}, nil
}

func TestFailedDeliveriesAreRetriedWithGrowingWaitsUntilTheyLand(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := store.NewSQL(ctx, sqlstoretest.Backends()[0].Open(t))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	c := store.Connection{ID: "conn_a", Owner: "companies/acme", DisplayName: "a", Type: store.SAML, State: store.Draft,
		Settings: store.Settings{SAML: &store.SAMLSettings{}}, Revision: 1, CreateTime: now, UpdateTime: now}
	if err := s.Create(ctx, c, store.AuditEvent{ID: "evt-1", Parent: c.Owner, Actor: "users/jane", Action: "connection.create",
		Resource: c.Name(), Details: map[string]string{"type": "saml"}, Time: now}); err != nil {
		t.Fatal(err)
	}
	rec := &flakyRecorder{failures: 3}
	relay := audit.NewRelay(s, rec, logging.Discard(), 5*time.Millisecond, 400*time.Millisecond, nil)
	relay.MinBackoff = 20 * time.Millisecond
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { relay.Run(runCtx); close(done) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if n, _ := s.PendingEvents(ctx); n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the event was never delivered")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.got) != 1 || len(rec.calls) != 4 {
		t.Fatalf("%d deliveries in %d calls", len(rec.got), len(rec.calls))
	}
	ev := rec.got[0]
	if ev.GetParent() != "companies/acme" || ev.GetEvent().GetActor() != "users/jane" || ev.GetEvent().GetDetails()[audit.EventIDKey] != "evt-1" ||
		ev.GetEvent().GetDetails()["type"] != "saml" {
		t.Fatalf("delivered %v", ev)
	}
	// Waits of about 20, 40 and 80 ms (with a fifth of jitter) between the four calls.
	for i, min := range []time.Duration{17 * time.Millisecond, 35 * time.Millisecond, 70 * time.Millisecond} {
		if gap := rec.calls[i+1].Sub(rec.calls[i]); gap < min {
			t.Fatalf("retry %d came after %v, want at least %v", i+1, gap, min)
		}
	}
}
