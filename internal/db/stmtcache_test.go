package db

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

func TestWhichStatementsAreKeptPrepared(t *testing.T) {
	for query, want := range map[string]bool{
		`SELECT name FROM users WHERE id = $1`:                   true,
		`SELECT id FROM requests ORDER BY id LIMIT 20 OFFSET 0`:  true,
		`SELECT id FROM requests ORDER BY id LIMIT 20 OFFSET 40`: false,
		`SELECT id FROM requests ORDER BY id LIMIT $1 OFFSET $2`: true,
		`CREATE TABLE a (x INT); CREATE TABLE b (y INT);`:        false,
		"INSERT INTO a (x) VALUES (1);\n":                        true,
	} {
		if got := cacheable(query); got != want {
			t.Errorf("cacheable(%q) = %v, want %v", query, got, want)
		}
	}
}

// The writer prepares a row's statements, however many columns it has,
// but not a list whose length the caller chooses, nor a schema change.
func TestWhichWriterStatementsAreNoted(t *testing.T) {
	list := func(mark string, n int) string {
		marks := make([]string, n)
		for i := range marks {
			marks[i] = mark
			if mark == "$" {
				marks[i] = fmt.Sprint("$", i+1)
			}
		}
		return strings.Join(marks, ", ")
	}
	for query, want := range map[string]bool{
		`INSERT INTO request_facts (a) VALUES (` + list("$", 24) + `)`:               true,
		`UPDATE authorities SET name = $1 WHERE id = $2`:                             true,
		`DELETE FROM authority_texts WHERE authority_id IN (` + list("$", 40) + `)`:  false,
		`DELETE FROM authority_texts WHERE authority_id IN (` + list("?", 500) + `)`: false,
		`CREATE INDEX a ON b (c)`: false,
	} {
		if got := writerStatement(query); got != want {
			t.Errorf("writerStatement(%.60q…) = %v, want %v", query, got, want)
		}
	}
}

