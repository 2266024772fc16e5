package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
)

// benchLine is one result of go test -bench -benchmem.
type benchLine struct {
	ns, bytes, allocs float64
}

// allocResult is a route's handler beside its bare DynamoDB calls.
type allocResult struct {
	route             string
	handler, baseline benchLine
}

// allocPkg holds the benchmarks: BenchmarkHandler/<route> and BenchmarkBaseline/<route>.
const allocPkg = "./pkg/api"

var benchRe = regexp.MustCompile(`^Benchmark(Handler|Baseline)/(\S+?)(?:-\d+)?\s+\d+\s+([0-9.]+) ns/op\s+([0-9.]+) B/op\s+([0-9.]+) allocs/op`)

// allocCommand is the go test command run, as the report prints it.
func allocCommand(benchtime string) []string {
	return []string{"test", "-run", "^$", "-bench", ".", "-benchmem", "-benchtime", benchtime, allocPkg}
}

// runAllocs runs the handler benchmarks and reads their results, in the order of the routes.
func runAllocs(ctx context.Context, benchtime string) ([]allocResult, error) {
	cmd := exec.CommandContext(ctx, goTool(), allocCommand(benchtime)...)
	cmd.Env = os.Environ()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("go test -bench: %w\n%s", err, out)
	}
	var res []allocResult
	index := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		m := benchRe.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		var l benchLine
		l.ns, _ = strconv.ParseFloat(m[3], 64)
		l.bytes, _ = strconv.ParseFloat(m[4], 64)
		l.allocs, _ = strconv.ParseFloat(m[5], 64)
		i, ok := index[m[2]]
		if !ok {
			i = len(res)
			index[m[2]] = i
			res = append(res, allocResult{route: m[2]})
		}
		if m[1] == "Handler" {
			res[i].handler = l
		} else {
			res[i].baseline = l
		}
	}
	if len(res) == 0 {
		return nil, fmt.Errorf("go test -bench printed no results:\n%s", out)
	}
	return res, nil
}
