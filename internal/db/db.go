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
	"runtime"
	"strconv"
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
	// MaxReaders caps the pool of read connections and, on PostgreSQL,
	// the pool of connections for transactions too (SQLite has a single
	// writer connection). Zero picks PostgresReaders or SQLiteReaders.
	MaxReaders int
	// Existing opens a SQLite database only if its file exists, rather
	// than make an empty one (for backups): the error wraps fs.ErrNotExist.
	Existing bool
}

// PostgresReaders is the default size of each PostgreSQL pool.
const PostgresReaders = 16

// SQLiteReaders is the default number of SQLite readers: two per core, at
// least four. SQLite reads run in the server's own process, so readers
// beyond the cores add no speed; and after every commit each reader drops
// its cache at its next read (WAL mode), so every reader more reads more
// pages again. With a million requests
// stored, 4 readers instead of 16 served 27–31% more request pages a
// second and 4–12% more inbox pages in alternating runs
// (docs/PERFORMANCE.md, change 16).
func SQLiteReaders() int { return max(4, 2*runtime.GOMAXPROCS(0)) }

// DB is an open database: a pool for transactions and a pool of readers.
// On SQLite the writer is a single connection so that writers queue in Go
// instead of failing with SQLITE_BUSY.
type DB struct {
	dialect Dialect
	writer  *sql.DB
	reader  *sql.DB
	read    Querier    // reader, through cache on SQLite
	cache   *stmtCache // SQLite only: the readers' statements
	writes  *stmtCache // SQLite only: the writer's statements
	group   group      // SQLite only: transactions sharing a commit (group.go)
	// Location is the database's location with any password removed, for
	// logs.
	Location string
}

// DialectOf is the database a location names: PostgreSQL for a postgres://
// or postgresql:// URL, SQLite for anything else.
func DialectOf(location string) Dialect {
	if strings.HasPrefix(location, "postgres://") || strings.HasPrefix(location, "postgresql://") {
		return Postgres
	}
	return SQLite
}

// Open opens the database named by location: a PostgreSQL URL
// (postgres:// or postgresql://), a sqlite: URL, or a file path for SQLite.
// It does not run migrations; see Migrate.
func Open(ctx context.Context, location string, opts Options) (*DB, error) {
	switch {
	case DialectOf(location) == Postgres:
		return openPostgres(ctx, location, opts)
	case location == "":
		return nil, errors.New("db: no database location given")
	default:
		return openSQLite(ctx, location, opts)
	}
}

// connectTimeout bounds a new PostgreSQL connection, in seconds.
const connectTimeout = "5"

func openPostgres(ctx context.Context, location string, opts Options) (*DB, error) {
	// Statements are prepared once per connection, and PostgreSQL would
	// soon plan them once for any argument: a search for a rare word and
	// one for a common word need different plans. Plan with the arguments
	// every time, unless the location says otherwise.
	//
	// A connection attempt to a database host that does not answer would
	// otherwise wait for the operating system's TCP timeout (minutes), and
	// every request with it: give up after connectTimeout, so that users
	// get a 503 at once, unless the location says otherwise.
	connect := location
	if u, err := url.Parse(location); err == nil {
		q := u.Query()
		if !q.Has("plan_cache_mode") {
			q.Set("plan_cache_mode", "force_custom_plan")
		}
		if !q.Has("connect_timeout") {
			q.Set("connect_timeout", connectTimeout)
		}
		u.RawQuery = q.Encode()
		connect = u.String()
	}
	n := opts.MaxReaders
	if n <= 0 {
		n = PostgresReaders
	}
	// Transactions and plain reads take their connections from two
	// pools, as on SQLite. A transaction often reads through Read() too
	// (an authority, a user's roles): from one shared pool, as many such
	// transactions as connections would each hold one and wait for a
	// second that never comes, and every request would hang.
	writer, err := postgresPool(connect, n)
	if err != nil {
		return nil, err
	}
	reader, err := postgresPool(connect, n)
	if err != nil {
		_ = writer.Close()
		return nil, err
	}
	d := &DB{dialect: Postgres, writer: writer, reader: reader, Location: redact(location)}
	if err := d.Ping(ctx); err != nil {
		_ = d.Close()
		return nil, fmt.Errorf("db: connect to %s: %w", d.Location, err)
	}
	return d, nil
}

