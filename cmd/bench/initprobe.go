package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// initProbe is where a function's init goes, measured without the emulator: the bootstrap
// started directly against a stand-in Runtime API that notes when it first asks for work, and
// again with GODEBUG=inittrace=1, which prints each package's initialisation time.
type initProbe struct {
	bin    *binary
	toNext []float64            // ms: process start to its first /next
	pkgs   map[string][]float64 // ms of each package's init, one value per run
}

// runtimeAPI is a stand-in for the Lambda Runtime API that signals the first /next of each
// process and then holds the request until the process goes away.
type runtimeAPI struct {
	srv  *http.Server
	addr string
	next chan time.Time
}

func startRuntimeAPI() (*runtimeAPI, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	a := &runtimeAPI{addr: ln.Addr().String(), next: make(chan time.Time, 1)}
	a.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/invocation/next") {
			select {
			case a.next <- time.Now():
			default:
			}
			<-r.Context().Done()
		}
	})}
	go func() { _ = a.srv.Serve(ln) }()
	return a, nil
}

var initTrace = regexp.MustCompile(`(?m)^init (\S+) @[0-9.]+ ms, ([0-9.]+) ms clock`)

// probe starts bootstrap once and returns the time to its first /next and, with trace, each
// package's init time.
func (a *runtimeAPI) probe(ctx context.Context, bootstrap string, env []string, trace bool) (float64, map[string]float64, error) {
	cmd := exec.CommandContext(ctx, bootstrap)
	cmd.Env = append(slices.Clone(env), "AWS_LAMBDA_RUNTIME_API="+a.addr)
	if trace {
		cmd.Env = append(cmd.Env, "GODEBUG=inittrace=1")
	}
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	select {
	case <-a.next:
	default:
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, nil, err
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	var at time.Time
	select {
	case at = <-a.next:
	case <-time.After(10 * time.Second):
		return 0, nil, fmt.Errorf("%s never asked the Runtime API for work", bootstrap)
	}
	took := float64(at.Sub(start)) / float64(time.Millisecond)
	if !trace {
		return took, nil, nil
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	pkgs := map[string]float64{}
	for _, m := range initTrace.FindAllStringSubmatch(stderr.String(), -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		pkgs[m[1]] += v
	}
	if len(pkgs) == 0 {
		return 0, nil, fmt.Errorf("%s printed no init trace", bootstrap)
	}
	return took, pkgs, nil
}

// pkgGroup sorts a package into who wrote it.
func pkgGroup(pkg string) string {
	switch {
	case strings.HasPrefix(pkg, "github.com/aws/aws-sdk-go-v2"), strings.HasPrefix(pkg, "github.com/aws/smithy-go"):
		return "sdk"
	case strings.HasPrefix(pkg, "github.com/aws/aws-lambda-go"):
		return "lambda"
	case strings.HasPrefix(pkg, "github.com/bufdir/"):
		return "ours"
	}
	return "std"
}

// median of each package's init times.
func (p initProbe) pkgMedians() map[string]float64 {
	out := map[string]float64{}
	for pkg, v := range p.pkgs {
		// A package seen in fewer runs than others counts its missing runs as zero.
		v = append(slices.Clone(v), make([]float64, max(0, len(p.toNext)-len(v)))...)
		out[pkg] = medianf(v)
	}
	return out
}

// dynamodbSchemas is the package whose initialisation most of DynamoDB's client's init is.
const dynamodbSchemas = "github.com/aws/aws-sdk-go-v2/service/dynamodb/schemas"

// links reports whether the probes saw pkg initialise.
func (p initProbe) links(pkg string) bool {
	_, ok := p.pkgs[pkg]
	return ok
}

// group sums the package medians of one group ("" for all).
func (p initProbe) group(g string) float64 {
	total := 0.0
	for pkg, v := range p.pkgMedians() {
		if g == "" || pkgGroup(pkg) == g {
			total += v
		}
	}
	return total
}
