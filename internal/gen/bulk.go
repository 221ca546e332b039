package gen

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/openimi/openimi/internal/db"
)

// table is a table the generator writes, with its columns in the order
// rows give them.
type table struct {
	name string
	cols []string
	rows [][]any
}

// tables in the order they are written: every row's references come
// earlier.
var tableOrder = []string{
	"authorities", "authority_texts", "authority_areas", "authority_competences", "coordinator_scopes", "authority_history",
	"users", "user_roles", "recovery_codes", "audit_log",
	"requests", "request_questions", "case_events", "request_attachments", "request_reminders", "request_facts", "notifications",
	"broadcasts", "broadcast_countries", "broadcast_recipients",
	"registers", "register_names", "register_history",
}

var tableColumns = map[string]string{
	"authorities":           "id, external_id, country, name, language, acronym, region, street, postcode, city, email, phone, website, role, alert_coordinator, status, parent_id, created_at, updated_at",
	"authority_texts":       "authority_id, language, name, description",
	"authority_areas":       "authority_id, area, supervisor_id",
	"authority_competences": "authority_id, area, vocabulary, term",
	"coordinator_scopes":    "authority_id, kind, value",
	"authority_history":     "id, authority_id, at, user_id, field, old_value, new_value",
	"users":                 "id, email, name, language, password_hash, password_changed_at, totp_secret, totp_enabled, authority_id, created_at, updated_at",
	"user_roles":            "user_id, role, area",
	"recovery_codes":        "user_id, code_hash",
	"audit_log":             "seq, at, event, user_id, subject, address, detail, prev_hash, hash",
	"requests": "id, reference, area, question_set, state, requester_id, responder_id, created_by, handler_id, reply_by, sent_at, accepted_at, answered_at, closed_at, " +
		"stopped_at, stopped_seconds, subject_name, subject, message, blocked_at, rating_time, rating_effort, last_activity_at, created_at, updated_at",
	"request_questions":   "request_id, position, code, answer, answer_text",
	"case_events":         "id, case_id, seq, at, action, from_state, to_state, user_id, authority_id, party, comment, data",
	"request_attachments": "id, request_id, name, content_type, size, sha256, user_id, authority_id, created_at",
	"request_reminders":   "request_id, kind, sent_at",
	"request_facts": "request_id, area, category, requester_id, requester_country, responder_id, responder_country, state, sent_at, sent_month, arrived_at, " +
		"accepted_at, accept_ok, answered_at, reply_seconds, net_seconds, reply_bucket, net_bucket, reply_by, on_time, negative, reopened, forwarded, questions",
	"notifications": "id, user_id, kind, reference, link, created_at, read_at",
	"broadcasts": "id, reference, kind, area, type, state, sender_id, created_by, title, fields, subject_name, message, criteria, all_countries, countries, " +
		"sent_at, comment_until, closed_at, last_activity_at, created_at, updated_at",
	"broadcast_countries":  "broadcast_id, country, received_at, disseminated_at",
	"broadcast_recipients": "broadcast_id, authority_id, country, disseminated_by, disseminated_at, acknowledged_by, acknowledged_at",
	"registers": "id, external_id, country, authority_id, name, language, description, type, access, fees, url, legal_basis, languages, areas, status, " +
		"validated_at, created_at, updated_at",
	"register_names":   "register_id, language, name",
	"register_history": "id, register_id, at, user_id, field, old_value, new_value",
}

// bulk writes rows in large batches through a connection of its own:
// multi-row INSERTs on SQLite (with durability relaxed for the
// connection, as the data can be generated again), COPY on PostgreSQL.
// Rows are buffered per table and written in tableOrder.
//
// Its statements ignore cancellation (see steady): the generator stops
// between batches, where it checks its context. A statement interrupted
// on PostgreSQL closes the connection, and with it the transaction that
// would make the indexes set aside again.
type bulk struct {
	dialect  db.Dialect
	tables   map[string]*table
	buffered int
	count    map[string]int

	// SQLite
	lite  *sql.DB
	conn  *sql.Conn
	stmts map[string]*sql.Stmt
	// PostgreSQL
	pg   *pgx.Conn
	pgtx pgx.Tx

	// Batches are written by a goroutine of their own while the next is
	// made: jobs in order, the first error kept.
	jobs    chan func() error
	settled chan error
	failed  error
	closed  bool
}

