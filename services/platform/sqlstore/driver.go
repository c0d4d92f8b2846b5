package sqlstore

import (
	"context"
	"database/sql/driver"
)

// The wrappers below sit between database/sql and the driver so that every error a store sees has
// been classified once, here: an outage wraps ErrUnavailable, anything else is the driver's error
// unchanged. Services' stores call *sql.DB directly; without this layer each of them would have to
// recognise pgx and SQLite errors itself.
//
// Each wrapper forwards the optional interfaces that both drivers implement, so that database/sql
// keeps using contexts, transaction options, session resets and connection validation.

type classifyingConnector struct{ driver.Connector }

func (c classifyingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, classifyConnect(err)
	}
	return &classifyingConn{conn}, nil
}

type classifyingConn struct{ c driver.Conn }

var (
	_ driver.ConnPrepareContext = (*classifyingConn)(nil)
	_ driver.ConnBeginTx        = (*classifyingConn)(nil)
	_ driver.ExecerContext      = (*classifyingConn)(nil)
	_ driver.QueryerContext     = (*classifyingConn)(nil)
	_ driver.Pinger             = (*classifyingConn)(nil)
	_ driver.SessionResetter    = (*classifyingConn)(nil)
	_ driver.Validator          = (*classifyingConn)(nil)
	_ driver.NamedValueChecker  = (*classifyingConn)(nil)
)

// Unwrap returns the driver's connection (modernc.org/sqlite looks through wrappers this way).
func (c *classifyingConn) Unwrap() driver.Conn { return c.c }

func (c *classifyingConn) Close() error { return c.c.Close() }

func (c *classifyingConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *classifyingConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	var (
		s   driver.Stmt
		err error
	)
	if p, ok := c.c.(driver.ConnPrepareContext); ok {
		s, err = p.PrepareContext(ctx, query)
	} else {
		s, err = c.c.Prepare(query)
	}
	if err != nil {
		return nil, classify(err)
	}
	return &classifyingStmt{s}, nil
}

func (c *classifyingConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *classifyingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	var (
		tx  driver.Tx
		err error
	)
	if b, ok := c.c.(driver.ConnBeginTx); ok {
		tx, err = b.BeginTx(ctx, opts)
	} else {
		tx, err = c.c.Begin()
	}
	if err != nil {
		return nil, classify(err)
	}
	return classifyingTx{tx}, nil
}

func (c *classifyingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	e, ok := c.c.(driver.ExecerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	res, err := e.ExecContext(ctx, query, args)
	return res, classify(err)
}

func (c *classifyingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	q, ok := c.c.(driver.QueryerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	rows, err := q.QueryContext(ctx, query, args)
	if err != nil {
		return nil, classify(err)
	}
	return classifyingRows{rows}, nil
}

func (c *classifyingConn) Ping(ctx context.Context) error {
	if p, ok := c.c.(driver.Pinger); ok {
		return classify(p.Ping(ctx))
	}
	return nil
}

// ResetSession and IsValid speak to the pool, not to a caller: their answers pass unchanged.
func (c *classifyingConn) ResetSession(ctx context.Context) error {
	if r, ok := c.c.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c *classifyingConn) IsValid() bool {
	if v, ok := c.c.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

func (c *classifyingConn) CheckNamedValue(nv *driver.NamedValue) error {
	if ch, ok := c.c.(driver.NamedValueChecker); ok {
		return ch.CheckNamedValue(nv)
	}
	return driver.ErrSkip // database/sql's default conversion
}

type classifyingStmt struct{ s driver.Stmt }

var (
	_ driver.StmtExecContext  = classifyingStmt{}
	_ driver.StmtQueryContext = classifyingStmt{}
)

func (s classifyingStmt) Close() error  { return s.s.Close() }
func (s classifyingStmt) NumInput() int { return s.s.NumInput() }

func (s classifyingStmt) Exec(args []driver.Value) (driver.Result, error) {
	res, err := s.s.Exec(args)
	return res, classify(err)
}

func (s classifyingStmt) Query(args []driver.Value) (driver.Rows, error) {
	rows, err := s.s.Query(args)
	if err != nil {
		return nil, classify(err)
	}
	return classifyingRows{rows}, nil
}

func (s classifyingStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	if e, ok := s.s.(driver.StmtExecContext); ok {
		res, err := e.ExecContext(ctx, args)
		return res, classify(err)
	}
	return s.Exec(values(args))
}

func (s classifyingStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	if q, ok := s.s.(driver.StmtQueryContext); ok {
		rows, err := q.QueryContext(ctx, args)
		if err != nil {
			return nil, classify(err)
		}
		return classifyingRows{rows}, nil
	}
	return s.Query(values(args))
}

func values(named []driver.NamedValue) []driver.Value {
	out := make([]driver.Value, len(named))
	for i, nv := range named {
		out[i] = nv.Value
	}
	return out
}

type classifyingTx struct{ tx driver.Tx }

func (t classifyingTx) Commit() error   { return classify(t.tx.Commit()) }
func (t classifyingTx) Rollback() error { return classify(t.tx.Rollback()) }

// classifyingRows classifies the error of a row read: a connection that dies in the middle of a
// result shows there. io.EOF, the normal end, is not an outage and passes unchanged.
type classifyingRows struct{ driver.Rows }

func (r classifyingRows) Next(dest []driver.Value) error { return classify(r.Rows.Next(dest)) }
