package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"modernc.org/sqlite"
)

// ErrNotSQLite: backups of PostgreSQL are made with PostgreSQL's own tools.
var ErrNotSQLite = errors.New("imi backup and imi restore are for SQLite; back up PostgreSQL with pg_dump or pg_basebackup (docs/OPERATIONS.md)")

// BackupInfo describes a checked backup: its size, the schema version it
// holds and a few counts for people to recognise it by.
type BackupInfo struct {
	Path                         string
	Bytes                        int64
	Version                      int64 // the last migration applied
	PageSize                     int64
	Authorities, Users, Requests int64
}

// Backup writes a consistent copy of a SQLite database to path, while the
// server goes on (SQLite's VACUUM INTO, which reads one snapshot and does
// not hold writers back), checks the copy's integrity, syncs it to disk
// and only then gives it its name. An existing file is never overwritten;
// a failed backup leaves nothing under path.
func (d *DB) Backup(ctx context.Context, path string) (BackupInfo, error) {
	if d.dialect != SQLite {
		return BackupInfo{}, ErrNotSQLite
	}
	path, err := filepath.Abs(path)
	if err != nil {
		return BackupInfo{}, err
	}
	if _, err := os.Lstat(path); err == nil {
		return BackupInfo{}, fmt.Errorf("backup: %s already exists: choose a new name", path)
	}
	partial := path + ".partial"
	if err := os.Remove(partial); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return BackupInfo{}, fmt.Errorf("backup: %w", err)
	}
	defer func() { _ = os.Remove(partial) }() // the name stays, linked, once checked
	// Its own connection: the reader pool is query-only, and the writer
	// must stay free for the server's writes while the copy is made.
	src, err := sql.Open("sqlite", FileURI(d.Location, url.Values{"_pragma": {"busy_timeout(10000)"}}))
	if err != nil {
		return BackupInfo{}, err
	}
	defer src.Close()
	if _, err := src.ExecContext(ctx, `VACUUM INTO ?`, partial); err != nil {
		return BackupInfo{}, fmt.Errorf("backup: copy %s: %w", d.Location, mapErr(err))
	}
	if err := Sync(partial); err != nil {
		return BackupInfo{}, fmt.Errorf("backup: %w", err)
	}
	info, err := CheckBackup(ctx, partial)
	if err != nil {
		return BackupInfo{}, err
	}
	// A link, not a rename: it fails rather than replace a file that
	// appeared under the name meanwhile.
	if err := os.Link(partial, path); err != nil {
		return BackupInfo{}, fmt.Errorf("backup: %w", err)
	}
	if err := Sync(filepath.Dir(path)); err != nil {
		return BackupInfo{}, fmt.Errorf("backup: %w", err)
	}
	info.Path = path
	return info, nil
}

// CheckBackup opens a backup read-only and checks that it is a whole
// OpenIMI database: SQLite's integrity check passes, and it holds the
// schema version of OpenIMI's migrations and no newer one than this
// program knows.
func CheckBackup(ctx context.Context, path string) (BackupInfo, error) {
	st, err := os.Stat(path)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("backup %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return BackupInfo{}, fmt.Errorf("backup %s: not a file", path)
	}
	info := BackupInfo{Path: path, Bytes: st.Size()}
	if path, err = filepath.Abs(path); err != nil {
		return info, err
	}
	q := url.Values{}
	q.Set("mode", "ro")
	q.Add("_pragma", "query_only(ON)")
	q.Set("_time_format", "sqlite")
	b, err := sql.Open("sqlite", FileURI(path, q))
	if err != nil {
		return info, err
	}
	defer b.Close()
	bad := func(why string, err error) (BackupInfo, error) {
		if err != nil {
			why += ": " + err.Error()
		}
		return info, fmt.Errorf("backup %s is not a usable OpenIMI database: %s", path, why)
	}
	rows, err := b.QueryContext(ctx, `PRAGMA integrity_check`)
	if err != nil {
		return bad("it cannot be read", err)
	}
	var problems []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			_ = rows.Close()
			return bad("it cannot be read", err)
		}
		if s != "ok" {
			problems = append(problems, s)
		}
	}
	if err := rows.Err(); err != nil {
		_ = rows.Close()
		return bad("its integrity check failed", err)
	}
	_ = rows.Close()
	if len(problems) > 0 {
		return bad("its integrity check failed: "+strings.Join(problems[:min(len(problems), 5)], "; "), nil)
	}
	if err := b.QueryRowContext(ctx, `PRAGMA page_size`).Scan(&info.PageSize); err != nil {
		return bad("it cannot be read", err)
	}
	if err := b.QueryRowContext(ctx, `SELECT COALESCE(MAX(version_id), 0) FROM goose_db_version WHERE is_applied`).Scan(&info.Version); err != nil {
		return bad("it holds no OpenIMI schema", err)
	}
	latest, err := LatestVersion()
	if err != nil {
		return info, err
	}
	if info.Version < 1 {
		return bad("it holds no OpenIMI schema", nil)
	}
	if info.Version > latest {
		return bad(fmt.Sprintf("its schema (version %d) is newer than this program's (%d): restore it with the OpenIMI that made it", info.Version, latest), nil)
	}
	for _, c := range []struct {
		table string
		n     *int64
	}{{"authorities", &info.Authorities}, {"users", &info.Users}, {"requests", &info.Requests}} {
		var exists bool // not before the migration that made it
		if err := b.QueryRowContext(ctx, `SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = ?`, c.table).Scan(&exists); err != nil {
			return bad("its tables cannot be read", err)
		}
		// #nosec G202 -- the table names are the constants above
		if err := b.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+c.table).Scan(c.n); exists && err != nil {
			return bad("its tables cannot be read", err)
		}
	}
	return info, nil
}

