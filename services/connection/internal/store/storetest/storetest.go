// Package storetest is the conformance suite of the connection store: every backend runs it, each
// case on a fresh, empty store.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iechor/sso/services/connection/internal/mapping"
	"github.com/iechor/sso/services/connection/internal/store"
)

// Open returns a new, empty store for one test.
type Open func(t *testing.T) store.Store

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

var evN atomic.Int64

func event(action, resource string) store.AuditEvent {
	return store.AuditEvent{
		ID: fmt.Sprintf("evt-%d", evN.Add(1)), Parent: "companies/acme", Actor: "users/jane",
		Action: action, Resource: resource, Details: map[string]string{"fields": "display_name"}, Time: t0,
	}
}

func samlConnection(owner, id string, at time.Time, domains ...string) store.Connection {
	return store.Connection{
		ID: id, Owner: owner, DisplayName: "Okta " + id, Type: store.SAML, State: store.Draft,
		Domains: domains,
		Settings: store.Settings{
			Organizations: []string{"organizations/eng", "organizations/ops"}, DefaultOrganization: "organizations/eng",
			DefaultTeam: "organizations/eng/teams/devs", JITEnabled: true, DefaultSessionMinutes: 480,
			SAML: &store.SAMLSettings{
				IdPEntityID: "http://www.okta.com/exk1", IdPSSOURL: "https://acme.okta.com/sso",
				IdPCertificates: []string{"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"},
				SignRequests:    true, ClockSkewSeconds: 90,
				Metadata: &store.MetadataFacts{NameIDFormats: []string{"urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"}, ImportTime: at},
			},
			Mapping: mapping.Mapping{Groups: "roles"},
		},
		Keys: []store.SPKey{
			{ID: "k2", SealedPrivateKey: "sealed-2", CertificatePEM: "cert-2", Active: true, CreateTime: at},
			{ID: "k1", SealedPrivateKey: "sealed-1", CertificatePEM: "cert-1", RetireTime: at.Add(7 * 24 * time.Hour), CreateTime: at.Add(-time.Hour)},
		},
		Revision: 1, CreateTime: at, UpdateTime: at,
	}
}

