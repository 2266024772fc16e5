package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMain_RefusesAShortKeyAtStart runs make run's binary with a LOCAL_JWT_SECRET shorter than
// 32 bytes: it stops at once with exit 1 and one line that names the variable, and starts
// nothing.
func TestMain_RefusesAShortKeyAtStart(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "local")
	if b, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	// Port 0 everywhere: if the key were taken, the API would start on a free port rather
	// than on one a developer's make run holds.
	cmd.Env = append(os.Environ(), "LOCAL_JWT_SECRET=changeme", "PORT=0", "ENGINE_ADDR=127.0.0.1:0", "BUS_ADDR=127.0.0.1:0",
		"LOCAL_JWT_ISSUER=", "LOCAL_JWT_AUDIENCE=", "DYNAMODB_ENDPOINT=")
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("want the binary to stop at once, it ran until killed:\n%s", out)
	}
	exit, ok := err.(*exec.ExitError)
	if !ok || exit.ExitCode() != 1 {
		t.Fatalf("want exit 1, got %v:\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "LOCAL_JWT_SECRET") || !strings.Contains(lines[0], "32 bytes") ||
		strings.Contains(lines[0], "changeme") {
		t.Errorf("want one line naming LOCAL_JWT_SECRET and its 32 bytes, without the key, got:\n%s", out)
	}
}
