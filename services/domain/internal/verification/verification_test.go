package verification_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/iechor/sso/services/domain/internal/dns"
	"github.com/iechor/sso/services/domain/internal/store"
	"github.com/iechor/sso/services/domain/internal/verification"
	"github.com/iechor/sso/services/platform/dnstest"
	"github.com/iechor/sso/services/platform/logging"
	"github.com/iechor/sso/services/platform/sqlstore/sqlstoretest"
)

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type fixture struct {
	store store.Store
	dns   *dnstest.Server
	clock *clock
	v     *verification.Verifier
}

func newFixture(t *testing.T, b sqlstoretest.Backend, resolverTimeout time.Duration) *fixture {
	t.Helper()
	s, err := store.NewSQL(context.Background(), b.Open(t))
	if err != nil {
		t.Fatal(err)
	}
	srv := dnstest.Start(t)
	r, err := dns.New([]string{srv.Addr()}, resolverTimeout)
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{now: t0}
	return &fixture{store: s, dns: srv, clock: c, v: &verification.Verifier{
		Store: s, DNS: r, Log: logging.Discard(), Now: c.Now,
		Jitter: func(d time.Duration) time.Duration { return d },
	}}
}

func (f *fixture) add(t *testing.T, owner, name, token string) store.Domain {
	t.Helper()
	d := store.Domain{Owner: owner, Name: name, DisplayName: name, Token: token, State: store.Pending,
		CreateTime: f.clock.Now(), NextCheck: f.v.FirstCheck(f.clock.Now()), CheckUntil: f.clock.Now().Add(72 * time.Hour)}
	if err := f.store.Create(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	return d
}

func outcomeOf(err error) store.Outcome {
	var f *verification.Failure
	if errors.As(err, &f) {
		return f.Outcome
	}
	return ""
}

func TestVerifyAgainstARealDNSServer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		cases := []struct {
			name    string
			publish func(s *dnstest.Server)
			want    store.Outcome
		}{
			{"the record is present", func(s *dnstest.Server) { s.SetTXT("example.com", "iechor-verification=tok") }, store.OutcomeVerified},
			{"the record is among several TXT records", func(s *dnstest.Server) {
				s.SetTXT("example.com", "v=spf1 include:_spf.example.net -all", "iechor-verification=tok", "MS=ms1234")
			}, store.OutcomeVerified},
			{"the domain has no TXT records", func(s *dnstest.Server) { s.SetA("example.com") }, store.OutcomeNoTXTRecords},
			{"only other values are published", func(s *dnstest.Server) { s.SetTXT("example.com", "iechor-verification=other", "v=spf1 -all") }, store.OutcomeValueMismatch},
			{"the value differs in case", func(s *dnstest.Server) { s.SetTXT("example.com", "iechor-verification=TOK") }, store.OutcomeValueMismatch},
			{"the domain does not exist", func(s *dnstest.Server) {}, store.OutcomeNXDomain},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				f := newFixture(t, b, 2*time.Second)
				f.add(t, "companies/acme", "example.com", "tok")
				tc.publish(f.dns)
				d, err := f.v.Verify(ctx, "companies/acme", "example.com", false)
				got, _ := f.store.Get(ctx, "companies/acme", "example.com")
				if tc.want == store.OutcomeVerified {
					if err != nil || d.State != store.Verified || got.State != store.Verified {
						t.Fatalf("Verify = %+v, %v; stored %v", d, err, got.State)
					}
				} else if outcomeOf(err) != tc.want || got.State != store.Pending {
					t.Fatalf("Verify error %v (outcome %q), want %q; stored state %v", err, outcomeOf(err), tc.want, got.State)
				}
				if got.LastAttempt == nil || got.LastAttempt.Outcome != tc.want || got.LastAttempt.Automatic {
					t.Fatalf("recorded attempt %+v, want outcome %q by an admin", got.LastAttempt, tc.want)
				}
			})
		}
		t.Run("what was found is recorded with a mismatch", func(t *testing.T) {
			f := newFixture(t, b, 2*time.Second)
			f.add(t, "companies/acme", "example.com", "tok")
			f.dns.SetTXT("example.com", "iechor-verification=old")
			_, err := f.v.Verify(ctx, "companies/acme", "example.com", false)
			var failure *verification.Failure
			if !errors.As(err, &failure) || len(failure.Found) != 1 || failure.Found[0] != "iechor-verification=old" {
				t.Fatalf("failure %+v", failure)
			}
		})
	})
}

