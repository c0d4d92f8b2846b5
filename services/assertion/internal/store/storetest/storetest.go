// Package storetest is the conformance suite of the assertion store: every backend runs it, each case
// on a fresh, empty store.
package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/iechor/sso/services/assertion/internal/store"
)

// Open returns a new, empty store for one test.
type Open func(t *testing.T) store.Store

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

const conn = "companies/acme/connections/conn_a"

func failed(id string, at time.Time) store.Attempt {
	return store.Attempt{ID: id, Connection: conn, Time: at, Result: store.Refused, Reason: "BAD_AUDIENCE", Check: "Audience of the Assertion",
		Wanted: "https://sp/metadata", Got: "https://other/metadata", FixBy: "IDP_ADMIN", Subject: "jane@example.com",
		Email: "jane@example.com", TestMode: true}
}

func validated(id string, at time.Time) store.Attempt {
	return store.Attempt{ID: id, Connection: conn, Time: at, Result: store.Validated, Subject: "s", Email: "e"}
}

func noSeats(attemptID string, at time.Time) store.Outcome {
	return store.Outcome{AttemptID: attemptID, Connection: conn, Time: at, Result: store.Refused, Reason: "NO_SEATS",
		Check: "provisioning of the user", Got: "Not enough seats in the organization.", FixBy: "FIX_BY_IECHOR"}
}

// Run runs every case.
func Run(t *testing.T, open Open) {
	ctx := context.Background()
	list := func(t *testing.T, s store.Store) []store.Attempt {
		t.Helper()
		got, err := s.ListAttempts(ctx, store.ListQuery{Connection: conn, Limit: 100})
		must(t, err)
		return got
	}
	cases := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"a recorded attempt reads back unchanged", func(t *testing.T, s store.Store) {
			a := failed("att_1", t0)
			ok := validated("att_2", t0.Add(time.Second))
			must(t, s.Record(ctx, []store.Attempt{a, ok}, nil))
			got := list(t, s)
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
		{"attempts and outcomes older than the window are neither listed nor kept after pruning", func(t *testing.T, s store.Store) {
			must(t, s.Record(ctx, []store.Attempt{validated("att_old", t0.Add(-8*24*time.Hour)), failed("att_new", t0)},
				[]store.Outcome{noSeats("att_old", t0.Add(-8*24*time.Hour))}))
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
			// Recorded again after pruning, the old attempt comes back without the pruned outcome.
			must(t, recordOne(s, validated("att_old", t0)))
			for _, a := range list(t, s) {
				if a.Finished != nil {
					t.Fatalf("a pruned outcome is still listed: %+v", a)
				}
			}
		}},
		{"recording an attempt again keeps the first and fails nothing, so that a retried batch is harmless", func(t *testing.T, s store.Store) {
			must(t, recordOne(s, failed("att_1", t0)))
			again := failed("att_1", t0.Add(time.Hour))
			again.Reason = "OTHER"
			must(t, s.Record(ctx, []store.Attempt{again, failed("att_2", t0.Add(time.Second))}, nil))
			got := list(t, s)
			if len(got) != 2 || got[1].ID != "att_1" || got[1].Reason != "BAD_AUDIENCE" || !got[1].Time.Equal(t0) {
				t.Fatalf("after a retried batch: %+v", got)
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
			if got := list(t, s); len(got) != 50 {
				t.Fatalf("kept %d attempts, want 50", len(got))
			}
		}},
		{"an outcome is listed with its validated attempt, whichever was recorded first", func(t *testing.T, s store.Store) {
			signedIn := store.Outcome{AttemptID: "att_first", Connection: conn, Time: t0.Add(time.Second), Result: store.SignedIn}
			must(t, s.Record(ctx, []store.Attempt{validated("att_first", t0)}, []store.Outcome{signedIn}))
			// From another replica, the outcome may be written before its attempt.
			must(t, s.Record(ctx, nil, []store.Outcome{noSeats("att_late", t0.Add(3*time.Second))}))
			must(t, recordOne(s, validated("att_late", t0.Add(2*time.Second))))
			must(t, recordOne(s, validated("att_open", t0.Add(4*time.Second))))
			got := list(t, s)
			if len(got) != 3 {
				t.Fatalf("listed %+v", got)
			}
			open, late, first := got[0], got[1], got[2]
			if open.Finished != nil {
				t.Fatalf("an attempt nobody reported on has an outcome: %+v", open.Finished)
			}
			if late.Finished == nil || *late.Finished != noSeats("att_late", t0.Add(3*time.Second)) || late.Result != store.Validated {
				t.Fatalf("the refusal after validation: %+v", late)
			}
			if first.Finished == nil || *first.Finished != signedIn {
				t.Fatalf("the sign-in: %+v", first)
			}
		}},
		{"an outcome never changes a refused attempt, nor an attempt of another connection", func(t *testing.T, s store.Store) {
			other := validated("att_other", t0)
			other.Connection = "companies/acme/connections/conn_b"
			must(t, s.Record(ctx, []store.Attempt{failed("att_refused", t0), other}, []store.Outcome{
				{AttemptID: "att_refused", Connection: conn, Time: t0, Result: store.SignedIn},
				{AttemptID: "att_other", Connection: conn, Time: t0, Result: store.SignedIn},
			}))
			if got := list(t, s); len(got) != 1 || got[0].Finished != nil || got[0].Result != store.Refused {
				t.Fatalf("listed %+v", got)
			}
			got, err := s.ListAttempts(ctx, store.ListQuery{Connection: other.Connection, Limit: 10})
			must(t, err)
			if len(got) != 1 || got[0].Finished != nil {
				t.Fatalf("another connection's attempt: %+v", got)
			}
		}},
		{"an outcome reported again keeps the first", func(t *testing.T, s store.Store) {
			must(t, s.Record(ctx, []store.Attempt{validated("att_1", t0)}, []store.Outcome{noSeats("att_1", t0)}))
			must(t, s.Record(ctx, nil, []store.Outcome{{AttemptID: "att_1", Connection: conn, Time: t0.Add(time.Second), Result: store.SignedIn}}))
			if got := list(t, s); got[0].Finished == nil || got[0].Finished.Result != store.Refused {
				t.Fatalf("listed %+v", got[0].Finished)
			}
		}},
		{"text PostgreSQL cannot hold is stored readable instead of failing the batch", func(t *testing.T, s store.Store) {
			a := failed("att_1", t0)
			a.Got = "a field named \"bad\xff\x00name\""
			must(t, recordOne(s, a))
			if got := list(t, s); len(got) != 1 || got[0].Got != "a field named \"bad\uFFFD\uFFFDname\"" {
				t.Fatalf("listed %q", got[0].Got)
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
	return s.Record(context.Background(), []store.Attempt{a}, nil)
}
