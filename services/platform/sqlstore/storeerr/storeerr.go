// Package storeerr names the failure that every durable store shares and that callers must tell
// apart from everything else: the database cannot be reached or cannot serve right now.
//
// It imports nothing, so that the error mapping (platform/rpcerror) recognises the failure without
// linking the database drivers into binaries that have no store, such as the REST edge. It must
// never grow driver knowledge: the classification of driver errors lives in platform/sqlstore.
package storeerr

import "errors"

// ErrUnavailable means the database could not be reached, ended the connection, refused it (too
// many connections, shutting down), ran out of time or resources, or is locked. It is an outage, not
// a bug and not the caller's mistake: the same call may succeed later.
var ErrUnavailable = errors.New("the database is unavailable")
