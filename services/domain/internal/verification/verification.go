// Package verification decides whether a domain is verified: it looks up the domain's TXT records,
// compares them with the owner's token, records every attempt, and re-checks pending domains in the
// background for the checking window after they are added.
package verification

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/iechor/sso/services/domain/internal/dns"
	"github.com/iechor/sso/services/domain/internal/store"
)

// RecordPrefix starts the TXT value an owner publishes: iechor-verification=<token>.
const RecordPrefix = "iechor-verification="

// RecordValue is the TXT value that verifies a domain with token.
func RecordValue(token string) string { return RecordPrefix + token }

// TXTLookup looks up TXT records; *dns.Resolver is one.
type TXTLookup interface {
	LookupTXT(ctx context.Context, name string) dns.Answer
}

// Failure is a verification attempt that did not verify the domain.
type Failure struct {
	Outcome store.Outcome
	Found   []string
	Detail  string
}

func (f *Failure) Error() string {
	return fmt.Sprintf("domain not verified: %s: %s", f.Outcome, f.Detail)
}

// Verifier verifies domains.
type Verifier struct {
	Store store.Store
	DNS   TXTLookup
	Log   *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Jitter spreads a delay so that replicas and domains do not check in step; ±20% when nil.
	Jitter func(time.Duration) time.Duration
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

func (v *Verifier) jitter(d time.Duration) time.Duration {
	if v.Jitter != nil {
		return v.Jitter(d)
	}
	return Jitter(d)
}

// Jitter returns d spread by ±20%.
func Jitter(d time.Duration) time.Duration {
	spread := int64(d) / 5
	if spread <= 0 {
		return d
	}
	return d - time.Duration(spread) + time.Duration(rand.Int64N(2*spread+1))
}

// FirstCheck is when the background check first looks at a domain added at created.
func (v *Verifier) FirstCheck(created time.Time) time.Time {
	return created.Add(v.jitter(time.Minute))
}

// nextCheck spaces background checks by a quarter of the domain's age, between one minute and one
// hour: soon after the owner adds the record, then hourly. Zero after the checking window.
func (v *Verifier) nextCheck(d store.Domain, now time.Time) time.Time {
	delay := min(max(now.Sub(d.CreateTime)/4, time.Minute), time.Hour)
	next := now.Add(v.jitter(delay))
	if !next.Before(d.CheckUntil) {
		return time.Time{}
	}
	return next
}

// Verify looks up the domain's TXT records now and records the attempt. It returns the domain when
// it is verified, *Failure when DNS does not show the token, store.ErrClaimed when another owner has
// verified the domain, and store.ErrNotFound.
func (v *Verifier) Verify(ctx context.Context, owner, name string, automatic bool) (store.Domain, error) {
	d, err := v.Store.Get(ctx, owner, name)
	if err != nil {
		return store.Domain{}, err
	}
	if d.State == store.Verified {
		return d, nil
	}
	answer := v.DNS.LookupTXT(ctx, d.Name)
	now := v.now()
	attempt := store.Attempt{Owner: owner, Name: name, Time: now, Found: trimFound(answer.Values), Automatic: automatic}
	want := RecordValue(d.Token)

	switch answer.Kind {
	case dns.Records:
		if slices.Contains(answer.Values, want) {
			attempt.Outcome = store.OutcomeVerified
			attempt.Detail = "The TXT record was found."
			verified, err := v.Store.MarkVerified(ctx, attempt)
			if errors.Is(err, store.ErrClaimed) {
				attempt.Outcome = store.OutcomeClaimed
				attempt.Detail = "The TXT record was found, but the domain is verified by another account."
				if rerr := v.Store.RecordAttempt(ctx, attempt, time.Time{}); rerr != nil {
					return store.Domain{}, rerr
				}
			}
			if err == nil {
				v.Log.InfoContext(ctx, "domain verified", "owner", owner, "domain", name, "automatic", automatic)
			}
			return verified, err
		}
		attempt.Outcome = store.OutcomeValueMismatch
		attempt.Detail = fmt.Sprintf("TXT records were found, but none is %q.", want)
	case dns.NXDomain:
		attempt.Outcome = store.OutcomeNXDomain
		attempt.Detail = "The domain does not exist in DNS."
	case dns.NoRecords:
		attempt.Outcome = store.OutcomeNoTXTRecords
		attempt.Detail = fmt.Sprintf("The domain has no TXT record; publish %q.", want)
	case dns.Timeout:
		attempt.Outcome = store.OutcomeTimeout
		attempt.Detail = "The DNS resolver did not answer in time; try again later."
	case dns.ServerError:
		attempt.Outcome = store.OutcomeResolverError
		attempt.Detail = "The DNS resolver answered with an error; try again later."
	default:
		attempt.Outcome = store.OutcomeResolverUnreachable
		attempt.Detail = "The DNS resolver could not be reached; try again later."
	}
	if answer.Detail != "" {
		v.Log.WarnContext(ctx, "dns lookup failed", "domain", name, "detail", answer.Detail)
	}
	if err := v.Store.RecordAttempt(ctx, attempt, v.nextCheck(d, now)); err != nil {
		return store.Domain{}, err
	}
	return store.Domain{}, &Failure{Outcome: attempt.Outcome, Found: attempt.Found, Detail: attempt.Detail}
}

// trimFound keeps what an admin needs to see of the values found, bounded.
func trimFound(values []string) []string {
	var out []string
	for i, v := range values {
		if i == 10 {
			break
		}
		if len(v) > 255 {
			v = v[:255]
		}
		out = append(out, v)
	}
	return out
}

// claimLease is how long a claimed check stays with its checker; if the checker dies, the domain is
// due again after it.
const claimLease = 5 * time.Minute

// finishBound is how long a claimed check may take once the replica is told to stop: a DNS lookup
// (bounded itself by DNS_TIMEOUT) and two writes.
const finishBound = 30 * time.Second

// RecheckDue checks the pending domains that are due, each by exactly one replica, and returns how
// many this replica checked.
func (v *Verifier) RecheckDue(ctx context.Context) (int, error) {
	now := v.now()
	due, err := v.Store.Due(ctx, now, 50)
	if err != nil {
		return 0, err
	}
	checked := 0
	for _, d := range due {
		// A stopping replica claims nothing more; what is due stays due for the others.
		if ctx.Err() != nil {
			return checked, nil
		}
		ok, err := v.Store.ClaimCheck(ctx, d.Owner, d.Name, d.NextCheck, now.Add(claimLease))
		if err != nil {
			return checked, err
		}
		if !ok {
			continue // another replica has it
		}
		checked++
		// A claimed check is finished even when the replica is told to stop: cut short, it would
		// keep its claim, and no replica would check the domain again for the whole lease.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishBound)
		_, err = v.Verify(fctx, d.Owner, d.Name, true)
		cancel()
		if err != nil {
			var failure *Failure
			if !errors.As(err, &failure) && !errors.Is(err, store.ErrClaimed) && !errors.Is(err, store.ErrNotFound) {
				return checked, err
			}
		}
	}
	return checked, nil
}

// RunRechecks calls RecheckDue about every interval until ctx ends.
func (v *Verifier) RunRechecks(ctx context.Context, interval time.Duration) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(v.jitter(interval)):
		}
		if _, err := v.RecheckDue(ctx); err != nil && ctx.Err() == nil {
			v.Log.ErrorContext(ctx, "background domain check failed", "err", err)
		}
	}
}