// start runs the writer goroutine.
func (b *bulk) start() {
	b.jobs = make(chan func() error, 2)
	b.settled = make(chan error)
	go func() {
		var failed error
		for job := range b.jobs {
			if job == nil { // a barrier: report, and start afresh (the caller rolls back)
				b.settled <- failed
				failed = nil
				continue
			}
			if failed == nil {
				failed = job()
			}
		}
		close(b.settled)
	}()
}

// sync waits until every batch handed over is written and returns the
// first error.
func (b *bulk) sync() error {
	if b.failed != nil {
		return b.failed
	}
	b.jobs <- nil
	b.failed = <-b.settled
	return b.failed
}

// flushRows is how many buffered rows are written at once.
const flushRows = 50_000

func openBulk(ctx context.Context, d *db.DB, location string) (*bulk, error) {
	b := &bulk{dialect: d.Dialect(), tables: map[string]*table{}, count: map[string]int{}, stmts: map[string]*sql.Stmt{}}
	for name, cols := range tableColumns {
		b.tables[name] = &table{name: name, cols: strings.Split(cols, ", ")}
	}
	if b.dialect == db.Postgres {
		if location == "" {
			return nil, fmt.Errorf("gen: the PostgreSQL location is needed for bulk writes")
		}
		c, err := pgx.Connect(ctx, location)
		if err != nil {
			return nil, fmt.Errorf("gen: connect for bulk writes: %w", err)
		}
		b.pg = c
		// Rows are consistent by construction: where allowed (a
		// superuser), skip the triggers that check each reference, as
		// restoring a dump does. The setting ends with the connection.
		if _, err := c.Exec(ctx, `SET session_replication_role = replica`); err != nil {
			c, err = pgx.Connect(ctx, location) // the failed statement is harmless, but start clean
			if err != nil {
				return nil, fmt.Errorf("gen: connect for bulk writes: %w", err)
			}
			_ = b.pg.Close(ctx)
			b.pg = c
		}
		b.start()
		return b, b.begin(ctx)
	}
	// The same settings as internal/db (time format, WAL), but without
	// waiting for the disk at every commit: generation is repeatable, so
	// a crash costs a new run, not data. synchronous is a setting of
	// the connection: it ends with it.
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(OFF)")
	q.Add("_pragma", "synchronous(OFF)")
	q.Add("_pragma", "cache_size(-1048576)")
	q.Add("_pragma", "temp_store(MEMORY)")
	q.Add("_pragma", "wal_autocheckpoint(0)")
	q.Add("_pragma", "threads(2)") // sorts for the indexes made again at the end
	q.Set("_time_format", "sqlite")
	lite, err := sql.Open("sqlite", db.FileURI(d.Location, q))
	if err != nil {
		return nil, err
	}
	lite.SetMaxOpenConns(1)
	b.lite = lite
	if b.conn, err = lite.Conn(ctx); err != nil {
		_ = lite.Close()
		return nil, err
	}
	b.start()
	return b, b.begin(ctx)
}

// steady is ctx without its cancellation, for the bulk's statements.
func steady(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }

func (b *bulk) begin(ctx context.Context) error {
	ctx = steady(ctx)
	if b.pg != nil {
		tx, err := b.pg.Begin(ctx)
		b.pgtx = tx
		return err
	}
	_, err := b.conn.ExecContext(ctx, "BEGIN IMMEDIATE")
	return err
}

// add buffers a row of a table.
func (b *bulk) add(ctx context.Context, name string, row ...any) error {
	t := b.tables[name]
	if len(row) != len(t.cols) {
		panic(fmt.Sprintf("gen: %s: %d values for %d columns", name, len(row), len(t.cols)))
	}
	t.rows = append(t.rows, row)
	b.count[name]++
	b.buffered++
	if b.buffered >= flushRows {
		return b.flush(ctx)
	}
	return nil
}