func TestVerifyReportsAResolverThatNeverAnswers(t *testing.T) {
	t.Parallel()
	b := sqlstoretest.Backends()[0]
	f := newFixture(t, b, 300*time.Millisecond)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0") // reads, never answers
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	r, _ := dns.New([]string{pc.LocalAddr().String()}, 300*time.Millisecond)
	f.v.DNS = r
	f.add(t, "companies/acme", "example.com", "tok")
	_, err = f.v.Verify(context.Background(), "companies/acme", "example.com", false)
	if outcomeOf(err) != store.OutcomeTimeout {
		t.Fatalf("Verify = %v, want a timeout", err)
	}
}

func TestVerifyReportsAnUnreachableResolver(t *testing.T) {
	t.Parallel()
	b := sqlstoretest.Backends()[0]
	f := newFixture(t, b, time.Second)
	pc, _ := net.ListenPacket("udp", "127.0.0.1:0")
	addr := pc.LocalAddr().String()
	pc.Close()
	r, _ := dns.New([]string{addr}, time.Second)
	f.v.DNS = r
	f.add(t, "companies/acme", "example.com", "tok")
	if _, err := f.v.Verify(context.Background(), "companies/acme", "example.com", false); outcomeOf(err) != store.OutcomeResolverUnreachable {
		t.Fatalf("Verify = %v, want resolver unreachable", err)
	}
}

func TestTwoOwnersRacingToVerifyOneDomainHaveOneWinner(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		f := newFixture(t, b, 2*time.Second)
		f.add(t, "companies/acme", "example.com", "acme-token")
		f.add(t, "organizations/rival", "example.com", "rival-token")
		// Both tokens are published: only the store can decide.
		f.dns.SetTXT("example.com", "iechor-verification=acme-token", "iechor-verification=rival-token")
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, owner := range []string{"companies/acme", "organizations/rival"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = f.v.Verify(ctx, owner, "example.com", false)
			}()
		}
		wg.Wait()
		winners, claimed := 0, 0
		for _, err := range errs {
			switch {
			case err == nil:
				winners++
			case errors.Is(err, store.ErrClaimed):
				claimed++
			default:
				t.Fatalf("unexpected: %v", err)
			}
		}
		if winners != 1 || claimed != 1 {
			t.Fatalf("%d winners and %d refused, want one of each", winners, claimed)
		}
		owner, err := f.store.VerifiedOwner(ctx, "example.com")
		if err != nil {
			t.Fatal(err)
		}
		loser := "companies/acme"
		if owner.Owner == loser {
			loser = "organizations/rival"
		}
		l, _ := f.store.Get(ctx, loser, "example.com")
		if l.State != store.Pending || l.LastAttempt == nil || l.LastAttempt.Outcome != store.OutcomeClaimed {
			t.Fatalf("the refused owner's domain: %+v", l)
		}
	})
}

