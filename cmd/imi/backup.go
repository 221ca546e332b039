package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/openimi/openimi/internal/config"
	"github.com/openimi/openimi/internal/db"
)

// backup runs `imi backup`: a checked, consistent copy of the SQLite
// database, made while the server runs.
func (c commands) backup(ctx context.Context, args []string) error {
	var output string
	cfg, fs, err := c.load("backup", config.Common, args, func(fs *flag.FlagSet) {
		fs.StringVar(&output, "output", "", "the backup file to write (it must not exist yet); default: imi-YYYYMMDD-HHMMSS.db in the data directory")
	})
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintln(c.stderr, "usage: imi backup [--output FILE] [settings]")
		return errUsage
	}
	if output == "" {
		output = filepath.Join(cfg.DataDir, "imi-"+time.Now().UTC().Format("20060102-150405")+".db")
	}
	d, err := db.Open(ctx, cfg.Database, db.Options{SQLiteSynchronous: cfg.SQLiteSynchronous, MaxReaders: 1, Existing: true})
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("no database to back up: %w", err)
	} else if err != nil {
		return err
	}
	defer d.Close()
	start := time.Now()
	info, err := d.Backup(ctx, output)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "backup written and checked: %s\n", info.Path)
	c.describeBackup(info, time.Since(start))
	fmt.Fprintln(c.stdout, "copy the attachments folder too, after the database (docs/OPERATIONS.md)")
	return nil
}

// restore runs `imi restore FILE`: checks a backup and replaces the
// configured SQLite database's content with it.
func (c commands) restore(ctx context.Context, args []string) error {
	var replace bool
	extra := func(fs *flag.FlagSet) {
		fs.BoolVar(&replace, "replace", false, "replace a database that already holds users or requests")
	}
	settings, files := interspersed("restore", extra, args)
	cfg, _, err := c.load("restore", config.Common, settings, extra)
	if err != nil {
		return err
	}
	if len(files) != 1 {
		fmt.Fprintln(c.stderr, "usage: imi restore BACKUP-FILE [--replace] [settings]")
		return errUsage
	}
	file := files[0]
	checked, err := db.CheckBackup(ctx, file) // before the target is opened (or made)
	if err != nil {
		return err
	}
	d, err := db.Open(ctx, cfg.Database, db.Options{SQLiteSynchronous: cfg.SQLiteSynchronous, MaxReaders: 1})
	if err != nil {
		return err
	}
	defer d.Close()
	if d.Dialect() != db.SQLite {
		return db.ErrNotSQLite
	}
	if !replace {
		// A new file, or an OpenIMI database without users or requests,
		// may be filled; anything else only with --replace.
		var tables, users, requests int64
		if err := d.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'`).Scan(&tables); err != nil {
			return err
		}
		if tables > 0 {
			if err := d.Read().QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM users), (SELECT COUNT(*) FROM requests)`).Scan(&users, &requests); err != nil {
				return fmt.Errorf("%s holds tables that are not OpenIMI's: give --replace to replace them with the backup", d.Location)
			}
		}
		if users > 0 || requests > 0 {
			return fmt.Errorf("%s already holds %d users and %d requests: give --replace to replace them with the backup (stop the server first)", d.Location, users, requests)
		}
	}
	start := time.Now()
	info, err := d.RestoreChecked(ctx, checked)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "restored %s from %s\n", d.Location, file)
	c.describeBackup(info, time.Since(start))
	latest, err := db.LatestVersion()
	if err == nil && info.Version < latest {
		fmt.Fprintf(c.stdout, "the backup's schema is version %d: the next imi serve or imi migrate brings it to %d\n", info.Version, latest)
	}
	return nil
}

func (c commands) describeBackup(info db.BackupInfo, took time.Duration) {
	fmt.Fprintf(c.stdout, "  %.1f MB, schema version %d, %d authorities, %d users, %d requests, %.1f s\n",
		float64(info.Bytes)/1e6, info.Version, info.Authorities, info.Users, info.Requests, took.Seconds())
}