// flush hands every buffered row to the writer goroutine.
func (b *bulk) flush(ctx context.Context) error {
	ctx = steady(ctx)
	if b.failed != nil {
		return b.failed
	}
	var batch []*table
	for _, name := range tableOrder {
		t := b.tables[name]
		if len(t.rows) == 0 {
			continue
		}
		batch = append(batch, &table{name: t.name, cols: t.cols, rows: t.rows})
		t.rows = make([][]any, 0, cap(t.rows))
	}
	b.buffered = 0
	if len(batch) == 0 {
		return nil
	}
	b.jobs <- func() error {
		for _, t := range batch {
			var err error
			if b.pg != nil {
				var tx pgx.Tx
				if tx, err = b.tx(); err == nil {
					_, err = tx.CopyFrom(ctx, pgx.Identifier{t.name}, t.cols, pgx.CopyFromRows(t.rows))
				}
			} else {
				err = b.insert(ctx, t)
			}
			if err != nil {
				return fmt.Errorf("gen: write %s: %w", t.name, err)
			}
		}
		return nil
	}
	return nil
}

// insert writes a table's buffered rows on SQLite, in statements of as
// many rows as its limit of parameters allows, each prepared once.
func (b *bulk) insert(ctx context.Context, t *table) error {
	width := len(t.cols)
	per := min(32000/width, 500)
	args := make([]any, 0, per*width)
	for start := 0; start < len(t.rows); start += per {
		chunk := t.rows[start:min(start+per, len(t.rows))]
		key := fmt.Sprintf("%s/%d", t.name, len(chunk))
		st := b.stmts[key]
		if st == nil {
			one := "(" + strings.TrimSuffix(strings.Repeat("?,", width), ",") + ")"
			// #nosec G202 -- the table and column names are the constants of tableColumns; the values are placeholders
			q := "INSERT INTO " + t.name + " (" + strings.Join(t.cols, ", ") + ") VALUES " + strings.TrimSuffix(strings.Repeat(one+",", len(chunk)), ",")
			var err error
			if st, err = b.conn.PrepareContext(ctx, q); err != nil {
				return err
			}
			if len(chunk) == per {
				b.stmts[key] = st
			} else {
				defer st.Close()
			}
		}
		args = args[:0]
		for _, r := range chunk {
			args = append(args, r...)
		}
		if _, err := st.ExecContext(ctx, args...); err != nil {
			return err
		}
	}
	return nil
}

// commit writes what is buffered and commits, then starts the next
// transaction.
func (b *bulk) commit(ctx context.Context) error {
	ctx = steady(ctx)
	if err := b.flush(ctx); err != nil {
		return err
	}
	if err := b.sync(); err != nil {
		return err
	}
	if b.pg != nil {
		tx, err := b.tx()
		if err != nil {
			return err
		}
		if err := tx.Commit(ctx); err != nil {
			return err
		}
	} else if _, err := b.conn.ExecContext(ctx, "COMMIT"); err != nil {
		return err
	}
	return b.begin(ctx)
}

// exec runs a statement in the current transaction ($n placeholders).
func (b *bulk) exec(ctx context.Context, query string, args ...any) error {
	ctx = steady(ctx)
	if err := b.flush(ctx); err != nil {
		return err
	}
	if err := b.sync(); err != nil {
		return err
	}
	var err error
	if b.pg != nil {
		var tx pgx.Tx
		if tx, err = b.tx(); err == nil {
			_, err = tx.Exec(ctx, query, args...)
		}
	} else {
		_, err = b.conn.ExecContext(ctx, query, args...)
	}
	return err
}

// bulkTables are the tables whose secondary indexes are set aside while
// requests go in: filling a B-tree in key order once at the end is many
// times faster than keeping it in order row by row (random keys).
var bulkTables = []string{"requests", "request_facts", "notifications", "request_attachments", "case_events"}

