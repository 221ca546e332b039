package db

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
)

func openGroupTest(t *testing.T) (*DB, context.Context) {
	t.Helper()
	ctx := context.Background()
	d, err := Open(ctx, filepath.Join(t.TempDir(), "g.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	if err := d.InTx(ctx, func(tx Querier) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return d, ctx
}

func rowsOf(t *testing.T, d *DB) map[int]string {
	t.Helper()
	rows, err := d.Read().QueryContext(context.Background(), `SELECT id, v FROM t`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[int]string{}
	for rows.Next() {
		var id int
		var v string
		if err := rows.Scan(&id, &v); err != nil {
			t.Fatal(err)
		}
		out[id] = v
	}
	return out
}

// waitJoined waits until n transactions have joined the batch open now,
// or the next one to open (the first of them holds its turn until then).
func waitJoined(t *testing.T, d *DB, n int) {
	t.Helper()
	waitBatchJoined(t, d, nil, n)
}

// waitBatchJoined is waitJoined for batch b, or for the first batch open
// (b nil).
func waitBatchJoined(t *testing.T, d *DB, b *batch, n int) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		d.group.mu.Lock()
		if b == nil {
			b = d.group.open
		}
		joined := 0
		if b != nil {
			joined = b.joined
		}
		d.group.mu.Unlock()
		if joined >= n {
			return
		}
	}
	t.Fatalf("fewer than %d transactions joined the batch", n)
}

// leadHeld starts a transaction that keeps its turn, and with it the open
// batch, until release is closed, then runs fn; it returns once that
// transaction has joined.
func leadHeld(t *testing.T, d *DB, wg *sync.WaitGroup, errp *error, fn func(Querier) error) (release chan struct{}) {
	t.Helper()
	release = make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		*errp = d.InTx(context.Background(), func(tx Querier) error {
			<-release
			return fn(tx)
		})
	}()
	waitJoined(t, d, 1)
	return release
}

// Transactions that arrive while one runs share its commit. Each returns
// once its changes are committed; one that fails, panics or was cancelled
// changes nothing, and nobody else's changes are lost with it.
func TestTransactionsShareACommit(t *testing.T) {
	d, ctx := openGroupTest(t)
	before := d.group.commits.Load()
	const n = 12
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	var wg sync.WaitGroup
	errs := make([]error, n)
	panics := make([]any, n)
	insert := func(i int) func(Querier) error {
		return func(tx Querier) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO t (id, v) VALUES ($1, $2)`, i, fmt.Sprint("row ", i))
			return err
		}
	}
	release := leadHeld(t, d, &wg, &errs[0], insert(0)) // until every other has joined
	for i := 1; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { panics[i] = recover() }()
			switch i {
			case 3: // fails after writing: rolled back to its savepoint
				errs[i] = d.InTx(ctx, func(tx Querier) error {
					if err := insert(i)(tx); err != nil {
						return err
					}
					return errors.New("refused")
				})
			case 5: // panics after writing
				errs[i] = d.InTx(ctx, func(tx Querier) error {
					_ = insert(i)(tx)
					panic("boom")
				})
			case 7: // its request was cancelled before its turn
				errs[i] = d.InTx(cancelled, insert(i))
			case 9: // a constraint violation: the same id as the first
				errs[i] = d.InTx(ctx, insert(0))
			default:
				errs[i] = d.InTx(ctx, insert(i))
			}
		}()
	}
	waitJoined(t, d, n)
	close(release)
	wg.Wait()

	got := rowsOf(t, d)
	for i := range n {
		_, stored := got[i]
		switch i {
		case 3:
			if errs[i] == nil || stored {
				t.Errorf("the failed transaction: %v, stored %v", errs[i], stored)
			}
		case 5:
			if panics[i] != "boom" || stored {
				t.Errorf("the panicking transaction: panic %v, stored %v", panics[i], stored)
			}
		case 7:
			if !errors.Is(errs[i], context.Canceled) || stored {
				t.Errorf("the cancelled transaction: %v, stored %v", errs[i], stored)
			}
		case 9:
			if errs[i] == nil || got[0] != "row 0" {
				t.Errorf("the duplicate: %v, row 0 is %q", errs[i], got[0])
			}
		default:
			if errs[i] != nil || got[i] != fmt.Sprint("row ", i) {
				t.Errorf("transaction %d: %v, stored %q", i, errs[i], got[i])
			}
		}
	}
	if commits := d.group.commits.Load() - before; commits != 1 {
		t.Errorf("%d transactions made %d commits, want 1", n, commits)
	}
}

// A transaction that ends the shared transaction itself (as SQLite does
// on some errors, such as a full disk) fails every transaction of the
// batch: none of them returns success for changes that were not kept.
func TestALostBatchFailsAllItsTransactions(t *testing.T) {
	d, ctx := openGroupTest(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	release := leadHeld(t, d, &wg, &errs[0], func(tx Querier) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO t (id, v) VALUES (1, 'kept?')`)
		return err
	})
	for i := 1; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = d.InTx(ctx, func(tx Querier) error {
				if i == 2 {
					_, err := tx.ExecContext(ctx, `ROLLBACK`)
					return err
				}
				_, err := tx.ExecContext(ctx, `INSERT INTO t (id, v) VALUES ($1, 'kept?')`, 10+i)
				return err
			})
		}()
	}
	waitJoined(t, d, 4)
	close(release)
	wg.Wait()
	// The order of turns after the first is not fixed: those before the
	// lost transaction fail at the commit, those after at their turn.
	for i, err := range errs {
		if err == nil {
			t.Errorf("transaction %d succeeded in a lost batch", i)
		}
	}
	if got := rowsOf(t, d); len(got) != 0 {
		t.Fatalf("a lost batch left rows: %v", got)
	}
	// The next transaction has a batch of its own.
	if err := d.InTx(ctx, func(tx Querier) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO t (id, v) VALUES (1, 'kept')`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if got := rowsOf(t, d); got[1] != "kept" {
		t.Fatalf("after the lost batch: %v", got)
	}
}

// A batch is bounded: a long queue of writers is committed in several
// batches, and every one of them is stored.
func TestABatchIsBounded(t *testing.T) {
	d, ctx := openGroupTest(t)
	before := d.group.commits.Load()
	var wg sync.WaitGroup
	n := 2*maxGroup + 1
	errs := make([]error, n)
	release := leadHeld(t, d, &wg, &errs[0], func(tx Querier) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO t (id, v) VALUES (0, 'x')`)
		return err
	})
	// The held batch, taken before the others arrive: read after them, the
	// batch open would be the last one, which never fills.
	d.group.mu.Lock()
	held := d.group.open
	d.group.mu.Unlock()
	for i := 1; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = d.InTx(ctx, func(tx Querier) error {
				_, err := tx.ExecContext(ctx, `INSERT INTO t (id, v) VALUES ($1, 'x')`, i)
				return err
			})
		}()
	}
	waitBatchJoined(t, d, held, maxGroup)
	close(release)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("transaction %d: %v", i, err)
		}
	}
	if got := rowsOf(t, d); len(got) != n {
		t.Fatalf("%d rows stored, want %d", len(got), n)
	}
	if commits := d.group.commits.Load() - before; commits < 3 {
		t.Fatalf("%d transactions in %d commits: a batch took more than %d", n, commits, maxGroup)
	}
}

