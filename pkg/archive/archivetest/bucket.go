// Package archivetest holds the tests every archive.Bucket must pass, run by each
// implementation's own tests against a real store (a directory, an S3-compatible server).
package archivetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"

	"github.com/bufdir/export-audit/pkg/archive"
)

// Bucket runs the tests against buckets newBucket makes, each new and empty.
func Bucket(t *testing.T, newBucket func(t *testing.T) archive.Bucket) {
	t.Run("CreateNeverOverwrites", func(t *testing.T) {
		t.Parallel()
		b := newBucket(t)
		if err := b.Create(ctx, "changes/p/a.json", []byte("first")); err != nil {
			t.Fatalf("create: %v", err)
		}
		if err := b.Create(ctx, "changes/p/a.json", []byte("second")); !errors.Is(err, archive.ErrExists) {
			t.Fatalf("second create of the same key: got %v, want ErrExists", err)
		}
		if got := string(Get(t, b, "changes/p/a.json")); got != "first" {
			t.Errorf("the object holds %q after a refused create, want %q", got, "first")
		}
	})
	t.Run("OfConcurrentCreatesOfOneKeyOneWins", func(t *testing.T) {
		t.Parallel()
		b := newBucket(t)
		const n = 16
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { errs[i] = b.Create(ctx, "digests/x.json", fmt.Appendf(nil, "writer %d", i)) })
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
		if got, want := string(Get(t, b, "digests/x.json")), fmt.Sprintf("writer %d", winner); got != want {
			t.Errorf("the object holds %q, want the winner's %q", got, want)
		}
		if left := List(t, b, "digests/", ""); !reflect.DeepEqual(left, []string{"digests/x.json"}) {
			t.Errorf("the bucket lists %q, want the one object", left)
		}
	})
	t.Run("ListsInKeyOrderAfterStartAfter", func(t *testing.T) {
		t.Parallel()
		b := newBucket(t)
		for _, k := range []string{"changes/b/2.json", "changes/a/1.json", "changes/b/1.json", "changes/a.b/1.json", "digests/a.json", "changesx/1.json"} {
			if err := b.Create(ctx, k, []byte(k)); err != nil {
				t.Fatal(err)
			}
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
			objs, err := b.List(ctx, c.prefix, c.after)
			if err != nil {
				t.Fatalf("list %q after %q: %v", c.prefix, c.after, err)
			}
			var got []string
			for _, o := range objs {
				got = append(got, o.Key)
				if o.Size != int64(len(o.Key)) {
					t.Errorf("%s: size %d, want %d", o.Key, o.Size, len(o.Key))
				}
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("list %q after %q:\n got %q\nwant %q", c.prefix, c.after, got, c.want)
			}
		}
	})
	t.Run("GetOfAMissingKeyIsNotFound", func(t *testing.T) {
		t.Parallel()
		b := newBucket(t)
		if err := b.Create(ctx, "changes/a.json", []byte("{}")); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Get(ctx, "changes/b.json"); !errors.Is(err, archive.ErrNotFound) {
			t.Errorf("get of a missing key: got %v, want ErrNotFound", err)
		}
	})
	t.Run("ListsPastOnePage", func(t *testing.T) {
		t.Parallel()
		b := newBucket(t)
		const n = 1010 // S3 lists 1,000 keys a call
		var wg sync.WaitGroup
		sem := make(chan struct{}, 8)
		for i := range n {
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				if err := b.Create(ctx, fmt.Sprintf("changes/p/%04d.json", i), nil); err != nil {
					t.Errorf("create %d: %v", i, err)
				}
			})
		}
		wg.Wait()
		got := List(t, b, "changes/", "")
		if len(got) != n || got[0] != "changes/p/0000.json" || got[n-1] != fmt.Sprintf("changes/p/%04d.json", n-1) {
			t.Errorf("listed %d keys, want %d in order", len(got), n)
		}
		if after := List(t, b, "changes/", "changes/p/1004.json"); len(after) != 5 {
			t.Errorf("after the 1,005th key, %d keys; want 5", len(after))
		}
	})
}

var ctx = context.Background()

// Get reads the object key, which must be there.
func Get(t testing.TB, b archive.Bucket, key string) []byte {
	t.Helper()
	body, err := b.Get(ctx, key)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	return body
}

// List lists the keys under prefix after the key after ("" for all), in order.
func List(t testing.TB, b archive.Bucket, prefix, after string) []string {
	t.Helper()
	objs, err := b.List(ctx, prefix, after)
	if err != nil {
		t.Fatalf("list %s: %v", prefix, err)
	}
	var out []string
	for _, o := range objs {
		out = append(out, o.Key)
	}
	return out
}
