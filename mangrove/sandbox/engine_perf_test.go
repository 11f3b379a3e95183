package sandbox

import (
	"context"
	"database/sql"
	"testing"
)

// TestGenerationLeavesForeignKeysOn: a generation writes on a connection with the
// foreign-key checks off; every connection of the pool has them on afterwards.
func TestGenerationLeavesForeignKeysOn(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	if task := e.waitTask(e.startGeneration(e.ledgerID("Net Carbon Removal"), q1).ID); task.State != "complete" {
		t.Fatalf("generation %s", task.State)
	}
	ctx := context.Background()
	var conns []*sql.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range 8 { // the pool's size: every connection, the writer's included
		c, err := e.s.db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		var on int
		if err := c.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&on); err != nil || on != 1 {
			t.Fatalf("connection %d: foreign_keys %d (%v)", len(conns), on, err)
		}
	}
}

// TestInsertRowsSizes: multi-row inserts split into the few prepared sizes and
// write every row once.
func TestInsertRowsSizes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	ctx := context.Background()
	if _, err := e.s.db.Exec(`CREATE TABLE t (a INTEGER, b TEXT)`); err != nil {
		t.Fatal(err)
	}
	st := newStmtCache(e.s.db)
	defer st.close()
	for _, n := range []int{0, 1, 3, 17, 300, 1000} {
		if _, err := e.s.db.Exec(`DELETE FROM t`); err != nil {
			t.Fatal(err)
		}
		tx, err := e.s.db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		var args []any
		for i := range n {
			args = append(args, i, "x")
		}
		if err := st.insertRows(ctx, tx, `INSERT INTO t (a, b) VALUES `, 2, args); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		var count, sum int
		e.s.db.QueryRow(`SELECT COUNT(*), COALESCE(SUM(a), 0) FROM t`).Scan(&count, &sum)
		if count != n || sum != n*(n-1)/2 {
			t.Errorf("%d rows: table has %d rows summing to %d", n, count, sum)
		}
	}
	if len(st.stmts) > len(insertSizes) {
		t.Errorf("%d statements prepared for %d sizes", len(st.stmts), len(insertSizes))
	}
}