// A transaction waiting for its turn gives up when its request ends (as
// it would waiting for the writer), and the batch goes on without it.
func TestAWaitingTransactionGivesUpWithItsRequest(t *testing.T) {
	d, ctx := openGroupTest(t)
	var wg sync.WaitGroup
	var first error
	release := leadHeld(t, d, &wg, &first, func(tx Querier) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO t (id, v) VALUES (1, 'first')`)
		return err
	})
	waiting, cancel := context.WithCancel(ctx)
	gaveUp := make(chan error, 1)
	go func() {
		gaveUp <- d.InTx(waiting, func(tx Querier) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO t (id, v) VALUES (2, 'second')`)
			return err
		})
	}()
	waitJoined(t, d, 2)
	cancel()
	if err := <-gaveUp; !errors.Is(err, context.Canceled) {
		t.Fatalf("the cancelled transaction returned %v", err)
	}
	close(release)
	wg.Wait()
	if first != nil {
		t.Fatal(first)
	}
	if got := rowsOf(t, d); len(got) != 1 || got[1] != "first" {
		t.Fatalf("rows %v", got)
	}
}

// A long transaction (InTxAlone) shares its commit with nobody: a user's
// transaction arriving meanwhile starts a batch of its own and does not
// wait for the long one to be answered.
func TestALongTransactionCommitsAlone(t *testing.T) {
	d, ctx := openGroupTest(t)
	before := d.group.commits.Load()
	release := make(chan struct{})
	long := make(chan error, 1)
	go func() {
		long <- d.InTxAlone(ctx, func(tx Querier) error {
			<-release
			_, err := tx.ExecContext(ctx, `INSERT INTO t (id, v) VALUES (1, 'long')`)
			return err
		})
	}()
	for deadline := time.Now().Add(30 * time.Second); d.writer.Stats().InUse == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the long transaction never took the writer")
		}
	}
	d.group.mu.Lock()
	open := d.group.open
	d.group.mu.Unlock()
	if open != nil {
		t.Fatal("a long transaction opened a batch for others to join")
	}
	short := make(chan error, 1)
	go func() {
		short <- d.InTx(ctx, func(tx Querier) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO t (id, v) VALUES (2, 'short')`)
			return err
		})
	}()
	waitJoined(t, d, 1) // the short one leads a batch of its own
	close(release)
	if err := <-long; err != nil {
		t.Fatal(err)
	}
	if err := <-short; err != nil {
		t.Fatal(err)
	}
	if got := rowsOf(t, d); got[1] != "long" || got[2] != "short" {
		t.Fatalf("rows %v", got)
	}
	if commits := d.group.commits.Load() - before; commits != 2 {
		t.Fatalf("%d commits, want 2", commits)
	}
}

// A transaction whose goroutine ends inside it (runtime.Goexit, as
// t.Fatal does) is rolled back to its savepoint, and the batch still
// commits the others.
func TestAGoroutineEndingInsideItsTransaction(t *testing.T) {
	d, ctx := openGroupTest(t)
	var wg sync.WaitGroup
	var first error
	release := leadHeld(t, d, &wg, &first, func(tx Querier) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO t (id, v) VALUES (1, 'first')`)
		return err
	})
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		_ = d.InTx(ctx, func(tx Querier) error {
			_, _ = tx.ExecContext(ctx, `INSERT INTO t (id, v) VALUES (2, 'ended')`)
			runtime.Goexit()
			return nil
		})
	}()
	var third error
	wg.Add(1)
	go func() {
		defer wg.Done()
		waitJoined(t, d, 2)
		third = d.InTx(ctx, func(tx Querier) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO t (id, v) VALUES (3, 'third')`)
			return err
		})
	}()
	waitJoined(t, d, 3)
	close(release)
	wg.Wait()
	<-ended
	if first != nil || third != nil {
		t.Fatal(first, third)
	}
	if got := rowsOf(t, d); len(got) != 2 || got[1] != "first" || got[3] != "third" {
		t.Fatalf("rows %v", got)
	}
}
