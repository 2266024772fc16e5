package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"

	"github.com/bufdir/export-audit/pkg/config"
)

// deployFlags are the Makefile's BUILD_FLAGS: how every function is built for Lambda.
var deployFlags = []string{"-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w"}

// The baselines. helloPkg is the smallest aws-lambda-go HTTP API handler; peerPkg is the
// get-one-item function a user would write without this project (config.LoadDefaultConfig and
// one GetItem).
const (
	helloPkg  = "./cmd/bench/hello"
	helloName = "hello world"
	peerPkg   = "./cmd/bench/peer"
	peerName  = "peer"
)

// measured are the functions the bench builds and starts, under the same budgets: every
// function of the service (config.Functions: the routes', publish-events and the archive's two).
func measured() []string { return config.FunctionNames() }

// binary is one function built for each architecture.
type binary struct {
	name string // the function, helloName or peerName
	pkg  string
	path map[string]string // by GOARCH
	size map[string]int64
}

func (b *binary) hello() bool { return b.name == helloName }

func (b *binary) peer() bool { return b.name == peerName }

// baseline reports whether b is one of the baselines rather than a function of the service.
func (b *binary) baseline() bool { return b.hello() || b.peer() }

// archs are the architectures sizes are reported for: Lambda's two.
var archs = []string{"arm64", "amd64"}

// buildAll builds the baselines and functions with the deployment flags for both
// architectures, and the emulator for this machine.
func buildAll(ctx context.Context, work string, functions []string) (bins []*binary, rie string, err error) {
	bins = append(bins, &binary{name: helloName, pkg: helloPkg}, &binary{name: peerName, pkg: peerPkg})
	for _, f := range functions {
		bins = append(bins, &binary{name: f, pkg: "./functions/" + f})
	}
	for _, b := range bins {
		b.path, b.size = map[string]string{}, map[string]int64{}
		for _, arch := range archs {
			dir := filepath.Join(work, arch, filepath.Base(b.pkg))
			out := filepath.Join(dir, "bootstrap")
			args := append([]string{"build", "-o", out}, deployFlags...)
			if err := goCmd(ctx, []string{"GOOS=linux", "GOARCH=" + arch, "CGO_ENABLED=0"}, append(args, b.pkg)...); err != nil {
				return nil, "", err
			}
			fi, err := os.Stat(out)
			if err != nil {
				return nil, "", err
			}
			b.path[arch], b.size[arch] = out, fi.Size()
		}
	}
	rie = filepath.Join(work, "aws-lambda-rie")
	// The emulator is the go.mod tool; built for this machine, as functions/emulator_test.go does.
	if err := goCmd(ctx, nil, "build", "-o", rie, "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"); err != nil {
		return nil, "", err
	}
	return bins, rie, nil
}

func goCmd(ctx context.Context, env []string, args ...string) error {
	cmd := exec.CommandContext(ctx, goTool(), args...)
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %v: %w\n%s", args, err, out)
	}
	return nil
}

// goTool is the go command that runs this program's builds: $GO (as the Makefile passes it)
// or the one on PATH.
func goTool() string {
	if g := os.Getenv("GO"); g != "" {
		return g
	}
	return "go"
}

func execOutput(ctx context.Context, name string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, name, args...).Output()
	return string(out), err
}

func numCPU() int { return runtime.NumCPU() }
