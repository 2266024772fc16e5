package archive

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// Dir is a Bucket in a local directory (ARCHIVE_DIR), keys as slash-separated paths under it:
// the layout of the S3 bucket, on disk. An object is written to a temporary file beside its
// name, synced, made read-only and then linked to its name, which fails when the name exists:
// so a reader never sees half an object and no write replaces another, which is what S3's
// conditional put gives. Names beginning with a dot are the temporary files; no key may have
// one, and List skips them.
//
// Read-only files keep an honest process from overwriting the archive by mistake; they are
// no protection from whoever owns the directory, who can remove or change anything in it.
// That is what the digests and the verifier are for. The directory needs a file system with
// hard links (any local Linux or macOS one).
type Dir struct {
	root string
}

// NewDir returns the Bucket in directory root. It touches nothing: Create makes the
// directories it needs; reading a directory that does not exist is an error.
func NewDir(root string) *Dir { return &Dir{root: root} }

// Root is the directory.
func (d *Dir) Root() string { return d.root }

// checkKey refuses keys that are not plain relative paths of plain names.
func checkKey(key string) error {
	if key == "" || strings.HasPrefix(key, "/") || strings.HasSuffix(key, "/") || strings.Contains(key, "\\") {
		return fmt.Errorf("archive key %q is not a relative path of names", key)
	}
	for _, name := range strings.Split(key, "/") {
		if name == "" || strings.HasPrefix(name, ".") {
			return fmt.Errorf("archive key %q has an empty name or one beginning with a dot", key)
		}
	}
	return nil
}

// Create writes body under key unless the key exists.
func (d *Dir) Create(_ context.Context, key string, body []byte) error {
	if err := checkKey(key); err != nil {
		return err
	}
	name := filepath.Join(d.root, filepath.FromSlash(key))
	dir := filepath.Dir(name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", key, err)
	}
	if _, err := os.Lstat(name); err == nil {
		return ErrExists
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("create %s: %w", key, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	_, err = f.Write(body)
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = f.Chmod(0o444)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("create %s: %w", key, err)
	}
	// link, unlike rename, refuses a name that exists: of two writers of one key, one wins.
	if err := os.Link(tmp, name); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return ErrExists
		}
		return fmt.Errorf("create %s: %w", key, err)
	}
	// The name is durable once the directory is; an unsynced directory could lose it in a
	// crash after the caller was told it was written.
	if df, err := os.Open(dir); err == nil {
		err = df.Sync()
		df.Close()
		if err != nil {
			return fmt.Errorf("create %s: sync directory: %w", key, err)
		}
	}
	return nil
}

// Get reads the object under key.
func (d *Dir) Get(_ context.Context, key string) ([]byte, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(d.root, filepath.FromSlash(key)))
	if errors.Is(err, fs.ErrNotExist) {
		if _, rerr := os.Stat(d.root); rerr != nil {
			return nil, fmt.Errorf("archive directory: %w", rerr)
		}
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	return b, nil
}

// List returns the objects under prefix after startAfter, in key order. It reads only the
// directories that can hold such keys.
func (d *Dir) List(_ context.Context, prefix, startAfter string) ([]Object, error) {
	if st, err := os.Stat(d.root); err != nil {
		return nil, fmt.Errorf("archive directory: %w", err)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("archive directory %s is not a directory", d.root)
	}
	// Walk from the deepest directory the prefix names in full.
	base := ""
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		base = prefix[:i]
	}
	start := filepath.Join(d.root, filepath.FromSlash(base))
	var out []Object
	err := filepath.WalkDir(start, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == start {
				return fs.SkipAll
			}
			return err
		}
		if p == start {
			return nil
		}
		if strings.HasPrefix(e.Name(), ".") {
			if e.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		rel, err := filepath.Rel(d.root, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if e.IsDir() {
			dirKey := key + "/"
			// Every key under dirKey sorts after it; none can begin with prefix, or follow
			// startAfter, unless these hold.
			if !strings.HasPrefix(dirKey, prefix) && !strings.HasPrefix(prefix, dirKey) {
				return fs.SkipDir
			}
			if dirKey < startAfter && !strings.HasPrefix(startAfter, dirKey) {
				return fs.SkipDir
			}
			return nil
		}
		if !strings.HasPrefix(key, prefix) || key <= startAfter || !e.Type().IsRegular() {
			return nil
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		out = append(out, Object{Key: key, Size: info.Size()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", path.Clean(prefix), err)
	}
	slices.SortFunc(out, func(a, b Object) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}