// Restore replaces the whole content of a SQLite database with a checked
// backup, through SQLite's online backup interface: every page is written
// in one transaction of the database itself, so that connections open on
// it (even another process's) see either the old content or the new,
// never a mix, an interrupted restore leaves the old, and the database
// keeps its own write-ahead log. The backup is checked first; a backup
// that fails the check changes nothing.
func (d *DB) Restore(ctx context.Context, path string) (BackupInfo, error) {
	if d.dialect != SQLite {
		return BackupInfo{}, ErrNotSQLite
	}
	info, err := CheckBackup(ctx, path)
	if err != nil {
		return info, err
	}
	return d.RestoreChecked(ctx, info)
}

// RestoreChecked is Restore of a backup CheckBackup has just passed (its
// integrity check reads the whole file: once is enough).
func (d *DB) RestoreChecked(ctx context.Context, info BackupInfo) (BackupInfo, error) {
	if d.dialect != SQLite {
		return info, ErrNotSQLite
	}
	path := info.Path
	abs, err := filepath.Abs(path)
	if err != nil {
		return info, err
	}
	conn, err := d.writer.Conn(ctx)
	if err != nil {
		return info, fmt.Errorf("restore: %w", mapErr(err))
	}
	defer conn.Close()
	// SQLite copies pages as they are: a database in WAL mode takes only
	// pages of its own size.
	var size int64
	if err := conn.QueryRowContext(ctx, `PRAGMA page_size`).Scan(&size); err != nil {
		return info, fmt.Errorf("restore: %w", mapErr(err))
	}
	if size != info.PageSize {
		return info, fmt.Errorf("restore: the backup's pages are of %d bytes and %s's of %d: SQLite cannot copy one into the other; copy the backup file to a new name instead (and start the server on it)", info.PageSize, d.Location, size)
	}
	err = conn.Raw(func(dc any) error {
		r, ok := dc.(interface {
			NewRestore(string) (*sqlite.Backup, error)
		})
		if !ok {
			return errors.New("restore: the SQLite driver has no backup interface")
		}
		b, err := r.NewRestore(FileURI(abs, url.Values{"mode": {"ro"}}))
		if err != nil {
			return err
		}
		_, err = b.Step(-1) // every page in one step: one transaction, all or nothing
		if ferr := b.Finish(); err == nil {
			err = ferr
		}
		return err
	})
	if err != nil {
		return info, fmt.Errorf("restore %s from %s: %w", d.Location, path, mapErr(err))
	}
	// The restored database is checked where it now lives.
	var ok string
	if err := conn.QueryRowContext(ctx, `PRAGMA quick_check`).Scan(&ok); err != nil || ok != "ok" {
		return info, fmt.Errorf("restore: the restored database fails its check (%s): %v", ok, err)
	}
	return info, nil
}

// FileURI is a SQLite URI for a file path: characters such as # and ?
// in the name stay part of it. The path is made absolute: a relative one
// would read as the URI's authority (file://data/imi.db).
func FileURI(path string, q url.Values) string {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	return (&url.URL{Scheme: "file", Path: path, RawQuery: q.Encode()}).String()
}

// LatestVersion is the version of the newest migration this program has.
func LatestVersion() (int64, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return 0, err
	}
	var latest int64
	for _, e := range entries {
		var v int64
		if _, err := fmt.Sscanf(e.Name(), "%d_", &v); err == nil && v > latest {
			latest = v
		}
	}
	return latest, nil
}

// Sync flushes a file, or a folder's entries (the names of the files in
// it), to the disk.
func Sync(path string) error {
	f, err := os.Open(path) // #nosec G304 -- a file or folder this program writes: a backup, the attachment store
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
