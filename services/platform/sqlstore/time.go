package sqlstore

import (
	"database/sql"
	"time"
)

// Times are stored as microseconds since the Unix epoch in a BIGINT (INTEGER in SQLite) column:
// one representation that both backends compare, index and order the same way.

// Micros returns t as microseconds since the epoch.
func Micros(t time.Time) int64 { return t.UnixMicro() }

// NullMicros returns t as microseconds, or NULL for the zero time.
func NullMicros(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}

// FromMicros returns the UTC time of a microsecond count.
func FromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// FromNullMicros returns the time of a nullable microsecond count; NULL is the zero time.
func FromNullMicros(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return FromMicros(n.Int64)
}
