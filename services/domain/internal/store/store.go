// Package store keeps domains, their verification tokens and state, and the history of verification
// attempts. The Store interface has the methods the domain service calls; SQL implements it on
// PostgreSQL and SQLite, and storetest is the conformance suite both pass.
package store

import (
	"context"
	"errors"
	"time"
)

var (
	// ErrNotFound means no such domain for that owner.
	ErrNotFound = errors.New("domain not found")
	// ErrAlreadyExists means the owner has already added that domain.
	ErrAlreadyExists = errors.New("domain already added")
	// ErrClaimed means another owner has verified the domain.
	ErrClaimed = errors.New("domain verified by another owner")
)

// State is the verification state of a domain.
type State string

const (
	Pending  State = "pending"
	Verified State = "verified"
)

// Outcome is what a verification attempt found.
type Outcome string

const (
	OutcomeVerified            Outcome = "verified"
	OutcomeNXDomain            Outcome = "nxdomain"
	OutcomeNoTXTRecords        Outcome = "no_txt_records"
	OutcomeValueMismatch       Outcome = "value_mismatch"
	OutcomeResolverUnreachable Outcome = "resolver_unreachable"
	OutcomeTimeout             Outcome = "timeout"
	OutcomeResolverError       Outcome = "resolver_error"
	OutcomeClaimed             Outcome = "claimed"
)

// Domain is a domain added by an owner.
type Domain struct {
	Owner       string // companies/{c} or organizations/{o}
	Name        string // ASCII form
	DisplayName string // Unicode form
	Token       string // the value after "iechor-verification="
	State       State
	CreateTime  time.Time
	VerifyTime  time.Time // zero until verified
	NextCheck   time.Time // zero when the background check is done with the domain
	CheckUntil  time.Time // end of the background checking window
	LastAttempt *Attempt  // nil before the first attempt
}

// Attempt is one verification attempt.
type Attempt struct {
	ID        int64 // assigned by the store, increasing
	Owner     string
	Name      string
	Time      time.Time
	Outcome   Outcome
	Found     []string
	Detail    string
	Automatic bool
}

// ListQuery selects a page of an owner's domains in name order.
type ListQuery struct {
	Owner string
	State State  // "" for every state
	After string // the last name of the previous page
	Limit int
}

// MaxAttemptsKept is how many attempts are kept per domain; older ones are dropped.
const MaxAttemptsKept = 100

// Store is the durable store of the domain service.
type Store interface {
	// Create adds a domain; ErrAlreadyExists when the owner has it.
	Create(ctx context.Context, d Domain) error
	// Get returns a domain with its last attempt; ErrNotFound.
	Get(ctx context.Context, owner, name string) (Domain, error)
	// List returns a page of an owner's domains, with their last attempts.
	List(ctx context.Context, q ListQuery) ([]Domain, error)
	// Delete removes a domain and its attempts; ErrNotFound.
	Delete(ctx context.Context, owner, name string) error
	// RecordAttempt records a failed attempt and sets the next background check (zero: none);
	// ErrNotFound when the domain is gone.
	RecordAttempt(ctx context.Context, a Attempt, nextCheck time.Time) error
	// MarkVerified records a successful attempt and verifies the domain in one transaction;
	// ErrClaimed (and nothing written) when another owner has verified it; ErrNotFound.
	MarkVerified(ctx context.Context, a Attempt) (Domain, error)
	// ListAttempts returns a domain's attempts, newest first, with IDs below beforeID (0: from the
	// newest).
	ListAttempts(ctx context.Context, owner, name string, beforeID int64, limit int) ([]Attempt, error)
	// VerifiedOwner returns the domain as verified by its owner, without its last attempt;
	// ErrNotFound when nobody has.
	VerifiedOwner(ctx context.Context, name string) (Domain, error)
	// Due returns up to limit pending domains whose next check is at or before now.
	Due(ctx context.Context, now time.Time, limit int) ([]Domain, error)
	// ClaimCheck moves a domain's next check from was to next only if it is still was, and reports
	// whether it did: of several replicas that saw the domain due, exactly one checks it.
	ClaimCheck(ctx context.Context, owner, name string, was, next time.Time) (bool, error)
	// Ping reports whether the store answers.
	Ping(ctx context.Context) error
}
