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
	if err := db.Migrate(ctx, "connection", sub); err != nil {
		return nil, err
	}
	return &SQL{db: db}, nil
}

type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

const connectionColumns = `id, owner, display_name, type, state, enforce_sso, settings, revision, create_time_us, update_time_us`

type scanner interface{ Scan(dest ...any) error }

func scanConnection(s scanner) (Connection, error) {
	var (
		c                Connection
		typ, state, sets string
		created, updated int64
	)
	if err := s.Scan(&c.ID, &c.Owner, &c.DisplayName, &typ, &state, &c.EnforceSSO, &sets, &c.Revision, &created, &updated); err != nil {
		return Connection{}, err
	}
	c.Type, c.State = Type(typ), State(state)
	c.CreateTime, c.UpdateTime = sqlstore.FromMicros(created), sqlstore.FromMicros(updated)
	if err := json.Unmarshal([]byte(sets), &c.Settings); err != nil {
		return Connection{}, fmt.Errorf("connection %s: settings: %w", c.ID, err)
	}
	return c, nil
}

// fill loads the domains and keys of the connections.
func fill(ctx context.Context, q queryer, cs []Connection) error {
	for i := range cs {
		c := &cs[i]
		rows, err := q.QueryContext(ctx, `SELECT domain_name FROM connection_domains WHERE connection_id = $1 ORDER BY position`, c.ID)
		if err != nil {
			return err
		}
		for rows.Next() {
			var d string
			if err := rows.Scan(&d); err != nil {
				rows.Close()
				return err
			}
			c.Domains = append(c.Domains, d)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		rows, err = q.QueryContext(ctx, `SELECT key_id, sealed_private_key, certificate_pem, active, retire_time_us, create_time_us
			FROM connection_sp_keys WHERE connection_id = $1 ORDER BY create_time_us DESC, key_id`, c.ID)
		if err != nil {
			return err
		}
		for rows.Next() {
			var (
				k       SPKey
				retire  sql.NullInt64
				created int64
			)
			if err := rows.Scan(&k.ID, &k.SealedPrivateKey, &k.CertificatePEM, &k.Active, &retire, &created); err != nil {
				rows.Close()
				return err
			}
			k.RetireTime, k.CreateTime = sqlstore.FromNullMicros(retire), sqlstore.FromMicros(created)
			c.Keys = append(c.Keys, k)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}

func (s *SQL) get(ctx context.Context, q queryer, id string) (Connection, error) {
	c, err := scanConnection(q.QueryRowContext(ctx, `SELECT `+connectionColumns+` FROM connections WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Connection{}, ErrNotFound
	}
	if err != nil {
		return Connection{}, err
	}
	cs := []Connection{c}
	if err := fill(ctx, q, cs); err != nil {
		return Connection{}, err
	}
	return cs[0], nil
}

func (s *SQL) Get(ctx context.Context, id string) (Connection, error) { return s.get(ctx, s.db, id) }

func (s *SQL) List(ctx context.Context, q ListQuery) ([]Connection, error) {
	query := `SELECT ` + connectionColumns + ` FROM connections WHERE owner = $1`
	args := []any{q.Owner}
	if q.AfterID != "" {
		query += ` AND (create_time_us > $2 OR (create_time_us = $2 AND id > $3))`
		args = append(args, sqlstore.Micros(q.AfterTime), q.AfterID)
	}
	query += fmt.Sprintf(` ORDER BY create_time_us, id LIMIT %d`, q.Limit)
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	var out []Connection
	for rows.Next() {
		c, err := scanConnection(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, fill(ctx, s.db, out)
}

func (s *SQL) Create(ctx context.Context, c Connection, ev AuditEvent) error {
	sets, err := json.Marshal(c.Settings)
	if err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO connections (`+connectionColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			c.ID, c.Owner, c.DisplayName, string(c.Type), string(c.State), c.EnforceSSO, string(sets), c.Revision,
			sqlstore.Micros(c.CreateTime), sqlstore.Micros(c.UpdateTime))
		if sqlstore.IsUniqueViolation(err) {
			return ErrAlreadyExists
		}
		if err != nil {
			return err
		}
		if err := writeChildren(ctx, tx, c); err != nil {
			return err
		}
		return recordChange(ctx, tx, c.ID, c.Name(), c.UpdateTime, ev)
	})
}

// writeChildren replaces the domains and keys of c.
func writeChildren(ctx context.Context, tx *sql.Tx, c Connection) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM connection_domains WHERE connection_id = $1`, c.ID); err != nil {
		return err
	}
	for i, d := range c.Domains {
		if _, err := tx.ExecContext(ctx, `INSERT INTO connection_domains (connection_id, domain_name, position) VALUES ($1, $2, $3)`,
			c.ID, d, i); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM connection_sp_keys WHERE connection_id = $1`, c.ID); err != nil {
		return err
	}
	for _, k := range c.Keys {
		if _, err := tx.ExecContext(ctx, `INSERT INTO connection_sp_keys
			(connection_id, key_id, sealed_private_key, certificate_pem, active, retire_time_us, create_time_us)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			c.ID, k.ID, k.SealedPrivateKey, k.CertificatePEM, k.Active, sqlstore.NullMicros(k.RetireTime), sqlstore.Micros(k.CreateTime)); err != nil {
			return err
		}
	}
	return nil
}

// recordChange takes the next sequence number, records the change under it and puts the audit event
// in the outbox, all in the caller's transaction.
func recordChange(ctx context.Context, tx *sql.Tx, id, name string, at time.Time, ev AuditEvent) error {
	var seq int64
	if err := tx.QueryRowContext(ctx, `UPDATE connection_change_counter SET seq = seq + 1 WHERE id = 1 RETURNING seq`).Scan(&seq); err != nil {
		return fmt.Errorf("take change sequence: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO connection_changes (seq, connection_id, name, change_time_us) VALUES ($1, $2, $3, $4)`,
		seq, id, name, sqlstore.Micros(at)); err != nil {
		return err
	}
	details, err := json.Marshal(ev.Details)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO connection_audit_outbox
		(event_id, parent, actor, action, resource, details, event_time_us, attempts, next_attempt_us, last_error)
		VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, '')`,
		ev.ID, ev.Parent, ev.Actor, ev.Action, ev.Resource, string(details), sqlstore.Micros(ev.Time), sqlstore.Micros(ev.Time))
	return err
}

func (s *SQL) Update(ctx context.Context, c Connection, ev AuditEvent) (Connection, error) {
	sets, err := json.Marshal(c.Settings)
	if err != nil {
		return Connection{}, err
	}
	var out Connection
	err = s.db.InTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE connections SET display_name = $1, state = $2, enforce_sso = $3, settings = $4,
			revision = revision + 1, update_time_us = $5 WHERE id = $6 AND owner = $7 AND revision = $8`,
			c.DisplayName, string(c.State), c.EnforceSSO, string(sets), sqlstore.Micros(c.UpdateTime), c.ID, c.Owner, c.Revision)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			cur, err := s.get(ctx, tx, c.ID)
			if err != nil {
				return err
			}
			if cur.Owner != c.Owner {
				return ErrNotFound
			}
			return ErrConflict
		}
		if err := writeChildren(ctx, tx, c); err != nil {
			return err
		}
		if err := recordChange(ctx, tx, c.ID, c.Name(), c.UpdateTime, ev); err != nil {
			return err
		}
		out, err = s.get(ctx, tx, c.ID)
		return err
	})
	return out, err
}