func TestBackgroundChecksVerifyWithinTheWindowAndStopAfterIt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := sqlstoretest.Backends()[0]
	f := newFixture(t, b, 2*time.Second)
	f.add(t, "companies/acme", "late.example", "tok1")
	f.add(t, "companies/acme", "never.example", "tok2")

	// Nothing is due before the first check.
	if n, err := f.v.RecheckDue(ctx); err != nil || n != 0 {
		t.Fatalf("RecheckDue before the first check = %d, %v", n, err)
	}
	f.clock.Advance(time.Minute)
	if n, err := f.v.RecheckDue(ctx); err != nil || n != 2 {
		t.Fatalf("first background round checked %d domains (%v), want 2", n, err)
	}
	d, _ := f.store.Get(ctx, "companies/acme", "late.example")
	if d.LastAttempt == nil || !d.LastAttempt.Automatic || d.LastAttempt.Outcome != store.OutcomeNXDomain {
		t.Fatalf("background attempt %+v", d.LastAttempt)
	}
	if !d.NextCheck.Equal(f.clock.Now().Add(time.Minute)) {
		t.Fatalf("next check at %v, want a minute later", d.NextCheck)
	}

	// The owner publishes the record a day later; the next background round verifies it.
	f.clock.Advance(24 * time.Hour)
	f.dns.SetTXT("late.example", "iechor-verification=tok1")
	if _, err := f.v.RecheckDue(ctx); err != nil {
		t.Fatal(err)
	}
	d, _ = f.store.Get(ctx, "companies/acme", "late.example")
	if d.State != store.Verified {
		t.Fatalf("late.example not verified by the background check: %+v", d)
	}

	// Checks space out to an hour and stop at the end of the 72-hour window.
	for range 60 {
		f.clock.Advance(time.Hour)
		if _, err := f.v.RecheckDue(ctx); err != nil {
			t.Fatal(err)
		}
	}
	never, _ := f.store.Get(ctx, "companies/acme", "never.example")
	if never.State != store.Pending || !never.NextCheck.IsZero() {
		t.Fatalf("after the window: state %v, next check %v; want pending with no next check", never.State, never.NextCheck)
	}
	attempts, _ := f.store.ListAttempts(ctx, "companies/acme", "never.example", 0, 1000)
	if len(attempts) < 45 || len(attempts) > 80 {
		t.Fatalf("%d background attempts in 72 hours; want hourly checks after the first hours", len(attempts))
	}
	// An admin may still verify after the window.
	f.dns.SetTXT("never.example", "iechor-verification=tok2")
	if _, err := f.v.Verify(ctx, "companies/acme", "never.example", false); err != nil {
		t.Fatalf("manual verification after the window: %v", err)
	}
}

func TestACheckUnderWayWhenTheReplicaStopsIsFinishedAndNothingMoreIsClaimed(t *testing.T) {
	t.Parallel()
	b := sqlstoretest.Backends()[0]
	f := newFixture(t, b, 5*time.Second)
	f.add(t, "companies/acme", "first.example", "tok1")
	f.add(t, "companies/acme", "second.example", "tok2")
	f.dns.SetTXT("first.example", "iechor-verification=tok1")
	f.dns.SetTXT("second.example", "iechor-verification=tok2")
	f.clock.Advance(time.Minute)

	// The replica is told to stop while its first DNS lookup waits for an answer.
	ctx, stop := context.WithCancel(context.Background())
	f.dns.OnQuery(func(string) { stop() })
	n, err := f.v.RecheckDue(ctx)
	if err != nil || n != 1 {
		t.Fatalf("RecheckDue cut short = %d, %v; want the one check under way, finished", n, err)
	}
	var verified, untouched int
	for _, name := range []string{"first.example", "second.example"} {
		d, _ := f.store.Get(context.Background(), "companies/acme", name)
		switch {
		case d.State == store.Verified && d.LastAttempt != nil && d.LastAttempt.Automatic:
			verified++
		case d.State == store.Pending && d.LastAttempt == nil && !d.NextCheck.After(f.clock.Now()):
			untouched++ // still due, unclaimed: another replica checks it at once
		default:
			t.Errorf("%s after the stop: %+v", name, d)
		}
	}
	if verified != 1 || untouched != 1 {
		t.Fatalf("%d verified and %d left due; want the check under way finished and the other left to the next replica", verified, untouched)
	}
}

func TestJitterStaysWithinTwentyPercent(t *testing.T) {
	for range 1000 {
		d := verification.Jitter(time.Hour)
		if d < 48*time.Minute || d > 72*time.Minute {
			t.Fatalf("Jitter(1h) = %v", d)
		}
	}
}