// postgresPool opens a pool of at most n connections to PostgreSQL.
func postgresPool(connect string, n int) (*sql.DB, error) {
	pool, err := sql.Open("pgx", connect)
	if err != nil {
		return nil, fmt.Errorf("db: open postgres: %w", err)
	}
	pool.SetMaxOpenConns(n)
	pool.SetMaxIdleConns(n)
	pool.SetConnMaxIdleTime(5 * time.Minute)
	return pool, nil
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
	if opts.Existing {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("db: no database at %s: %w", path, err)
		}
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
		// Pages are read into the connection's cache with a system call,
		// not through a map of the file (mmap_size 0, SQLite's default).
		// A connection that finds the database changed since its last
		// read (any commit; every view of personal data is one) drops its
		// cache, and with a map it also unmaps the whole file and faults
		// each page into the map again: at 1,000,000 requests, reading
		// without the map served 6–45% more request pages a second under
		// bench/load and 10–18% more searches, for about the same inbox
		// (docs/PERFORMANCE.md, change 26).
		q.Add("_pragma", "mmap_size(0)")
		// 4 MB of cache per reader (up to --db-max-connections of them)
		// keeps the server's own memory under 300 MB under load
		// (bench/load); the writer, which changes pages, keeps 16 MB.
		if readOnly {
			q.Add("_pragma", "cache_size(-4096)")
		} else {
			q.Add("_pragma", "cache_size(-16384)")
		}
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
		_ = writer.Close()
		return nil, fmt.Errorf("db: open sqlite %s: %w", path, mapErr(err))
	}
	reader, err := sql.Open("sqlite", dsn(true))
	if err != nil {
		_ = writer.Close()
		return nil, fmt.Errorf("db: open sqlite: %w", err)
	}
	n := opts.MaxReaders
	if n <= 0 {
		n = SQLiteReaders()
	}
	reader.SetMaxOpenConns(n)
	reader.SetMaxIdleConns(n)
	reader.SetConnMaxIdleTime(5 * time.Minute)
	cache := newStmtCache(reader)
	return &DB{dialect: SQLite, writer: writer, reader: reader, read: cachedPool{cache}, cache: cache, writes: newStmtCache(writer), Location: path}, nil
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
func (d *DB) Read() Querier {
	if d.read != nil {
		return d.read
	}
	return d.reader
}

// ReadInTableOrder runs fn with reads whose rows, without an ORDER BY,
// come in the table's order whatever their LIMIT, so that a larger
// LIMIT's first rows are a smaller one's (search reads its candidates so,
// in blocks). SQLite's full-text and table scans already return rows by
// rowid: fn gets the read pool. On PostgreSQL fn runs in a read-only
// transaction without parallel workers or synchronized scans, whose rows
// would come in whichever order the workers or another scan give, so that
// a bitmap or sequential scan returns them in their physical order.
func (d *DB) ReadInTableOrder(ctx context.Context, fn func(q Querier) error) error {
	if d.dialect == SQLite {
		return fn(d.Read())
	}
	tx, err := d.reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return Check(err)
	}
	defer func() { _ = tx.Rollback() }() // nothing to keep: a read
	if _, err := tx.ExecContext(ctx, `SELECT set_config('max_parallel_workers_per_gather', '0', true), set_config('synchronize_seqscans', 'off', true)`); err != nil {
		return Check(err)
	}
	return fn(tx)
}

// Ping checks that the database answers.
func (d *DB) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	// Both pools: on PostgreSQL they are separate connections (on SQLite
	// the writer may be busy with a transaction; its file is the same).
	pools := []*sql.DB{d.reader}
	if d.dialect == Postgres {
		pools = append(pools, d.writer)
	}
	for _, p := range pools {
		var one int
		if err := p.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
			return mapErr(err)
		}
	}
	return nil
}

// AfterBulkChange tidies tables after many of their rows changed at once:
// on PostgreSQL it vacuums them (so that index scans need not visit the
// new rows' pages to learn they are visible) and refreshes the planner's
// statistics; on SQLite it lets the database refresh what it judges
// useful. Table names come from the code, never from input.
func (d *DB) AfterBulkChange(ctx context.Context, tables ...string) error {
	q := "VACUUM (ANALYZE) " + strings.Join(tables, ", ") // #nosec G202 -- table names are constants in the callers, never input
	if d.dialect == SQLite {
		q = "PRAGMA optimize"
	}
	_, err := d.writer.ExecContext(ctx, q)
	return mapErr(err)
}