// Run runs every case.
func Run(t *testing.T, open Open) {
	ctx := context.Background()
	cases := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"a created connection reads back unchanged", func(t *testing.T, s store.Store) {
			c := samlConnection("companies/acme", "conn_a", t0, "example.com", "example.org")
			must(t, s.Create(ctx, c, event("connection.create", c.Name())))
			got, err := s.Get(ctx, "conn_a")
			must(t, err)
			if !reflect.DeepEqual(got, c) {
				t.Fatalf("read back\n%+v\nwant\n%+v", got, c)
			}
			oidc := store.Connection{ID: "conn_o", Owner: "organizations/solo", DisplayName: "Entra", Type: store.OIDC, State: store.Active,
				EnforceSSO: true, Settings: store.Settings{JITEnabled: false, OIDC: &store.OIDCSettings{Provider: "entra_id",
					TenantDomain: "contoso.onmicrosoft.com", ClientID: "cid", SealedClientSecret: "sealed", Scopes: []string{"openid", "email"}}},
				Revision: 1, CreateTime: t0, UpdateTime: t0}
			must(t, s.Create(ctx, oidc, event("connection.create", oidc.Name())))
			got, err = s.Get(ctx, "conn_o")
			must(t, err)
			if !reflect.DeepEqual(got, oidc) {
				t.Fatalf("read back\n%+v\nwant\n%+v", got, oidc)
			}
		}},
		{"an id is used once and a refused create writes nothing", func(t *testing.T, s store.Store) {
			must(t, s.Create(ctx, samlConnection("companies/acme", "conn_a", t0, "example.com"), event("connection.create", "a")))
			seq, _ := s.LastChange(ctx)
			pending, _ := s.PendingEvents(ctx)
			err := s.Create(ctx, samlConnection("companies/other", "conn_a", t0, "other.com"), event("connection.create", "b"))
			if !errors.Is(err, store.ErrAlreadyExists) {
				t.Fatalf("second create: %v", err)
			}
			seq2, _ := s.LastChange(ctx)
			pending2, _ := s.PendingEvents(ctx)
			covering, _ := s.Covering(ctx, "other.com")
			if seq2 != seq || pending2 != pending || len(covering) != 0 {
				t.Fatalf("the refused create left a change (%d→%d), an event (%d→%d) or a domain (%v)", seq, seq2, pending, pending2, covering)
			}
		}},
		{"an unknown connection is not found", func(t *testing.T, s store.Store) {
			if _, err := s.Get(ctx, "conn_none"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("Get: %v", err)
			}
			if _, err := s.Update(ctx, samlConnection("companies/acme", "conn_none", t0), event("connection.update", "x")); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("Update: %v", err)
			}
			if err := s.Delete(ctx, "companies/acme", "conn_none", event("connection.delete", "x")); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("Delete: %v", err)
			}
		}},
		{"another owner can neither update nor delete a connection", func(t *testing.T, s store.Store) {
			c := samlConnection("companies/acme", "conn_a", t0, "example.com")
			must(t, s.Create(ctx, c, event("connection.create", c.Name())))
			stolen := c
			stolen.Owner = "companies/rival"
			if _, err := s.Update(ctx, stolen, event("connection.update", "x")); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("Update by another owner: %v", err)
			}
			if err := s.Delete(ctx, "companies/rival", "conn_a", event("connection.delete", "x")); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("Delete by another owner: %v", err)
			}
			if got, err := s.Get(ctx, "conn_a"); err != nil || got.Revision != 1 {
				t.Fatalf("after refused changes: %+v, %v", got, err)
			}
		}},
		{"list pages an owner's connections in creation order", func(t *testing.T, s store.Store) {
			for i, id := range []string{"conn_c", "conn_a", "conn_b", "conn_d"} {
				must(t, s.Create(ctx, samlConnection("companies/acme", id, t0.Add(time.Duration(i)*time.Minute)), event("connection.create", id)))
			}
			// Same creation time as conn_b: the id breaks the tie.
			must(t, s.Create(ctx, samlConnection("companies/acme", "conn_bb", t0.Add(2*time.Minute)), event("connection.create", "bb")))
			must(t, s.Create(ctx, samlConnection("companies/other", "conn_x", t0), event("connection.create", "x")))
			var got []string
			q := store.ListQuery{Owner: "companies/acme", Limit: 2}
			for {
				page, err := s.List(ctx, q)
				must(t, err)
				for _, c := range page {
					got = append(got, c.ID)
					if len(c.Keys) != 2 {
						t.Fatalf("listed connection without its keys: %+v", c)
					}
				}
				if len(page) < q.Limit {
					break
				}
				last := page[len(page)-1]
				q.AfterTime, q.AfterID = last.CreateTime, last.ID
			}
			if fmt.Sprint(got) != "[conn_c conn_a conn_b conn_bb conn_d]" {
				t.Fatalf("listed %v", got)
			}
		}},
		{"an update replaces the connection and moves its revision", func(t *testing.T, s store.Store) {
			c := samlConnection("companies/acme", "conn_a", t0, "example.com", "example.org")
			must(t, s.Create(ctx, c, event("connection.create", c.Name())))
			c.DisplayName, c.State, c.EnforceSSO = "Renamed", store.Active, true
			c.Domains = []string{"example.net", "example.com"}
			c.Settings.SAML.IdPSSOURL = "https://acme.okta.com/new"
			c.Keys = []store.SPKey{{ID: "k3", SealedPrivateKey: "sealed-3", CertificatePEM: "cert-3", Active: true, CreateTime: t0.Add(time.Hour)}}
			c.UpdateTime = t0.Add(time.Hour)
			got, err := s.Update(ctx, c, event("connection.update", c.Name()))
			must(t, err)
			want := c
			want.Revision = 2
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("updated\n%+v\nwant\n%+v", got, want)
			}
			if cov, _ := s.Covering(ctx, "example.org"); len(cov) != 0 {
				t.Fatalf("a removed domain is still covered: %v", cov)
			}
		}},
		{"an update on a stale revision is a conflict and writes nothing", func(t *testing.T, s store.Store) {
			c := samlConnection("companies/acme", "conn_a", t0, "example.com")
			must(t, s.Create(ctx, c, event("connection.create", c.Name())))
			first := c
			first.DisplayName = "first"
			_, err := s.Update(ctx, first, event("connection.update", c.Name()))
			must(t, err)
			seq, _ := s.LastChange(ctx)
			pending, _ := s.PendingEvents(ctx)
			stale := c
			stale.DisplayName = "stale"
			stale.Domains = []string{"stale.example"}
			if _, err := s.Update(ctx, stale, event("connection.update", c.Name())); !errors.Is(err, store.ErrConflict) {
				t.Fatalf("stale update: %v", err)
			}
			got, _ := s.Get(ctx, "conn_a")
			seq2, _ := s.LastChange(ctx)
			pending2, _ := s.PendingEvents(ctx)
			if got.DisplayName != "first" || got.Domains[0] != "example.com" || seq2 != seq || pending2 != pending {
				t.Fatalf("the stale update wrote something: %+v, seq %d→%d, events %d→%d", got, seq, seq2, pending, pending2)
			}
		}},
		{"of concurrent updates at one revision exactly one wins", func(t *testing.T, s store.Store) {
			c := samlConnection("companies/acme", "conn_a", t0, "example.com")
			must(t, s.Create(ctx, c, event("connection.create", c.Name())))
			const n = 8
			var wg sync.WaitGroup
			errs := make([]error, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					u := c
					u.DisplayName = fmt.Sprint("writer ", i)
					_, errs[i] = s.Update(ctx, u, event("connection.update", c.Name()))
				}()
			}
			wg.Wait()
			wins := 0
			for _, err := range errs {
				switch {
				case err == nil:
					wins++
				case !errors.Is(err, store.ErrConflict):
					t.Fatalf("update: %v", err)
				}
			}
			if got, _ := s.Get(ctx, "conn_a"); wins != 1 || got.Revision != 2 {
				t.Fatalf("%d winners, revision %d", wins, got.Revision)
			}
		}},
		{"covering finds every connection on a domain and deletion frees it", func(t *testing.T, s store.Store) {
			a := samlConnection("companies/acme", "conn_a", t0, "example.com")
			b := samlConnection("companies/acme", "conn_b", t0.Add(time.Minute), "example.com", "example.org")
			b.State, b.EnforceSSO = store.Active, true
			must(t, s.Create(ctx, a, event("connection.create", a.Name())))
			must(t, s.Create(ctx, b, event("connection.create", b.Name())))
			cov, err := s.Covering(ctx, "example.com")
			must(t, err)
			if len(cov) != 2 || cov[0].ID != "conn_a" || cov[1].ID != "conn_b" || cov[1].State != store.Active || !cov[1].EnforceSSO ||
				cov[1].Name() != "companies/acme/connections/conn_b" || cov[1].DisplayName != b.DisplayName || cov[0].Type != store.SAML {
				t.Fatalf("covering %+v", cov)
			}
			must(t, s.Delete(ctx, "companies/acme", "conn_b", event("connection.delete", b.Name())))
			if cov, _ := s.Covering(ctx, "example.org"); len(cov) != 0 {
				t.Fatalf("a deleted connection still covers: %v", cov)
			}
			if _, err := s.Get(ctx, "conn_b"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("deleted connection: %v", err)
			}
		}},
		{"every change takes the next sequence number with its name", func(t *testing.T, s store.Store) {
			if seq, err := s.LastChange(ctx); err != nil || seq != 0 {
				t.Fatalf("empty store: %d, %v", seq, err)
			}
			c := samlConnection("companies/acme", "conn_a", t0)
			must(t, s.Create(ctx, c, event("connection.create", c.Name())))
			c.DisplayName = "x"
			_, err := s.Update(ctx, c, event("connection.update", c.Name()))
			must(t, err)
			must(t, s.Delete(ctx, "companies/acme", "conn_a", event("connection.delete", c.Name())))
			changes, err := s.ChangesSince(ctx, 0, 10)
			must(t, err)
			if len(changes) != 3 || changes[0].Seq != 1 || changes[2].Seq != 3 || changes[2].Name != "companies/acme/connections/conn_a" || changes[1].ConnectionID != "conn_a" {
				t.Fatalf("changes %+v", changes)
			}
			if later, _ := s.ChangesSince(ctx, 2, 10); len(later) != 1 || later[0].Seq != 3 {
				t.Fatalf("changes since 2: %+v", later)
			}
			if seq, _ := s.LastChange(ctx); seq != 3 {
				t.Fatalf("last change %d", seq)
			}
		}},
		{"concurrent changes get consecutive sequence numbers in commit order", func(t *testing.T, s store.Store) {
			const n = 12
			var wg sync.WaitGroup
			errs := make([]error, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					id := fmt.Sprint("conn_", i)
					errs[i] = s.Create(ctx, samlConnection("companies/acme", id, t0), event("connection.create", id))
				}()
			}
			wg.Wait()
			for _, err := range errs {
				must(t, err)
			}
			changes, err := s.ChangesSince(ctx, 0, 100)
			must(t, err)
			if len(changes) != n {
				t.Fatalf("%d changes", len(changes))
			}
			for i, c := range changes {
				if c.Seq != int64(i+1) {
					t.Fatalf("sequence has a gap: %+v", changes)
				}
			}
		}},
		{"pruning drops old changes and keeps the newest", func(t *testing.T, s store.Store) {
			for i := range 3 {
				c := samlConnection("companies/acme", fmt.Sprint("conn_", i), t0.Add(time.Duration(i)*time.Hour))
				must(t, s.Create(ctx, c, event("connection.create", c.Name())))
			}
			must(t, s.PruneChanges(ctx, t0.Add(10*time.Hour)))
			changes, _ := s.ChangesSince(ctx, 0, 10)
			if len(changes) != 1 || changes[0].Seq != 3 {
				t.Fatalf("after pruning %+v", changes)
			}
			if seq, _ := s.LastChange(ctx); seq != 3 {
				t.Fatalf("last change %d", seq)
			}
		}},
		{"every change leaves its audit event in the outbox until delivered", func(t *testing.T, s store.Store) {
			c := samlConnection("companies/acme", "conn_a", t0)
			ev := event("connection.create", c.Name())
			must(t, s.Create(ctx, c, ev))
			must(t, s.Delete(ctx, "companies/acme", "conn_a", event("connection.delete", c.Name())))
			due, err := s.DueEvents(ctx, t0, 10)
			must(t, err)
			if len(due) != 2 || due[0].Event.ID != ev.ID || due[0].Event.Action != "connection.create" || due[1].Event.Action != "connection.delete" ||
				due[0].Event.Details["fields"] != "display_name" || due[0].Event.Actor != "users/jane" || !due[0].Event.Time.Equal(t0) {
				t.Fatalf("due %+v", due)
			}
			if early, _ := s.DueEvents(ctx, t0.Add(-time.Second), 10); len(early) != 0 {
				t.Fatalf("events due before they were recorded: %+v", early)
			}
			must(t, s.RetryEvent(ctx, due[0].Seq, 1, t0.Add(time.Minute), "provisioning unavailable"))
			due, _ = s.DueEvents(ctx, t0, 10)
			if len(due) != 1 || due[0].Event.Action != "connection.delete" {
				t.Fatalf("a postponed event is due: %+v", due)
			}
			later, _ := s.DueEvents(ctx, t0.Add(time.Minute), 10)
			if len(later) != 2 || later[0].Attempts != 1 || later[0].LastError != "provisioning unavailable" {
				t.Fatalf("later %+v", later)
			}
			must(t, s.DeleteEvent(ctx, later[0].Seq))
			if n, _ := s.PendingEvents(ctx); n != 1 {
				t.Fatalf("%d pending", n)
			}
		}},
		{"of replicas claiming one event exactly one gets it", func(t *testing.T, s store.Store) {
			c := samlConnection("companies/acme", "conn_a", t0)
			must(t, s.Create(ctx, c, event("connection.create", c.Name())))
			due, _ := s.DueEvents(ctx, t0, 10)
			const n = 6
			var wg sync.WaitGroup
			wins := make([]bool, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ok, err := s.ClaimEvent(ctx, due[0].Seq, due[0].NextAttempt, t0.Add(30*time.Second))
					if err != nil {
						t.Error(err)
					}
					wins[i] = ok
				}()
			}
			wg.Wait()
			count := 0
			for _, w := range wins {
				if w {
					count++
				}
			}
			if count != 1 {
				t.Fatalf("%d replicas claimed the event", count)
			}
			if again, _ := s.DueEvents(ctx, t0.Add(time.Second), 10); len(again) != 0 {
				t.Fatalf("a claimed event is due again within its lease: %+v", again)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.fn(t, open(t))
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
