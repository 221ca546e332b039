package db_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/db/dbtest"
)

// openSQLite opens a migrated SQLite database in a folder of its own,
// whatever database the other tests run on: backups are SQLite's.
func openSQLite(t *testing.T, name string) *db.DB {
	t.Helper()
	d, err := db.Open(context.Background(), filepath.Join(t.TempDir(), name), db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	if err := d.Migrate(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	return d
}

func users(t *testing.T, d *db.DB) int {
	t.Helper()
	var n int
	if err := d.Read().QueryRowContext(context.Background(), `SELECT COUNT(*) FROM users`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func addUsers(t *testing.T, d *db.DB, prefix string, n int) {
	t.Helper()
	ctx := context.Background()
	for i := range n {
		if err := d.InTx(ctx, func(tx db.Querier) error {
			return insertUser(ctx, tx, fmt.Sprintf("%s%d", prefix, i), fmt.Sprintf("%s%d@example.eu", prefix, i))
		}); err != nil {
			t.Fatal(err)
		}
	}
}

// A backup taken while writers go on is a consistent snapshot that passes
// its check; restoring it into another database gives that snapshot, and
// restoring it over a database with other data replaces that data.
func TestABackupTakenUnderWritesRestoresItsSnapshot(t *testing.T) {
	ctx := context.Background()
	src := openSQLite(t, "imi.db")
	addUsers(t, src, "before", 200)

	var written atomic.Int64
	stop, underway := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the server's writes go on during the backup
		defer wg.Done()
		defer func() { // a failed writer does not keep the test waiting
			select {
			case <-underway:
			default:
				close(underway)
			}
		}()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := src.InTx(ctx, func(tx db.Querier) error {
				return insertUser(ctx, tx, fmt.Sprintf("during%d", i), fmt.Sprintf("during%d@example.eu", i))
			}); err != nil {
				t.Error(err)
				return
			}
			if written.Add(1) == 20 {
				close(underway)
			}
		}
	}()
	<-underway
	path := filepath.Join(t.TempDir(), "backup.db")
	info, err := src.Backup(ctx, path)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	latest, err := db.LatestVersion()
	if err != nil {
		t.Fatal(err)
	}
	if info.Version != latest || info.Users < 220 || info.Users > 200+written.Load() || info.Bytes == 0 {
		t.Fatalf("backup %+v: want version %d and between 220 and %d users", info, latest, 200+written.Load())
	}
	if _, err := os.Stat(path + ".partial"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the partial file is left: %v", err)
	}
	if again, err := db.CheckBackup(ctx, path); err != nil || again.Users != info.Users {
		t.Fatalf("check of the written backup: %+v, %v", again, err)
	}

	fresh := openSQLite(t, "fresh.db")
	if _, err := fresh.Restore(ctx, path); err != nil {
		t.Fatal(err)
	}
	if n := users(t, fresh); int64(n) != info.Users {
		t.Errorf("restored into a new database: %d users, the backup has %d", n, info.Users)
	}

	other := openSQLite(t, "other.db")
	addUsers(t, other, "other", 7)
	if _, err := other.Restore(ctx, path); err != nil {
		t.Fatal(err)
	}
	var strangers int
	if err := other.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM users WHERE id LIKE 'other%'`).Scan(&strangers); err != nil {
		t.Fatal(err)
	}
	if n := users(t, other); int64(n) != info.Users || strangers != 0 {
		t.Errorf("restored over other data: %d users (%d of the old data), want the backup's %d", n, strangers, info.Users)
	}
	// The restored database goes on working: a write, and it survives a
	// reopen with its own write-ahead log.
	addUsers(t, other, "after", 1)
	loc := other.Location
	if err := other.Close(); err != nil {
		t.Fatal(err)
	}
	reopened, err := db.Open(ctx, loc, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer reopened.Close()
	if n := users(t, reopened); int64(n) != info.Users+1 {
		t.Errorf("after a reopen: %d users, want %d", n, info.Users+1)
	}
}

// A backup never overwrites a file, and a damaged, foreign or newer file
// is refused by restore with a reason, leaving the database as it was.
func TestBadBackupsAreRefusedAndChangeNothing(t *testing.T) {
	ctx := context.Background()
	src := openSQLite(t, "imi.db")
	addUsers(t, src, "u", 300)
	dir := t.TempDir()

	existing := filepath.Join(dir, "existing.db")
	if err := os.WriteFile(existing, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Backup(ctx, existing); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("a backup over an existing file: %v", err)
	}
	if b, _ := os.ReadFile(existing); string(b) != "keep me" {
		t.Errorf("the existing file was changed: %q", b)
	}

	good := filepath.Join(dir, "good.db")
	if _, err := src.Backup(ctx, good); err != nil {
		t.Fatal(err)
	}
	content, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	damaged := append([]byte{}, content...)
	for i := len(damaged) / 2; i < len(damaged)/2+4096; i++ { // a page in the middle
		damaged[i] ^= 0x5a
	}
	truncated := content[:len(content)/3]
	newer := filepath.Join(dir, "newer.db")
	if err := os.WriteFile(newer, content, 0o600); err != nil {
		t.Fatal(err)
	}
	{
		n, err := db.Open(ctx, newer, db.Options{})
		if err != nil {
			t.Fatal(err)
		}
		err = n.InTx(ctx, func(tx db.Querier) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO goose_db_version (version_id, is_applied) VALUES (99999, TRUE)`)
			return err
		})
		if cerr := n.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	files := map[string][]byte{"damaged.db": damaged, "truncated.db": truncated, "notes.txt": []byte("not a database at all\n"), "empty.db": nil}
	cases := map[string]string{newer: "newer than this program's"}
	for name, b := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		cases[p] = "is not a usable OpenIMI database"
	}
	cases[filepath.Join(dir, "missing.db")] = "no such file"
	cases[dir] = "not a file"

	target := openSQLite(t, "target.db")
	addUsers(t, target, "mine", 5)
	for p, want := range cases {
		if _, err := target.Restore(ctx, p); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("restore from %s: %v, want an error saying %q", filepath.Base(p), err, want)
		}
		if n := users(t, target); n != 5 {
			t.Fatalf("a refused restore from %s changed the database: %d users", filepath.Base(p), n)
		}
	}
}

// PostgreSQL is backed up with its own tools: the commands say so.
func TestBackupsOfPostgreSQLPointToItsTools(t *testing.T) {
	if !dbtest.IsPostgres() {
		t.Skip("PostgreSQL only (IMI_TEST_DATABASE)")
	}
	d := dbtest.Open(t)
	if _, err := d.Backup(context.Background(), filepath.Join(t.TempDir(), "b.db")); !errors.Is(err, db.ErrNotSQLite) {
		t.Errorf("backup of PostgreSQL: %v", err)
	}
	if _, err := d.Restore(context.Background(), filepath.Join(t.TempDir(), "b.db")); !errors.Is(err, db.ErrNotSQLite) {
		t.Errorf("restore into PostgreSQL: %v", err)
	}
}

// Indexes a stopped bulk load listed as set aside are made again by the
// next migration, and the list goes, as are the inbox's counts; an entry
// that is not an index definition is refused.
func TestMigrateMakesAgainTheIndexesABulkLoadSetAside(t *testing.T) {
	ctx := context.Background()
	d := dbtest.Open(t)
	def := `CREATE INDEX requests_closed ON requests(closed_at)`
	indexExists := `SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'requests_closed'`
	if d.Dialect() == db.Postgres {
		indexExists = `SELECT COUNT(*) FROM pg_indexes WHERE schemaname = current_schema() AND indexname = 'requests_closed'`
	}
	count := func(q string) int {
		var n int
		if err := d.Read().QueryRowContext(ctx, q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	setAside := func(definition string) {
		if err := d.InTx(ctx, func(tx db.Querier) error {
			for _, q := range []string{`DROP INDEX IF EXISTS requests_closed`, `DROP TABLE IF EXISTS ` + db.PendingIndexes,
				`CREATE TABLE ` + db.PendingIndexes + ` (name TEXT PRIMARY KEY, definition TEXT NOT NULL)`} {
				if _, err := tx.ExecContext(ctx, q); err != nil {
					return err
				}
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO `+db.PendingIndexes+` (name, definition) VALUES ('requests_closed', $1)`, definition)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	setAside(def)
	if count(indexExists) != 0 {
		t.Fatal("the index was not dropped")
	}
	if err := d.Migrate(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if count(indexExists) != 1 {
		t.Error("the migration did not make the index again")
	}
	if err := d.Migrate(ctx, nil); err != nil { // the list is gone: nothing to do
		t.Fatal(err)
	}
	// The inbox's counts, listed by a load that wrote requests without
	// triggers, are counted again from the requests (none here).
	setAside(db.PendingRecount)
	if err := d.InTx(ctx, func(tx db.Querier) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO inbox_counts (owner, box, n) VALUES ('nobody', 'todo', 7)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := d.Migrate(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if n := count(`SELECT COUNT(*) FROM inbox_counts`); n != 0 {
		t.Errorf("%d counts left by the recount of no requests", n)
	}
	setAside(`DROP TABLE users`)
	if err := d.Migrate(ctx, nil); err == nil || !strings.Contains(err.Error(), "not an index definition") {
		t.Errorf("a list entry that is not an index: %v", err)
	}
	if count(`SELECT COUNT(*) FROM users`) != 0 || count(indexExists) != 0 {
		t.Error("the refused entry changed something")
	}
}

// SQLite copies pages as they are: a backup whose pages differ in size
// from the database's is refused with the way out, and changes nothing.
func TestARestoreAcrossPageSizesSaysWhatToDo(t *testing.T) {
	ctx := context.Background()
	big := filepath.Join(t.TempDir(), "big-pages.db")
	raw, err := sql.Open("sqlite", "file:"+big+"?_pragma=page_size(8192)")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`CREATE TABLE first (a)`); err != nil {
		t.Fatal(err)
	}
	_ = raw.Close()
	d, err := db.Open(ctx, big, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Migrate(ctx, nil); err != nil {
		t.Fatal(err)
	}
	addUsers(t, d, "u", 3)
	backup := filepath.Join(t.TempDir(), "b.db")
	info, err := d.Backup(ctx, backup)
	if err != nil || info.PageSize != 8192 {
		t.Fatalf("backup: %+v %v", info, err)
	}
	target := openSQLite(t, "target.db")
	addUsers(t, target, "mine", 2)
	if _, err := target.Restore(ctx, backup); err == nil || !strings.Contains(err.Error(), "copy the backup file to a new name") {
		t.Errorf("restore across page sizes: %v", err)
	}
	if n := users(t, target); n != 2 {
		t.Errorf("the refused restore changed the database: %d users", n)
	}
}

// The database as most installations name it, relative to the working
// folder (data/imi.db): backed up and restored like any other.
func TestABackupOfADatabaseNamedRelatively(t *testing.T) {
	ctx := context.Background()
	t.Chdir(t.TempDir())
	d, err := db.Open(ctx, "data/imi.db", db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Migrate(ctx, nil); err != nil {
		t.Fatal(err)
	}
	addUsers(t, d, "u", 4)
	info, err := d.Backup(ctx, "data/backup.db")
	if err != nil || info.Users != 4 {
		t.Fatalf("backup: %+v %v", info, err)
	}
	if _, err := d.Restore(ctx, "data/backup.db"); err != nil {
		t.Fatal(err)
	}
	if n := users(t, d); n != 4 {
		t.Errorf("after the restore: %d users", n)
	}
}
