// Package storetest is the conformance suite of the assertion store: every backend runs it, each case
// on a fresh, empty store.
package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/iechor/sso/services/assertion/store"
)

// Open returns a new, empty store for one test.
type Open func(t *testing.T) store.Store

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

const conn = "companies/acme/connections/conn_a"

func failed(id string, at time.Time) store.Attempt {
	return store.Attempt{ID: id, Connection: conn, Time: at, Reason: "BAD_AUDIENCE", Check: "Audience of the Assertion",
		Wanted: "https://sp/metadata", Got: "https://other/metadata", FixBy: "IDP_ADMIN", Subject: "jane@example.com",
		Email: "jane@example.com", TestMode: true}
}

// Run runs every case.
func Run(t *testing.T, open Open) {
	ctx := context.Background()
	cases := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"a recorded attempt reads back unchanged", func(t *testing.T, s store.Store) {
			a := failed("att_1", t0)
			must(t, recordOne(s, a))
			ok := store.Attempt{ID: "att_2", Connection: conn, Time: t0.Add(time.Second), Success: true, Subject: "s", Email: "e"}
			must(t, recordOne(s, ok))
			got, err := s.ListAttempts(ctx, store.ListQuery{Connection: conn, Limit: 10})
			must(t, err)
			if len(got) != 2 || got[0] != ok || got[1] != a {
				t.Fatalf("read back %+v, want %+v then %+v", got, ok, a)
			}
		}},
		{"attempts list newest first, page by page, one connection at a time", func(t *testing.T, s store.Store) {
			for i := range 7 {
				must(t, recordOne(s, failed(fmt.Sprintf("att_%d", i), t0.Add(time.Duration(i)*time.Minute))))
			}
			// Two attempts in the same microsecond keep a stable order by id.
			must(t, recordOne(s, failed("att_6b", t0.Add(6*time.Minute))))
			other := failed("att_other", t0)
			other.Connection = "companies/acme/connections/conn_b"
			must(t, recordOne(s, other))
			var ids []string
			q := store.ListQuery{Connection: conn, Limit: 3}
			for {
				page, err := s.ListAttempts(ctx, q)
				must(t, err)
				for _, a := range page {
					ids = append(ids, a.ID)
				}
				if len(page) < 3 {
					break
				}
				last := page[len(page)-1]
				q.After = &store.Cursor{Time: last.Time, ID: last.ID}
			}
			if fmt.Sprint(ids) != "[att_6b att_6 att_5 att_4 att_3 att_2 att_1 att_0]" {
				t.Fatalf("listed %v", ids)
			}
		}},
		{"attempts older than the window are neither listed nor kept after pruning", func(t *testing.T, s store.Store) {
			must(t, recordOne(s, failed("att_old", t0.Add(-8*24*time.Hour))))
			must(t, recordOne(s, failed("att_new", t0)))
			since := t0.Add(-7 * 24 * time.Hour)
			got, err := s.ListAttempts(ctx, store.ListQuery{Connection: conn, Since: since, Limit: 10})
			must(t, err)
			if len(got) != 1 || got[0].ID != "att_new" {
				t.Fatalf("listed %+v", got)
			}
			n, err := s.PruneAttempts(ctx, since)
			must(t, err)
			if n != 1 {
				t.Fatalf("pruned %d, want 1", n)
			}
			all, err := s.ListAttempts(ctx, store.ListQuery{Connection: conn, Limit: 10})
			must(t, err)
			if len(all) != 1 || all[0].ID != "att_new" {
				t.Fatalf("after pruning %+v", all)
			}
		}},
		{"an attempt id is recorded once", func(t *testing.T, s store.Store) {
			must(t, recordOne(s, failed("att_1", t0)))
			if err := recordOne(s, failed("att_1", t0)); err == nil {
				t.Fatal("a second attempt with the same id was accepted")
			}
		}},
		{"fifty concurrent recordings are all kept", func(t *testing.T, s store.Store) {
			var wg sync.WaitGroup
			for i := range 50 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := recordOne(s, failed(fmt.Sprintf("att_%02d", i), t0.Add(time.Duration(i)*time.Millisecond))); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			got, err := s.ListAttempts(ctx, store.ListQuery{Connection: conn, Limit: 100})
			must(t, err)
			if len(got) != 50 {
				t.Fatalf("kept %d attempts, want 50", len(got))
			}
		}},
		{"a batch is recorded whole, or not at all", func(t *testing.T, s store.Store) {
			must(t, s.RecordAttempts(ctx, []store.Attempt{failed("att_a", t0), failed("att_b", t0.Add(time.Second)), failed("att_c", t0.Add(2*time.Second))}))
			got, err := s.ListAttempts(ctx, store.ListQuery{Connection: conn, Limit: 10})
			must(t, err)
			if len(got) != 3 || got[0].ID != "att_c" {
				t.Fatalf("after a batch of three: %+v", got)
			}
			if err := s.RecordAttempts(ctx, []store.Attempt{failed("att_d", t0), failed("att_a", t0)}); err == nil {
				t.Fatal("a batch with a taken id was accepted")
			}
			if got, _ := s.ListAttempts(ctx, store.ListQuery{Connection: conn, Limit: 10}); len(got) != 3 {
				t.Fatalf("a refused batch left %d attempts, want 3", len(got))
			}
		}},
		{"the store answers a ping", func(t *testing.T, s store.Store) {
			must(t, s.Ping(ctx))
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

// recordOne records a single attempt.
func recordOne(s store.Store, a store.Attempt) error {
	return s.RecordAttempts(context.Background(), []store.Attempt{a})
}
