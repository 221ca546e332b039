// Package config holds OpenIMI's typed configuration. Every setting has one
// definition here, from which come its command-line flag, its IMI_*
// environment variable, its key in the optional configuration file and its
// line in --help. Precedence, lowest first: default, file, environment, flag.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/openimi/openimi/internal/auth"
	"github.com/openimi/openimi/internal/db"
	"github.com/openimi/openimi/internal/scan"
	"github.com/openimi/openimi/internal/stats"

	"github.com/BurntSushi/toml"
)

// Config is the whole configuration of one imi process.
type Config struct {
	// Common to every subcommand.
	ConfigFile string
	DataDir    string
	Database   string
	LogFormat  string
	LogLevel   string

	// Database tuning.
	SQLiteSynchronous string
	DBMaxConnections  int

	// HTTP server.
	Listen string
	// DebugListen is where Go's profiler (net/http/pprof) listens; empty:
	// nowhere. Only for a loopback address: it tells how the server works.
	DebugListen string
	// MetricsListen is where /metrics (Prometheus) is served instead of
	// Listen; empty: on Listen, with everything else.
	MetricsListen string
	// MemoryLimit is the Go runtime's soft memory limit (see
	// MemoryLimitBytes): "" for the default, "0" for none.
	MemoryLimit       string
	PublicURL         string
	TLSCert           string
	TLSKey            string
	TrustProxyHeaders bool
	ShutdownTimeout   time.Duration
	MaxFormBytes      int64
	// MaxAttachmentBytes is the largest file attached to a request.
	MaxAttachmentBytes int64
	// ClamAV is the clamd daemon every uploaded file is scanned by:
	// tcp://host:port or unix:///path ("" or "none": no virus scanner).
	ClamAV string
	// PublicRate and PublicBurst limit each client address on the public
	// endpoints (/public/v1/…): requests per second, and at once.
	PublicRate  int
	PublicBurst int
	// ScoreboardThresholds rate the scoreboard's indicators green, amber
	// or red (see stats.ParseThresholds).
	ScoreboardThresholds string
	// AttachmentsDir holds the files attached to requests.
	AttachmentsDir string

	// Sessions and sign-in.
	SessionIdleTimeout time.Duration
	SessionMaxAge      time.Duration
	PasswordResetTTL   time.Duration
	TOTPIssuer         string

	// E-mail.
	SMTPHost       string
	SMTPPort       int
	SMTPUsername   string
	SMTPPassword   string
	SMTPFrom       string
	SMTPTLS        string
	OutboxInterval time.Duration

	// Demo data.
	Demo bool

	// AreasDir holds legislative area packs that add to or replace the
	// shipped ones.
	AreasDir string
}

// Group selects which settings a subcommand offers.
type Group int

// Setting groups.
const (
	Common Group = 1 << iota
	Server
)

type setting struct {
	name  string
	group Group
	help  string
	bind  func(fs *flag.FlagSet, c *Config, name, help string)
}

func str(p func(*Config) *string, def string) func(*flag.FlagSet, *Config, string, string) {
	return func(fs *flag.FlagSet, c *Config, name, help string) { fs.StringVar(p(c), name, def, help) }
}
func integer(p func(*Config) *int, def int) func(*flag.FlagSet, *Config, string, string) {
	return func(fs *flag.FlagSet, c *Config, name, help string) { fs.IntVar(p(c), name, def, help) }
}
func int64v(p func(*Config) *int64, def int64) func(*flag.FlagSet, *Config, string, string) {
	return func(fs *flag.FlagSet, c *Config, name, help string) { fs.Int64Var(p(c), name, def, help) }
}
func boolean(p func(*Config) *bool, def bool) func(*flag.FlagSet, *Config, string, string) {
	return func(fs *flag.FlagSet, c *Config, name, help string) { fs.BoolVar(p(c), name, def, help) }
}
func duration(p func(*Config) *time.Duration, def time.Duration) func(*flag.FlagSet, *Config, string, string) {
	return func(fs *flag.FlagSet, c *Config, name, help string) { fs.DurationVar(p(c), name, def, help) }
}

var settings = []setting{
	{"config", Common, "optional configuration file (TOML, keys as the flag names)", str(func(c *Config) *string { return &c.ConfigFile }, "")},
	{"data-dir", Common, "directory for the default SQLite database and other local data", str(func(c *Config) *string { return &c.DataDir }, "data")},
	{"database", Common, "database: a file path or sqlite: URL for SQLite, or a postgres:// URL (default: imi.db in the data directory)", str(func(c *Config) *string { return &c.Database }, "")},
	{"log-format", Common, "log format: text or json", str(func(c *Config) *string { return &c.LogFormat }, "text")},
	{"log-level", Common, "log level: debug, info, warn or error", str(func(c *Config) *string { return &c.LogLevel }, "info")},
	{"sqlite-synchronous", Common, "SQLite synchronous mode: FULL (durable against power loss) or NORMAL (durable against process crashes, faster)", str(func(c *Config) *string { return &c.SQLiteSynchronous }, "FULL")},
	{"areas-dir", Common, "folder of legislative area packs that add to or replace the shipped ones (one sub-folder per pack)", str(func(c *Config) *string { return &c.AreasDir }, "")},
	{"attachments-dir", Common, "folder for files attached to requests (default: attachments in the data directory)", str(func(c *Config) *string { return &c.AttachmentsDir }, "")},
	{"scoreboard-thresholds", Common, "the scoreboard's green:amber limits per indicator: accepted within 7 days (%), average days to answer, answered by the agreed date (%), negative ratings (%)", str(func(c *Config) *string { return &c.ScoreboardThresholds }, stats.DefaultThresholds)},
	{"db-max-connections", Common, "maximum database connections for reading; on PostgreSQL as many again for transactions (SQLite writes through one); 0: 16 on PostgreSQL, on SQLite 2 per processor core and at least 4", integer(func(c *Config) *int { return &c.DBMaxConnections }, 0)},

	{"listen", Server, "address to listen on", str(func(c *Config) *string { return &c.Listen }, "127.0.0.1:8080")},
	{"metrics-listen", Server, "address that serves /metrics (Prometheus) instead of the main one, e.g. 10.0.0.5:9100 on the monitoring network: plain HTTP without authentication, even with tls-cert, so bind it to a trusted network; empty: /metrics on the main address, to restrict at the proxy", str(func(c *Config) *string { return &c.MetricsListen }, "")},
	{"debug-listen", Server, "address for Go's profiler (net/http/pprof), e.g. 127.0.0.1:6060; empty: off. Keep it on loopback: it is not authenticated", str(func(c *Config) *string { return &c.DebugListen }, "")},
	{"memory-limit", Server, "soft limit of the server's Go memory (not SQLite's), e.g. 200MiB or 1GiB, at least 32MiB: the garbage collector works harder near it rather than let the heap grow (0 or off: none; default 220MiB with SQLite and 250MiB with PostgreSQL on up to 3 cores, more on more cores, or GOMEMLIMIT's when that is set)", str(func(c *Config) *string { return &c.MemoryLimit }, "")},
	{"public-url", Server, "URL users reach the server at, used in e-mailed links; https:// turns on Secure __Host- cookies and HSTS (default: http:// plus the listen address)", str(func(c *Config) *string { return &c.PublicURL }, "")},
	{"tls-cert", Server, "TLS certificate file (PEM); with --tls-key the server speaks HTTPS itself", str(func(c *Config) *string { return &c.TLSCert }, "")},
	{"tls-key", Server, "TLS private key file (PEM)", str(func(c *Config) *string { return &c.TLSKey }, "")},
	{"trust-proxy-headers", Server, "take the client address from X-Forwarded-For (only behind a reverse proxy you control)", boolean(func(c *Config) *bool { return &c.TrustProxyHeaders }, false)},
	{"shutdown-timeout", Server, "how long a graceful shutdown waits for requests in flight and the outbox", duration(func(c *Config) *time.Duration { return &c.ShutdownTimeout }, 20*time.Second)},
	{"max-form-bytes", Server, "largest accepted form or JSON body, in bytes", int64v(func(c *Config) *int64 { return &c.MaxFormBytes }, 1<<20)},
	{"max-attachment-bytes", Server, "largest file attached to a request, in bytes", int64v(func(c *Config) *int64 { return &c.MaxAttachmentBytes }, 20<<20)},
	{"clamav", Server, "virus scanner for uploaded files: a clamd daemon at tcp://host:port or unix:///path/to/clamd.sock; while it does not answer, uploads are refused (empty: no scanner)", str(func(c *Config) *string { return &c.ClamAV }, "")},
	{"public-rate", Server, "requests per second each client address may make to the public endpoints (/public/v1/…)", integer(func(c *Config) *int { return &c.PublicRate }, 5)},
	{"public-burst", Server, "requests a client address may make at once to the public endpoints", integer(func(c *Config) *int { return &c.PublicBurst }, 60)},
	{"session-idle-timeout", Server, "a session ends after this long without a request", duration(func(c *Config) *time.Duration { return &c.SessionIdleTimeout }, 30*time.Minute)},
	{"session-max-age", Server, "a session ends this long after sign-in, whatever its use", duration(func(c *Config) *time.Duration { return &c.SessionMaxAge }, 12*time.Hour)},
	{"password-reset-ttl", Server, "how long an e-mailed password reset link stays valid", duration(func(c *Config) *time.Duration { return &c.PasswordResetTTL }, time.Hour)},
	{"totp-issuer", Server, "issuer name shown in authenticator apps", str(func(c *Config) *string { return &c.TOTPIssuer }, "OpenIMI")},
	{"smtp-host", Server, "SMTP server for outgoing e-mail (empty: e-mails stay queued in the outbox)", str(func(c *Config) *string { return &c.SMTPHost }, "")},
	{"smtp-port", Server, "SMTP port", integer(func(c *Config) *int { return &c.SMTPPort }, 587)},
	{"smtp-username", Server, "SMTP user name (empty: no authentication)", str(func(c *Config) *string { return &c.SMTPUsername }, "")},
	{"smtp-password", Server, "SMTP password (prefer the IMI_SMTP_PASSWORD variable)", str(func(c *Config) *string { return &c.SMTPPassword }, "")},
	{"smtp-from", Server, "sender address of e-mails", str(func(c *Config) *string { return &c.SMTPFrom }, "OpenIMI <no-reply@localhost>")},
	{"smtp-tls", Server, "SMTP transport security: starttls, tls or none", str(func(c *Config) *string { return &c.SMTPTLS }, "starttls")},
	{"outbox-interval", Server, "how often the e-mail worker looks for messages to send", duration(func(c *Config) *time.Duration { return &c.OutboxInterval }, 2*time.Second)},
	{"demo", Server, "load demonstration users at start (never on a production database)", boolean(func(c *Config) *bool { return &c.Demo }, false)},
}

// EnvName returns the environment variable of a setting: IMI_ and the flag
// name in upper case with dashes as underscores.
func EnvName(flagName string) string {
	return "IMI_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// FlagSet returns a flag set for a subcommand, with the settings of the given
// groups bound to c and their environment variables named in the help.
func FlagSet(name string, groups Group, c *Config, output io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(output)
	for _, s := range settings {
		if s.group&groups != 0 {
			s.bind(fs, c, s.name, s.help+" ["+EnvName(s.name)+"]")
		}
	}
	return fs
}

// Load fills c from the file, the environment and args, in that order of
// precedence (args win), then validates it. env is os.Getenv in production.
func Load(fs *flag.FlagSet, c *Config, args []string, env func(string) string) error {
	// The file is named by --config or IMI_CONFIG: find it before parsing.
	file := env(EnvName("config"))
	for i, a := range args {
		switch {
		case a == "-config" || a == "--config":
			if i+1 < len(args) {
				file = args[i+1]
			}
		case strings.HasPrefix(a, "-config=") || strings.HasPrefix(a, "--config="):
			file = a[strings.Index(a, "=")+1:]
		}
	}
	if file != "" {
		if err := loadFile(fs, file); err != nil {
			return err
		}
	}
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if v, ok := lookup(env, EnvName(f.Name)); ok {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = errors.Join(envErr, fmt.Errorf("%s: %w", EnvName(f.Name), err))
			}
		}
	})
	if envErr != nil {
		return envErr
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	return c.finish()
}

func lookup(env func(string) string, name string) (string, bool) {
	v := env(name)
	return v, v != ""
}

func loadFile(fs *flag.FlagSet, path string) error {
	var raw map[string]any
	if _, err := toml.DecodeFile(path, &raw); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if fs.Lookup(k) == nil {
			if isSetting(k) {
				continue // belongs to another subcommand
			}
			return fmt.Errorf("config file %s: unknown setting %q", path, k)
		}
		if err := fs.Set(k, fmt.Sprint(raw[k])); err != nil {
			return fmt.Errorf("config file %s: %s: %w", path, k, err)
		}
	}
	return nil
}

func isSetting(name string) bool {
	for _, s := range settings {
		if s.name == name {
			return true
		}
	}
	return false
}

// finish derives defaults that depend on other settings and rejects values
// that cannot work.
func (c *Config) finish() error {
	if c.Database == "" {
		c.Database = filepath.Join(c.DataDir, "imi.db")
	}
	var errs []error
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("log-format must be text or json, not %q", c.LogFormat))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log-level must be debug, info, warn or error, not %q", c.LogLevel))
	}
	if c.PublicURL == "" && c.Listen != "" {
		scheme := "http"
		if c.TLSCert != "" {
			scheme = "https"
		}
		host := c.Listen
		if strings.HasPrefix(host, ":") {
			host = "localhost" + host
		}
		c.PublicURL = scheme + "://" + host
	}
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("public-url must be an http:// or https:// URL, not %q", c.PublicURL))
		}
		c.PublicURL = strings.TrimSuffix(c.PublicURL, "/")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("tls-cert and tls-key must be given together"))
	}
	switch c.SMTPTLS {
	case "starttls", "tls", "none", "": // "" where the setting does not apply
	default:
		errs = append(errs, fmt.Errorf("smtp-tls must be starttls, tls or none, not %q", c.SMTPTLS))
	}
	if c.SessionIdleTimeout < 0 || c.SessionMaxAge < 0 || c.SessionIdleTimeout > c.SessionMaxAge && c.SessionMaxAge > 0 {
		errs = append(errs, errors.New("session-idle-timeout must be positive and not longer than session-max-age"))
	}
	if _, err := stats.ParseThresholds(c.ScoreboardThresholds); err != nil {
		errs = append(errs, err)
	}
	if c.MaxFormBytes < 0 {
		errs = append(errs, errors.New("max-form-bytes must be positive"))
	}
	if c.MaxAttachmentBytes < 0 {
		errs = append(errs, errors.New("max-attachment-bytes must be positive"))
	}
	if _, err := ParseMemoryLimit(c.MemoryLimit); err != nil {
		errs = append(errs, err)
	}
	if _, err := scan.New(c.ClamAV); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// DefaultMemoryLimit is the server's soft memory limit when neither
// memory-limit nor GOMEMLIMIT says otherwise, for checks password checks
// at once (auth.PasswordChecksAtOnce) on a database of dialect d. Under
// load with a million requests stored the server's heap holds about 100 MB
// after each collection, and each password check (argon2id) asks for
// 19 MiB more: without a limit a burst of sign-ins lets the heap grow to
// several times that before the collector catches up. The default leaves
// room for the checks at once, twice over, and is at least 220 MiB with
// SQLite and 250 MiB with PostgreSQL.
//
// A limit the retained heap reaches makes every password check a
// collection and a scavenge of 19 MiB: saturated sign-ins at a million
// requests fell round by round to half their rate (docs/PERFORMANCE.md,
// changes 28 and 29). SQLite keeps its page caches (4 MB a reader, 16 MB
// for the writer) in the server's process, outside the Go heap, so its
// limit is lower, for the process to stay under 300 MB under load; with
// PostgreSQL the database's cache is in another process and the heap gets
// more.
func DefaultMemoryLimit(checks int, d db.Dialect) int64 {
	least := int64(220 << 20)
	if d == db.Postgres {
		least = 250 << 20
	}
	return max(least, 100<<20+int64(checks)*2*auth.PasswordCheckBytes)
}

// minMemoryLimit is the smallest limit accepted: below it the collector
// would run all the time.
const minMemoryLimit = 32 << 20

// memoryUnits are the units of a memory limit, as GOMEMLIMIT writes them.
var memoryUnits = []struct {
	suffix string
	shift  uint
}{{"TiB", 40}, {"GiB", 30}, {"MiB", 20}, {"KiB", 10}, {"B", 0}}

// ParseMemoryLimit reads a memory-limit setting as the Go runtime reads
// GOMEMLIMIT: a whole number of bytes with an optional unit (B, KiB, MiB,
// GiB, TiB: 200MiB, 1GiB), or "0" or "off" for no limit (returned as
// math.MaxInt64, the runtime's "none"); "" is none given (0).
func ParseMemoryLimit(s string) (int64, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "":
		return 0, nil
	case "0", "off":
		return math.MaxInt64, nil
	}
	num, shift := s, uint(0)
	for _, u := range memoryUnits {
		if strings.HasSuffix(s, u.suffix) {
			num, shift = strings.TrimSuffix(s, u.suffix), u.shift
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	bad := fmt.Errorf("memory-limit must be a whole number of bytes of at least 32MiB with an optional unit (B, KiB, MiB, GiB, TiB), such as 200MiB or 1GiB, or 0 for none, not %q", s)
	if err != nil || num == "" || num[0] < '0' || num[0] > '9' || n > math.MaxInt64>>shift {
		return 0, bad
	}
	if n == 0 { // 0B, 0MiB: none, as "0"
		return math.MaxInt64, nil
	}
	if n <<= shift; n < minMemoryLimit {
		return 0, bad
	}
	return n, nil
}

// MemoryLimitBytes is the soft memory limit the server sets for checks
// password checks at once, and whether it sets one: the memory-limit
// setting; without it, none when GOMEMLIMIT is set (the runtime has read
// it), else DefaultMemoryLimit.
func (c *Config) MemoryLimitBytes(getenv func(string) string, checks int) (int64, bool) {
	n, err := ParseMemoryLimit(c.MemoryLimit)
	switch {
	case err != nil: // refused by finish
		return 0, false
	case n > 0:
		return n, true
	case getenv("GOMEMLIMIT") != "":
		return 0, false
	}
	return DefaultMemoryLimit(checks, db.DialectOf(c.Database)), true
}

// Secure reports whether users reach the server over HTTPS, which turns on
// Secure __Host- cookies and HSTS.
func (c *Config) Secure() bool {
	return strings.HasPrefix(c.PublicURL, "https://")
}

// Getenv is the production environment lookup, for Load.
func Getenv(name string) string { return os.Getenv(name) }
