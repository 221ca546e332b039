package main

import (
	"runtime/debug"
	"testing"

	"github.com/openimi/openimi/internal/auth"
	"github.com/openimi/openimi/internal/config"
	"github.com/openimi/openimi/internal/db"
)

func TestServeSetsTheConfiguredMemoryLimit(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	none := func(string) string { return "" }

	setMemoryLimit(&config.Config{MemoryLimit: "300MiB"}, none)
	if got := debug.SetMemoryLimit(-1); got != 300<<20 {
		t.Fatalf("limit after memory-limit 300MiB = %d", got)
	}
	setMemoryLimit(&config.Config{}, none)
	if want := config.DefaultMemoryLimit(auth.PasswordChecksAtOnce(), db.SQLite); debug.SetMemoryLimit(-1) != want {
		t.Fatalf("default limit = %d, want %d", debug.SetMemoryLimit(-1), want)
	}
	debug.SetMemoryLimit(123 << 20) // as GOMEMLIMIT=123MiB would
	setMemoryLimit(&config.Config{}, func(k string) string {
		if k == "GOMEMLIMIT" {
			return "123MiB"
		}
		return ""
	})
	if got := debug.SetMemoryLimit(-1); got != 123<<20 {
		t.Fatalf("with GOMEMLIMIT set, limit = %d, want the runtime's 123MiB", got)
	}
}
