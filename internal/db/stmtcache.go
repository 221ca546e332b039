package db

import (
	"context"
	"database/sql"
	"strings"
	"sync"
	"time"
)

// maxCachedStatements bounds the statements kept prepared per pool. The
// application's statements are a few hundred texts (lists of parameters of
// a few lengths included); beyond the bound, statements run unprepared.
const maxCachedStatements = 2000

// stmtCache keeps SQLite's statements prepared. The pure-Go SQLite parses
// and plans a statement each time it is run unprepared, which took a
// quarter of the processor time of the busiest pages (bench/load);
// database/sql keeps a prepared statement per connection that used it.
// PostgreSQL needs none: pgx caches the statements of each connection.
//
// The readers' cache prepares a statement the first time it is run. The
// writer's cannot: SQLite's writer is a single connection, which a
// transaction holds, and preparing on the pool would wait for it. A
// transaction's statement not yet prepared runs unprepared and is noted;
// the next transaction prepares the noted ones before it takes the writer
// (prepareNoted), and uses them in its own transaction (inTx).
type stmtCache struct {
	pool  *sql.DB
	mu    sync.RWMutex
	stmts map[string]*sql.Stmt
	noted map[string]bool // the writer's: to prepare before the next transaction
}

func newStmtCache(pool *sql.DB) *stmtCache {
	return &stmtCache{pool: pool, stmts: map[string]*sql.Stmt{}}
}

// find returns the statement if it is prepared, and else whether it is to
// be (not if it is several statements in one text, a page further than
// the first of a list, or the cache is full).
func (c *stmtCache) find(query string) (s *sql.Stmt, wanted bool) {
	c.mu.RLock()
	s, full := c.stmts[query], len(c.stmts) >= maxCachedStatements
	c.mu.RUnlock()
	return s, s == nil && !full && cacheable(query)
}

// get returns the statement prepared, or nil if it is not to be or
// preparing failed: the caller then runs it unprepared and gets the error
// there.
func (c *stmtCache) get(ctx context.Context, query string) *sql.Stmt {
	s, wanted := c.find(query)
	if !wanted {
		return s
	}
	return c.prepare(ctx, query)
}

// prepare prepares query on the pool and keeps it.
func (c *stmtCache) prepare(ctx context.Context, query string) *sql.Stmt {
	// Prepared outside the lock, which the queries of other requests
	// need meanwhile: preparing may wait for a free connection.
	s, err := c.pool.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if had := c.stmts[query]; had != nil { // prepared by another at once
		_ = s.Close()
		return had
	}
	if len(c.stmts) >= maxCachedStatements {
		_ = s.Close()
		return nil
	}
	c.stmts[query] = s
	return s
}

// note notes query, wanted (find), for prepareNoted, if it is worth
// preparing on the writer: a statement of a write transaction's own (not a
// schema change, which migrations make once), with few parameters (a list
// of many, of lengths that vary, would fill the cache).
func (c *stmtCache) note(query string) {
	if !writerStatement(query) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.noted == nil {
		c.noted = map[string]bool{}
	}
	if len(c.noted) < maxCachedStatements {
		c.noted[query] = true
	}
}

// writerStatement tells a statement worth preparing on the writer.
func writerStatement(query string) bool {
	if strings.Count(query, "$")+strings.Count(query, "?") > maxWriterParameters {
		return false
	}
	first, _, _ := strings.Cut(strings.TrimSpace(query), " ")
	switch strings.ToUpper(first) {
	case "SELECT", "INSERT", "UPDATE", "DELETE", "WITH", "SAVEPOINT", "RELEASE", "ROLLBACK":
		return true
	}
	return false
}

// maxWriterParameters: a list of authorities or requests written in a
// statement's text (IN ($1, …), or SQLite's "?" of a bulk import) has a
// text for each length. A row's own columns are fewer (a request's facts
// are 24, an authority's update 17), and are worth preparing: each step
// of a request writes its facts.
const maxWriterParameters = 32

// prepareWait bounds how long a transaction about to begin prepares what
// was noted: the writer is its own to take next, or another's (a long
// transaction alone); what it could not prepare stays noted.
const prepareWait = 50 * time.Millisecond

