package audit_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/openimi/openimi/internal/audit"
	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/db/dbtest"
)

func seed(t *testing.T, d *db.DB, n int) {
	t.Helper()
	ctx := context.Background()
	at := time.Date(2026, 11, 22, 10, 0, 0, 123456000, time.UTC)
	for i := 0; i < n; i++ {
		err := d.InTx(ctx, func(tx db.Querier) error {
			return audit.Record(ctx, tx, d.Dialect(), at.Add(time.Duration(i)*time.Second), audit.Event{
				Event: audit.SignInFailed, Subject: fmt.Sprintf("user%d@example.eu", i), Address: "192.0.2.1", Detail: "wrong password",
			})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestAnIntactLogVerifies(t *testing.T) {
	d := dbtest.Open(t)
	seed(t, d, 5)
	n, err := audit.Verify(context.Background(), d.Read())
	if err != nil || n != 5 {
		t.Fatalf("n=%d err=%v", n, err)
	}
}

func TestVerifyNamesTheFirstTamperedRow(t *testing.T) {
	cases := []struct {
		name   string
		tamper string
		seq    int64
	}{
		{"changed field", `UPDATE audit_log SET subject = 'someone@else.eu' WHERE seq = 3`, 3},
		{"removed row", `DELETE FROM audit_log WHERE seq = 2`, 2},
		{"rewritten hash", `UPDATE audit_log SET hash = prev_hash WHERE seq = 4`, 4},
		{"changed time", `UPDATE audit_log SET at = $1 WHERE seq = 1`, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := dbtest.Open(t)
			seed(t, d, 5)
			ctx := context.Background()
			args := []any{}
			if c.seq == 1 {
				args = append(args, time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))
			}
			if err := d.InTx(ctx, func(tx db.Querier) error { _, err := tx.ExecContext(ctx, c.tamper, args...); return err }); err != nil {
				t.Fatal(err)
			}
			_, err := audit.Verify(ctx, d.Read())
			var bad *audit.BadRow
			if !errors.As(err, &bad) {
				t.Fatalf("err = %v, want a BadRow", err)
			}
			if bad.Seq != c.seq {
				t.Fatalf("first bad row %d, want %d (%v)", bad.Seq, c.seq, err)
			}
		})
	}
}

func TestAnEventRolledBackWithItsChangeLeavesNoRow(t *testing.T) {
	d := dbtest.Open(t)
	ctx := context.Background()
	_ = d.InTx(ctx, func(tx db.Querier) error {
		if err := audit.Record(ctx, tx, d.Dialect(), time.Now(), audit.Event{Event: audit.PasswordChanged}); err != nil {
			return err
		}
		return errors.New("the change failed")
	})
	n, err := audit.Verify(ctx, d.Read())
	if err != nil || n != 0 {
		t.Fatalf("n=%d err=%v", n, err)
	}
}

func TestConcurrentAppendsKeepTheChain(t *testing.T) {
	d := dbtest.Open(t)
	ctx := context.Background()
	errs := make(chan error, 20)
	for i := 0; i < 20; i++ {
		go func() {
			errs <- d.InTx(ctx, func(tx db.Querier) error {
				return audit.Record(ctx, tx, d.Dialect(), time.Now(), audit.Event{Event: audit.SignInSucceeded})
			})
		}()
	}
	for i := 0; i < 20; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	n, err := audit.Verify(ctx, d.Read())
	if err != nil || n != 20 {
		t.Fatalf("n=%d err=%v", n, err)
	}
}

// On PostgreSQL an append that waited for the chain's lock reads the last
// row committed while it waited: it follows it instead of forking the
// chain (or taking its number).
func TestAnAppendThatWaitedFollowsTheRowCommittedMeanwhile(t *testing.T) {
	d := dbtest.Open(t)
	if d.Dialect() != db.Postgres {
		t.Skip("SQLite's one writer appends alone")
	}
	ctx := context.Background()
	at := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	first, second := dbtest.Contend(t, d, func(ctx context.Context, tx db.Querier) error {
		return audit.Record(ctx, tx, d.Dialect(), at, audit.Event{Event: audit.SignInSucceeded, Subject: "first"})
	}, func(ctx context.Context, tx db.Querier) error {
		return audit.Record(ctx, tx, d.Dialect(), at.Add(time.Second), audit.Event{Event: audit.SignInSucceeded, Subject: "second"})
	})
	if first != nil || second != nil {
		t.Fatalf("the appends: %v, %v", first, second)
	}
	n, err := audit.Verify(ctx, d.Read())
	if err != nil || n != 2 {
		t.Fatalf("%d rows verified: %v", n, err)
	}
	subjects, err := db.Strings(d.Read().QueryContext(ctx, `SELECT subject FROM audit_log ORDER BY seq`))
	if err != nil || len(subjects) != 2 || subjects[0] != "first" || subjects[1] != "second" {
		t.Fatalf("the chain: %v %v", subjects, err)
	}
}