// dropIndexes removes the secondary indexes of bulkTables (not those
// behind a primary key or a unique constraint) in the current
// transaction and returns their names and the statements that make them
// again, exactly as the migrations made them. The same transaction lists
// them in db.PendingIndexes, so that a run killed before it makes them
// again leaves them to the next db.Migrate (every command, serve).
func (b *bulk) dropIndexes(ctx context.Context) (names, defs []string, err error) {
	ctx = steady(ctx)
	if err := b.sync(); err != nil {
		return nil, nil, err
	}
	var q string
	if b.pg != nil {
		q = `SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = current_schema() AND i.tablename = ANY($1)
			AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname AND c.connamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema()))
			AND i.indexdef NOT LIKE 'CREATE UNIQUE%'
			ORDER BY i.indexname`
	} else {
		q = `SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND sql NOT LIKE 'CREATE UNIQUE%' AND tbl_name IN (` +
			strings.TrimSuffix(strings.Repeat("?,", len(bulkTables)), ",") + `) ORDER BY name`
	}
	scan := func(next func() bool, s func(...any) error) error {
		for next() {
			var n, d string
			if err := s(&n, &d); err != nil {
				return err
			}
			names, defs = append(names, n), append(defs, d)
		}
		return nil
	}
	if b.pg != nil {
		tx, err := b.tx()
		if err != nil {
			return nil, nil, err
		}
		rows, err := tx.Query(ctx, q, bulkTables)
		if err != nil {
			return nil, nil, err
		}
		err = scan(rows.Next, rows.Scan)
		rows.Close()
		if err != nil {
			return nil, nil, err
		}
	} else {
		args := make([]any, len(bulkTables))
		for i, t := range bulkTables {
			args[i] = t
		}
		rows, err := b.conn.QueryContext(ctx, q, args...)
		if err != nil {
			return nil, nil, err
		}
		err = scan(rows.Next, rows.Scan)
		_ = rows.Close()
		if err != nil {
			return nil, nil, err
		}
	}
	if err := b.exec(ctx, `CREATE TABLE IF NOT EXISTS `+db.PendingIndexes+` (name TEXT PRIMARY KEY, definition TEXT NOT NULL)`); err != nil {
		return nil, nil, err
	}
	for i, n := range names {
		if err := b.exec(ctx, `DROP INDEX `+pgx.Identifier{n}.Sanitize()); err != nil {
			return nil, nil, err
		}
		if err := b.exec(ctx, `INSERT INTO `+db.PendingIndexes+` (name, definition) VALUES ($1, $2)`, n, defs[i]); err != nil {
			return nil, nil, err
		}
	}
	if b.pg != nil {
		// COPY as a replica fires no trigger: the inbox's counts are
		// made again at the end, or by the next migration after a kill.
		const name = "inbox_counts"
		if err := b.exec(ctx, `INSERT INTO `+db.PendingIndexes+` (name, definition) VALUES ($1, $2)`, name, db.PendingRecount); err != nil {
			return nil, nil, err
		}
		names, defs = append(names, name), append(defs, db.PendingRecount)
	}
	return names, defs, nil
}

// rollback abandons the current transaction (after a failure) and starts
// the next.
func (b *bulk) rollback() {
	ctx := context.Background()
	_ = b.sync()
	b.failed = nil
	for _, t := range b.tables {
		t.rows = t.rows[:0]
	}
	b.buffered = 0
	if b.pg != nil {
		if b.pgtx != nil {
			_ = b.pgtx.Rollback(ctx)
		}
	} else {
		_, _ = b.conn.ExecContext(ctx, "ROLLBACK")
	}
	_ = b.begin(ctx)
}

// tx is PostgreSQL's current transaction, or an error if it could not
// begin.
func (b *bulk) tx() (pgx.Tx, error) {
	if b.pgtx == nil {
		return nil, errors.New("gen: no transaction: the connection to the database was lost")
	}
	return b.pgtx, nil
}

// close ends the connection; an open transaction rolls back.
func (b *bulk) close() {
	if b.closed {
		return
	}
	b.closed = true
	ctx := context.Background()
	if b.jobs != nil {
		_ = b.sync()
		close(b.jobs)
		b.jobs = nil
	}
	for _, st := range b.stmts {
		_ = st.Close()
	}
	if b.pg != nil {
		if b.pgtx != nil {
			_ = b.pgtx.Rollback(ctx)
		}
		_ = b.pg.Close(ctx)
		return
	}
	if b.conn != nil {
		_, _ = b.conn.ExecContext(ctx, "ROLLBACK")
		// Checkpoints were put off during generation (each would
		// copy the same pages again): one now, synced to the disk, so
		// that what the database held before an --append run is never
		// left to a write-ahead log the checkpoint truncates unsynced.
		_, _ = b.conn.ExecContext(ctx, "PRAGMA synchronous=FULL")
		_, _ = b.conn.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
		_ = b.conn.Close()
	}
	if b.lite != nil {
		_ = b.lite.Close()
	}
}