// prepareNoted prepares the statements noted, on the pool: before a
// transaction takes the writer, which is then free or about to be.
func (c *stmtCache) prepareNoted(ctx context.Context) {
	c.mu.Lock()
	noted := c.noted
	c.noted = nil
	c.mu.Unlock()
	if len(noted) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, prepareWait)
	defer cancel()
	for q := range noted {
		if s, wanted := c.find(q); s == nil && wanted && c.prepare(ctx, q) == nil && ctx.Err() != nil {
			break // the writer is busy: the rest stays noted
		}
		delete(noted, q)
	}
	for q := range noted {
		c.note(q)
	}
}

// cacheable tells the texts worth keeping: a single statement (a text of
// several, such as a migration, runs as it is), and of a list with its
// page written in the text, only the first page (each further page would
// be a statement of its own, and a crawler would fill the cache with them).
func cacheable(query string) bool {
	if strings.Contains(strings.TrimRight(query, "; \t\r\n"), ";") {
		return false
	}
	if i := strings.LastIndex(query, " OFFSET "); i >= 0 {
		if rest := query[i+len(" OFFSET "):]; rest != "" && rest[0] >= '1' && rest[0] <= '9' {
			return false
		}
	}
	return true
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.stmts {
		_ = s.Close()
	}
	c.stmts = map[string]*sql.Stmt{}
	c.noted = nil
}

// cachedPool runs statements of a pool prepared.
type cachedPool struct{ c *stmtCache }

func (p cachedPool) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if s := p.c.get(ctx, query); s != nil {
		return s.ExecContext(ctx, args...)
	}
	return p.c.pool.ExecContext(ctx, query, args...)
}

func (p cachedPool) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if s := p.c.get(ctx, query); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return p.c.pool.QueryContext(ctx, query, args...)
}

func (p cachedPool) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if s := p.c.get(ctx, query); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return p.c.pool.QueryRowContext(ctx, query, args...)
}

// cachedTx runs the statements of a transaction on SQLite's writer
// prepared, once they are: each bound to the transaction once
// (Tx.StmtContext makes a statement, held until the commit, at each call).
//
// A prepared statement is one SQLite statement: running its text again
// while rows of it are still open inside the same transaction would reset
// them. So a text whose rows (QueryContext) are open, or about to be, runs
// unprepared until they are closed. ExecContext ends when it returns; a
// row of QueryRowContext holds its statement until it is scanned, so scan
// it before running its text again (as every caller does, at once).
type cachedTx struct {
	tx    *sql.Tx
	c     *stmtCache
	mu    sync.Mutex
	bound map[string]*sql.Stmt // this transaction's statements, by text
	open  map[string]*sql.Rows // their rows perhaps still open (nil: being opened)
}

func newCachedTx(tx *sql.Tx, c *stmtCache) *cachedTx { return &cachedTx{tx: tx, c: c} }

// stmt returns query's statement prepared and bound to the transaction,
// or nil: not prepared yet (then noted, for prepareNoted), or its rows
// still open. rows reserves the statement for rows, until they are closed
// (opened, or released).
func (t *cachedTx) stmt(ctx context.Context, query string, rows bool) *sql.Stmt {
	t.mu.Lock()
	defer t.mu.Unlock()
	if r, ok := t.open[query]; ok {
		if r == nil {
			return nil // being opened
		}
		if _, err := r.Columns(); err == nil {
			return nil // still open: only closed rows say so (database/sql)
		}
		delete(t.open, query)
	}
	s := t.bound[query]
	if s == nil {
		var wanted bool
		if s, wanted = t.c.find(query); s == nil {
			if wanted {
				t.c.note(query)
			}
			return nil
		}
		if t.bound == nil {
			t.bound = map[string]*sql.Stmt{}
		}
		s = t.tx.StmtContext(ctx, s)
		t.bound[query] = s
	}
	if rows {
		if t.open == nil {
			t.open = map[string]*sql.Rows{}
		}
		t.open[query] = nil
	}
	return s
}

func (t *cachedTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if s := t.stmt(ctx, query, false); s != nil {
		return s.ExecContext(ctx, args...)
	}
	return t.tx.ExecContext(ctx, query, args...)
}

func (t *cachedTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	s := t.stmt(ctx, query, true)
	if s == nil {
		return t.tx.QueryContext(ctx, query, args...)
	}
	rows, err := s.QueryContext(ctx, args...)
	t.mu.Lock()
	if err != nil {
		delete(t.open, query)
	} else {
		t.open[query] = rows
	}
	t.mu.Unlock()
	return rows, err
}

func (t *cachedTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if s := t.stmt(ctx, query, false); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return t.tx.QueryRowContext(ctx, query, args...)
}
