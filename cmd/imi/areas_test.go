package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestAreasCheckPassesOnTheShippedPacks(t *testing.T) {
	code, out, errOut := imi(t, "", "areas", "check")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, area := range []string{"pq", "services", "pw", "general"} {
		if !strings.Contains(out, "ok  "+area) {
			t.Errorf("no line for %s in:\n%s", area, out)
		}
	}
}

func TestAreasCheckNamesFileLineAndReason(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(filepath.Join(dir, "cash"), os.DirFS("../../internal/areas/testdata/cash")); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, "cash", "area.yaml")
	b, _ := os.ReadFile(f)
	broken := strings.Replace(string(b), "question: licence_valid", "question: nowhere", 1)
	if err := os.WriteFile(f, []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	line := 0
	for i, l := range strings.Split(broken, "\n") {
		if strings.Contains(l, "question: nowhere") {
			line = i + 1
		}
	}
	code, out, errOut := imi(t, "", "areas", "check", dir)
	want := filepath.Join(dir, "cash/area.yaml") + ":" + strconv.Itoa(line) + `: question "licence_withdrawn_reason" is asked if "nowhere", which does not exist`
	if code != 1 || !strings.Contains(out, want) || !strings.Contains(errOut, "1 problem") {
		t.Fatalf("exit %d, want a line\n%s\ngot:\n%s%s", code, want, out, errOut)
	}
	if code, _, _ := imi(t, "", "areas", "check", filepath.Join(dir, "nothing")); code != 1 {
		t.Fatalf("missing folder: exit %d", code)
	}
}
