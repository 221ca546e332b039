package db

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
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
	turn    sync.Mutex // held by the member whose function runs
	members int        // joined and not yet through their turn
	joined  int
	tx      *sql.Tx
	release func()
	err     error         // the transaction could not begin or was lost
	done    chan struct{} // closed once the commit is over
	result  error         // the commit's
}

// inGroup runs fn as InTx does, in a transaction shared with those that
// arrive while it runs.
func (d *DB) inGroup(ctx context.Context, fn func(tx Querier) error) error {
	g := &d.group
	g.mu.Lock()
	b := g.open
	leader := b == nil
	if leader {
		b = &batch{done: make(chan struct{})}
		b.turn.Lock() // the leader's turn is first: it begins the transaction
		g.open = b
	}
	b.members++
	b.joined++
	if b.joined >= maxGroup {
		g.open = nil
	}
	g.mu.Unlock()

	if leader {
		// The transaction outlives the leader's request: another
		// caller's cancelled context must not roll back the others.
		b.tx, b.release, b.err = d.begin(context.WithoutCancel(ctx))
	} else {
		b.turn.Lock()
	}
	err, panicked := b.run(ctx, fn)
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
	b.turn.Unlock()
	if panicked != nil {
		panic(panicked) // its changes were rolled back to its savepoint
	}
	if err != nil {
		return mapErr(err)
	}
	<-b.done
	return mapErr(b.result)
}

// run runs one member's function inside a savepoint of the batch.
func (b *batch) run(ctx context.Context, fn func(tx Querier) error) (err error, panicked any) {
	if b.err != nil {
		return b.err, nil
	}
	if err := ctx.Err(); err != nil {
		return err, nil
	}
	bg := context.Background()
	if _, err := b.tx.ExecContext(bg, `SAVEPOINT member`); err != nil {
		b.err = err
		return err, nil
	}
	func() {
		defer func() { panicked = recover() }()
		err = fn(groupTx{b.tx})
	}()
	if err != nil || panicked != nil {
		// A failed statement can end the whole transaction (SQLite does
		// so on a full disk, for one); then the savepoint is gone and the
		// batch has failed for everyone in it.
		if _, rerr := b.tx.ExecContext(bg, `ROLLBACK TO member`); rerr != nil {
			b.err = rerr
		} else if _, rerr := b.tx.ExecContext(bg, `RELEASE member`); rerr != nil {
			b.err = rerr
		}
		return err, panicked
	}
	if _, err := b.tx.ExecContext(bg, `RELEASE member`); err != nil {
		b.err = err
		return err, nil
	}
	return nil, nil
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
type groupTx struct{ tx *sql.Tx }

func (t groupTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(context.WithoutCancel(ctx), query, args...)
}

func (t groupTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return t.tx.QueryContext(context.WithoutCancel(ctx), query, args...)
}

func (t groupTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(context.WithoutCancel(ctx), query, args...)
}
