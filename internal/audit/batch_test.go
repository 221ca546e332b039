package audit_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/openimi/openimi/internal/audit"
	"github.com/openimi/openimi/internal/db/dbtest"
)

// Views recorded at once, from many goroutines, are each committed once,
// in one unbroken chain, and each Record returns only after its own row is
// readable.
func TestBatchCommitsEveryEventOnceInTheChain(t *testing.T) {
	d := dbtest.Open(t)
	ctx := context.Background()
	b := audit.NewBatch(d)
	at := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	const n = 300
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			subject := fmt.Sprintf("request:PQ-2026-%06d", i)
			if err := b.Record(ctx, at, audit.Event{Event: audit.PersonalDataViewed, UserID: "u1", Subject: subject}); err != nil {
				errs <- err
				return
			}
			var k int
			if err := d.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_log WHERE subject = $1`, subject).Scan(&k); err != nil || k != 1 {
				errs <- fmt.Errorf("%s: %d rows after Record returned (%v)", subject, k, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	rows, err := audit.Verify(ctx, d.Read())
	if err != nil {
		t.Fatalf("the chain is broken: %v", err)
	}
	var views int
	if err := d.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_log WHERE event = $1`, audit.PersonalDataViewed).Scan(&views); err != nil {
		t.Fatal(err)
	}
	if views != n || rows < n {
		t.Fatalf("%d views recorded, %d rows verified; want %d", views, rows, n)
	}
}

// A caller that gives up (its request cancelled) gets its context's error;
// the event is written all the same.
func TestBatchWritesTheEventOfACallerThatGaveUp(t *testing.T) {
	d := dbtest.Open(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	b := audit.NewBatch(d)
	if err := b.Record(ctx, time.Now(), audit.Event{Event: audit.PersonalDataViewed, UserID: "u1", Subject: "request:gave-up"}); err != context.Canceled {
		t.Fatalf("Record: %v, want context.Canceled", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var k int
		if err := d.Read().QueryRowContext(context.Background(), `SELECT COUNT(*) FROM audit_log WHERE subject = 'request:gave-up'`).Scan(&k); err != nil {
			t.Fatal(err)
		}
		if k == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the event of a caller that gave up was never written")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