// Many readers at once, more than the pool's connections, all asking for
// statements not prepared yet: each gets its own rows, nothing waits for
// ever, and a statement is kept once.
func TestReadersShareThePreparedStatements(t *testing.T) {
	ctx := context.Background()
	d, err := Open(ctx, filepath.Join(t.TempDir(), "c.db"), Options{SQLiteSynchronous: "NORMAL", MaxReaders: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.InTx(ctx, func(tx Querier) error {
		if _, err := tx.ExecContext(ctx, `CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)`); err != nil {
			return err
		}
		for i := range 50 {
			if _, err := tx.ExecContext(ctx, `INSERT INTO t (id, v) VALUES ($1, $2)`, i, fmt.Sprint("v", i)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 400)
	for g := range 40 {
		wg.Go(func() {
			for i := range 10 {
				id := (g*10 + i) % 50
				query := fmt.Sprintf(`SELECT v FROM t WHERE id = $1 AND %d = %d`, i%5, i%5) // five texts
				var v string
				if err := d.Read().QueryRowContext(ctx, query, id).Scan(&v); err != nil {
					errs <- err
					return
				}
				if v != fmt.Sprint("v", id) {
					errs <- fmt.Errorf("row %d read %q", id, v)
				}
				// A list, open while others query.
				rows, err := d.Read().QueryContext(ctx, `SELECT id FROM t WHERE id < $1 ORDER BY id`, 5)
				if err != nil {
					errs <- err
					return
				}
				n := 0
				for rows.Next() {
					n++
				}
				_ = rows.Close()
				if n != 5 {
					errs <- fmt.Errorf("%d rows, want 5", n)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := len(d.cache.stmts); n != 6 {
		t.Errorf("%d statements kept, want 6", n)
	}
}

// The writer's statements: a transaction runs a new statement unprepared
// and notes it; the next transaction prepares it before it takes the
// writer, and runs it prepared, in its own transaction, with its own
// savepoints: a member rolled back keeps nothing, a schema changed since
// the statement was prepared is followed, and transactions that run at
// once all see their own rows.
func TestTransactionsUseTheWritersPreparedStatements(t *testing.T) {
	ctx := context.Background()
	d, err := Open(ctx, filepath.Join(t.TempDir(), "w.db"), Options{SQLiteSynchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	const insert = `INSERT INTO t (id, v) VALUES ($1, $2)`
	const read = `SELECT v FROM t WHERE id = $1`
	if err := d.InTx(ctx, func(tx Querier) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	put := func(id int, v string) error {
		return d.InTx(ctx, func(tx Querier) error {
			if _, err := tx.ExecContext(ctx, insert, id, v); err != nil {
				return err
			}
			var got string
			if err := tx.QueryRowContext(ctx, read, id).Scan(&got); err != nil || got != v {
				return fmt.Errorf("row %d read back %q in its transaction: %v", id, got, err)
			}
			return nil
		})
	}
	if err := put(1, "one"); err != nil {
		t.Fatal(err)
	}
	d.writes.mu.RLock()
	prepared, noted := d.writes.stmts[insert], d.writes.noted[insert]
	d.writes.mu.RUnlock()
	if prepared != nil || !noted {
		t.Fatalf("after its first transaction the insert is prepared %v, noted %v; want noted only", prepared != nil, noted)
	}
	if err := put(2, "two"); err != nil {
		t.Fatal(err)
	}
	if d.writes.stmts[insert] == nil || d.writes.stmts[read] == nil {
		t.Fatalf("the next transaction did not prepare the noted statements: %d kept", len(d.writes.stmts))
	}
	// Prepared, they are run prepared: noted no more. A schema change is
	// not noted at all.
	if err := put(3, "three"); err != nil {
		t.Fatal(err)
	}
	if err := d.InTx(ctx, func(tx Querier) error {
		_, err := tx.ExecContext(ctx, `CREATE INDEX t_v ON t (v)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(d.writes.noted) != 0 {
		t.Fatalf("noted after running prepared: %v", d.writes.noted)
	}
	if _, err := d.writer.ExecContext(ctx, `DELETE FROM t WHERE id = 3`); err != nil {
		t.Fatal(err)
	}
	// A member that fails is rolled back to its savepoint, prepared
	// statements and all.
	if err := d.InTx(ctx, func(tx Querier) error {
		if _, err := tx.ExecContext(ctx, insert, 4, "four"); err != nil {
			return err
		}
		return errors.New("changed my mind")
	}); err == nil {
		t.Fatal("the failing transaction succeeded")
	}
	// The schema changes: the prepared insert still works.
	if err := d.InTx(ctx, func(tx Querier) error {
		_, err := tx.ExecContext(ctx, `ALTER TABLE t ADD COLUMN w TEXT NOT NULL DEFAULT ''`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Go(func() {
			if err := put(10+i, fmt.Sprint("v", i)); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var n, three int
	if err := d.Read().QueryRowContext(ctx, `SELECT COUNT(*), COUNT(*) FILTER (WHERE id = 3 OR id = 4) FROM t`).Scan(&n, &three); err != nil {
		t.Fatal(err)
	}
	if n != 42 || three != 0 {
		t.Fatalf("%d rows (want 42), the rolled-back one %d times", n, three)
	}
}

// A transaction that cannot prepare what was noted (the writer busy with
// a long transaction) leaves it noted for the next one; a long
// transaction binds each statement once, however often it runs it.
func TestNotedStatementsWaitForAFreeWriter(t *testing.T) {
	ctx := context.Background()
	d, err := Open(ctx, filepath.Join(t.TempDir(), "n.db"), Options{SQLiteSynchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	const insert = `INSERT INTO t (id) VALUES ($1)`
	if err := d.InTx(ctx, func(tx Querier) error {
		if _, err := tx.ExecContext(ctx, `CREATE TABLE t (id INTEGER PRIMARY KEY)`); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, insert, 0)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// The writer held by a connection of its own, as by a long
	// transaction: nothing can be prepared, and nothing is lost.
	conn, err := d.writer.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d.writes.prepareNoted(ctx)
	if !d.writes.noted[insert] || d.writes.stmts[insert] != nil {
		t.Fatalf("with the writer busy: noted %v, prepared %v", d.writes.noted[insert], d.writes.stmts[insert] != nil)
	}
	_ = conn.Close()
	if err := d.InTxAlone(ctx, func(tx Querier) error {
		for i := range 1000 {
			if _, err := tx.ExecContext(ctx, insert, i+1); err != nil {
				return err
			}
		}
		if n := len(tx.(*cachedTx).bound); n != 2 { // the insert and the savepoint
			return fmt.Errorf("%d statements bound to the transaction, want 2", n)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(d.writes.noted) != 0 {
		t.Fatalf("still noted: %v", d.writes.noted)
	}
}

// Without a number of readers, SQLite gets two per core (at least four),
// and a number given is kept.
func TestSQLiteReadersDefaultToTwoPerCore(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct{ given, want int }{{0, max(4, 2*runtime.GOMAXPROCS(0))}, {3, 3}} {
		d, err := Open(ctx, filepath.Join(t.TempDir(), "r.db"), Options{SQLiteSynchronous: "NORMAL", MaxReaders: tc.given})
		if err != nil {
			t.Fatal(err)
		}
		if got := d.reader.Stats().MaxOpenConnections; got != tc.want {
			t.Errorf("MaxReaders %d: %d readers, want %d", tc.given, got, tc.want)
		}
		_ = d.Close()
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	if n := SQLiteReaders(); n != 4 {
		t.Errorf("1 core: %d readers, want 4", n)
	}
	runtime.GOMAXPROCS(6)
	if n := SQLiteReaders(); n != 12 {
		t.Errorf("6 cores: %d readers, want 12", n)
	}
}

// A transaction's lists run prepared too, once noted and prepared, and a
// list's text run again while rows of it are still open (a list in a
// list, or a row read) runs unprepared: the open rows go on as they were.
func TestATransactionsListsRunPreparedAndNestedAlone(t *testing.T) {
	ctx := context.Background()
	d, err := Open(ctx, filepath.Join(t.TempDir(), "l.db"), Options{SQLiteSynchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	const list = `SELECT id FROM t WHERE id < $1 ORDER BY id`
	if err := d.InTx(ctx, func(tx Querier) error {
		if _, err := tx.ExecContext(ctx, `CREATE TABLE t (id INTEGER PRIMARY KEY)`); err != nil {
			return err
		}
		for i := range 10 {
			if _, err := tx.ExecContext(ctx, `INSERT INTO t (id) VALUES ($1)`, i); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	ids := func(tx Querier, below int) ([]int, error) {
		rows, err := tx.QueryContext(ctx, list, below)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var got []int
		for rows.Next() {
			var id int
			if err := rows.Scan(&id); err != nil {
				return nil, err
			}
			got = append(got, id)
		}
		return got, rows.Err()
	}
	// First noted, then prepared before the next transaction.
	if err := d.InTx(ctx, func(tx Querier) error {
		_, err := ids(tx, 3)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if !d.writes.noted[list] {
		t.Fatalf("a list run in a transaction is not noted")
	}
	if err := d.InTxAlone(ctx, func(tx Querier) error {
		c := tx.(*cachedTx)
		if got, err := ids(tx, 3); err != nil || fmt.Sprint(got) != "[0 1 2]" {
			return fmt.Errorf("the list read %v (%v)", got, err)
		}
		if c.bound[list] == nil {
			return fmt.Errorf("the list did not run prepared: %d statements bound", len(c.bound))
		}
		// The outer rows stay open while the same text runs inside them,
		// as a list and as a row, and a list of another text runs too.
		outer, err := tx.QueryContext(ctx, list, 10)
		if err != nil {
			return err
		}
		defer outer.Close()
		var seen []int
		for outer.Next() {
			var id int
			if err := outer.Scan(&id); err != nil {
				return err
			}
			seen = append(seen, id)
			inner, err := ids(tx, id)
			if err != nil || len(inner) != id {
				return fmt.Errorf("inside row %d, the list below it read %v (%v)", id, inner, err)
			}
			var first int
			if err := tx.QueryRowContext(ctx, list, id+1).Scan(&first); err != nil || first != 0 {
				return fmt.Errorf("inside row %d, a row of the list read %d (%v)", id, first, err)
			}
		}
		if err := outer.Err(); err != nil {
			return err
		}
		if fmt.Sprint(seen) != "[0 1 2 3 4 5 6 7 8 9]" {
			return fmt.Errorf("the outer rows read %v with the same text run inside them", seen)
		}
		// Closed, its text runs prepared again.
		if got, err := ids(tx, 2); err != nil || fmt.Sprint(got) != "[0 1]" {
			return fmt.Errorf("after the outer rows, the list read %v (%v)", got, err)
		}
		if r, ok := c.open[list]; !ok || r == nil || r == outer {
			return fmt.Errorf("after the outer rows were closed, the list did not run prepared")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
