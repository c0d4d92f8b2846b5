package store

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
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
	if err := db.Migrate(ctx, "domain", sub); err != nil {
		return nil, err
	}
	return &SQL{db: db}, nil
}

const domainColumns = `d.owner, d.domain_name, d.display_name, d.token, d.state, d.create_time_us,
	d.verify_time_us, d.next_check_us, d.check_until_us,
	a.id, a.attempt_time_us, a.outcome, a.found_values, a.detail, a.automatic`

// lastAttemptJoin joins each domain with its newest attempt, if any.
const lastAttemptJoin = `FROM domains d
	LEFT JOIN domain_attempts a ON a.id = (
		SELECT MAX(x.id) FROM domain_attempts x WHERE x.owner = d.owner AND x.domain_name = d.domain_name)`

type scanner interface{ Scan(dest ...any) error }

func scanDomain(s scanner) (Domain, error) {
	var (
		d                       Domain
		state                   string
		created, until          int64
		verified, next          sql.NullInt64
		aID, aTime              sql.NullInt64
		aOutcome, aFound, aText sql.NullString
		aAuto                   sql.NullBool
	)
	if err := s.Scan(&d.Owner, &d.Name, &d.DisplayName, &d.Token, &state, &created, &verified, &next, &until,
		&aID, &aTime, &aOutcome, &aFound, &aText, &aAuto); err != nil {
		return Domain{}, err
	}
	d.State = State(state)
	d.CreateTime = sqlstore.FromMicros(created)
	d.VerifyTime = sqlstore.FromNullMicros(verified)
	d.NextCheck = sqlstore.FromNullMicros(next)
	d.CheckUntil = sqlstore.FromMicros(until)
	if aID.Valid {
		a := &Attempt{ID: aID.Int64, Owner: d.Owner, Name: d.Name, Time: sqlstore.FromMicros(aTime.Int64),
			Outcome: Outcome(aOutcome.String), Detail: aText.String, Automatic: aAuto.Bool}
		_ = json.Unmarshal([]byte(aFound.String), &a.Found)
		d.LastAttempt = a
	}
	return d, nil
}

func (s *SQL) Create(ctx context.Context, d Domain) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO domains
		(owner, domain_name, display_name, token, state, create_time_us, verify_time_us, next_check_us, check_until_us)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		d.Owner, d.Name, d.DisplayName, d.Token, string(d.State), sqlstore.Micros(d.CreateTime),
		sqlstore.NullMicros(d.VerifyTime), sqlstore.NullMicros(d.NextCheck), sqlstore.Micros(d.CheckUntil))
	if sqlstore.IsUniqueViolation(err) {
		return ErrAlreadyExists
	}
	return err
}

func (s *SQL) Get(ctx context.Context, owner, name string) (Domain, error) {
	return s.get(ctx, s.db, owner, name)
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *SQL) get(ctx context.Context, q queryer, owner, name string) (Domain, error) {
	d, err := scanDomain(q.QueryRowContext(ctx, `SELECT `+domainColumns+` `+lastAttemptJoin+`
		WHERE d.owner = $1 AND d.domain_name = $2`, owner, name))
	if errors.Is(err, sql.ErrNoRows) {
		return Domain{}, ErrNotFound
	}
	return d, err
}

func (s *SQL) List(ctx context.Context, q ListQuery) ([]Domain, error) {
	query := `SELECT ` + domainColumns + ` ` + lastAttemptJoin + ` WHERE d.owner = $1 AND d.domain_name > $2`
	args := []any{q.Owner, q.After}
	if q.State != "" {
		query += ` AND d.state = $3`
		args = append(args, string(q.State))
	}
	query += fmt.Sprintf(` ORDER BY d.domain_name LIMIT %d`, q.Limit)
	return s.queryDomains(ctx, query, args...)
}

