package db

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"regexp"
	"strings"
	"testing/fstest"

	"github.com/pressly/goose/v3"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// The migrations are written once, in PostgreSQL's type names. For SQLite the
// few types it spells differently are rewritten here; with the dialect
// blocks below, this file is the only place where the two schemas differ.
var sqliteTypes = strings.NewReplacer(
	"TIMESTAMPTZ", "TIMESTAMP",
	"BYTEA", "BLOB",
	"BIGSERIAL", "INTEGER",
)

// dialectBlock matches a block of statements for one engine only:
//
//	-- sqlite:begin … -- sqlite:end  or  -- postgres:begin … -- postgres:end
//
// Full-text search is the one thing written twice (FTS5 / tsvector).
var dialectBlock = regexp.MustCompile(`(?s)-- (sqlite|postgres):begin\n(.*?)-- (?:sqlite|postgres):end\n`)

// forDialect keeps the blocks for dialect d and drops the others.
func forDialect(sql string, d Dialect) string {
	return dialectBlock.ReplaceAllStringFunc(sql, func(block string) string {
		m := dialectBlock.FindStringSubmatch(block)
		if Dialect(m[1]) == d {
			return m[2]
		}
		return ""
	})
}

// migrationsFor returns the migration set in the dialect's spelling.
func migrationsFor(d Dialect) (fs.FS, error) {
	out := fstest.MapFS{}
	err := fs.WalkDir(migrationFiles, "migrations", func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		f, err := migrationFiles.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		b, err := io.ReadAll(f)
		if err != nil {
			return err
		}
		sql := forDialect(string(b), d)
		if d == SQLite {
			sql = sqliteTypes.Replace(sql)
		}
		out[strings.TrimPrefix(path, "migrations/")] = &fstest.MapFile{Data: []byte(sql)}
		return nil
	})
	return out, err
}

// Migrate brings the schema up to date. Each migration runs in its own
// transaction; migrations are append-only (see migrations/README.md).
func (d *DB) Migrate(ctx context.Context, log *slog.Logger) error {
	fsys, err := migrationsFor(d.dialect)
	if err != nil {
		return err
	}
	dialect := goose.DialectSQLite3
	if d.dialect == Postgres {
		dialect = goose.DialectPostgres
	}
	p, err := goose.NewProvider(dialect, d.writer, fsys)
	if err != nil {
		return fmt.Errorf("db: migrations: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("db: migrate: %w", mapErr(err))
	}
	for _, r := range results {
		if log != nil {
			log.Info("migration applied", "version", r.Source.Version, "file", r.Source.Path, "duration", r.Duration)
		}
	}
	return d.restorePendingIndexes(ctx, log)
}

// PendingIndexes is the table in which a bulk load (imi generate) lists
// the secondary indexes it sets aside, in the transaction that drops
// them, and from which it removes each as it makes it again. A load
// stopped before that (a kill, a power cut) leaves the list, and Migrate
// makes the indexes again: tables are never left without them.
const PendingIndexes = "bulk_pending_indexes"

// PendingRecount, as a definition in PendingIndexes, stands for the
// inbox's kept counts (migration 15): a bulk load that writes requests
// without the database's triggers (PostgreSQL's COPY as a replica) lists
// it, and RecountInbox makes them again.
const PendingRecount = "RECOUNT inbox_counts"

// Recount returns the statements that make the inbox's kept counts again
// from the requests, in one transaction. On PostgreSQL the counts are
// locked first: a transaction that has changed them commits before the
// requests are read, and one that has not yet waits until they are counted.
func Recount(d Dialect) []string {
	count := []string{
		`DELETE FROM inbox_counts`,
		`INSERT INTO inbox_counts (owner, box, n) SELECT owner, box, COUNT(*) FROM inbox_membership GROUP BY owner, box`,
	}
	if d == Postgres {
		return append([]string{`LOCK TABLE inbox_counts IN SHARE ROW EXCLUSIVE MODE`}, count...)
	}
	return count
}

// Restore returns the statements that make again what a pending
// definition stands for: an index's definition itself, or Recount.
func Restore(d Dialect, def string) []string {
	if def == PendingRecount {
		return Recount(d)
	}
	return []string{def}
}

// RecountInbox runs Recount.
func (d *DB) RecountInbox(ctx context.Context, q Querier) error {
	for _, st := range Recount(d.dialect) {
		if _, err := q.ExecContext(ctx, st); err != nil {
			return err
		}
	}
	return nil
}

// HasTable reports whether the database holds table name: on PostgreSQL
// in the current schema, so not when the search path names a schema that
// is not there.
func (d *DB) HasTable(ctx context.Context, name string) (bool, error) {
	there, err := hasRelation(ctx, d.writer, d.dialect, "table", name)
	return there, mapErr(err)
}

// hasRelation reports whether q sees a table (kind "table") or an index
// ("index") called name, as HasTable.
func hasRelation(ctx context.Context, q Querier, dialect Dialect, kind, name string) (bool, error) {
	exists := `SELECT COUNT(*) FROM sqlite_master WHERE type = $1 AND name = $2`
	if dialect == Postgres {
		exists = `SELECT COUNT(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE n.nspname = current_schema() AND c.relkind = (CASE $1 WHEN 'table' THEN 'r' ELSE 'i' END)::"char" AND c.relname = $2`
	}
	var n int
	err := q.QueryRowContext(ctx, exists, kind, name).Scan(&n)
	return n > 0, err
}

func (d *DB) restorePendingIndexes(ctx context.Context, log *slog.Logger) error {
	pending, err := d.HasTable(ctx, PendingIndexes)
	if err != nil {
		return fmt.Errorf("db: pending indexes: %w", err)
	}
	if !pending {
		return nil
	}
	return d.InTxAlone(ctx, func(tx Querier) error {
		rows, err := tx.QueryContext(ctx, `SELECT name, definition FROM `+PendingIndexes+` ORDER BY name`)
		if err != nil {
			return err
		}
		var names, defs []string
		for rows.Next() {
			var name, def string
			if err := rows.Scan(&name, &def); err != nil {
				_ = rows.Close()
				return err
			}
			names, defs = append(names, name), append(defs, def)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return err
		}
		for i, def := range defs {
			if def == PendingRecount {
				if log != nil {
					log.Warn("counting the inbox again after a stopped bulk load")
				}
				if err := d.RecountInbox(ctx, tx); err != nil {
					return fmt.Errorf("db: count the inbox again: %w", err)
				}
				continue
			}
			if !strings.HasPrefix(def, "CREATE INDEX ") {
				return fmt.Errorf("db: %s lists %q, which is not an index definition", PendingIndexes, names[i])
			}
			there, err := hasRelation(ctx, tx, d.dialect, "index", names[i])
			if err != nil {
				return err
			}
			if there {
				continue
			}
			if log != nil {
				log.Warn("making again an index a stopped bulk load set aside", "index", names[i])
			}
			if _, err := tx.ExecContext(ctx, def); err != nil {
				return fmt.Errorf("db: make index %s again: %w", names[i], err)
			}
		}
		_, err = tx.ExecContext(ctx, `DROP TABLE `+PendingIndexes)
		return err
	})
}
