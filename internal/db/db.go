// Package db opens the database (embedded SQLite or PostgreSQL), runs the
// embedded migrations, and offers transactions as closures. Callers see one set
// of sentinel errors whichever database runs underneath.
package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "modernc.org/sqlite"             // registers the "sqlite" driver
)

// Dialect names the SQL dialect of the database in use. Code that must differ
// between the two asks for it explicitly; everything else is plain SQL with
// $n placeholders, which both drivers accept.
type Dialect string

// The supported dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// Querier is what stores run their SQL against: the database itself for reads,
// or a transaction inside InTx. Both *sql.DB and *sql.Tx satisfy it.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Options tune how the database is opened.
type Options struct {
	// SQLiteSynchronous is SQLite's synchronous pragma: FULL (default) makes
	// every commit durable against power loss; NORMAL survives a crash of
	// the process but not of the machine.
	SQLiteSynchronous string
	// MaxReaders caps the pool of read connections (SQLite) or all
	// connections (PostgreSQL). Zero picks a default.
	MaxReaders int
}

// DB is an open database: a writer and a pool of readers. On PostgreSQL both
// are the same pool; on SQLite the writer is a single connection so that
// writers queue in Go instead of failing with SQLITE_BUSY.
type DB struct {
	dialect Dialect
	writer  *sql.DB
	reader  *sql.DB
	// Location is the database's location with any password removed, for
	// logs.
	Location string
}

// Open opens the database named by location: a PostgreSQL URL
// (postgres:// or postgresql://), a sqlite: URL, or a file path for SQLite.
// It does not run migrations; see Migrate.
func Open(ctx context.Context, location string, opts Options) (*DB, error) {
	switch {
	case strings.HasPrefix(location, "postgres://"), strings.HasPrefix(location, "postgresql://"):
		return openPostgres(ctx, location, opts)
	case location == "":
		return nil, errors.New("db: no database location given")
	default:
		return openSQLite(ctx, location, opts)
	}
}

func openPostgres(ctx context.Context, location string, opts Options) (*DB, error) {
	// Statements are prepared once per connection, and PostgreSQL would
	// soon plan them once for any argument: a search for a rare word and
	// one for a common word need different plans. Plan with the arguments
	// every time, unless the location says otherwise.
	connect := location
	if u, err := url.Parse(location); err == nil && !u.Query().Has("plan_cache_mode") {
		q := u.Query()
		q.Set("plan_cache_mode", "force_custom_plan")
		u.RawQuery = q.Encode()
		connect = u.String()
	}
	pool, err := sql.Open("pgx", connect)
	if err != nil {
		return nil, fmt.Errorf("db: open postgres: %w", err)
	}
	n := opts.MaxReaders
	if n <= 0 {
		n = 20
	}
	pool.SetMaxOpenConns(n)
	pool.SetMaxIdleConns(n)
	pool.SetConnMaxIdleTime(5 * time.Minute)
	d := &DB{dialect: Postgres, writer: pool, reader: pool, Location: redact(location)}
	if err := d.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("db: connect to %s: %w", d.Location, err)
	}
	return d, nil
}

// sqlitePath turns a sqlite: URL or a plain path into a file path and extra
// query parameters.
func sqlitePath(location string) (string, url.Values, error) {
	if !strings.HasPrefix(location, "sqlite:") {
		return location, url.Values{}, nil
	}
	rest := strings.TrimPrefix(location, "sqlite:")
	rest = strings.TrimPrefix(rest, "//")
	path, query, _ := strings.Cut(rest, "?")
	q, err := url.ParseQuery(query)
	if err != nil {
		return "", nil, fmt.Errorf("db: bad sqlite URL query: %w", err)
	}
	if path == "" {
		return "", nil, errors.New("db: sqlite URL has no file path")
	}
	return path, q, nil
}