func (s *SQL) Delete(ctx context.Context, owner, id string, ev AuditEvent) error {
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM connections WHERE id = $1 AND owner = $2`, id, owner)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		// The children go with the row through ON DELETE CASCADE; deleting them here as well keeps the
		// store right on a database where foreign keys are off.
		for _, table := range []string{"connection_domains", "connection_sp_keys"} {
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE connection_id = $1`, id); err != nil {
				return err
			}
		}
		return recordChange(ctx, tx, id, owner+"/connections/"+id, ev.Time, ev)
	})
}

func (s *SQL) Covering(ctx context.Context, domain string) ([]Summary, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT c.id, c.owner, c.display_name, c.type, c.state, c.enforce_sso
		FROM connection_domains d JOIN connections c ON c.id = d.connection_id
		WHERE d.domain_name = $1 ORDER BY c.create_time_us, c.id`, domain)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Summary
	for rows.Next() {
		var (
			sm         Summary
			typ, state string
		)
		if err := rows.Scan(&sm.ID, &sm.Owner, &sm.DisplayName, &typ, &state, &sm.EnforceSSO); err != nil {
			return nil, err
		}
		sm.Type, sm.State = Type(typ), State(state)
		out = append(out, sm)
	}
	return out, rows.Err()
}

func (s *SQL) LastChange(ctx context.Context) (int64, error) {
	var seq int64
	err := s.db.QueryRowContext(ctx, `SELECT seq FROM connection_change_counter WHERE id = 1`).Scan(&seq)
	return seq, err
}

func (s *SQL) ChangesSince(ctx context.Context, seq int64, limit int) ([]Change, error) {
	rows, err := s.db.QueryContext(ctx, fmt.Sprintf(`SELECT seq, connection_id, name, change_time_us FROM connection_changes
		WHERE seq > $1 ORDER BY seq LIMIT %d`, limit), seq)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Change
	for rows.Next() {
		var (
			c  Change
			at int64
		)
		if err := rows.Scan(&c.Seq, &c.ConnectionID, &c.Name, &at); err != nil {
			return nil, err
		}
		c.Time = sqlstore.FromMicros(at)
		out = append(out, c)
	}
	return out, rows.Err()
}

func (s *SQL) PruneChanges(ctx context.Context, before time.Time) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM connection_changes WHERE change_time_us < $1
		AND seq < (SELECT seq FROM connection_change_counter WHERE id = 1)`, sqlstore.Micros(before))
	return err
}

