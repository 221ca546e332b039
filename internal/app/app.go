// Package app wires OpenIMI together: configuration → database → services →
// HTTP servers and background workers, and runs them until shutdown.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/openimi/openimi/internal/stats"

	"github.com/prometheus/client_golang/prometheus"

	openimi "github.com/openimi/openimi"
	shipped "github.com/openimi/openimi/areas"
	"github.com/openimi/openimi/internal/api"
	"github.com/openimi/openimi/internal/areas"
	"github.com/openimi/openimi/internal/auth"
	"github.com/openimi/openimi/internal/authorities"
	"github.com/openimi/openimi/internal/broadcasts"
	"github.com/openimi/openimi/internal/config"
	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/i18n"
	"github.com/openimi/openimi/internal/notify"
	"github.com/openimi/openimi/internal/public"
	"github.com/openimi/openimi/internal/registers"
	"github.com/openimi/openimi/internal/requests"
	"github.com/openimi/openimi/internal/scan"
	"github.com/openimi/openimi/internal/web"
	"github.com/openimi/openimi/internal/web/static"
	"github.com/openimi/openimi/locales"
)

// App is a running OpenIMI: its database and services.
type App struct {
	Config  *config.Config
	Log     *slog.Logger
	DB      *db.DB
	Catalog *i18n.Catalog
	Auth    *auth.Service
	Areas   *areas.Registry
	// Authorities is the registry of the network.
	Authorities *authorities.Service
	// Requests are the information requests between authorities.
	Requests *requests.Service
	// Broadcasts are alerts and notifications of measures.
	Broadcasts *broadcasts.Service
	// Registers is the directory of registers.
	Registers *registers.Service
	// Stats are the statistics and the scoreboard.
	Stats *stats.Service
	Now   func() time.Time
}

// NewLogger returns the process's logger as configured.
func NewLogger(c *config.Config) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// Open connects to the database, brings its schema up to date and builds the
// services.
func Open(ctx context.Context, c *config.Config, log *slog.Logger) (*App, error) {
	d, err := db.Open(ctx, c.Database, db.Options{SQLiteSynchronous: c.SQLiteSynchronous, MaxReaders: c.DBMaxConnections})
	if err != nil {
		return nil, err
	}
	if err := d.Migrate(ctx, log); err != nil {
		_ = d.Close()
		return nil, err
	}
	cat, err := i18n.Load(locales.Files)
	if err != nil {
		_ = d.Close()
		return nil, err
	}
	reg, err := areas.Open(shipped.Files, c.AreasDir)
	if err != nil {
		_ = d.Close()
		return nil, fmt.Errorf("legislative area packs:\n%w", err)
	}
	if err := reg.Record(ctx, d, time.Now()); err != nil {
		_ = d.Close()
		return nil, err
	}
	a := &App{Config: c, Log: log, DB: d, Catalog: cat, Areas: reg, Now: time.Now}
	a.Auth = auth.New(d, auth.Settings{
		IdleTimeout: c.SessionIdleTimeout,
		MaxAge:      c.SessionMaxAge,
		ResetTTL:    c.PasswordResetTTL,
		Issuer:      c.TOTPIssuer,
		PublicURL:   c.PublicURL,
	}, a.Now)
	a.Authorities = authorities.New(d, reg, a.Auth, c.PublicURL, a.Now)
	if a.Requests, err = requests.New(d, reg, a.Authorities, c.PublicURL, a.Now); err != nil {
		_ = d.Close()
		return nil, err
	}
	if a.Broadcasts, err = broadcasts.New(d, reg, a.Authorities, c.PublicURL, a.Now); err != nil {
		_ = d.Close()
		return nil, err
	}
	dir := c.AttachmentsDir
	if dir == "" {
		dir = filepath.Join(c.DataDir, "attachments")
	}
	a.Requests.UseStore(requests.DirStore{Dir: dir}, c.MaxAttachmentBytes)
	if err := a.useScanner(ctx); err != nil {
		_ = d.Close()
		return nil, err
	}
	a.Registers = registers.New(d, reg, a.Authorities, a.Catalog, a.Now)
	if err := a.Authorities.EnsureIndex(ctx); err != nil {
		_ = d.Close()
		return nil, fmt.Errorf("search index: %w", err)
	}
	if err := a.Registers.EnsureIndex(ctx); err != nil {
		_ = d.Close()
		return nil, fmt.Errorf("register search index: %w", err)
	}
	th, err := stats.ParseThresholds(c.ScoreboardThresholds)
	if err != nil {
		_ = d.Close()
		return nil, err
	}
	a.Stats = stats.New(d, reg, th, a.Now)
	if missing, err := stats.Missing(ctx, d.Read()); err != nil || missing {
		if err == nil {
			log.Info("deriving the statistics of requests from their events")
			_, err = stats.Rebuild(ctx, d, reg)
		}
		if err != nil {
			_ = d.Close()
			return nil, fmt.Errorf("statistics: %w", err)
		}
	}
	return a, nil
}

// useScanner sets the virus scanner of uploads, as configured. A scanner
// that does not answer at start is only a warning: uploads are refused
// until it does (see requests.Service.Attach).
func (a *App) useScanner(ctx context.Context) error {
	sc, err := scan.New(a.Config.ClamAV)
	if err != nil {
		return err
	}
	if c, ok := sc.(*scan.ClamAV); ok {
		if err := c.Ping(ctx); err != nil {
			a.Log.Warn("the virus scanner does not answer: uploads are refused until it does", "clamav", a.Config.ClamAV, "err", err)
		} else {
			a.Log.Info("uploads are scanned by clamd", "clamav", a.Config.ClamAV)
		}
	}
	a.Requests.UseScanner(sc)
	return nil
}

// Close releases the database.
func (a *App) Close() error { return a.DB.Close() }

// Handler builds the whole HTTP handler: UI, API, health and metrics.
func (a *App) Handler(reg *prometheus.Registry) (http.Handler, error) {
	assets, err := static.Load()
	if err != nil {
		return nil, err
	}
	ui, err := web.New(web.Config{
		Secure:            a.Config.Secure(),
		TrustProxyHeaders: a.Config.TrustProxyHeaders,
		MaxFormBytes:      a.Config.MaxFormBytes,
	}, web.Deps{DB: a.DB, Auth: a.Auth, Areas: a.Areas, Authorities: a.Authorities, Requests: a.Requests, Broadcasts: a.Broadcasts, Registers: a.Registers, Stats: a.Stats, Catalog: a.Catalog, Assets: assets, Log: a.Log, Now: a.Now})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	ui.Register(mux)
	api.New(api.Deps{DB: a.DB, Auth: a.Auth, Areas: a.Areas, Authorities: a.Authorities, Requests: a.Requests, Broadcasts: a.Broadcasts, Registers: a.Registers, Stats: a.Stats, Catalog: a.Catalog, Log: a.Log,
		MaxBytes: a.Config.MaxFormBytes, TrustProxy: a.Config.TrustProxyHeaders, Spec: openimi.OpenAPI}).Register(mux)
	public.New(a.DB, a.Authorities, a.Registers, public.Settings{PublicURL: a.Config.PublicURL, TrustProxy: a.Config.TrustProxyHeaders,
		Rate: float64(a.Config.PublicRate), Burst: a.Config.PublicBurst}, a.Log).Register(mux)
	a.registerOperations(mux, reg)
	return ui.Wrap(instrument(reg, mux)), nil
}

// Serve runs the HTTP server, the e-mail worker and periodic clean-up until
// ctx is cancelled, then shuts down gracefully: the listener closes,
// requests in flight finish, and the worker finishes the message in hand.
// metrics, if not nil, serves /metrics instead of ln, over plain HTTP
// without authentication: it is given exactly when --metrics-listen is
// set, which keeps /metrics off ln's handler (Handler).
func (a *App) Serve(ctx context.Context, ln, metrics net.Listener) error {
	if metrics != nil {
		defer func() { _ = metrics.Close() }() // should Serve return early
	}
	if (metrics != nil) != (a.Config.MetricsListen != "") {
		_ = ln.Close()
		return errors.New("serve: the metrics' listener and --metrics-listen disagree")
	}
	reg := prometheus.NewRegistry()
	h, err := a.Handler(reg)
	if err != nil {
		_ = ln.Close()
		return err
	}
	if metrics != nil {
		mux := http.NewServeMux()
		registerMetrics(mux, reg)
		msrv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second,
			IdleTimeout: 120 * time.Second, MaxHeaderBytes: 16 << 10, ErrorLog: slog.NewLogLogger(a.Log.Handler(), slog.LevelWarn)}
		go func() {
			if err := msrv.Serve(metrics); !errors.Is(err, http.ErrServerClosed) {
				a.Log.Error("the metrics' server stopped", "err", err)
			}
		}()
		defer func() { _ = msrv.Close() }()
		a.Log.Info("metrics listening", "address", metrics.Addr().String())
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(a.Log.Handler(), slog.LevelWarn),
	}
	var wg sync.WaitGroup
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	worker := &notify.Worker{DB: a.DB, Catalog: a.Catalog, From: a.Config.SMTPFrom, Interval: a.Config.OutboxInterval, Log: a.Log, Now: a.Now}
	if a.Config.SMTPHost != "" {
		worker.Sender = notify.NewSMTPSender(notify.SMTPConfig{Host: a.Config.SMTPHost, Port: a.Config.SMTPPort,
			Username: a.Config.SMTPUsername, Password: a.Config.SMTPPassword, From: a.Config.SMTPFrom, TLS: a.Config.SMTPTLS})
	}
	wg.Add(3)
	go func() {
		defer wg.Done()
		if err := worker.Run(workCtx); err != nil {
			a.Log.Error("e-mail worker stopped", "err", err)
		}
	}()
	go func() {
		defer wg.Done()
		a.cleanUp(workCtx)
	}()
	go func() {
		defer wg.Done()
		// Reminders and follow-up notices; personal data of closed
		// exchanges blocked and deleted on schedule.
		a.Requests.Housekeep(workCtx, 15*time.Minute, func(err error) { a.Log.Warn("housekeeping failed", "err", err) }, a.Broadcasts.Tick)
	}()

	errc := make(chan error, 1)
	go func() {
		var err error
		if a.Config.TLSCert != "" {
			err = srv.ServeTLS(ln, a.Config.TLSCert, a.Config.TLSKey)
		} else {
			err = srv.Serve(ln)
		}
		if !errors.Is(err, http.ErrServerClosed) {
			errc <- err
		}
		close(errc)
	}()
	a.Log.Info("listening", "address", ln.Addr().String(), "url", a.Config.PublicURL, "database", a.DB.Location)
	select {
	case <-ctx.Done():
	case err := <-errc:
		stopWork()
		wg.Wait()
		return err
	}
	a.Log.Info("shutting down", "timeout", a.Config.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), a.Config.ShutdownTimeout)
	defer cancel()
	err = srv.Shutdown(sctx)
	stopWork()
	wg.Wait()
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	a.Log.Info("stopped")
	return nil
}

// cleanUp deletes expired sessions, counters and links every few minutes.
func (a *App) cleanUp(ctx context.Context) {
	t := time.NewTicker(5 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := a.Auth.Purge(ctx); err != nil {
				a.Log.Warn("clean-up failed", "err", err)
			}
		}
	}
}
