package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/bufdir/export-audit/internal/app/localrun"
	"github.com/bufdir/export-audit/internal/perf"
	"github.com/bufdir/export-audit/pkg/audit"
	"github.com/bufdir/export-audit/pkg/config"
)

// coldRun is one fresh start of a function under the emulator and its first invoke.
type coldRun struct {
	wall   time.Duration // the invoke as the caller saw it: emulator, init and first invoke
	init   float64       // ms: the emulator's INIT REPORT, the function's process start to its first /next
	invoke float64       // ms: the emulator's first INVOKE RTDONE, the function handling the event
	second float64       // ms: the second INVOKE RTDONE, another event of the route, warm
	report float64       // ms: the REPORT line's Init Duration (see coldNote: not the function's)
	loadMs float64       // ms: the init_ms of the function's own init log line (app.Load); -1 if none
}

// part is the function's part of the cold invoke: its init and its first invoke.
func (c coldRun) part() float64 { return c.init + c.invoke }

type coldResult struct {
	bin  *binary
	runs []coldRun
}

func (r coldResult) median(f func(coldRun) float64) float64 {
	v := make([]float64, 0, len(r.runs))
	for _, c := range r.runs {
		if x := f(c); x >= 0 {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return -1
	}
	return medianf(v)
}

var (
	initReport   = regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)\)`)
	invokeRTDone = regexp.MustCompile(`INVOKE RTDONE\(status: success[^)]*duration: ([0-9.]+)ms\)`)
	reportInit   = regexp.MustCompile(`REPORT RequestId: \S+\s+Init Duration: ([0-9.]+) ms`)
)

// runCold starts each binary (this machine's architecture) fresh under the emulator n times,
// taking turns in a shuffled order each round after one round that is not counted (it loads
// the binaries into the page cache), and invokes it against a local engine (the archive's
// functions: against S3's and KMS's stand-ins, archiveRig). Then it
// starts each n times more without the emulator, to see where the init goes.
func (e *bench) runCold(ctx context.Context, bins []*binary, rie, work string, n int) ([]coldResult, []initProbe, error) {
	arch := runtime.GOARCH
	if _, ok := bins[0].path[arch]; !ok {
		return nil, nil, fmt.Errorf("cold start: no %s build to run on this machine", arch)
	}
	s, err := e.stack(ctx, org)
	if err != nil {
		return nil, nil, err
	}
	defer s.close()
	// Each invoke takes its route's successful path, on records of its own: two invokes per
	// start, the cold one and a warm one. The records a start needs are written just before it
	// and removed just after, as in the warm runs, so that the engine's table stays small.
	rounds := n + 1
	queued := func(int) audit.Status { return audit.StatusQueued }
	specs := map[string][]perf.Spec{}
	for k, f := range []string{"update-status", "attach-file-url", "delete-record"} {
		specs[f] = perf.Batch{Org: org, N: 2 * rounds, FirstDay: day(2024, time.Month(k+1)), PerDay: 2 * rounds, Status: queued}.Specs()
	}
	list, err := s.seed(ctx, perf.Batch{Org: org, N: 20, FirstDay: day(2025, 6)})
	if err != nil {
		return nil, nil, err
	}
	requests := map[string]func(i int) perf.Request{
		helloName: func(i int) perf.Request { return perf.Get(list[0]) },
		// The peer reads the record get-record reads in the same round, from the same table.
		peerName:          func(i int) perf.Request { return perf.Get(list[i%len(list)]) },
		"get-record":      func(i int) perf.Request { return perf.Get(list[i%len(list)]) },
		"list-records":    func(i int) perf.Request { return perf.List("") },
		"create-record":   func(i int) perf.Request { return perf.Create("exp-cold-" + strconv.Itoa(i)) },
		"update-status":   func(i int) perf.Request { return perf.Status(specs["update-status"][i].ID, audit.StatusProcessing) },
		"attach-file-url": func(i int) perf.Request { return perf.FileURL(specs["attach-file-url"][i].ID) },
		"delete-record":   func(i int) perf.Request { return perf.Delete(specs["delete-record"][i].ID) },
	}
	// publish-events gets the stream batch of events/, a record's life: five events to put.
	batch, err := os.ReadFile(filepath.Join("events", config.PublisherFunction+".json"))
	if err != nil {
		return nil, nil, err
	}
	// The archive's functions get S3's and KMS's stand-ins, started beside the engine.
	arc, err := startArchiveRig(ctx, work)
	if err != nil {
		return nil, nil, err
	}
	defer arc.close()
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		config.EnvTableName + "=" + tableName,
		config.EnvRegion + "=eu-north-1",
		config.EnvStage + "=" + config.LocalStage,
		config.EnvDynamoDBEndpoint + "=" + s.run.EngineURL,
		// The peer's endpoint, as config.LoadDefaultConfig reads it; the functions read only
		// DYNAMODB_ENDPOINT. Every binary gets the same environment.
		"AWS_ENDPOINT_URL_DYNAMODB=" + s.run.EngineURL,
		// publish-events' bus: the local run's.
		config.EnvEventBusName + "=" + localrun.EventBusName,
		config.EnvEventBridgeEndpoint + "=" + s.run.BusURL,
		"AWS_ACCESS_KEY_ID=emulator", "AWS_SECRET_ACCESS_KEY=emulator",
		"AWS_LAMBDA_FUNCTION_TIMEOUT=10",
	}
	env = append(env, arc.env(changesBucket)...)
	results := make([]coldResult, len(bins))
	for i, b := range bins {
		results[i].bin = b
	}
	order := make([]int, len(bins))
	for i := range order {
		order[i] = i
	}
	for round := 0; round < rounds; round++ {
		e.progress(fmt.Sprintf("cold start: round %d of %d", round+1, rounds))
		rand.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, k := range order {
			b := bins[k]
			var evs []invocation
			benv := env
			switch b.name {
			case config.PublisherFunction:
				// A redelivery of the batch is the same work again: its events are put again.
				evs = []invocation{{event: batch, check: batchDone}, {event: batch, check: batchDone}}
			case config.ArchiveFunction:
				if evs, err = arc.archiveInvocations(ctx, round, rounds+round); err != nil {
					return nil, nil, err
				}
			case config.SealFunction:
				if evs, err = arc.sealInvocations(ctx); err != nil {
					return nil, nil, err
				}
				// A bucket of its own; exec.Cmd keeps the last of a variable given twice.
				benv = append(slices.Clip(env), config.EnvArchiveBucket+"="+sealBucket)
			default:
				want := 200
				if b.name == "create-record" {
					want = 201
				}
				for _, i := range []int{round, rounds + round} {
					ev, err := json.Marshal(requests[b.name](i).Event(s.caller, requestID(), time.Now()))
					if err != nil {
						return nil, nil, err
					}
					evs = append(evs, invocation{event: ev, check: answered(want)})
				}
			}
			var mine []perf.Spec
			if sp, ok := specs[b.name]; ok {
				mine = []perf.Spec{sp[round], sp[rounds+round]}
			}
			if err := s.raw.Shape.SeedSpecs(ctx, s.raw.DB, tableName, mine, 1); err != nil {
				return nil, nil, err
			}
			logPath := filepath.Join(work, fmt.Sprintf("cold-%s-%d.log", filepath.Base(b.pkg), round))
			r, answers, err := coldStart(ctx, rie, b.path[arch], benv, evs, logPath)
			if err != nil {
				return nil, nil, fmt.Errorf("cold start of %s: %w", b.name, err)
			}
			if b.peer() || b.name == "get-record" {
				if err := sameRecord(answers, list[round%len(list)], list[(rounds+round)%len(list)]); err != nil {
					return nil, nil, fmt.Errorf("cold start of %s: %w", b.name, err)
				}
			}
			if b.name == "create-record" {
				for k, body := range answers {
					id, err := createdID(body)
					if err != nil {
						return nil, nil, err
					}
					mine = append(mine, perf.Spec{Org: org, ID: id, ExportID: "exp-cold-" + strconv.Itoa(k*rounds+round)})
				}
			}
			if err := perf.Remove(ctx, s.raw.DB, tableName, mine); err != nil {
				return nil, nil, err
			}
			if round > 0 {
				results[k].runs = append(results[k].runs, r)
			}
		}
	}
	probes, err := probeInits(ctx, bins, env, n, order)
	return results, probes, err
}

// probeInits starts each binary 2n times against a stand-in Runtime API, in turns: n times to
// time its start up to its first /next, n times to read its packages' init times.
func probeInits(ctx context.Context, bins []*binary, env []string, n int, order []int) ([]initProbe, error) {
	api, err := startRuntimeAPI()
	if err != nil {
		return nil, err
	}
	defer api.srv.Close()
	probes := make([]initProbe, len(bins))
	for i, b := range bins {
		probes[i] = initProbe{bin: b, pkgs: map[string][]float64{}}
	}
	for round := 0; round < n; round++ {
		rand.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, k := range order {
			p := &probes[k]
			took, _, err := api.probe(ctx, p.bin.path[runtime.GOARCH], env, false)
			if err != nil {
				return nil, err
			}
			p.toNext = append(p.toNext, took)
			_, pkgs, err := api.probe(ctx, p.bin.path[runtime.GOARCH], env, true)
			if err != nil {
				return nil, err
			}
			for pkg, v := range pkgs {
				p.pkgs[pkg] = append(p.pkgs[pkg], v)
			}
		}
	}
	return probes, nil
}

// invocation is one event for a function and the check of its answer, which returns the part
// of the answer the caller reads (an HTTP API response's body); prepare, when set, makes ready
// what the invoke works on, just before it, untimed.
type invocation struct {
	event   []byte
	check   func(out []byte) (string, error)
	prepare func(context.Context) error
}

// answered checks that the answer is an HTTP API response of status want.
func answered(want int) func([]byte) (string, error) {
	return func(out []byte) (string, error) {
		var answer events.APIGatewayV2HTTPResponse
		if err := json.Unmarshal(out, &answer); err != nil || answer.StatusCode != want {
			return "", fmt.Errorf("answered %s, want status %d", out, want)
		}
		return answer.Body, nil
	}
}

// batchDone checks that the answer is a partial batch response naming no record.
func batchDone(out []byte) (string, error) {
	var resp events.DynamoDBEventResponse
	if err := json.Unmarshal(out, &resp); err != nil || len(resp.BatchItemFailures) != 0 || !bytes.Contains(out, []byte("batchItemFailures")) {
		return "", fmt.Errorf("answered %s, want a batch response naming no record", out)
	}
	return "", nil
}

// coldStart runs one emulator with bootstrap, waits until it listens, invokes it with each of
// evs in turn and reads its reports. The emulator starts the function's process only on the
// first invoke.
func coldStart(ctx context.Context, rie, bootstrap string, env []string, evs []invocation, logPath string) (coldRun, []string, error) {
	addr, err := freeAddr()
	if err != nil {
		return coldRun{}, nil, err
	}
	apiAddr, err := freeAddr()
	if err != nil {
		return coldRun{}, nil, err
	}
	// A file, not a pipe: the function's process inherits the emulator's output, and a pipe
	// would keep Wait from returning.
	logs, err := os.Create(logPath)
	if err != nil {
		return coldRun{}, nil, err
	}
	defer logs.Close()
	// Each emulator also serves the Runtime API to its function; one port each.
	cmd := exec.Command(rie, "--runtime-interface-emulator-address", addr, "--runtime-api-address", apiAddr, bootstrap)
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.Env = env
	cmd.Dir = filepath.Dir(bootstrap)
	// Its own process group, so that the function's process goes with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return coldRun{}, nil, err
	}
	defer func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			return coldRun{}, nil, fmt.Errorf("the emulator did not listen on %s: %v", addr, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}
	var walls []time.Duration
	var answers []string
	var text string
	for k, ev := range evs {
		if ev.prepare != nil {
			if err := ev.prepare(ctx); err != nil {
				return coldRun{}, nil, fmt.Errorf("before invoke %d: %w", k+1, err)
			}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/2015-03-31/functions/function/invocations", bytes.NewReader(ev.event))
		if err != nil {
			return coldRun{}, nil, err
		}
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return coldRun{}, nil, err
		}
		out, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		walls = append(walls, time.Since(start))
		if err != nil {
			return coldRun{}, nil, err
		}
		answer, err := ev.check(out)
		if err != nil {
			return coldRun{}, nil, fmt.Errorf("invoke %d %w\n%s", k+1, err, readFile(logPath))
		}
		answers = append(answers, answer)
		// The emulator prints its REPORT line just after it answers.
		for wait := time.Now().Add(5 * time.Second); ; {
			text = readFile(logPath)
			if strings.Count(text, "REPORT RequestId") > k || time.Now().After(wait) {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	wall := walls[0]
	r := coldRun{wall: wall, loadMs: -1}
	var ok [3]bool
	r.init, ok[0] = matchFloat(initReport, text)
	r.invoke, ok[1] = matchFloat(invokeRTDone, text)
	if all := invokeRTDone.FindAllStringSubmatch(text, -1); len(all) > 1 {
		r.second, _ = strconv.ParseFloat(all[1][1], 64)
	}
	r.report, ok[2] = matchFloat(reportInit, text)
	if !ok[0] || !ok[1] || !ok[2] {
		return coldRun{}, nil, fmt.Errorf("the emulator's log lacks INIT REPORT, INVOKE RTDONE or REPORT:\n%s", text)
	}
	for _, line := range strings.Split(text, "\n") {
		var l struct {
			Msg    string   `json:"msg"`
			InitMs *float64 `json:"init_ms"`
		}
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "init" && l.InitMs != nil {
			r.loadMs = *l.InitMs
		}
	}
	return r, answers, nil
}

func matchFloat(re *regexp.Regexp, s string) (float64, bool) {
	m := re.FindStringSubmatch(s)
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(m[1], 64)
	return v, err == nil
}

func readFile(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// sameRecord checks that each answer is the record asked for: the peer and get-record read
// the same seeded items, so that their first invokes do the same work.
func sameRecord(answers []string, want ...audit.RecordID) error {
	for k, body := range answers {
		var rec struct {
			RecordID string `json:"record_id"`
		}
		if err := json.Unmarshal([]byte(body), &rec); err != nil || rec.RecordID != want[k].String() {
			return fmt.Errorf("invoke %d answered %q, want record %s", k+1, body, want[k])
		}
	}
	return nil
}

// createdID reads the record_id of a create's answer.
func createdID(body string) (audit.RecordID, error) {
	var rec struct {
		RecordID string `json:"record_id"`
	}
	if err := json.Unmarshal([]byte(body), &rec); err != nil {
		return audit.RecordID{}, fmt.Errorf("create answered %q: %w", body, err)
	}
	return audit.ParseRecordID(rec.RecordID)
}
