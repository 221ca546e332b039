package audit_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/openimi/openimi/internal/audit"
	"github.com/openimi/openimi/internal/db"
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

// Events appended together, more than one statement's rows, are each a
// row of the chain, in order, after what was there.
func TestEventsAppendedTogetherContinueTheChain(t *testing.T) {
	d := dbtest.Open(t)
	ctx := context.Background()
	at := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	if err := d.InTx(ctx, func(tx db.Querier) error {
		return audit.Record(ctx, tx, d.Dialect(), at, audit.Event{Event: audit.PersonalDataViewed, Subject: "first"})
	}); err != nil {
		t.Fatal(err)
	}
	const n = 250
	var es []audit.Event
	for i := range n {
		es = append(es, audit.Event{Event: audit.PersonalDataViewed, UserID: "u1", Subject: fmt.Sprintf("view %03d", i)})
	}
	if err := d.InTx(ctx, func(tx db.Querier) error { return audit.RecordAll(ctx, tx, d.Dialect(), at, es) }); err != nil {
		t.Fatal(err)
	}
	rows, err := audit.Verify(ctx, d.Read())
	if err != nil {
		t.Fatalf("the chain is broken: %v", err)
	}
	subjects, err := db.Strings(d.Read().QueryContext(ctx, `SELECT subject FROM audit_log WHERE event = $1 ORDER BY seq`, audit.PersonalDataViewed))
	if err != nil {
		t.Fatal(err)
	}
	if len(subjects) != n+1 || rows < n+1 || subjects[0] != "first" || subjects[1] != "view 000" || subjects[n] != fmt.Sprintf("view %03d", n-1) {
		t.Fatalf("%d rows verified, views %d: first %q, second %q, last %q", rows, len(subjects), subjects[0], subjects[1], subjects[len(subjects)-1])
	}
	for i, s := range subjects[1:] {
		if s != fmt.Sprintf("view %03d", i) {
			t.Fatalf("view %d is %q", i, s)
		}
	}
}
