// Command bench measures the service against the limits it is built to: each function's binary
// size and cold start beside two functions built the same way, a hello-world aws-lambda-go
// function and the peer a user would write without this project (config.LoadDefaultConfig and
// one GetItem of the same record, cmd/bench/peer); each route's warm latency beside the bare
// DynamoDB calls it needs; the DynamoDB calls, items and capacity each route costs (list at
// growing organisation sizes); the handlers' allocations; and what publish-events costs per
// change of the table's stream (PutEvents calls and bytes at batch sizes 1, 10 and 100). Every
// figure is measured in the same run, on the same machine, and printed beside its baseline as a
// ratio, each ratio target marked met or missed; the report goes to stdout and to
// docs/performance.md.
//
// make bench runs it from the module root; it builds what it needs (the functions, the hello
// world, the peer, the Lambda Runtime Interface Emulator from go.mod's tool directive). Take
// figures on a quiet machine: the report prints the load average seen during the run.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

type options struct {
	n, warmup    int
	cold         int
	listSizes    []int
	listN        int
	listFiltered int
	publishLives int
	benchtime    string
	out          string
	work         string
	skip         map[string]bool
	only         []string // the functions to build and start beside the baselines; nil: every one
}

func main() {
	var o options
	var sizes, skip, only string
	flag.IntVar(&o.n, "n", 500, "warm calls measured per route and way of calling")
	flag.IntVar(&o.warmup, "warmup", 50, "warm calls made first and not measured")
	flag.IntVar(&o.cold, "cold", 15, "fresh starts per function under the emulator (at least 10 for the report's medians)")
	flag.StringVar(&sizes, "list-sizes", "20,1000,10000", "organisation sizes the list is measured at")
	flag.IntVar(&o.listN, "list-n", 200, "list calls measured per size and way of calling, unfiltered")
	flag.IntVar(&o.listFiltered, "list-filtered-n", 20, "list calls measured per size and way of calling, filtered")
	flag.IntVar(&o.publishLives, "publish-lives", 100, "records whose changes' stream publish-events handles at each batch size")
	flag.StringVar(&o.benchtime, "benchtime", "200x", "go test -benchtime of the allocation benchmarks")
	flag.StringVar(&o.out, "out", "docs/performance.md", "where to write the report (empty: stdout only)")
	flag.StringVar(&o.work, "work", "", "directory for builds and emulator logs (default: a temporary one, removed)")
	flag.StringVar(&skip, "skip", "", "phases to leave out, comma-separated: build,cold,warm,list,publish,allocs (the report is then not written)")
	flag.StringVar(&only, "only", "", "functions to build and start beside the baselines, comma-separated (the report is then not written)")
	flag.Parse()
	for _, s := range strings.Split(sizes, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || v < 1 {
			fatalf("-list-sizes: %q is not a size", s)
		}
		o.listSizes = append(o.listSizes, v)
	}
	o.skip = map[string]bool{}
	for _, s := range strings.Split(skip, ",") {
		if s = strings.TrimSpace(s); s != "" {
			o.skip[s] = true
		}
	}
	for _, f := range strings.Split(only, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		if !slices.Contains(measured(), f) {
			fatalf("-only: %q is not a function of the service", f)
		}
		o.only = append(o.only, f)
	}
	if _, err := os.Stat("go.mod"); err != nil {
		fatalf("run bench from the module root (make bench)")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, o); err != nil {
		fatalf("%v", err)
	}
}

// functions are those this run builds and starts beside the baselines.
func (o options) functions() []string {
	if o.only != nil {
		return o.only
	}
	return measured()
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
	os.Exit(1)
}

// results is everything one run measured.
type results struct {
	o         options
	command   string
	started   time.Time
	took      time.Duration
	phases    []phaseTime
	loads     []float64 // the 1-minute load average, sampled through the run
	bins      []*binary
	cold      []coldResult
	probes    []initProbe
	warm      []warmResult
	list      []listResult
	allocs    []allocResult
	publish   []publishResult
	scans     int
	pageSize  int // the records of a 1 MB Query page, given to the store
	recounted int // DynamoDB counts taken again because the SDK had retried a call
	machine   string
	toolchain string
}

