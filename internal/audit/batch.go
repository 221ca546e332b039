package audit

import (
	"context"
	"sync"
	"time"

	"github.com/openimi/openimi/internal/db"
)

// Batch records events that are not part of a change of their own (a user
// shown personal data) in shared transactions: a group commit. Each
// Record returns once its event is durably committed, as with a
// transaction of its own, but the events that arrive while one
// transaction commits all go into the next. Without it every page showing
// personal data waited for a commit of its own (an fsync on SQLite, the
// chain's lock on PostgreSQL), which bounded how many such pages the
// server could show per second (bench/load).
type Batch struct {
	db      *db.DB
	mu      sync.Mutex
	pending []queued
	running bool
}

type queued struct {
	at   time.Time
	e    Event
	done chan error
}

// maxBatch bounds one transaction, so that a flood of views does not hold
// the writer for long.
const maxBatch = 256

// NewBatch returns a Batch writing to d.
func NewBatch(d *db.DB) *Batch { return &Batch{db: d} }

// Record writes e, as of at, and returns when it is committed or has
// failed. If ctx ends first it returns ctx's error; the event is still
// written.
func (b *Batch) Record(ctx context.Context, at time.Time, e Event) error {
	q := queued{at: at, e: e, done: make(chan error, 1)}
	b.mu.Lock()
	b.pending = append(b.pending, q)
	if !b.running {
		b.running = true
		// The flush outlives the request that starts it: not its
		// cancellation, nor what the request does after its transactions.
		go b.flush(db.AfterTx(context.WithoutCancel(ctx), nil))
	}
	b.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case err := <-q.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// flush writes what is pending, a transaction at a time, until nothing is.
func (b *Batch) flush(ctx context.Context) {
	for {
		b.mu.Lock()
		n := min(len(b.pending), maxBatch)
		batch := b.pending[:n:n]
		b.pending = b.pending[n:]
		if n == 0 {
			b.running = false
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
		events := make([]timed, len(batch))
		for i, q := range batch {
			events[i] = timed{q.at, q.e}
		}
		err := b.db.InTx(ctx, func(tx db.Querier) error { return recordAll(ctx, tx, b.db.Dialect(), events) })
		for _, q := range batch {
			q.done <- err
		}
	}
}
