package db_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/db/dbtest"
)

func insertUser(ctx context.Context, q db.Querier, id, email string) error {
	now := time.Now().UTC()
	_, err := q.ExecContext(ctx, `INSERT INTO users (id, email, name, password_hash, password_changed_at, created_at, updated_at)
		VALUES ($1, $2, 'Test', 'x', $3, $3, $3)`, id, email, now)
	return db.Check(err)
}

func TestInTxCommitsWhenTheClosureSucceeds(t *testing.T) {
	d := dbtest.Open(t)
	ctx := context.Background()
	if err := d.InTx(ctx, func(tx db.Querier) error { return insertUser(ctx, tx, "u1", "a@example.eu") }); err != nil {
		t.Fatal(err)
	}
	var email string
	if err := d.Read().QueryRowContext(ctx, `SELECT email FROM users WHERE id = $1`, "u1").Scan(&email); err != nil {
		t.Fatal(err)
	}
	if email != "a@example.eu" {
		t.Fatalf("email = %q", email)
	}
}

func TestInTxRollsBackEverythingWhenTheClosureFails(t *testing.T) {
	d := dbtest.Open(t)
	ctx := context.Background()
	boom := errors.New("boom")
	err := d.InTx(ctx, func(tx db.Querier) error {
		if err := insertUser(ctx, tx, "u1", "a@example.eu"); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	var n int
	if err := d.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("%d users after rollback", n)
	}
}

func TestInTxRollsBackOnPanic(t *testing.T) {
	d := dbtest.Open(t)
	ctx := context.Background()
	func() {
		defer func() { _ = recover() }()
		_ = d.InTx(ctx, func(tx db.Querier) error {
			_ = insertUser(ctx, tx, "u1", "a@example.eu")
			panic("boom")
		})
	}()
	var n int
	if err := d.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("%d users after panic", n)
	}
}

func TestUniqueViolationIsErrConflict(t *testing.T) {
	d := dbtest.Open(t)
	ctx := context.Background()
	if err := d.InTx(ctx, func(tx db.Querier) error { return insertUser(ctx, tx, "u1", "a@example.eu") }); err != nil {
		t.Fatal(err)
	}
	err := d.InTx(ctx, func(tx db.Querier) error { return insertUser(ctx, tx, "u2", "a@example.eu") })
	if !errors.Is(err, db.ErrConflict) {
		t.Fatalf("err = %v, want ErrConflict", err)
	}
}

func TestMissingRowIsErrNotFound(t *testing.T) {
	d := dbtest.Open(t)
	var email string
	err := db.Check(d.Read().QueryRowContext(context.Background(), `SELECT email FROM users WHERE id = $1`, "nobody").Scan(&email))
	if !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
}

func TestMigrateTwiceIsANoOp(t *testing.T) {
	d := dbtest.Open(t)
	if err := d.Migrate(context.Background(), nil); err != nil {
		t.Fatalf("second migrate: %v", err)
	}
}

func TestSQLiteReadPoolCannotWrite(t *testing.T) {
	if dbtest.IsPostgres() {
		t.Skip("the read-only pool exists on SQLite only")
	}
	d := dbtest.Open(t)
	_, err := d.Read().ExecContext(context.Background(), `DELETE FROM users`)
	if err == nil {
		t.Fatal("read pool accepted a write")
	}
}

func TestUnreachablePostgresIsErrUnavailable(t *testing.T) {
	_, err := db.Open(context.Background(), "postgres://nobody@127.0.0.1:1/none?connect_timeout=2", db.Options{})
	if !errors.Is(err, db.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
}

func TestSQLiteURLAndPathBothOpen(t *testing.T) {
	dir := t.TempDir()
	for _, loc := range []string{dir + "/a.db", "sqlite:" + dir + "/b.db", "sqlite://" + dir + "/c.db?_pragma=cache_size(-2000)"} {
		d, err := db.Open(context.Background(), loc, db.Options{})
		if err != nil {
			t.Fatalf("%s: %v", loc, err)
		}
		if d.Dialect() != db.SQLite {
			t.Fatalf("%s: dialect %s", loc, d.Dialect())
		}
		d.Close()
	}
}

func TestBadSynchronousSettingIsRefused(t *testing.T) {
	_, err := db.Open(context.Background(), t.TempDir()+"/x.db", db.Options{SQLiteSynchronous: "OFF"})
	if err == nil {
		t.Fatal("synchronous=OFF accepted")
	}
}

// ReadInTableOrder reads, on PostgreSQL, without parallel workers or
// synchronized scans (so that rows without an ORDER BY come in the
// table's order whatever the LIMIT), for its closure only; its closure's
// error is returned; and it cannot write.
func TestReadInTableOrderScopesItsSettingsToTheClosure(t *testing.T) {
	d := dbtest.Open(t)
	ctx := context.Background()
	boom := errors.New("boom")
	var inside string
	err := d.ReadInTableOrder(ctx, func(q db.Querier) error {
		if d.Dialect() == db.Postgres {
			var workers, sync string
			if err := q.QueryRowContext(ctx, `SELECT current_setting('max_parallel_workers_per_gather'), current_setting('synchronize_seqscans')`).Scan(&workers, &sync); err != nil {
				return err
			}
			inside = workers + " " + sync
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the closure's", err)
	}
	if err := d.ReadInTableOrder(ctx, func(q db.Querier) error { return insertUser(ctx, q, "u1", "a@example.eu") }); err == nil {
		t.Fatal("a write inside was accepted")
	}
	if d.Dialect() != db.Postgres {
		return
	}
	if inside != "0 off" {
		t.Fatalf("inside: %q, want no workers and no synchronized scans", inside)
	}
	// Every connection of the pool is as before.
	for range 20 {
		var sync string
		if err := d.Read().QueryRowContext(ctx, `SELECT current_setting('synchronize_seqscans')`).Scan(&sync); err != nil || sync != "on" {
			t.Fatalf("outside: %q %v", sync, err)
		}
	}
}

// SQLite's connections read pages with a system call, not through a map
// of the file: with a map, every commit made each reader unmap the whole
// file and fault its pages in again (docs/PERFORMANCE.md, change 26).
func TestSQLiteReadsWithoutAMapOfTheFile(t *testing.T) {
	ctx := context.Background()
	d, err := db.Open(ctx, t.TempDir()+"/m.db", db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var reader, writer int64
	if err := d.Read().QueryRowContext(ctx, `PRAGMA mmap_size`).Scan(&reader); err != nil {
		t.Fatal(err)
	}
	if err := d.InTx(ctx, func(q db.Querier) error {
		return q.QueryRowContext(ctx, `PRAGMA mmap_size`).Scan(&writer)
	}); err != nil {
		t.Fatal(err)
	}
	if reader != 0 || writer != 0 {
		t.Fatalf("mmap_size: reader %d, writer %d; want 0 and 0", reader, writer)
	}
}

func TestValuesRowNumbersItsParameters(t *testing.T) {
	for _, c := range []struct {
		first, n int
		more     []string
		want     string
	}{
		{1, 1, nil, "($1)"},
		{10, 3, nil, "($10, $11, $12)"},
		{5, 2, []string{"$1", "$2"}, "($5, $6, $1, $2)"},
	} {
		if got := db.ValuesRow(c.first, c.n, c.more...); got != c.want {
			t.Errorf("ValuesRow(%d, %d, %v) = %q, want %q", c.first, c.n, c.more, got, c.want)
		}
	}
}