func (s *SQL) DueEvents(ctx context.Context, now time.Time, limit int) ([]OutboxEntry, error) {
	rows, err := s.db.QueryContext(ctx, fmt.Sprintf(`SELECT seq, event_id, parent, actor, action, resource, details,
		event_time_us, attempts, next_attempt_us, last_error FROM connection_audit_outbox
		WHERE next_attempt_us <= $1 ORDER BY seq LIMIT %d`, limit), sqlstore.Micros(now))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []OutboxEntry
	for rows.Next() {
		var (
			e           OutboxEntry
			details     string
			at, nextAtt int64
		)
		if err := rows.Scan(&e.Seq, &e.Event.ID, &e.Event.Parent, &e.Event.Actor, &e.Event.Action, &e.Event.Resource,
			&details, &at, &e.Attempts, &nextAtt, &e.LastError); err != nil {
			return nil, err
		}
		e.Event.Time, e.NextAttempt = sqlstore.FromMicros(at), sqlstore.FromMicros(nextAtt)
		if err := json.Unmarshal([]byte(details), &e.Event.Details); err != nil {
			return nil, fmt.Errorf("outbox entry %d: %w", e.Seq, err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

func (s *SQL) ClaimEvent(ctx context.Context, seq int64, was, until time.Time) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE connection_audit_outbox SET next_attempt_us = $3 WHERE seq = $1 AND next_attempt_us = $2`,
		seq, sqlstore.Micros(was), sqlstore.Micros(until))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func (s *SQL) DeleteEvent(ctx context.Context, seq int64) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM connection_audit_outbox WHERE seq = $1`, seq)
	return err
}

func (s *SQL) RetryEvent(ctx context.Context, seq int64, attempts int, next time.Time, lastError string) error {
	if len(lastError) > 1000 {
		lastError = lastError[:1000]
	}
	_, err := s.db.ExecContext(ctx, `UPDATE connection_audit_outbox SET attempts = $2, next_attempt_us = $3, last_error = $4 WHERE seq = $1`,
		seq, attempts, sqlstore.Micros(next), lastError)
	return err
}

func (s *SQL) PendingEvents(ctx context.Context) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM connection_audit_outbox`).Scan(&n)
	return n, err
}

func (s *SQL) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }
