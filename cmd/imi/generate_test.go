package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/openimi/openimi/internal/db/dbtest"
)

func TestGenerateWritesADataSetAndGivesItsAccountsCodes(t *testing.T) {
	loc, dir := dbtest.Location(t), t.TempDir()
	code, out, errOut := imi(t, "", "generate", "--database", loc, "--data-dir", dir, "--log-level", "warn", "--authorities", "80", "--users", "70",
		"--requests", "300", "--alerts", "5", "--registers", "5", "--accounts", "2", "--seed", "5")
	if code != 0 {
		t.Fatalf("generate: %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{`requests/s`, `\n  requests +300 rows`, `gen-handler-00002@gen\.openimi\.eu`, `gen-openimi-load-2026`} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("the summary lacks %s:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "requests") {
		t.Errorf("no progress on standard error:\n%s", errOut)
	}
	code, out, errOut = imi(t, "", "generate", "code", "--database", loc, "--data-dir", dir, "--log-level", "warn", "gen-handler-00001@gen.openimi.eu")
	if code != 0 || !regexp.MustCompile(`^\d{6}\n$`).MatchString(out) {
		t.Fatalf("generate code: %d %q %s", code, out, errOut)
	}
	if code, _, errOut := imi(t, "", "generate", "code", "--database", loc, "--data-dir", dir, "--log-level", "warn", "someone@example.eu"); code != 1 || !strings.Contains(errOut, "not a generated account") {
		t.Errorf("code of another account: %d %s", code, errOut)
	}
	// Again: the database holds requests now.
	if code, _, errOut := imi(t, "", "generate", "--database", loc, "--data-dir", dir, "--log-level", "warn", "--scale", "10k"); code != 1 || !strings.Contains(errOut, "--append") {
		t.Errorf("generate into a database with requests: %d %s", code, errOut)
	}
}

func TestGenerateRefusesBadSettings(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"--scale", "5m"},
		{"--requests", "-3"},
		{"--authorities", "10", "--users", "100"},
		{"--until", "yesterday"},
	} {
		code, _, errOut := imi(t, "", append([]string{"generate", "--data-dir", dir, "--log-level", "warn"}, args...)...)
		if code != 1 || !strings.Contains(errOut, "imi: ") {
			t.Errorf("%v: exit %d\n%s", args, code, errOut)
		}
	}
	if code, _, _ := imi(t, "", "generate", "--data-dir", dir, "stray"); code != 2 {
		t.Errorf("a stray argument: exit %d", code)
	}
}
