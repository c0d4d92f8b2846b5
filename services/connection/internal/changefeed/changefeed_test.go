package changefeed_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/iechor/sso/services/connection/internal/changefeed"
	"github.com/iechor/sso/services/connection/internal/store"
	"github.com/iechor/sso/services/platform/logging"
	"github.com/iechor/sso/services/platform/sqlstore/sqlstoretest"
)

func create(t *testing.T, s store.Store, id string) {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Microsecond)
	c := store.Connection{ID: id, Owner: "companies/acme", DisplayName: id, Type: store.SAML, State: store.Draft,
		Settings: store.Settings{SAML: &store.SAMLSettings{}}, Revision: 1, CreateTime: now, UpdateTime: now}
	ev := store.AuditEvent{ID: "evt-" + id, Parent: c.Owner, Actor: "system", Action: "connection.create", Resource: c.Name(), Time: now}
	if err := s.Create(context.Background(), c, ev); err != nil {
		t.Fatal(err)
	}
}

func TestTheFeedDeliversChangesAfterItStartedOncePerConnection(t *testing.T) {
	t.Parallel()
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		ctx := context.Background()
		s, err := store.NewSQL(ctx, b.Open(t))
		if err != nil {
			t.Fatal(err)
		}
		create(t, s, "conn_before")
		var polls []bool
		f := changefeed.New(s, time.Hour, logging.Discard(), func(changed bool) { polls = append(polls, changed) })
		if err := f.Poll(ctx); err != nil {
			t.Fatal(err)
		}
		sub := f.Subscribe()
		defer sub.Close()
		if err := f.Poll(ctx); err != nil {
			t.Fatal(err)
		}
		if got := sub.Take(); len(got) != 0 {
			t.Fatalf("a change from before the feed started was delivered: %+v", got)
		}
		create(t, s, "conn_a")
		create(t, s, "conn_b")
		c, _ := s.Get(ctx, "conn_a")
		c.DisplayName = "renamed"
		if _, err := s.Update(ctx, c, store.AuditEvent{ID: "evt-u", Parent: c.Owner, Actor: "system", Action: "connection.update", Resource: c.Name(), Time: time.Now()}); err != nil {
			t.Fatal(err)
		}
		if err := f.Poll(ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case <-sub.Ready():
		default:
			t.Fatal("the subscriber was not signalled")
		}
		got := sub.Take()
		if len(got) != 2 || got[0].ConnectionID != "conn_a" || got[1].ConnectionID != "conn_b" || got[0].Name != "companies/acme/connections/conn_a" {
			t.Fatalf("delivered %+v, want conn_a once and conn_b", got)
		}
		if fmt.Sprint(polls) != "[true false true]" {
			t.Fatalf("polls reported %v: the first poll must drop caches, then only polls that saw changes", polls)
		}
	})
}

func TestSubscribersEndWhenTheFeedStops(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := store.NewSQL(ctx, sqlstoretest.Backends()[0].Open(t))
	if err != nil {
		t.Fatal(err)
	}
	f := changefeed.New(s, 10*time.Millisecond, logging.Discard(), nil)
	if err := f.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	sub := f.Subscribe()
	done := make(chan struct{})
	go func() { f.Run(ctx); close(done) }()
	create(t, s, "conn_a")
	select {
	case <-sub.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("no change delivered by Run")
	}
	cancel()
	<-done
	select {
	case <-sub.Done():
	case <-time.After(time.Second):
		t.Fatal("the subscription did not end with the feed")
	}
}
