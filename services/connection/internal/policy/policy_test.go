package policy_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iechor/sso/services/connection/internal/policy"
	"github.com/iechor/sso/services/connection/internal/store"
)

func TestEmailsResolveToTheDomainsConnectionsCanCover(t *testing.T) {
	for _, tc := range []struct {
		email, domain string
		covered       bool
		err           error
	}{
		{"Jane@Example.COM", "example.com", true, nil},
		{"jane@sub.example.co.uk", "sub.example.co.uk", true, nil},
		{"jane+tag@bücher.example", "xn--bcher-kva.example", true, nil},
		{"jane@gmail.com", "", false, nil},
		{"jane@co.uk", "", false, nil},
		{"jane@[192.0.2.1]", "", false, nil},
		{"jane@localhost", "", false, nil},
		{"jane", "", false, policy.ErrInvalidEmail},
		{"@example.com", "", false, policy.ErrInvalidEmail},
		{"jane@", "", false, policy.ErrInvalidEmail},
		{"jane doe@example.com", "", false, policy.ErrInvalidEmail},
		{"jane@exa mple.com", "", false, policy.ErrInvalidEmail},
		{"jane@example..com", "", false, policy.ErrInvalidEmail},
		{strings.Repeat("a", 320) + "@example.com", "", false, policy.ErrInvalidEmail},
	} {
		t.Run(tc.email, func(t *testing.T) {
			d, covered, err := policy.DomainOfEmail(tc.email)
			if d != tc.domain || covered != tc.covered || !errors.Is(err, tc.err) {
				t.Fatalf("DomainOfEmail = %q, %v, %v", d, covered, err)
			}
		})
	}
}

func conn(id string, state store.State, enforce bool) store.Summary {
	return store.Summary{ID: id, Owner: "companies/acme", DisplayName: id, Type: store.SAML, State: state, EnforceSSO: enforce}
}

func TestSignInPolicyDecisions(t *testing.T) {
	enforced := []store.Summary{conn("conn_a", store.Active, true)}
	available := []store.Summary{conn("conn_a", store.Active, false)}
	enforcedDraft := []store.Summary{conn("conn_d", store.Draft, true)}
	mixed := []store.Summary{conn("conn_a", store.Active, false), conn("conn_b", store.Active, true), conn("conn_d", store.Draft, false)}
	for _, tc := range []struct {
		name        string
		covering    []store.Summary
		method      policy.Method
		client      policy.Client
		allowed     bool
		reason      string
		connections int
		enforced    bool
	}{
		{"password is refused on Hub when SSO is enforced", enforced, policy.Password, policy.Hub, false, policy.ReasonSSOEnforced, 1, true},
		{"password is refused on Desktop when SSO is enforced", enforced, policy.Password, policy.Desktop, false, policy.ReasonSSOEnforced, 1, true},
		{"password is refused on the CLI with the advice to use a token", enforced, policy.Password, policy.CLI, false, policy.ReasonUsePAT, 1, true},
		{"password is refused for an unnamed client when SSO is enforced", enforced, policy.Password, policy.AnyClient, false, policy.ReasonSSOEnforced, 1, true},
		{"a token is allowed when SSO is enforced", enforced, policy.PersonalAccessToken, policy.CLI, true, policy.ReasonPATAllowed, 1, true},
		{"SSO is allowed when SSO is enforced", enforced, policy.SSO, policy.Hub, true, policy.ReasonSSOAvailable, 1, true},
		{"password is allowed when a connection does not enforce", available, policy.Password, policy.Hub, true, policy.ReasonSSONotEnforced, 1, false},
		{"one enforcing connection among several enforces", mixed, policy.Password, policy.Hub, false, policy.ReasonSSOEnforced, 2, true},
		{"a draft does not enforce", enforcedDraft, policy.Password, policy.CLI, true, policy.ReasonNoConnection, 0, false},
		{"a draft does not offer SSO", enforcedDraft, policy.SSO, policy.Hub, false, policy.ReasonNoConnection, 0, false},
		{"a guest signs in with a password", nil, policy.Password, policy.CLI, true, policy.ReasonNoConnection, 0, false},
		{"a guest has no SSO", nil, policy.SSO, policy.Hub, false, policy.ReasonNoConnection, 0, false},
		{"a guest may use a token", nil, policy.PersonalAccessToken, policy.CLI, true, policy.ReasonPATAllowed, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := policy.Decide("example.com", tc.covering, tc.method, tc.client)
			if d.Allowed != tc.allowed || d.Reason != tc.reason || len(d.Connections) != tc.connections || d.SSOEnforced != tc.enforced || d.Message == "" {
				t.Fatalf("decision %+v", d)
			}
			if tc.reason == policy.ReasonUsePAT && d.Message != "unauthorized: please use personal access token to login when SSO is enforced" {
				t.Fatalf("CLI message %q", d.Message)
			}
		})
	}
}

