// Package store keeps the sign-in attempts of each connection for seven days: the admin's sign-in
// log, read by ListLoginAttempts. The Store interface has the methods the assertion service calls; SQL
// implements it on PostgreSQL and SQLite, and storetest is the conformance suite both pass.
//
// An attempt is recorded by the assertion service when it validates (or refuses) a post; how a
// validated sign-in ended — a code issued, or a refusal after validation — is an outcome the edge
// reports later, kept beside the attempt rather than in it, so that the two may arrive in any order
// (from different replicas) and a retried write changes nothing. An attempt never holds the message,
// a key or a relay state; its subject and email are set only when a signature had been verified.
package store

import (
	"context"
	"time"
)

// Result is what an attempt, or an outcome, says happened.
type Result string

const (
	// Validated: the response passed every check; how the sign-in ended is an outcome.
	Validated Result = "VALIDATED"
	// SignedIn: the person got a sign-in code. Only an outcome says so.
	SignedIn Result = "SIGNED_IN"
	// Refused: a check failed, the post was refused before validation, or (as an outcome) the
	// sign-in was refused after validation; Reason and Check say which.
	Refused Result = "REFUSED"
)

// Attempt is one sign-in attempt.
type Attempt struct {
	// ID is assigned by the caller (opaque, unique).
	ID string
	// Connection is the connection's full name.
	Connection string
	Time       time.Time
	// Result is Validated or Refused.
	Result Result
	// Reason, Check, Wanted, Got and FixBy describe a refusal; empty otherwise.
	Reason, Check, Wanted, Got, FixBy string
	Subject, Email                    string
	TestMode                          bool
	// Finished is the outcome of a Validated attempt once the edge has reported it. ListAttempts
	// fills it; RecordAttempts ignores it.
	Finished *Outcome
}

// Outcome is how a validated sign-in ended at the edge.
type Outcome struct {
	// AttemptID and Connection name the attempt; an outcome that names no validated attempt of that
	// connection is never listed.
	AttemptID, Connection string
	Time                  time.Time
	// Result is SignedIn or Refused.
	Result Result
	// Reason, Check, Got and FixBy describe a refusal; empty for SignedIn.
	Reason, Check, Got, FixBy string
}

// Cursor is the position after which a page starts: the last attempt of the previous page.
type Cursor struct {
	Time time.Time
	ID   string
}

// ListQuery selects a page of a connection's attempts, newest first.
type ListQuery struct {
	Connection string
	// Since leaves out older attempts (those past retention but not yet pruned).
	Since time.Time
	// After is the previous page's last attempt; nil for the first page.
	After *Cursor
	Limit int
}

// Store is the durable store of the assertion service.
type Store interface {
	// Record adds attempts and outcomes in one transaction, all or none. Recording an attempt or an
	// outcome whose id is already recorded changes nothing, so that a write retried after a lost
	// acknowledgement is harmless: the first record of an id stands.
	Record(ctx context.Context, attempts []Attempt, outcomes []Outcome) error
	// ListAttempts returns a page of a connection's attempts, newest first, each validated one with
	// its outcome when there is one.
	ListAttempts(ctx context.Context, q ListQuery) ([]Attempt, error)
	// PruneAttempts deletes the attempts and outcomes older than before and returns how many
	// attempts.
	PruneAttempts(ctx context.Context, before time.Time) (int64, error)
	// Ping reports whether the store answers.
	Ping(ctx context.Context) error
}