func (s *SQL) queryDomains(ctx context.Context, query string, args ...any) ([]Domain, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Domain
	for rows.Next() {
		d, err := scanDomain(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

func (s *SQL) Delete(ctx context.Context, owner, name string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM domains WHERE owner = $1 AND domain_name = $2`, owner, name)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

func insertAttempt(ctx context.Context, tx *sql.Tx, a Attempt) error {
	found, err := json.Marshal(nonNil(a.Found))
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO domain_attempts
		(owner, domain_name, attempt_time_us, outcome, found_values, detail, automatic)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		a.Owner, a.Name, sqlstore.Micros(a.Time), string(a.Outcome), string(found), a.Detail, a.Automatic); err != nil {
		if sqlstore.IsForeignKeyViolation(err) {
			return ErrNotFound
		}
		return err
	}
	// Keep the newest MaxAttemptsKept attempts of the domain.
	_, err = tx.ExecContext(ctx, fmt.Sprintf(`DELETE FROM domain_attempts WHERE owner = $1 AND domain_name = $2 AND id <= (
		SELECT id FROM domain_attempts WHERE owner = $1 AND domain_name = $2 ORDER BY id DESC LIMIT 1 OFFSET %d)`, MaxAttemptsKept),
		a.Owner, a.Name)
	return err
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (s *SQL) RecordAttempt(ctx context.Context, a Attempt, nextCheck time.Time) error {
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE domains SET next_check_us = $3 WHERE owner = $1 AND domain_name = $2`,
			a.Owner, a.Name, sqlstore.NullMicros(nextCheck))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return insertAttempt(ctx, tx, a)
	})
}

func (s *SQL) MarkVerified(ctx context.Context, a Attempt) (Domain, error) {
	var d Domain
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE domains SET state = 'verified', verify_time_us = $3, next_check_us = NULL
			WHERE owner = $1 AND domain_name = $2`, a.Owner, a.Name, sqlstore.Micros(a.Time))
		if sqlstore.IsUniqueViolation(err) {
			return ErrClaimed
		}
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		if err := insertAttempt(ctx, tx, a); err != nil {
			return err
		}
		d, err = s.get(ctx, tx, a.Owner, a.Name)
		return err
	})
	return d, err
}

func (s *SQL) ListAttempts(ctx context.Context, owner, name string, beforeID int64, limit int) ([]Attempt, error) {
	if _, err := s.Get(ctx, owner, name); err != nil {
		return nil, err
	}
	query := `SELECT id, attempt_time_us, outcome, found_values, detail, automatic FROM domain_attempts
		WHERE owner = $1 AND domain_name = $2`
	args := []any{owner, name}
	if beforeID > 0 {
		query += ` AND id < $3`
		args = append(args, beforeID)
	}
	query += fmt.Sprintf(` ORDER BY id DESC LIMIT %d`, limit)
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Attempt
	for rows.Next() {
		a := Attempt{Owner: owner, Name: name}
		var at int64
		var outcome, found string
		if err := rows.Scan(&a.ID, &at, &outcome, &found, &a.Detail, &a.Automatic); err != nil {
			return nil, err
		}
		a.Time, a.Outcome = sqlstore.FromMicros(at), Outcome(outcome)
		_ = json.Unmarshal([]byte(found), &a.Found)
		out = append(out, a)
	}
	return out, rows.Err()
}

// VerifiedOwner answers the question every sign-in asks, so it reads the domain alone: a verified
// domain's last attempt is its verification, which the caller does not need.
func (s *SQL) VerifiedOwner(ctx context.Context, name string) (Domain, error) {
	d, err := scanDomain(s.db.QueryRowContext(ctx, `SELECT d.owner, d.domain_name, d.display_name, d.token, d.state,
		d.create_time_us, d.verify_time_us, d.next_check_us, d.check_until_us, NULL, NULL, NULL, NULL, NULL, NULL
		FROM domains d WHERE d.domain_name = $1 AND d.state = 'verified'`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return Domain{}, ErrNotFound
	}
	return d, err
}

func (s *SQL) Due(ctx context.Context, now time.Time, limit int) ([]Domain, error) {
	return s.queryDomains(ctx, `SELECT `+domainColumns+` `+lastAttemptJoin+`
		WHERE d.state = 'pending' AND d.next_check_us IS NOT NULL AND d.next_check_us <= $1
		ORDER BY d.next_check_us LIMIT `+fmt.Sprint(limit), sqlstore.Micros(now))
}

func (s *SQL) ClaimCheck(ctx context.Context, owner, name string, was, next time.Time) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE domains SET next_check_us = $4
		WHERE owner = $1 AND domain_name = $2 AND state = 'pending' AND next_check_us = $3`,
		owner, name, sqlstore.Micros(was), sqlstore.NullMicros(next))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func (s *SQL) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }
