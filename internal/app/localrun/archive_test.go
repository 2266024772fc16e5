package localrun

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Two runs started within one second each keep the archive they found: the second name gets
// a suffix rather than taking the first's place. An empty directory is nothing to keep, and a
// file where the directory should be is an error, not something to remove.
func TestMoveAside_KeepsEveryEarlierArchive(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "archive")
	now := time.Date(2026, 12, 7, 2, 30, 0, 0, time.UTC)
	var moved []string
	for i := range 2 {
		if err := os.MkdirAll(filepath.Join(dir, "digests"), 0o755); err != nil {
			t.Fatal(err)
		}
		to, err := moveAside(dir, now)
		if err != nil {
			t.Fatalf("move %d: %v", i, err)
		}
		moved = append(moved, to)
	}
	want := []string{dir + ".20261207T023000Z", dir + ".20261207T023000Z-2"}
	if moved[0] != want[0] || moved[1] != want[1] {
		t.Errorf("moved to %v, want %v", moved, want)
	}
	for _, m := range moved {
		if _, err := os.Stat(filepath.Join(m, "digests")); err != nil {
			t.Errorf("%s: %v", m, err)
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if to, err := moveAside(dir, now); err != nil || to != "" {
		t.Errorf("an empty directory: moved to %q, %v; want nothing moved", to, err)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Errorf("the empty directory %s is still there", dir)
	}
	file := filepath.Join(tmp, "file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := moveAside(file, now); err == nil {
		t.Error("a file as the archive directory was taken")
	}
	if _, err := os.Stat(file); err != nil {
		t.Errorf("the file is gone: %v", err)
	}
}
