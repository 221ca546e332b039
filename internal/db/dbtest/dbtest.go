// Package dbtest gives each test its own real, migrated database: a temporary
// SQLite file by default, or a fresh PostgreSQL schema when IMI_TEST_DATABASE
// holds a postgres:// URL.
package dbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/openimi/openimi/internal/db"
)

// EnvVar names the environment variable that selects PostgreSQL for tests.
const EnvVar = "IMI_TEST_DATABASE"

// Location returns a database location for one test: a new SQLite file in
// the test's temporary directory, or a new PostgreSQL schema (dropped when
// the test ends) when IMI_TEST_DATABASE is set.
func Location(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvVar)
	if base == "" {
		return filepath.Join(t.TempDir(), "imi.db")
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "t_" + hex.EncodeToString(b)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	defer admin.Close()
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("dbtest: create schema: %v", err)
	}
	t.Cleanup(func() {
		a, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer a.Close()
		_, _ = a.Exec("DROP SCHEMA " + schema + " CASCADE")
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("dbtest: %s: %v", EnvVar, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Open returns a migrated database for one test, closed when it ends.
func Open(t testing.TB) *db.DB {
	t.Helper()
	ctx := context.Background()
	d, err := db.Open(ctx, Location(t), db.Options{SQLiteSynchronous: "NORMAL"})
	if err != nil {
		t.Fatalf("dbtest: open: %v", err)
	}
	t.Cleanup(func() { _ = d.Close() })
	if err := d.Migrate(ctx, nil); err != nil {
		t.Fatalf("dbtest: migrate: %v", err)
	}
	return d
}

// IsPostgres reports whether tests run on PostgreSQL.
func IsPostgres() bool {
	return db.DialectOf(os.Getenv(EnvVar)) == db.Postgres
}

// Contend runs first in a transaction and, once first has returned, holds
// that transaction open while second runs in another, until second's
// connection waits for a lock; then first's transaction commits. It
// returns each transaction's error. PostgreSQL only: SQLite's writers take
// turns, and second would never start.
func Contend(t testing.TB, d *db.DB, first, second func(ctx context.Context, tx db.Querier) error) (firstErr, secondErr error) {
	t.Helper()
	if d.Dialect() != db.Postgres {
		t.Fatal("dbtest: Contend needs PostgreSQL")
	}
	ctx := context.Background()
	held, release, firstDone := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	var once sync.Once
	releaseFirst := func() { once.Do(func() { close(release) }) }
	defer releaseFirst() // also when t fails: first's transaction may hold locks
	go func() {
		firstDone <- d.InTx(ctx, func(tx db.Querier) error {
			err := first(ctx, tx)
			close(held)
			if err != nil {
				return err
			}
			<-release
			return nil
		})
	}()
	<-held
	pid, secondDone := make(chan int, 1), make(chan error, 1)
	go func() {
		secondDone <- d.InTx(ctx, func(tx db.Querier) error {
			var p int
			if err := tx.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&p); err != nil {
				return err
			}
			pid <- p
			return second(ctx, tx)
		})
	}()
	var p int
	select {
	case p = <-pid:
	case err := <-secondDone:
		t.Fatalf("dbtest: the second transaction did not start: %v", err)
	}
	for waiting := 0; waiting == 0; {
		select {
		case err := <-secondDone:
			t.Fatalf("dbtest: the second transaction ended without waiting for the first: %v", err)
		default:
		}
		if err := d.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_locks WHERE pid = $1 AND NOT granted`, p).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	releaseFirst()
	return <-firstDone, <-secondDone
}
