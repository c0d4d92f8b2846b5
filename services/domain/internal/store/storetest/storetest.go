// Package storetest is the conformance suite of the domain store: every backend runs it, each case on
// a fresh, empty store.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/iechor/sso/services/domain/internal/store"
)

// Open returns a new, empty store for one test.
type Open func(t *testing.T) store.Store

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func pending(owner, name string) store.Domain {
	return store.Domain{
		Owner: owner, Name: name, DisplayName: name, Token: "tok-" + owner + "-" + name,
		State: store.Pending, CreateTime: t0, NextCheck: t0.Add(time.Minute), CheckUntil: t0.Add(72 * time.Hour),
	}
}

func attempt(owner, name string, outcome store.Outcome, at time.Time) store.Attempt {
	return store.Attempt{Owner: owner, Name: name, Time: at, Outcome: outcome, Found: []string{"v=spf1 -all"}, Detail: "d"}
}

// Run runs every case.
func Run(t *testing.T, open Open) {
	ctx := context.Background()
	cases := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"a created domain reads back unchanged", func(t *testing.T, s store.Store) {
			d := pending("companies/acme", "example.com")
			d.DisplayName = "example.com"
			must(t, s.Create(ctx, d))
			got, err := s.Get(ctx, "companies/acme", "example.com")
			must(t, err)
			if got.Token != d.Token || got.State != store.Pending || !got.CreateTime.Equal(t0) ||
				!got.NextCheck.Equal(d.NextCheck) || !got.CheckUntil.Equal(d.CheckUntil) || !got.VerifyTime.IsZero() || got.LastAttempt != nil {
				t.Fatalf("read back %+v, want %+v", got, d)
			}
		}},
		{"adding a domain twice for one owner is a conflict", func(t *testing.T, s store.Store) {
			must(t, s.Create(ctx, pending("companies/acme", "example.com")))
			if err := s.Create(ctx, pending("companies/acme", "example.com")); !errors.Is(err, store.ErrAlreadyExists) {
				t.Fatalf("second create: %v, want ErrAlreadyExists", err)
			}
			// Another owner may add the same domain.
			must(t, s.Create(ctx, pending("companies/other", "example.com")))
		}},
		{"an unknown domain is not found", func(t *testing.T, s store.Store) {
			if _, err := s.Get(ctx, "companies/acme", "nope.com"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("Get: %v", err)
			}
			if err := s.Delete(ctx, "companies/acme", "nope.com"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("Delete: %v", err)
			}
			if err := s.RecordAttempt(ctx, attempt("companies/acme", "nope.com", store.OutcomeNXDomain, t0), time.Time{}); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("RecordAttempt: %v", err)
			}
			if _, err := s.MarkVerified(ctx, attempt("companies/acme", "nope.com", store.OutcomeVerified, t0)); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("MarkVerified: %v", err)
			}
			if _, err := s.ListAttempts(ctx, "companies/acme", "nope.com", 0, 10); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("ListAttempts: %v", err)
			}
			if _, err := s.VerifiedOwner(ctx, "nope.com"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("VerifiedOwner: %v", err)
			}
		}},
		{"a failed attempt is recorded and moves the next check", func(t *testing.T, s store.Store) {
			must(t, s.Create(ctx, pending("companies/acme", "example.com")))
			next := t0.Add(5 * time.Minute)
			must(t, s.RecordAttempt(ctx, attempt("companies/acme", "example.com", store.OutcomeValueMismatch, t0.Add(time.Minute)), next))
			got, err := s.Get(ctx, "companies/acme", "example.com")
			must(t, err)
			if got.State != store.Pending || !got.NextCheck.Equal(next) {
				t.Fatalf("after a failed attempt: %+v", got)
			}
			if got.LastAttempt == nil || got.LastAttempt.Outcome != store.OutcomeValueMismatch || len(got.LastAttempt.Found) != 1 {
				t.Fatalf("last attempt %+v", got.LastAttempt)
			}
			must(t, s.RecordAttempt(ctx, attempt("companies/acme", "example.com", store.OutcomeNXDomain, t0.Add(2*time.Minute)), time.Time{}))
			got, _ = s.Get(ctx, "companies/acme", "example.com")
			if !got.NextCheck.IsZero() || got.LastAttempt.Outcome != store.OutcomeNXDomain {
				t.Fatalf("a zero next check must stop the background checks: %+v", got)
			}
		}},
		{"verification sets the state, the time and the owner", func(t *testing.T, s store.Store) {
			must(t, s.Create(ctx, pending("companies/acme", "example.com")))
			at := t0.Add(3 * time.Minute)
			d, err := s.MarkVerified(ctx, attempt("companies/acme", "example.com", store.OutcomeVerified, at))
			must(t, err)
			if d.State != store.Verified || !d.VerifyTime.Equal(at) || !d.NextCheck.IsZero() || d.LastAttempt.Outcome != store.OutcomeVerified {
				t.Fatalf("verified domain %+v", d)
			}
			owner, err := s.VerifiedOwner(ctx, "example.com")
			must(t, err)
			if owner.Owner != "companies/acme" {
				t.Fatalf("owner %s", owner.Owner)
			}
		}},
		{"a second owner cannot verify a verified domain and nothing is written", func(t *testing.T, s store.Store) {
			must(t, s.Create(ctx, pending("companies/acme", "example.com")))
			must(t, s.Create(ctx, pending("organizations/rival", "example.com")))
			_, err := s.MarkVerified(ctx, attempt("companies/acme", "example.com", store.OutcomeVerified, t0))
			must(t, err)
			if _, err := s.MarkVerified(ctx, attempt("organizations/rival", "example.com", store.OutcomeVerified, t0)); !errors.Is(err, store.ErrClaimed) {
				t.Fatalf("second verification: %v, want ErrClaimed", err)
			}
			rival, _ := s.Get(ctx, "organizations/rival", "example.com")
			if rival.State != store.Pending || rival.LastAttempt != nil {
				t.Fatalf("the refused verification wrote something: %+v", rival)
			}
		}},
		{"two owners racing to verify have exactly one winner", func(t *testing.T, s store.Store) {
			owners := []string{"companies/a", "companies/b", "organizations/c", "organizations/d"}
			for _, o := range owners {
				must(t, s.Create(ctx, pending(o, "race.example")))
			}
			var wg sync.WaitGroup
			results := make([]error, len(owners))
			start := make(chan struct{})
			for i, o := range owners {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					_, results[i] = s.MarkVerified(ctx, attempt(o, "race.example", store.OutcomeVerified, t0))
				}()
			}
			close(start)
			wg.Wait()
			wins := 0
			for _, err := range results {
				switch {
				case err == nil:
					wins++
				case !errors.Is(err, store.ErrClaimed):
					t.Fatalf("unexpected error: %v", err)
				}
			}
			if wins != 1 {
				t.Fatalf("%d owners verified the domain, want 1", wins)
			}
		}},
		{"deleting a verified domain frees it for another owner", func(t *testing.T, s store.Store) {
			must(t, s.Create(ctx, pending("companies/acme", "example.com")))
			must(t, s.Create(ctx, pending("companies/next", "example.com")))
			_, err := s.MarkVerified(ctx, attempt("companies/acme", "example.com", store.OutcomeVerified, t0))
			must(t, err)
			must(t, s.Delete(ctx, "companies/acme", "example.com"))
			if _, err := s.VerifiedOwner(ctx, "example.com"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("deleted domain still has an owner: %v", err)
			}
			if _, err := s.MarkVerified(ctx, attempt("companies/next", "example.com", store.OutcomeVerified, t0)); err != nil {
				t.Fatalf("the next owner cannot verify: %v", err)
			}
		}},
		{"attempts list newest first, page by page, and go with their domain", func(t *testing.T, s store.Store) {
			must(t, s.Create(ctx, pending("companies/acme", "example.com")))
			for i := range 5 {
				must(t, s.RecordAttempt(ctx, attempt("companies/acme", "example.com", store.OutcomeNoTXTRecords, t0.Add(time.Duration(i)*time.Minute)), t0.Add(time.Hour)))
			}
			page1, err := s.ListAttempts(ctx, "companies/acme", "example.com", 0, 3)
			must(t, err)
			if len(page1) != 3 || !page1[0].Time.Equal(t0.Add(4*time.Minute)) || !page1[2].Time.Equal(t0.Add(2*time.Minute)) {
				t.Fatalf("first page %+v", page1)
			}
			page2, err := s.ListAttempts(ctx, "companies/acme", "example.com", page1[2].ID, 3)
			must(t, err)
			if len(page2) != 2 || !page2[1].Time.Equal(t0) {
				t.Fatalf("second page %+v", page2)
			}
			must(t, s.Delete(ctx, "companies/acme", "example.com"))
			must(t, s.Create(ctx, pending("companies/acme", "example.com")))
			again, err := s.ListAttempts(ctx, "companies/acme", "example.com", 0, 10)
			must(t, err)
			if len(again) != 0 {
				t.Fatalf("a re-added domain inherited %d attempts", len(again))
			}
		}},
		{"only the newest attempts are kept", func(t *testing.T, s store.Store) {
			must(t, s.Create(ctx, pending("companies/acme", "example.com")))
			for i := range store.MaxAttemptsKept + 5 {
				must(t, s.RecordAttempt(ctx, attempt("companies/acme", "example.com", store.OutcomeTimeout, t0.Add(time.Duration(i)*time.Second)), t0))
			}
			all, err := s.ListAttempts(ctx, "companies/acme", "example.com", 0, 1000)
			must(t, err)
			if len(all) != store.MaxAttemptsKept || !all[len(all)-1].Time.Equal(t0.Add(5*time.Second)) {
				t.Fatalf("kept %d attempts, oldest at %v", len(all), all[len(all)-1].Time)
			}
		}},
		{"list pages in name order and filters by state", func(t *testing.T, s store.Store) {
			for i := range 7 {
				must(t, s.Create(ctx, pending("companies/acme", fmt.Sprintf("d%d.example", i))))
			}
			must(t, s.Create(ctx, pending("companies/other", "zzz.example")))
			_, err := s.MarkVerified(ctx, attempt("companies/acme", "d3.example", store.OutcomeVerified, t0))
			must(t, err)
			var names []string
			after := ""
			for {
				page, err := s.List(ctx, store.ListQuery{Owner: "companies/acme", After: after, Limit: 3})
				must(t, err)
				for _, d := range page {
					names = append(names, d.Name)
				}
				if len(page) < 3 {
					break
				}
				after = page[len(page)-1].Name
			}
			if fmt.Sprint(names) != "[d0.example d1.example d2.example d3.example d4.example d5.example d6.example]" {
				t.Fatalf("listed %v", names)
			}
			verified, err := s.List(ctx, store.ListQuery{Owner: "companies/acme", State: store.Verified, Limit: 10})
			must(t, err)
			if len(verified) != 1 || verified[0].Name != "d3.example" || verified[0].LastAttempt == nil {
				t.Fatalf("verified filter gave %+v", verified)
			}
		}},
		{"due domains are claimed by exactly one checker", func(t *testing.T, s store.Store) {
			a := pending("companies/acme", "a.example")
			b := pending("companies/acme", "b.example")
			b.NextCheck = t0.Add(time.Hour)
			c := pending("companies/acme", "c.example")
			must(t, s.Create(ctx, a))
			must(t, s.Create(ctx, b))
			must(t, s.Create(ctx, c))
			_, err := s.MarkVerified(ctx, attempt("companies/acme", "c.example", store.OutcomeVerified, t0))
			must(t, err)
			due, err := s.Due(ctx, t0.Add(2*time.Minute), 10)
			must(t, err)
			if len(due) != 1 || due[0].Name != "a.example" {
				t.Fatalf("due = %+v, want only a.example", due)
			}
			var wg sync.WaitGroup
			var mu sync.Mutex
			claims := 0
			for range 10 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ok, err := s.ClaimCheck(ctx, a.Owner, a.Name, due[0].NextCheck, t0.Add(10*time.Minute))
					if err != nil {
						t.Error(err)
					}
					if ok {
						mu.Lock()
						claims++
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			if claims != 1 {
				t.Fatalf("%d checkers claimed the domain, want 1", claims)
			}
			if due, _ := s.Due(ctx, t0.Add(2*time.Minute), 10); len(due) != 0 {
				t.Fatalf("a claimed domain is still due: %+v", due)
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
