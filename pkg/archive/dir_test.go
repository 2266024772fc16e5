package archive_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/bufdir/export-audit/pkg/archive"
	"github.com/bufdir/export-audit/pkg/archive/archivetest"
)

func TestDir_ObjectsAreReadOnly(t *testing.T) {
	t.Parallel()
	d := archive.NewDir(t.TempDir())
	if err := d.Create(ctx, "changes/p/a.json", []byte("first")); err != nil {
		t.Fatalf("create: %v", err)
	}
	st, err := os.Stat(filepath.Join(d.Root(), "changes", "p", "a.json"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o444 {
		t.Errorf("the object's mode is %v, want read-only -r--r--r--", st.Mode().Perm())
	}
}

func TestDir_IsABucket(t *testing.T) {
	t.Parallel()
	archivetest.Bucket(t, func(t *testing.T) archive.Bucket { return archive.NewDir(t.TempDir()) })
}

func TestDir_ListSkipsTemporaryFiles(t *testing.T) {
	t.Parallel()
	d := archive.NewDir(t.TempDir())
	if err := d.Create(ctx, "changes/b/1.json", nil); err != nil {
		t.Fatal(err)
	}
	// A temporary file another writer is still filling is not an object.
	if err := os.WriteFile(filepath.Join(d.Root(), "changes", "b", ".tmp-123"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := archivetest.List(t, d, "changes/", ""); !reflect.DeepEqual(got, []string{"changes/b/1.json"}) {
		t.Errorf("listed %q", got)
	}
}

func TestDir_MissingThingsAreTold(t *testing.T) {
	t.Parallel()
	d := archive.NewDir(t.TempDir())
	if err := d.Create(ctx, "changes/a.json", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Get(ctx, "changes/b.json"); !errors.Is(err, archive.ErrNotFound) {
		t.Errorf("get of a missing key: got %v, want ErrNotFound", err)
	}
	gone := archive.NewDir(filepath.Join(t.TempDir(), "nothing"))
	if _, err := gone.List(ctx, "changes/", ""); err == nil {
		t.Error("list in a directory that does not exist: no error")
	}
	if _, err := gone.Get(ctx, "changes/a.json"); err == nil || errors.Is(err, archive.ErrNotFound) {
		t.Errorf("get in a directory that does not exist: got %v, want an error other than ErrNotFound", err)
	}
	for _, bad := range []string{"", "/abs", "a/../b", "a//b", "a/.hidden", "dir/", `a\b`} {
		if err := d.Create(ctx, bad, nil); err == nil || errors.Is(err, archive.ErrExists) {
			t.Errorf("create %q: got %v, want a refusal", bad, err)
		}
	}
}