type phaseTime struct {
	name string
	took time.Duration
}

func run(ctx context.Context, o options) error {
	r := &results{o: o, started: time.Now(), command: commandLine(), machine: machine(), toolchain: toolchain(ctx)}
	stopLoad := sampleLoad(&r.loads)
	progress := func(s string) { fmt.Fprintf(os.Stderr, "bench: %s (load %.2f)\n", s, loadAvg()) }
	work := o.work
	if work == "" {
		dir, err := os.MkdirTemp("", "bufdir-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		work = dir
	}
	work, _ = filepath.Abs(work)
	shape, err := learnShape(ctx)
	if err != nil {
		return err
	}
	e := &bench{all: &tally{n: map[string]int{}}, shape: shape, progress: progress}
	r.pageSize = int(pageSize(shape))
	phase := func(name string, f func() error) error {
		if o.skip[name] {
			return nil
		}
		start := time.Now()
		err := f()
		r.phases = append(r.phases, phaseTime{name, time.Since(start)})
		return err
	}
	var rie string
	err = phase("build", func() (err error) {
		progress("building the functions, the hello world, the peer and the emulator")
		r.bins, rie, err = buildAll(ctx, work, o.functions())
		return err
	})
	if err == nil {
		err = phase("cold", func() (err error) {
			r.cold, r.probes, err = e.runCold(ctx, r.bins, rie, work, o.cold)
			return err
		})
	}
	if err == nil {
		err = phase("warm", func() (err error) {
			r.warm, err = e.runWarm(ctx, o.warmup, o.n)
			return err
		})
	}
	if err == nil {
		err = phase("list", func() (err error) {
			r.list, err = e.runList(ctx, o.listSizes, o.listN, o.listFiltered)
			return err
		})
	}
	if err == nil {
		err = phase("publish", func() (err error) {
			r.publish, err = e.runPublish(ctx, publishBatches, o.publishLives)
			return err
		})
	}
	if err == nil {
		err = phase("allocs", func() (err error) {
			progress("allocations: go " + strings.Join(allocCommand(o.benchtime), " "))
			r.allocs, err = runAllocs(ctx, o.benchtime)
			return err
		})
	}
	stopLoad()
	if err != nil {
		return err
	}
	r.scans = e.all.get("Scan")
	r.recounted = e.recounted
	r.took = time.Since(r.started)
	report := r.markdown()
	if o.out != "" {
		if report, err = keepHandmade(report, o.out); err != nil {
			return err
		}
	}
	fmt.Print(report)
	// The ratio targets once more, at the end of the progress lines, where a run is watched.
	checks := r.ratioChecks()
	for _, t := range ratioTargets {
		if w, met, of, ok := worst(checks, t); ok {
			fmt.Fprintf(os.Stderr, "bench: %s ≤ %.2f×: %s met it; worst %.2f× (%s), %s\n", t.name, t.limit, countMet(met, of), w.v, w.fn, strings.ReplaceAll(verdict(w.v, t.limit), "*", ""))
		}
	}
	if o.out != "" && len(o.skip) == 0 && o.only == nil {
		if err := os.MkdirAll(filepath.Dir(o.out), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(o.out, []byte(report), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "bench: wrote %s\n", o.out)
	}
	return nil
}

// sampleLoad records the load average every 5 seconds until the returned func is called.
func sampleLoad(into *[]float64) func() {
	var mu sync.Mutex
	done := make(chan struct{})
	add := func() {
		mu.Lock()
		*into = append(*into, loadAvg())
		mu.Unlock()
	}
	add()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				add()
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
		add()
	}
}

// commandLine is how this run was asked for: make bench, with any flags given.
func commandLine() string {
	args := os.Args[1:]
	if len(args) == 0 {
		return "make bench"
	}
	return "make bench BENCH_FLAGS='" + strings.Join(args, " ") + "'"
}

func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("%s, %d logical CPUs", model, numCPU())
}

func toolchain(ctx context.Context) string {
	out, err := execOutput(ctx, goTool(), "version")
	if err != nil {
		return "go (version unknown)"
	}
	return strings.TrimSpace(out)
}