func openSQLite(ctx context.Context, location string, opts Options) (*DB, error) {
	path, extra, err := sqlitePath(location)
	if err != nil {
		return nil, err
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("db: create data directory: %w", err)
		}
	}
	sync := strings.ToUpper(opts.SQLiteSynchronous)
	switch sync {
	case "":
		sync = "FULL"
	case "FULL", "NORMAL", "EXTRA":
	default:
		return nil, fmt.Errorf("db: sqlite synchronous must be FULL, NORMAL or EXTRA, not %q", opts.SQLiteSynchronous)
	}
	dsn := func(readOnly bool) string {
		q := url.Values{}
		for k, v := range extra {
			q[k] = v
		}
		q.Add("_pragma", "busy_timeout(10000)")
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "foreign_keys(ON)")
		q.Add("_pragma", "synchronous("+sync+")")
		// Reads map the file instead of copying pages through a small
		// cache: a registry of 100,000 authorities is a few hundred MB.
		q.Add("_pragma", "mmap_size(1073741824)")
		q.Add("_pragma", "cache_size(-16384)")
		q.Set("_time_format", "sqlite")
		if readOnly {
			q.Add("_pragma", "query_only(ON)")
		} else {
			q.Set("_txlock", "immediate")
		}
		return "file:" + path + "?" + q.Encode()
	}
	writer, err := sql.Open("sqlite", dsn(false))
	if err != nil {
		return nil, fmt.Errorf("db: open sqlite: %w", err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)
	// Create the file and switch it to WAL before readers open it.
	if err := writer.PingContext(ctx); err != nil {
		writer.Close()
		return nil, fmt.Errorf("db: open sqlite %s: %w", path, mapErr(err))
	}
	reader, err := sql.Open("sqlite", dsn(true))
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("db: open sqlite: %w", err)
	}
	n := opts.MaxReaders
	if n <= 0 {
		n = 8
	}
	reader.SetMaxOpenConns(n)
	reader.SetMaxIdleConns(n)
	reader.SetConnMaxIdleTime(5 * time.Minute)
	return &DB{dialect: SQLite, writer: writer, reader: reader, Location: path}, nil
}

// redact removes a password from a PostgreSQL URL.
func redact(location string) string {
	u, err := url.Parse(location)
	if err != nil {
		return "postgres://(unparsable)"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// Dialect reports which SQL dialect the database speaks.
func (d *DB) Dialect() Dialect { return d.dialect }

// Read returns the pool for queries outside a transaction. On SQLite its
// connections cannot write.
func (d *DB) Read() Querier { return d.reader }

// Ping checks that the database answers.
func (d *DB) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := d.reader.PingContext(ctx); err != nil {
		return mapErr(err)
	}
	var one int
	if err := d.reader.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return mapErr(err)
	}
	return nil
}

// AfterBulkChange tidies tables after many of their rows changed at once:
// on PostgreSQL it vacuums them (so that index scans need not visit the
// new rows' pages to learn they are visible) and refreshes the planner's
// statistics; on SQLite it lets the database refresh what it judges
// useful. Table names come from the code, never from input.
func (d *DB) AfterBulkChange(ctx context.Context, tables ...string) error {
	q := "VACUUM (ANALYZE) " + strings.Join(tables, ", ")
	if d.dialect == SQLite {
		q = "PRAGMA optimize"
	}
	_, err := d.writer.ExecContext(ctx, q)
	return mapErr(err)
}

// Close closes every connection.
func (d *DB) Close() error {
	err := d.writer.Close()
	if d.reader != d.writer {
		err = errors.Join(err, d.reader.Close())
	}
	return err
}

// InTx runs fn in a transaction on the writer. The transaction commits if fn
// returns nil and rolls back otherwise (also on panic, which is re-raised).
// Everything fn does through tx commits together or not at all.
func (d *DB) InTx(ctx context.Context, fn func(tx Querier) error) (err error) {
	tx, err := d.writer.BeginTx(ctx, nil)
	if err != nil {
		return mapErr(err)
	}
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback()
			panic(p)
		}
	}()
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return mapErr(err)
	}
	if err := tx.Commit(); err != nil {
		return mapErr(err)
	}
	return nil
}