// Close closes every connection.
func (d *DB) Close() error {
	if d.cache != nil {
		d.cache.close()
		d.writes.close()
	}
	err := d.writer.Close()
	if d.reader != d.writer {
		err = errors.Join(err, d.reader.Close())
	}
	return err
}

// writerWait bounds how long a transaction waits for its turn at SQLite's
// single writer connection. Writers normally hold it for milliseconds; but
// while another process holds the file's write lock, each waits out the
// busy timeout in turn, and the queue behind them would grow without end.
// A transaction that gets no turn within writerWait fails with
// ErrUnavailable (a 503), so that a write waits at most writerWait plus the
// busy timeout.
const writerWait = 10 * time.Second

// begin starts a transaction on the writer; done returns its connection
// once the transaction has ended.
func (d *DB) begin(ctx context.Context) (tx *sql.Tx, done func(), err error) {
	if d.dialect != SQLite {
		tx, err := d.writer.BeginTx(ctx, nil)
		return tx, func() {}, err
	}
	wait, cancel := context.WithTimeout(ctx, writerWait)
	d.writes.prepareNoted(wait)
	conn, err := d.writer.Conn(wait)
	cancel()
	if err != nil {
		return nil, nil, err // DeadlineExceeded maps to ErrUnavailable
	}
	if tx, err = conn.BeginTx(ctx, nil); err != nil {
		_ = conn.Close()
		return nil, nil, err
	}
	return tx, func() { _ = conn.Close() }, nil
}

// InTx runs fn in a transaction on the writer. The transaction commits if fn
// returns nil and rolls back otherwise (also on panic, which is re-raised).
// Everything fn does through tx commits together or not at all.
//
// On SQLite, transactions that arrive while one runs share its commit
// (group.go); each still returns only once its changes are durable.
func (d *DB) InTx(ctx context.Context, fn func(tx Querier) error) (err error) {
	defer afterTx(ctx)
	if d.dialect == SQLite {
		return d.inGroup(ctx, fn, false)
	}
	return d.inOwnTx(ctx, fn)
}

// InTxAlone is InTx for a long transaction (an import, a rebuild, a batch
// of housekeeping): it commits alone, so that the short transactions of
// users never wait for it to end before they are answered.
func (d *DB) InTxAlone(ctx context.Context, fn func(tx Querier) error) error {
	defer afterTx(ctx)
	if d.dialect == SQLite {
		return d.inGroup(ctx, fn, true)
	}
	return d.inOwnTx(ctx, fn)
}

type afterTxKey struct{}

// AfterTx returns a context in which f runs each time a transaction of
// InTx or InTxAlone begun with it ends, committed or not: a request that
// remembers what it read (authorities.WithFormMemo) forgets it once it
// may have changed it. A nil f runs nothing: work that outlives a request
// (a goroutine started with its context's values) leaves the request's f
// behind so.
func AfterTx(ctx context.Context, f func()) context.Context {
	return context.WithValue(ctx, afterTxKey{}, f)
}

func afterTx(ctx context.Context) {
	if f, ok := ctx.Value(afterTxKey{}).(func()); ok && f != nil {
		f()
	}
}

func (d *DB) inOwnTx(ctx context.Context, fn func(tx Querier) error) (err error) {
	tx, done, err := d.begin(ctx)
	if err != nil {
		return mapErr(err)
	}
	defer done()
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

// ValuesRow is one row of a multi-row VALUES list: n parameters numbered
// from first, "($first, …, $first+n-1)", then more, parameters numbered
// already (values every row shares, "$1").
func ValuesRow(first, n int, more ...string) string {
	var b strings.Builder
	b.WriteByte('(')
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(first + i))
	}
	for _, m := range more {
		b.WriteString(", ")
		b.WriteString(m)
	}
	b.WriteByte(')')
	return b.String()
}

// Strings reads a query's single text column, e.g. ids:
// db.Strings(q.QueryContext(ctx, `SELECT id FROM …`)).
func Strings(rows *sql.Rows, err error) ([]string, error) {
	if err != nil {
		return nil, Check(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, Check(err)
		}
		out = append(out, s)
	}
	return out, Check(rows.Err())
}
