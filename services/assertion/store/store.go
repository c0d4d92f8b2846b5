// Package store keeps the sign-in attempts of each connection for seven days: the admin's error log,
// read by ListLoginAttempts. The Store interface has the methods the assertion service calls; SQL
// implements it on PostgreSQL and SQLite, and storetest is the conformance suite both pass.
//
// An attempt never holds the message, a key or a relay state; its subject and email are set only
// when the failure came after a signature was verified.
package store

import (
	"context"
	"time"
)

// Attempt is one sign-in attempt.
type Attempt struct {
	// ID is assigned by the caller (opaque, unique).
	ID string
	// Connection is the connection's full name.
	Connection string
	Time       time.Time
	Success    bool
	// Reason, Check, Wanted, Got and FixBy describe a failure; empty on success.
	Reason, Check, Wanted, Got, FixBy string
	Subject, Email                    string
	TestMode                          bool
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
	// RecordAttempts adds attempts, all or none.
	RecordAttempts(ctx context.Context, as []Attempt) error
	// ListAttempts returns a page of a connection's attempts, newest first.
	ListAttempts(ctx context.Context, q ListQuery) ([]Attempt, error)
	// PruneAttempts deletes the attempts older than before and returns how many.
	PruneAttempts(ctx context.Context, before time.Time) (int64, error)
	// Ping reports whether the store answers.
	Ping(ctx context.Context) error
}
