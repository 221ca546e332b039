package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/openimi/openimi/internal/db"
)

// ceilingTable is the ceiling server's own table, dropped when it stops.
const ceilingTable = "load_ceiling"

var ceilingPage = template.Must(template.New("p").Parse(`<!DOCTYPE html><html lang="en"><head><title>{{.Reference}}</title></head>` +
	`<body><main><h1>{{.Reference}}</h1><p>{{.State}}, {{.Subject}}</p><p>{{.Created}}</p></main></body></html>`))

// ceilingMain is the ceiling server: the fastest pages and writes this
// machine and this database allow, served by a minimal net/http program
// in a process of its own, as imi serve is.
//
//	GET  /hello   hello world
//	GET  /pk?id=  one request read by its primary key, rendered by html/template
//	POST /insert  one durable single-row insert (SQLite synchronous=FULL,
//	              PostgreSQL synchronous commit: the defaults of db.Open)
func ceilingMain(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("ceiling", flag.ContinueOnError)
	fs.SetOutput(stderr)
	location := fs.String("database", "", "database (as imi's --database)")
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serveCeiling(ctx, *location, *listen); err != nil {
		fmt.Fprintln(stderr, "ceiling:", err)
		return 1
	}
	return 0
}

func serveCeiling(ctx context.Context, location, listen string) error {
	d, err := db.Open(ctx, location, db.Options{})
	if err != nil {
		return err
	}
	defer d.Close()
	create := `CREATE TABLE IF NOT EXISTS ` + ceilingTable + ` (id TEXT PRIMARY KEY, body TEXT NOT NULL, created_at TIMESTAMP NOT NULL)`
	// imi serve, started first, may hold the writer a while (its first
	// housekeeping): try again until it lets go.
	for try := 0; ; try++ {
		err := d.InTx(ctx, func(tx db.Querier) error { _, err := tx.ExecContext(ctx, create); return err })
		if err == nil {
			break
		}
		if try == 30 || ctx.Err() != nil {
			return err
		}
		time.Sleep(time.Second)
	}
	defer func() {
		_ = d.InTx(context.WithoutCancel(ctx), func(tx db.Querier) error {
			_, err := tx.ExecContext(context.WithoutCancel(ctx), `DROP TABLE `+ceilingTable)
			return err
		})
	}()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("hello")) })
	mux.HandleFunc("GET /pk", func(w http.ResponseWriter, r *http.Request) {
		var v struct{ Reference, State, Subject, Created string }
		err := d.Read().QueryRowContext(r.Context(), `SELECT reference, state, subject_name, created_at FROM requests WHERE id = $1`, r.URL.Query().Get("id")).
			Scan(&v.Reference, &v.State, &v.Subject, &v.Created)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = ceilingPage.Execute(w, v)
	})
	mux.HandleFunc("POST /insert", func(w http.ResponseWriter, r *http.Request) {
		id := make([]byte, 16)
		_, _ = rand.Read(id)
		err := d.InTx(r.Context(), func(tx db.Querier) error {
			_, err := tx.ExecContext(r.Context(), `INSERT INTO `+ceilingTable+` (id, body, created_at) VALUES ($1, $2, $3)`,
				hex.EncodeToString(id), "a row of about the size of a small form", time.Now().UTC())
			return err
		})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusCreated)
	})
	srv := &http.Server{Addr: listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Shutdown(context.WithoutCancel(ctx))
	}()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
