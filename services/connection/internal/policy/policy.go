// Package policy answers, for an email, which connections may sign it in and whether a sign-in method
// is allowed: SSO enforced on the email's domain refuses passwords everywhere and sends the CLI to
// personal access tokens; emails on other domains (guests) are unaffected; personal access tokens
// are always allowed.
//
// The answer is on the path of every password sign-in, so the connections covering a domain are
// served from an in-process cache. The cache is emptied whenever the shared change sequence moves
// (on any replica), and it is bypassed whenever the sequence could not be read recently, so that a
// replica that lost its view of changes asks the store rather than answer from stale data.
package policy

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/iechor/sso/services/connection/internal/store"
	"github.com/iechor/sso/services/platform/domainname"
)

// Method is how a person signs in.
type Method int

const (
	Password Method = iota + 1
	SSO
	PersonalAccessToken
)

// Client is where a person signs in.
type Client int

const (
	AnyClient Client = iota
	Hub
	Desktop
	CLI
)

// The reasons of a decision.
const (
	ReasonSSOEnforced         = "SSO_ENFORCED"
	ReasonUsePAT              = "USE_PERSONAL_ACCESS_TOKEN"
	ReasonSSONotEnforced      = "SSO_NOT_ENFORCED"
	ReasonNoConnection        = "NO_SSO_CONNECTION"
	ReasonSSOAvailable        = "SSO_AVAILABLE"
	ReasonPATAllowed          = "PERSONAL_ACCESS_TOKEN_ALLOWED"
	CLIMessage                = "unauthorized: please use personal access token to login when SSO is enforced"
	maxEmailLength            = 320
	defaultCacheEntries       = 100_000
	bypassWhenStaleFor        = 5 // poll intervals
	minimumStalenessAllowance = 2 * time.Second
)

// ErrInvalidEmail means the text is not an email address.
var ErrInvalidEmail = errors.New("not an email address such as jane@example.com")

// DomainOfEmail returns the normalized domain of an email. covered is false for domains that no
// connection can cover (free email providers, public suffixes, IP addresses): their users are guests
// everywhere. Only text that is not an email address at all is an error.
func DomainOfEmail(email string) (domain string, covered bool, err error) {
	email = strings.TrimSpace(email)
	at := strings.LastIndexByte(email, '@')
	if len(email) > maxEmailLength || at <= 0 || at == len(email)-1 || strings.ContainsAny(email, " \t\r\n") {
		return "", false, ErrInvalidEmail
	}
	d, err := domainname.FromEmail(email)
	switch {
	case err == nil:
		return d, true, nil
	case errors.Is(err, domainname.ErrEmpty), errors.Is(err, domainname.ErrMalformed),
		errors.Is(err, domainname.ErrHasScheme), errors.Is(err, domainname.ErrHasPath):
		return "", false, ErrInvalidEmail
	}
	return "", false, nil
}

// Decision is whether a sign-in method is allowed, and why.
type Decision struct {
	Allowed     bool
	Reason      string
	Message     string
	Connections []string // names of the active connections covering the domain
	SSOEnforced bool
}

// Decide applies the rules to the connections that cover the email's domain.
func Decide(domain string, covering []store.Summary, method Method, client Client) Decision {
	var d Decision
	for _, c := range covering {
		if c.State != store.Active {
			continue
		}
		d.Connections = append(d.Connections, c.Name())
		d.SSOEnforced = d.SSOEnforced || c.EnforceSSO
	}
	switch method {
	case PersonalAccessToken:
		d.Allowed, d.Reason, d.Message = true, ReasonPATAllowed, "Personal access tokens are always allowed."
	case SSO:
		if len(d.Connections) == 0 {
			d.Reason, d.Message = ReasonNoConnection, "No SSO connection covers "+domain+"."
		} else {
			d.Allowed, d.Reason, d.Message = true, ReasonSSOAvailable, "Sign in with SSO."
		}
	case Password:
		switch {
		case d.SSOEnforced && client == CLI:
			d.Reason, d.Message = ReasonUsePAT, CLIMessage
		case d.SSOEnforced:
			d.Reason, d.Message = ReasonSSOEnforced, "Your organization requires single sign-on for "+domain+": sign in with SSO."
		case len(d.Connections) > 0:
			d.Allowed, d.Reason, d.Message = true, ReasonSSONotEnforced, "Password sign-in is allowed; SSO is available."
		default:
			d.Allowed, d.Reason, d.Message = true, ReasonNoConnection, "Password sign-in is allowed."
		}
	}
	return d
}

// Lookup reads the connections covering a domain from the store.
type Lookup func(ctx context.Context, domain string) ([]store.Summary, error)

// Cache serves Lookup from memory.
type Cache struct {
	lookup     Lookup
	maxEntries int
	staleAfter time.Duration
	now        func() time.Time
	group      singleflight.Group

	mu         sync.RWMutex
	gen        uint64
	entries    map[string][]store.Summary
	freshUntil time.Time

	hits, misses, bypasses atomic.Int64
}

// NewCache returns a cache over lookup for a feed polling every pollInterval.
func NewCache(lookup Lookup, pollInterval time.Duration) *Cache {
	stale := bypassWhenStaleFor * pollInterval
	if stale < minimumStalenessAllowance {
		stale = minimumStalenessAllowance
	}
	return &Cache{lookup: lookup, maxEntries: defaultCacheEntries, staleAfter: stale, now: time.Now, entries: map[string][]store.Summary{}}
}

// Covering returns the connections covering domain, from memory when the cache is fresh.
func (c *Cache) Covering(ctx context.Context, domain string) ([]store.Summary, error) {
	c.mu.RLock()
	fresh := c.now().Before(c.freshUntil)
	v, ok := c.entries[domain]
	gen := c.gen
	c.mu.RUnlock()
	if !fresh {
		c.bypasses.Add(1)
		return c.lookup(ctx, domain)
	}
	if ok {
		c.hits.Add(1)
		return v, nil
	}
	c.misses.Add(1)
	// Concurrent misses on one domain share one read.
	res, err, _ := c.group.Do(domain, func() (any, error) {
		v, err := c.lookup(ctx, domain)
		if err != nil {
			return nil, err
		}
		if v == nil {
			v = []store.Summary{}
		}
		c.mu.Lock()
		// A read that began before an invalidation may hold what the invalidation removed.
		if c.gen == gen {
			if len(c.entries) >= c.maxEntries {
				c.entries = map[string][]store.Summary{}
			}
			c.entries[domain] = v
		}
		c.mu.Unlock()
		return v, nil
	})
	if err != nil {
		return nil, err
	}
	return res.([]store.Summary), nil
}

// Invalidate drops everything.
func (c *Cache) Invalidate() {
	c.mu.Lock()
	c.gen++
	c.entries = map[string][]store.Summary{}
	c.mu.Unlock()
}

// Polled records a successful poll of the change sequence: the cache is dropped if anything changed,
// and may serve until the staleness allowance runs out without another successful poll.
func (c *Cache) Polled(changed bool) {
	if changed {
		c.Invalidate()
	}
	c.mu.Lock()
	c.freshUntil = c.now().Add(c.staleAfter)
	c.mu.Unlock()
}

// Stats returns the cache's hit, miss and bypass counts.
func (c *Cache) Stats() (hits, misses, bypasses int64) {
	return c.hits.Load(), c.misses.Load(), c.bypasses.Load()
}
