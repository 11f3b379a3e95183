package sandbox

import (
	"context"
	"database/sql"
	"strings"
	"sync"
)

// stmtCache prepares each statement text once per database and hands out copies bound
// to a transaction; database/sql keeps the prepared statement per connection, so a
// generation that writes thousands of batches parses its dozen statements once instead
// of once per execution (the profile showed SQLite's parser at ~8% of a generation).
type stmtCache struct {
	db *sql.DB

	mu    sync.Mutex
	stmts map[string]*sql.Stmt
	texts map[insertKey]string
}

type insertKey struct {
	prefix string
	cols   int
	rows   int
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, stmts: map[string]*sql.Stmt{}, texts: map[insertKey]string{}}
}

func (c *stmtCache) prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.stmts[query]; st != nil {
		return st, nil
	}
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.stmts[query] = st
	return st, nil
}

// exec runs query in tx, or on the database when tx is nil.
func (c *stmtCache) exec(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	st, err := c.prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	if tx != nil {
		st = tx.StmtContext(ctx, st)
	}
	return st.ExecContext(ctx, args...)
}

// queryRow runs a one-row query in tx.
func (c *stmtCache) queryRow(ctx context.Context, tx *sql.Tx, query string, args ...any) (*sql.Row, error) {
	st, err := c.prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	if tx != nil {
		st = tx.StmtContext(ctx, st)
	}
	return st.QueryRowContext(ctx, args...), nil
}

// query runs a query on the database with a prepared statement.
func (c *stmtCache) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := c.prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// insertSizes are the row counts of the multi-row INSERTs: few enough distinct texts to
// prepare each once, large enough that a thousand rows take a handful of statements.
var insertSizes = []int{256, 64, 16, 4, 1}

// insertRows inserts len(args)/cols rows with multi-row statements: prefix is
// "INSERT INTO t (a, b) VALUES ". Several rows per statement are much faster than one.
func (c *stmtCache) insertRows(ctx context.Context, tx *sql.Tx, prefix string, cols int, args []any) error {
	for len(args) >= cols {
		n := len(args) / cols
		size := 1
		for _, s := range insertSizes {
			if n >= s {
				size = s
				break
			}
		}
		if _, err := c.exec(ctx, tx, c.insertText(prefix, cols, size), args[:size*cols]...); err != nil {
			return err
		}
		args = args[size*cols:]
	}
	return nil
}

// maxInsertAll is the most rows insertAll puts in one statement.
const maxInsertAll = 64

// insertAll is insertRows for the few rows of one model run (its calculations, its
// outputs): one statement whatever their number, up to maxInsertAll, where insertRows
// would take one per power of four (21 calculations were 16 + 4 + 1). A model's runs
// have a handful of distinct row counts, so there are few texts to prepare.
func (c *stmtCache) insertAll(ctx context.Context, tx *sql.Tx, prefix string, cols int, args []any) error {
	n := len(args) / cols
	if n == 0 || n > maxInsertAll {
		return c.insertRows(ctx, tx, prefix, cols, args)
	}
	_, err := c.exec(ctx, tx, c.insertText(prefix, cols, n), args[:n*cols]...)
	return err
}

func (c *stmtCache) insertText(prefix string, cols, rows int) string {
	k := insertKey{prefix, cols, rows}
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.texts[k]; ok {
		return t
	}
	tuple := "(" + placeholders(cols) + ")"
	t := prefix + strings.TrimSuffix(strings.Repeat(tuple+", ", rows), ", ")
	c.texts[k] = t
	return t
}

// close releases the prepared statements.
func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, st := range c.stmts {
		st.Close()
		delete(c.stmts, q)
	}
}
