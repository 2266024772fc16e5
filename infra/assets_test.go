package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// buildProbe builds a tiny Go program for linux/goarch into root/<fn>/bootstrap: a real ELF
// binary of that architecture, as make build writes.
func buildProbe(t *testing.T, root, fn, goarch string) {
	t.Helper()
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "main.go"), []byte("package main\n\nfunc main() {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte("module probe\n\ngo 1.21\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(root, fn, "bootstrap"), ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+goarch, "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build a %s probe: %v\n%s", goarch, err, out)
	}
}

func TestCheckAssets_RefusesMissingAndForeignBinaries(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	fns := []string{"list-records", "get-record", "create-record", "delete-record"}
	buildProbe(t, root, "list-records", StackGOARCH)
	if err := checkAssets(root, fns[:1]); err != nil {
		t.Errorf("an %s binary: %v", StackGOARCH, err)
	}

	buildProbe(t, root, "get-record", "amd64")
	if err := os.MkdirAll(filepath.Join(root, "delete-record"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "delete-record", "bootstrap"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	err := checkAssets(root, fns)
	if err == nil {
		t.Fatal("an x86-64 binary, a missing one and a script were accepted")
	}
	msg := err.Error()
	for _, want := range []string{
		filepath.Join(root, "get-record", "bootstrap") + " is built for EM_X86_64, the stack's functions are arm64",
		filepath.Join(root, "create-record", "bootstrap") + " is missing",
		filepath.Join(root, "delete-record", "bootstrap") + " is not a Linux executable",
		"run `make build ARCH=arm64` in the repository root",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, filepath.Join(root, "list-records")) {
		t.Errorf("error names the good binary:\n%s", msg)
	}
}
