package connection_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	connectionv1 "github.com/iechor/sso/gen/iechor/sso/connection/v1"
	"github.com/iechor/sso/services/connection/internal/audit"
	"github.com/iechor/sso/services/platform/callmeta"
	"github.com/iechor/sso/services/platform/sqlstore/sqlstoretest"
)

func TestAnOutageOfProvisioningDelaysAuditEventsAndLosesNone(t *testing.T) {
	t.Parallel()
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		e := newEnv(t, b)
		asJane := callmeta.WithActor(ctx, "users/jane")
		r, err := e.client.CreateConnection(asJane, &connectionv1.CreateConnectionRequest{Parent: "companies/acme", Connection: samlFromMetadata(t, "internal/metadata/testdata/okta.xml")})
		if err != nil {
			t.Fatal(err)
		}
		name := r.GetConnection().GetName()
		eventually(t, 20*time.Second, func() error {
			if n := len(e.dir.recorded()); n != 1 {
				return fmt.Errorf("%d events recorded", n)
			}
			return nil
		})
		first := e.dir.recorded()[0]
		ev := first.GetEvent()
		if first.GetParent() != "companies/acme" || ev.GetActor() != "users/jane" || ev.GetAction() != "connection.create" ||
			ev.GetResource() != name || ev.GetDetails()[audit.EventIDKey] == "" || ev.GetDetails()["type"] != "saml" {
			t.Fatalf("recorded %v", first)
		}

		e.dir.stop()
		if _, err := e.client.UpdateConnection(ctx, &connectionv1.UpdateConnectionRequest{
			Connection: &connectionv1.Connection{Name: name, DisplayName: "Okta EU"}, UpdateMask: mask("display_name"),
		}); err != nil {
			t.Fatalf("an update that needs no peer was refused during the outage: %v", err)
		}
		if _, err := e.client.RotateServiceProviderKey(asJane, &connectionv1.RotateServiceProviderKeyRequest{Name: name}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.client.DeleteConnection(asJane, &connectionv1.DeleteConnectionRequest{Name: name}); err != nil {
			t.Fatal(err)
		}
		// Each of the three events made during the outage has been tried and refused.
		eventually(t, 20*time.Second, func() error {
			if n := e.metric("connection_audit_delivery_failures_total"); n < 3 {
				return fmt.Errorf("%v failed deliveries during the outage, want at least one per event", n)
			}
			return nil
		})
		if n := len(e.dir.recorded()); n != 1 {
			t.Fatalf("%d events recorded while provisioning was down", n)
		}

		e.dir.start(t)
		eventually(t, 20*time.Second, func() error {
			ids := map[string]bool{}
			for _, rec := range e.dir.recorded() {
				ids[rec.GetEvent().GetDetails()[audit.EventIDKey]] = true
			}
			if len(ids) < 4 {
				return fmt.Errorf("%d of 4 events recorded after the outage", len(ids))
			}
			return nil
		})
		// Once the outbox is empty nothing more is sent: every delivery, repeated or not, is in.
		eventually(t, 20*time.Second, func() error {
			if n := e.metric("connection_audit_events_pending"); n != 0 {
				return fmt.Errorf("%v events still in the outbox", n)
			}
			return nil
		})
		// Delivery is at least once: an event whose acknowledgement was cut by the outage is sent
		// again, with the same event id, so the receiver can recognise it.
		byID := map[string]string{}
		var actors []string
		for _, rec := range e.dir.recorded() {
			id, action := rec.GetEvent().GetDetails()[audit.EventIDKey], rec.GetEvent().GetAction()
			if prev, seen := byID[id]; seen && prev != action {
				t.Fatalf("event id %s was sent for %s and %s", id, prev, action)
			}
			byID[id] = action
			actors = append(actors, rec.GetEvent().GetActor())
		}
		var actions []string
		for _, a := range byID {
			actions = append(actions, a)
		}
		slices.Sort(actions)
		if !slices.Equal(actions, []string{"connection.create", "connection.delete", "connection.rotate_service_provider_key", "connection.update"}) {
			t.Fatalf("recorded actions %v", actions)
		}
		if !slices.Contains(actors, "service:connection") {
			t.Fatalf("a change without x-actor was not recorded as the service: %v", actors)
		}
	})
}
