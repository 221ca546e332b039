package db

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
	"time"
)

// SQLite has one writer, and with synchronous=FULL each commit waits for
// the disk (fsync). Under load the writer spent about 40% of its time in
// those waits (bench/load): transactions queued behind one another's
// fsync. A group commit lets the transactions that arrive while one runs
// share its commit: each runs in turn, inside a savepoint of one
// transaction, and the last to run commits for all. Each caller still
// returns only once its own changes are durable, or with an error that
// says they were not made; one caller's failure is rolled back to its
// savepoint and touches no one else's changes.
//
// PostgreSQL commits concurrent transactions itself and does not use it.

// group is the batch that transactions join while one is open.
type group struct {
	mu      sync.Mutex
	open    *batch       // the batch arrivals join; nil when none accepts more
	commits atomic.Int64 // batches committed or rolled back, for the tests
}

// maxGroup bounds how many transactions share one commit, so that a
// steady flow of writes still commits regularly.
const maxGroup = 32

type batch struct {
	// turn holds a token while no member runs: a member takes it to run
	// its function and puts it back after. The leader starts with it.
	turn    chan struct{}
	members int // joined and not yet through their turn
	joined  int
	alone   bool // InTxAlone: nobody joins, and its context may cancel it
	tx      *sql.Tx
	q       Querier // tx, its statements prepared (stmtCache.inTx)
	release func()
	err     error         // the transaction could not begin or was lost
	done    chan struct{} // closed once the commit is over
	result  error         // the commit's
}

// inGroup runs fn as InTx does, in a transaction shared with those that
// arrive while it runs, or, alone, in a batch nobody joins.
func (d *DB) inGroup(ctx context.Context, fn func(tx Querier) error, alone bool) error {
	g := &d.group
	g.mu.Lock()
	b := g.open
	leader := b == nil || alone
	if leader {
		// The leader's turn is first: it begins the transaction.
		b = &batch{turn: make(chan struct{}, 1), done: make(chan struct{}), alone: alone}
		if !alone {
			g.open = b
		}
	}
	b.members++
	b.joined++
	if b.joined >= maxGroup && g.open == b {
		g.open = nil
	}
	g.mu.Unlock()

	if leader {
		// The transaction outlives the leader's request: another
		// caller's cancelled context must not roll back the others.
		bctx := context.WithoutCancel(ctx)
		if alone {
			bctx = ctx
		}
		b.tx, b.release, b.err = d.begin(bctx)
		if b.tx != nil {
			b.q = newCachedTx(b.tx, d.writes)
		}
	} else if err := b.await(ctx); err != nil {
		// As a transaction waiting for the writer: its request is gone,
		// or it waited writerWait (a 503).
		g.leave(b)
		return mapErr(err)
	}
	panicked, err := b.turn1(ctx, fn, g)
	if panicked != nil {
		panic(panicked) // its changes were rolled back to its savepoint
	}
	if err != nil {
		return mapErr(err)
	}
	<-b.done
	return mapErr(b.result)
}

// turn1 is a member's turn: its function in its savepoint, then out of
// the batch (the last out commits) and the turn to the next, even if the
// function ended its goroutine (runtime.Goexit, as t.Fatal does).
func (b *batch) turn1(ctx context.Context, fn func(tx Querier) error, g *group) (panicked any, err error) {
	defer func() {
		g.leave(b)
		b.turn <- struct{}{}
	}()
	return b.run(ctx, fn)
}

// await waits for the member's turn, at most writerWait.
func (b *batch) await(ctx context.Context) error {
	t := time.NewTimer(writerWait)
	defer t.Stop()
	select {
	case <-b.turn:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return context.DeadlineExceeded // ErrUnavailable
	}
}

// leave counts a member out of b; the last one out commits the batch.
func (g *group) leave(b *batch) {
	g.mu.Lock()
	b.members--
	last := b.members == 0
	if last && g.open == b {
		g.open = nil
	}
	g.mu.Unlock()
	if last {
		b.finish()
		g.commits.Add(1)
	}
}

// run runs one member's function inside a savepoint of the batch.
func (b *batch) run(ctx context.Context, fn func(tx Querier) error) (panicked any, err error) {
	if b.err != nil {
		return nil, b.err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if _, err := b.q.ExecContext(context.Background(), `SAVEPOINT member`); err != nil {
		b.err = err
		return nil, err
	}
	var tx Querier = groupTx{b.q}
	if b.alone {
		tx = b.q // cancelling it stops it, and touches nobody else
	}
	returned := false
	func() {
		defer func() {
			if !returned { // a panic, or the goroutine ended (Goexit)
				panicked = recover()
				b.undo()
			}
		}()
		err = fn(tx)
		returned = true
	}()
	if panicked != nil {
		return panicked, nil
	}
	if err != nil {
		b.undo()
		return nil, err
	}
	if _, err := b.q.ExecContext(context.Background(), `RELEASE member`); err != nil {
		b.err = err
		return nil, err
	}
	return nil, nil
}

// undo rolls the member's changes back to its savepoint. A failed
// statement can end the whole transaction (SQLite does so on a full disk,
// for one); then the savepoint is gone and the batch has failed for
// everyone in it.
func (b *batch) undo() {
	bg := context.Background()
	if _, err := b.q.ExecContext(bg, `ROLLBACK TO member`); err != nil {
		b.err = err
	} else if _, err := b.q.ExecContext(bg, `RELEASE member`); err != nil {
		b.err = err
	}
}

// finish commits the batch, or rolls it back if it was lost, and lets its
// members return.
func (b *batch) finish() {
	switch {
	case b.tx == nil:
		b.result = b.err
	case b.err != nil:
		_ = b.tx.Rollback()
		b.result = b.err
	default:
		b.result = b.tx.Commit()
	}
	if b.release != nil {
		b.release()
	}
	close(b.done)
}

// groupTx is the batch's transaction as one member sees it: its
// statements run to the end even if the member's request is cancelled,
// since SQLite answers an interrupted write by rolling back the whole
// transaction, the other members' changes with it.
type groupTx struct{ tx Querier }

func (t groupTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(context.WithoutCancel(ctx), query, args...)
}

func (t groupTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return t.tx.QueryContext(context.WithoutCancel(ctx), query, args...)
}

func (t groupTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(context.WithoutCancel(ctx), query, args...)
}
