package archive_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"

	"github.com/bufdir/export-audit/pkg/archive"
)

func TestDir_CreateNeverOverwrites(t *testing.T) {
	t.Parallel()
	d := archive.NewDir(t.TempDir())
	if err := d.Create(ctx, "changes/p/a.json", []byte("first")); err != nil {
		t.Fatalf("create: %v", err)
	}
	if err := d.Create(ctx, "changes/p/a.json", []byte("second")); !errors.Is(err, archive.ErrExists) {
		t.Fatalf("second create of the same key: got %v, want ErrExists", err)
	}
	if got := string(get(t, d, "changes/p/a.json")); got != "first" {
		t.Errorf("the object holds %q after a refused create, want %q", got, "first")
	}
	st, err := os.Stat(filepath.Join(d.Root(), "changes", "p", "a.json"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o444 {
		t.Errorf("the object's mode is %v, want read-only -r--r--r--", st.Mode().Perm())
	}
}

func TestDir_OfConcurrentCreatesOfOneKeyOneWins(t *testing.T) {
	t.Parallel()
	d := archive.NewDir(t.TempDir())
	const n = 16
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = d.Create(ctx, "digests/x.json", fmt.Appendf(nil, "writer %d", i)) })
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("writers %d and %d both created the key", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, archive.ErrExists):
			t.Fatalf("writer %d: %v", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no writer created the key")
	}
	if got, want := string(get(t, d, "digests/x.json")), fmt.Sprintf("writer %d", winner); got != want {
		t.Errorf("the object holds %q, want the winner's %q", got, want)
	}
	if left := list(t, d, "digests/"); !reflect.DeepEqual(left, []string{"digests/x.json"}) {
		t.Errorf("the directory lists %q: a temporary file was left or listed", left)
	}
}

func TestDir_ListsInKeyOrderAfterStartAfter(t *testing.T) {
	t.Parallel()
	d := archive.NewDir(t.TempDir())
	for _, k := range []string{"changes/b/2.json", "changes/a/1.json", "changes/b/1.json", "changes/a.b/1.json", "digests/a.json", "changesx/1.json"} {
		if err := d.Create(ctx, k, []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	// A temporary file another writer is still filling is not an object.
	if err := os.WriteFile(filepath.Join(d.Root(), "changes", "b", ".tmp-123"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		prefix, after string
		want          []string
	}{
		{"changes/", "", []string{"changes/a.b/1.json", "changes/a/1.json", "changes/b/1.json", "changes/b/2.json"}},
		{"changes/", "changes/a/1.json", []string{"changes/b/1.json", "changes/b/2.json"}},
		{"changes/", "changes/b", []string{"changes/b/1.json", "changes/b/2.json"}},
		{"changes/b/", "", []string{"changes/b/1.json", "changes/b/2.json"}},
		{"changes/a", "", []string{"changes/a.b/1.json", "changes/a/1.json"}},
		{"changes/c/", "", nil},
		{"", "changes/b/1.json", []string{"changes/b/2.json", "changesx/1.json", "digests/a.json"}},
	}
	for _, c := range cases {
		objs, err := d.List(ctx, c.prefix, c.after)
		if err != nil {
			t.Fatalf("list %q after %q: %v", c.prefix, c.after, err)
		}
		if got := keys(objs); !reflect.DeepEqual(got, c.want) {
			t.Errorf("list %q after %q:\n got %q\nwant %q", c.prefix, c.after, got, c.want)
		}
		for _, o := range objs {
			if o.Size != int64(len(o.Key)) {
				t.Errorf("%s: size %d, want %d", o.Key, o.Size, len(o.Key))
			}
		}
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
