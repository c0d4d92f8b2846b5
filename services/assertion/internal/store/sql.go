package store

import (
	"context"
	"database/sql"
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

// text makes a value storable: PostgreSQL refuses invalid UTF-8 and NUL in text, and a value it
// refuses would otherwise fail its whole batch again on every retry.
func text(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// insert writes rows of n columns in one statement that skips rows whose key is taken.
func insert(ctx context.Context, tx *sql.Tx, head, conflict string, n int, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString(head)
	b.WriteString(" VALUES ")
	args := make([]any, 0, n*len(rows))
	for i, row := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(")
		for j := range n {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "$%d", n*i+j+1)
		}
		b.WriteString(")")
		args = append(args, row...)
	}
	b.WriteString(" ON CONFLICT (" + conflict + ") DO NOTHING")
	_, err := tx.ExecContext(ctx, b.String(), args...)
	return err
}

func (s *SQL) Record(ctx context.Context, attempts []Attempt, outcomes []Outcome) error {
	if len(attempts) == 0 && len(outcomes) == 0 {
		return nil
	}
	as := make([][]any, 0, len(attempts))
	for _, a := range attempts {
		as = append(as, []any{text(a.ID), text(a.Connection), sqlstore.Micros(a.Time), string(a.Result), text(a.Reason), text(a.Check),
			text(a.Wanted), text(a.Got), text(a.FixBy), text(a.Subject), text(a.Email), a.TestMode})
	}
	outs := make([][]any, 0, len(outcomes))
	for _, o := range outcomes {
		outs = append(outs, []any{text(o.AttemptID), text(o.Connection), sqlstore.Micros(o.Time), string(o.Result), text(o.Reason),
			text(o.Check), text(o.Got), text(o.FixBy)})
	}
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		if err := insert(ctx, tx, `INSERT INTO login_attempts
			(id, connection, attempt_time_us, result, reason, check_name, wanted, got, fix_by, subject, email, test_mode)`,
			"id", 12, as); err != nil {
			return err
		}
		return insert(ctx, tx, `INSERT INTO login_outcomes
			(attempt_id, connection, outcome_time_us, result, reason, check_name, got, fix_by)`, "attempt_id", 8, outs)
	})
}

func (s *SQL) ListAttempts(ctx context.Context, q ListQuery) ([]Attempt, error) {
	// An outcome counts only for a validated attempt of its own connection: nothing reported can turn
	// a refusal into a sign-in, nor reach into another connection's log.
	query := `SELECT a.id, a.attempt_time_us, a.result, a.reason, a.check_name, a.wanted, a.got, a.fix_by, a.subject, a.email,
			a.test_mode, o.outcome_time_us, o.result, o.reason, o.check_name, o.got, o.fix_by
		FROM login_attempts a
		LEFT JOIN login_outcomes o ON o.attempt_id = a.id AND o.connection = a.connection AND a.result = 'VALIDATED'
		WHERE a.connection = $1 AND a.attempt_time_us >= $2`
	args := []any{q.Connection, sqlstore.Micros(q.Since)}
	if q.After != nil {
		query += ` AND (a.attempt_time_us < $3 OR (a.attempt_time_us = $3 AND a.id < $4))`
		args = append(args, sqlstore.Micros(q.After.Time), q.After.ID)
	}
	query += fmt.Sprintf(` ORDER BY a.attempt_time_us DESC, a.id DESC LIMIT %d`, q.Limit)
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Attempt
	for rows.Next() {
		a := Attempt{Connection: q.Connection}
		var (
			result  string
			atUs    int64
			oTime   sql.NullInt64
			oResult sql.NullString
			oReason sql.NullString
			oCheck  sql.NullString
			oGot    sql.NullString
			oFixBy  sql.NullString
		)
		if err := rows.Scan(&a.ID, &atUs, &result, &a.Reason, &a.Check, &a.Wanted, &a.Got, &a.FixBy, &a.Subject, &a.Email, &a.TestMode,
			&oTime, &oResult, &oReason, &oCheck, &oGot, &oFixBy); err != nil {
			return nil, err
		}
		a.Time, a.Result = sqlstore.FromMicros(atUs), Result(result)
		if oTime.Valid {
			a.Finished = &Outcome{AttemptID: a.ID, Connection: a.Connection, Time: sqlstore.FromMicros(oTime.Int64),
				Result: Result(oResult.String), Reason: oReason.String, Check: oCheck.String, Got: oGot.String, FixBy: oFixBy.String}
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

func (s *SQL) PruneAttempts(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM login_attempts WHERE attempt_time_us < $1`, sqlstore.Micros(before))
	if err != nil {
		return 0, err
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM login_outcomes WHERE outcome_time_us < $1`, sqlstore.Micros(before)); err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (s *SQL) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }
