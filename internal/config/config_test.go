package config

import (
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openimi/openimi/internal/db"
)

func load(t *testing.T, args []string, env map[string]string) (*Config, error) {
	t.Helper()
	var c Config
	fs := FlagSet("serve", Common|Server, &c, io.Discard)
	err := Load(fs, &c, args, func(k string) string { return env[k] })
	return &c, err
}

func TestDefaultsPutSQLiteInTheDataDirectory(t *testing.T) {
	c, err := load(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Database != filepath.Join("data", "imi.db") {
		t.Fatalf("database = %q", c.Database)
	}
	if c.SessionIdleTimeout != 30*time.Minute || c.SessionMaxAge != 12*time.Hour {
		t.Fatalf("session timeouts %v %v", c.SessionIdleTimeout, c.SessionMaxAge)
	}
	if c.PublicURL != "http://127.0.0.1:8080" || c.Secure() {
		t.Fatalf("public url %q secure %v", c.PublicURL, c.Secure())
	}
}

func TestFlagBeatsEnvironmentBeatsFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "imi.toml")
	if err := os.WriteFile(file, []byte("listen = \"127.0.0.1:1\"\nlog-level = \"warn\"\nsmtp-port = 25\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := load(t, []string{"--config", file, "--listen", "127.0.0.1:3"},
		map[string]string{"IMI_LISTEN": "127.0.0.1:2", "IMI_LOG_LEVEL": "debug"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:3" {
		t.Errorf("listen = %q, want the flag's", c.Listen)
	}
	if c.LogLevel != "debug" {
		t.Errorf("log-level = %q, want the environment's", c.LogLevel)
	}
	if c.SMTPPort != 25 {
		t.Errorf("smtp-port = %d, want the file's", c.SMTPPort)
	}
}

func TestDatabaseVariableSelectsPostgres(t *testing.T) {
	c, err := load(t, nil, map[string]string{"IMI_DATABASE": "postgres://u@h/db"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Database != "postgres://u@h/db" {
		t.Fatalf("database = %q", c.Database)
	}
}

func TestInvalidValuesAreRefusedWithTheirName(t *testing.T) {
	cases := map[string][]string{
		"log-format": {"--log-format", "xml"},
		"public-url": {"--public-url", "ftp://x"},
		"tls-cert":   {"--tls-cert", "a.pem"},
		"smtp-tls":   {"--smtp-tls", "maybe"},
		"session":    {"--session-idle-timeout", "13h"},
		"clamav":     {"--clamav", "127.0.0.1:3310"},
	}
	for name, args := range cases {
		if _, err := load(t, args, nil); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%v: err = %v, want one naming %s", args, err, name)
		}
	}
}

func TestUnknownFileSettingIsRefused(t *testing.T) {
	file := filepath.Join(t.TempDir(), "imi.toml")
	if err := os.WriteFile(file, []byte("lisen = \"x\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := load(t, []string{"--config=" + file}, nil); err == nil || !strings.Contains(err.Error(), "lisen") {
		t.Fatalf("err = %v", err)
	}
}

func TestHTTPSPublicURLMakesCookiesSecure(t *testing.T) {
	c, err := load(t, []string{"--public-url", "https://imi.example.eu/"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Secure() || c.PublicURL != "https://imi.example.eu" {
		t.Fatalf("secure %v url %q", c.Secure(), c.PublicURL)
	}
}

func TestEverySettingHasAnEnvironmentVariableInItsHelp(t *testing.T) {
	var c Config
	var b strings.Builder
	fs := FlagSet("serve", Common|Server, &c, &b)
	fs.PrintDefaults()
	for _, s := range settings {
		if !strings.Contains(b.String(), EnvName(s.name)) {
			t.Errorf("help lacks %s", EnvName(s.name))
		}
	}
}

func TestMemoryLimitDefaultsUnlessGOMEMLIMITIsSet(t *testing.T) {
	none := func(string) string { return "" }
	withGo := func(k string) string {
		if k == "GOMEMLIMIT" {
			return "1GiB"
		}
		return ""
	}
	cases := []struct {
		setting string
		getenv  func(string) string
		want    int64
		sets    bool
	}{
		{"", none, 220 << 20, true},
		{"", withGo, 0, false}, // the runtime read GOMEMLIMIT itself
		{"512MiB", withGo, 512 << 20, true},
		{"0", withGo, math.MaxInt64, true}, // the setting wins
		{"1GiB", none, 1 << 30, true},
		{"300000000", none, 300_000_000, true},
		{"300000000B", none, 300_000_000, true},
		{"65536KiB", none, 64 << 20, true},
		{" 2TiB ", none, 2 << 40, true},
		{"0", none, math.MaxInt64, true},
		{"off", none, math.MaxInt64, true},
		{"0MiB", none, math.MaxInt64, true},
	}
	for _, c := range cases {
		cfg, err := load(t, []string{"--memory-limit", c.setting}, nil)
		if err != nil {
			t.Fatalf("%q: %v", c.setting, err)
		}
		n, sets := cfg.MemoryLimitBytes(c.getenv, 2)
		if n != c.want || sets != c.sets {
			t.Errorf("%q: limit %d, set %v; want %d, %v", c.setting, n, sets, c.want, c.sets)
		}
	}
	// The default leaves room for the password checks of more cores, and
	// gives the heap SQLite's page caches when the database is elsewhere.
	if got := DefaultMemoryLimit(2, db.SQLite); got != 220<<20 {
		t.Errorf("default on 2 cores with SQLite = %d", got)
	}
	if got := DefaultMemoryLimit(3, db.SQLite); got != 220<<20 {
		t.Errorf("default on 3 cores with SQLite = %d", got)
	}
	if got := DefaultMemoryLimit(2, db.Postgres); got != 250<<20 {
		t.Errorf("default on 2 cores with PostgreSQL = %d", got)
	}
	if got := DefaultMemoryLimit(3, db.Postgres); got != 250<<20 {
		t.Errorf("default on 3 cores with PostgreSQL = %d", got)
	}
	if got := DefaultMemoryLimit(8, db.SQLite); got != 100<<20+8*2*19<<20 {
		t.Errorf("default on 8 cores = %d", got)
	}
	if got := DefaultMemoryLimit(8, db.Postgres); got != 100<<20+8*2*19<<20 {
		t.Errorf("default on 8 cores with PostgreSQL = %d", got)
	}
	// The database setting chooses the default.
	for location, want := range map[string]int64{"": 220 << 20, "/srv/imi.db": 220 << 20, "sqlite:/srv/imi.db": 220 << 20,
		"postgres://imi@db/imi": 250 << 20, "postgresql://imi@db/imi": 250 << 20} {
		cfg, err := load(t, []string{"--database", location}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if n, sets := cfg.MemoryLimitBytes(none, 2); n != want || !sets {
			t.Errorf("database %q: default limit %d, set %v; want %d", location, n, sets, want)
		}
	}
	// The database from the environment chooses it as well.
	cfg, err := load(t, nil, map[string]string{"IMI_DATABASE": "postgres://imi@db/imi"})
	if n, _ := cfg.MemoryLimitBytes(none, 2); err != nil || n != 250<<20 {
		t.Errorf("IMI_DATABASE=postgres://…: default limit %d, %v", n, err)
	}
	// From the environment and the file, like every setting.
	cfg, err = load(t, nil, map[string]string{"IMI_MEMORY_LIMIT": "300MiB"})
	if n, _ := cfg.MemoryLimitBytes(none, 2); err != nil || n != 300<<20 {
		t.Errorf("IMI_MEMORY_LIMIT=300MiB: %d, %v", n, err)
	}
	file := filepath.Join(t.TempDir(), "imi.toml")
	if err := os.WriteFile(file, []byte("memory-limit = \"1GiB\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err = load(t, []string{"--config", file}, nil)
	if n, _ := cfg.MemoryLimitBytes(none, 2); err != nil || n != 1<<30 {
		t.Errorf("memory-limit in the file: %d, %v", n, err)
	}
	for _, bad := range []string{"lots", "-5MiB", "+5MiB", "1MiB", "1,5GiB", "1.5GiB", "200M", "200 parsecs", "MiB", "9999999999TiB", "2e8"} {
		_, err := load(t, []string{"--memory-limit", bad}, nil)
		if err == nil || !strings.Contains(err.Error(), "memory-limit must be") {
			t.Errorf("%q: err = %v, want memory-limit refused", bad, err)
		}
	}
}
