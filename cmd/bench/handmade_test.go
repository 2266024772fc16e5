package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestKeepHandmade_KeepsOnlyTheHandMeasuredSections(t *testing.T) {
	old := "# Performance\n\nintro\n\n## 1. Binary size\n\nold figures\n\n" +
		"## attributevalue\n\nNot measured by `make bench`: by hand.\n\n| a | b |\n\n" +
		"## make verify\n\nNot measured by `make bench`: by hand too.\n\n```sh\n## not a heading\n```\n\n" +
		"## Reproducing\n\nold way\n"
	path := filepath.Join(t.TempDir(), "performance.md")
	if err := os.WriteFile(path, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	fresh := "# Performance\n\nnew intro\n\n## 1. Binary size\n\nnew figures\n\n## Reproducing\n\nnew way\n"
	got, err := keepHandmade(fresh, path)
	if err != nil {
		t.Fatal(err)
	}
	want := "# Performance\n\nnew intro\n\n## 1. Binary size\n\nnew figures\n\n" +
		"## attributevalue\n\nNot measured by `make bench`: by hand.\n\n| a | b |\n\n" +
		"## make verify\n\nNot measured by `make bench`: by hand too.\n\n```sh\n## not a heading\n```\n\n" +
		"## Reproducing\n\nnew way\n"
	if got != want {
		t.Errorf("report:\n%s\nwant:\n%s", got, want)
	}
}

func TestKeepHandmade_NoEarlierReport(t *testing.T) {
	fresh := "# Performance\n\n## Reproducing\n\nhow\n"
	got, err := keepHandmade(fresh, filepath.Join(t.TempDir(), "none.md"))
	if err != nil || got != fresh {
		t.Errorf("got %q, %v; want the fresh report unchanged", got, err)
	}
}
