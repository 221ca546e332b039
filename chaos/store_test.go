package chaos_test

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openimi/openimi/internal/requests"
)

// put stores content and returns its sum and path.
func put(t *testing.T, s requests.DirStore, content string) (string, string) {
	t.Helper()
	sum, size, err := s.Put(strings.NewReader(content), 1<<20)
	if err != nil || size != int64(len(content)) {
		t.Fatalf("put: %v (%d bytes)", err, size)
	}
	return sum, filepath.Join(s.Dir, sum[:2], sum)
}

func age(t *testing.T, path string, by time.Duration) {
	t.Helper()
	old := time.Now().Add(-by)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
}

// The sweep judges a content unused, then an upload of the same bytes
// renames its file into place before the sweep deletes: the upload is
// about to be recorded, and its file must stay.
func TestTheSweepSparesAContentStoredAgain(t *testing.T) {
	s := requests.DirStore{Dir: t.TempDir()}
	cutoff := time.Now().Add(-time.Hour)

	sum, path := put(t, s, "a diploma scanned long ago")
	age(t, path, 2*time.Hour)
	put(t, s, "a diploma scanned long ago") // the same bytes, uploaded again
	if err := s.Delete(sum, cutoff); err != nil {
		t.Fatal(err)
	}
	f, err := s.Open(sum)
	if err != nil {
		t.Fatalf("a content stored again after the cutoff was deleted: %v", err)
	}
	b, _ := io.ReadAll(f)
	f.Close()
	if string(b) != "a diploma scanned long ago" {
		t.Fatalf("content after the sweep: %q", b)
	}

	// Nothing stored it again: it goes, and leaves nothing behind.
	age(t, path, 2*time.Hour)
	if err := s.Delete(sum, cutoff); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open(sum); !os.IsNotExist(err) {
		t.Fatalf("an old unused content was kept: %v", err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 0 {
		t.Fatalf("left behind: %v", entries)
	}
	if err := s.Delete(sum, cutoff); err != nil {
		t.Fatalf("deleting a missing content: %v", err)
	}
}

// A process killed during an upload leaves its temporary file, and one
// killed during a sweep leaves a content moved aside: the next sweep
// removes the first once old, and puts the second back to be judged.
func TestTidyClearsWhatACrashLeft(t *testing.T) {
	s := requests.DirStore{Dir: t.TempDir()}
	sum, path := put(t, s, "moved aside by a sweep that was killed")
	aside := filepath.Join(filepath.Dir(path), ".sweep-"+sum)
	if err := os.Rename(path, aside); err != nil {
		t.Fatal(err)
	}
	oldTemp := filepath.Join(s.Dir, ".upload-killed")
	freshTemp := filepath.Join(s.Dir, ".upload-in-progress")
	for _, p := range []string{oldTemp, freshTemp} {
		if err := os.WriteFile(p, []byte("half a file"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	age(t, oldTemp, 2*time.Hour)

	if err := s.Tidy(time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(oldTemp); !os.IsNotExist(err) {
		t.Errorf("an old partial upload was kept: %v", err)
	}
	if _, err := os.Stat(freshTemp); err != nil {
		t.Errorf("an upload in progress was removed: %v", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("a content moved aside was not put back: %v", err)
	}
	list, err := s.List()
	if err != nil || len(list) != 1 {
		t.Errorf("listed after tidying: %v %v", list, err)
	}
}