// countingLookup is a store stand-in for the cache's unit test; the service tests run the cache on
// the real store.
type countingLookup struct {
	mu    sync.Mutex
	data  map[string][]store.Summary
	calls atomic.Int64
	fail  atomic.Bool
}

func (l *countingLookup) lookup(_ context.Context, domain string) ([]store.Summary, error) {
	l.calls.Add(1)
	if l.fail.Load() {
		return nil, errors.New("store unavailable")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.data[domain], nil
}

func (l *countingLookup) set(domain string, v []store.Summary) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.data[domain] = v
}

func TestTheCacheServesUntilTheChangeSequenceMoves(t *testing.T) {
	ctx := context.Background()
	l := &countingLookup{data: map[string][]store.Summary{"example.com": {conn("conn_a", store.Active, false)}}}
	c := policy.NewCache(l.lookup, 50*time.Millisecond)

	// Before the first poll the cache does not know how old its view is: every lookup reads.
	for range 3 {
		if _, err := c.Covering(ctx, "example.com"); err != nil {
			t.Fatal(err)
		}
	}
	if n := l.calls.Load(); n != 3 {
		t.Fatalf("%d reads before the first poll, want 3", n)
	}
	c.Polled(true)
	for range 5 {
		_, _ = c.Covering(ctx, "example.com")
		_, _ = c.Covering(ctx, "guest.example")
	}
	if n := l.calls.Load(); n != 5 {
		t.Fatalf("%d reads, want 5: one per domain after the poll, negative answers cached too", n)
	}
	l.set("example.com", []store.Summary{conn("conn_a", store.Active, true)})
	c.Polled(false)
	if got, _ := c.Covering(ctx, "example.com"); got[0].EnforceSSO {
		t.Fatal("the cache dropped its entries without a change")
	}
	c.Polled(true)
	if got, _ := c.Covering(ctx, "example.com"); !got[0].EnforceSSO {
		t.Fatal("the cache serves what a change replaced")
	}
	hits, misses, bypasses := c.Stats()
	if hits == 0 || misses == 0 || bypasses != 3 {
		t.Fatalf("stats %d %d %d", hits, misses, bypasses)
	}
}

func TestTheCacheIsBypassedWhenTheChangeSequenceCannotBeRead(t *testing.T) {
	ctx := context.Background()
	l := &countingLookup{data: map[string][]store.Summary{}}
	c := policy.NewCache(l.lookup, 10*time.Millisecond) // allowance: the 2s minimum, not five polls
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	c.SetClock(func() time.Time { return now })
	c.Polled(true)
	_, _ = c.Covering(ctx, "example.com")
	_, _ = c.Covering(ctx, "example.com")
	if l.calls.Load() != 1 {
		t.Fatalf("%d reads while fresh", l.calls.Load())
	}
	l.fail.Store(true)
	now = now.Add(1900 * time.Millisecond) // many polls missed, but within the minimum allowance
	if _, err := c.Covering(ctx, "example.com"); err != nil || l.calls.Load() != 1 {
		t.Fatalf("within the allowance the cache read the store (%d reads, %v)", l.calls.Load(), err)
	}
	now = now.Add(200 * time.Millisecond)
	if _, err := c.Covering(ctx, "example.com"); err == nil {
		t.Fatal("a stale cache answered instead of the store, which fails")
	}
}

func TestConcurrentMissesShareOneRead(t *testing.T) {
	ctx := context.Background()
	slow := make(chan struct{})
	var calls atomic.Int64
	c := policy.NewCache(func(context.Context, string) ([]store.Summary, error) {
		calls.Add(1)
		<-slow
		return nil, nil
	}, time.Second)
	c.Polled(true)
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() { defer wg.Done(); _, _ = c.Covering(ctx, "example.com") }()
	}
	time.Sleep(50 * time.Millisecond)
	close(slow)
	wg.Wait()
	if calls.Load() != 1 {
		t.Fatalf("%d reads for one domain", calls.Load())
	}
}

func TestAReadThatRacesAnInvalidationIsNotKept(t *testing.T) {
	ctx := context.Background()
	started, release := make(chan struct{}), make(chan struct{})
	var calls atomic.Int64
	c := policy.NewCache(func(context.Context, string) ([]store.Summary, error) {
		if calls.Add(1) == 1 {
			close(started)
			<-release
		}
		return nil, nil
	}, time.Second)
	c.Polled(true)
	done := make(chan struct{})
	go func() { _, _ = c.Covering(ctx, "example.com"); close(done) }()
	<-started
	c.Invalidate() // a change commits while the first read is in flight
	close(release)
	<-done
	_, _ = c.Covering(ctx, "example.com")
	if calls.Load() != 2 {
		t.Fatalf("%d reads: the read from before the change was kept", calls.Load())
	}
}
