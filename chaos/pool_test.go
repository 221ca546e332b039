package chaos_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/db/dbtest"
)

// As many transactions as the pool has connections, each reading through
// Read() as requests.Act does (the request's authorities): none may wait
// for a connection its own kind holds. On PostgreSQL with one shared pool
// they did, and under 64 writers every request hung (found by the
// durability test).
func TestTransactionsThatAlsoReadDoNotStarveThePool(t *testing.T) {
	ctx := context.Background()
	const size = 2
	d, err := db.Open(ctx, dbtest.Location(t), db.Options{MaxReaders: size})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	// SQLite runs one transaction at a time; PostgreSQL as many as its
	// pool allows: all of them hold their connection before any reads.
	inside := size
	if d.Dialect() == db.SQLite {
		inside = 1
	}
	var entered sync.WaitGroup
	entered.Add(inside)
	errs := make(chan error, inside)
	for range inside {
		go func() {
			errs <- d.InTx(ctx, func(tx db.Querier) error {
				var one int
				if err := tx.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
					return err
				}
				entered.Done()
				entered.Wait()
				// A generous bound: the read needs no time, only a free
				// connection; without one it would wait for ever.
				rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				defer cancel()
				return d.Read().QueryRowContext(rctx, `SELECT 1`).Scan(&one)
			})
		}()
	}
	for range inside {
		if err := <-errs; err != nil {
			t.Fatalf("a transaction could not read: %v", err)
		}
	}
}
