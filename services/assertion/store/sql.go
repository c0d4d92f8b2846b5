package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/iechor/sso/services/platform/sqlstore"
)

//go:embed migrations
var migrations embed.FS

// SQL is the Store on PostgreSQL or SQLite.
type SQL struct {
	db *sqlstore.DB
}

// NewSQL migrates db and returns a store on it.
func NewSQL(ctx context.Context, db *sqlstore.DB) (*SQL, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx, "assertion", sub); err != nil {
		return nil, err
	}
	return &SQL{db: db}, nil
}

func (s *SQL) RecordAttempts(ctx context.Context, as []Attempt) error {
	if len(as) == 0 {
		return nil
	}
	// One statement for the batch: rows of twelve parameters each.
	var b strings.Builder
	b.WriteString(`INSERT INTO login_attempts
		(id, connection, attempt_time_us, success, reason, check_name, wanted, got, fix_by, subject, email, test_mode) VALUES `)
	args := make([]any, 0, 12*len(as))
	for i, a := range as {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(")
		for j := range 12 {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "$%d", 12*i+j+1)
		}
		b.WriteString(")")
		args = append(args, a.ID, a.Connection, sqlstore.Micros(a.Time), a.Success, a.Reason, a.Check, a.Wanted, a.Got,
			a.FixBy, a.Subject, a.Email, a.TestMode)
	}
	_, err := s.db.ExecContext(ctx, b.String(), args...)
	return err
}

func (s *SQL) ListAttempts(ctx context.Context, q ListQuery) ([]Attempt, error) {
	query := `SELECT id, attempt_time_us, success, reason, check_name, wanted, got, fix_by, subject, email, test_mode
		FROM login_attempts WHERE connection = $1 AND attempt_time_us >= $2`
	args := []any{q.Connection, sqlstore.Micros(q.Since)}
	if q.After != nil {
		query += ` AND (attempt_time_us < $3 OR (attempt_time_us = $3 AND id < $4))`
		args = append(args, sqlstore.Micros(q.After.Time), q.After.ID)
	}
	query += fmt.Sprintf(` ORDER BY attempt_time_us DESC, id DESC LIMIT %d`, q.Limit)
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Attempt
	for rows.Next() {
		a := Attempt{Connection: q.Connection}
		var at int64
		if err := rows.Scan(&a.ID, &at, &a.Success, &a.Reason, &a.Check, &a.Wanted, &a.Got, &a.FixBy,
			&a.Subject, &a.Email, &a.TestMode); err != nil {
			return nil, err
		}
		a.Time = sqlstore.FromMicros(at)
		out = append(out, a)
	}
	return out, rows.Err()
}

func (s *SQL) PruneAttempts(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM login_attempts WHERE attempt_time_us < $1`, sqlstore.Micros(before))
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (s *SQL) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }
