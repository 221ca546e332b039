package main

import (
	"database/sql"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/openimi/openimi/internal/db/dbtest"

	_ "modernc.org/sqlite"
)

// imi backup writes a checked copy of the SQLite database; imi restore
// puts it back, into a new database or, with --replace, over one that
// holds data; a damaged backup is refused.
func TestBackupAndRestoreOfTheSQLiteDatabase(t *testing.T) {
	dir := t.TempDir()
	live := filepath.Join(dir, "imi.db")
	common := []string{"--data-dir", dir, "--log-level", "warn"}
	if code, out, errOut := imi(t, "", append([]string{"generate", "--database", live, "--authorities", "70", "--users", "65", "--requests", "120",
		"--alerts", "2", "--registers", "2", "--accounts", "1"}, common...)...); code != 0 {
		t.Fatalf("generate: %d\n%s\n%s", code, out, errOut)
	}
	backup := filepath.Join(dir, "nightly #1?.db") // characters a SQLite URI would otherwise cut at
	code, out, errOut := imi(t, "", append([]string{"backup", "--database", live, "--output", backup}, common...)...)
	if code != 0 || !regexp.MustCompile(`backup written and checked: .*nightly #1\?\.db\n .* 120 requests`).MatchString(out) {
		t.Fatalf("backup: %d\n%s\n%s", code, out, errOut)
	}
	if code, _, errOut := imi(t, "", append([]string{"backup", "--database", live, "--output", backup}, common...)...); code != 1 || !strings.Contains(errOut, "already exists") {
		t.Errorf("a second backup to the same file: %d %s", code, errOut)
	}

	restored := filepath.Join(dir, "restored.db")
	code, out, errOut = imi(t, "", append([]string{"restore", "--database", restored, backup}, common...)...)
	if code != 0 || !strings.Contains(out, "120 requests") {
		t.Fatalf("restore into a new database: %d\n%s\n%s", code, out, errOut)
	}
	// The restored database serves: its accounts sign in with codes.
	if code, out, errOut := imi(t, "", append(append([]string{"generate", "code", "--database", restored}, common...), "gen-handler-00001@gen.openimi.eu")...); code != 0 || !regexp.MustCompile(`^\d{6}\n$`).MatchString(out) {
		t.Errorf("a code from the restored database: %d %q %s", code, out, errOut)
	}
	// Over a database with data: only with --replace.
	if code, _, errOut := imi(t, "", append([]string{"restore", "--database", live, backup}, common...)...); code != 1 || !strings.Contains(errOut, "--replace") {
		t.Errorf("restore over data without --replace: %d %s", code, errOut)
	}
	if code, out, errOut := imi(t, "", append([]string{"restore", "--database", live, "--replace", backup}, common...)...); code != 0 {
		t.Errorf("restore --replace: %d\n%s\n%s", code, out, errOut)
	}

	// A database that is not OpenIMI's is not replaced without --replace.
	foreign := filepath.Join(dir, "invoices.db")
	if code, _, errOut := imi(t, "", append([]string{"backup", "--database", foreign, "--output", filepath.Join(dir, "x.db")}, common...)...); code != 1 || !strings.Contains(errOut, "no database to back up") {
		t.Errorf("backup of a database that does not exist: %d %s", code, errOut)
	}
	if _, err := os.Stat(foreign); err == nil {
		t.Error("backing up a missing database created it")
	}
	f, err := sql.Open("sqlite", foreign)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Exec(`CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL); INSERT INTO invoices (total) VALUES (12.5)`); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	if code, _, errOut := imi(t, "", append([]string{"restore", "--database", foreign, backup}, common...)...); code != 1 || !strings.Contains(errOut, "not OpenIMI's") {
		t.Errorf("restore over another program's database: %d %s", code, errOut)
	}

	damaged := filepath.Join(dir, "damaged.db")
	b, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(damaged, b[:len(b)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := imi(t, "", append([]string{"restore", "--database", restored, "--replace", damaged}, common...)...); code != 1 || !strings.Contains(errOut, "not a usable OpenIMI database") {
		t.Errorf("restore of a damaged backup: %d %s", code, errOut)
	}
	if code, _, _ := imi(t, "", append([]string{"restore"}, common...)...); code != 2 {
		t.Errorf("restore without a file: exit %d", code)
	}
	if dbtest.IsPostgres() {
		if code, _, errOut := imi(t, "", append([]string{"backup", "--database", dbtest.Location(t), "--output", filepath.Join(dir, "pg.db")}, common...)...); code != 1 || !strings.Contains(errOut, "pg_dump") {
			t.Errorf("backup of PostgreSQL: %d %s", code, errOut)
		}
	}
}
