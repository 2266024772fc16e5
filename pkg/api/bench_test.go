package api_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/bufdir/export-audit/internal/app"
	"github.com/bufdir/export-audit/internal/perf"
	"github.com/bufdir/export-audit/internal/testkit"
	"github.com/bufdir/export-audit/pkg/api"
	"github.com/bufdir/export-audit/pkg/audit"
)

// The benchmarks drive each route's handler (api.Handle, with the event API Gateway sends) and,
// beside it, the bare DynamoDB calls the route needs, against the embedded engine. The engine
// runs in a child process (this test binary again), so that -benchmem counts the service's
// allocations and the SDK's, not the engine's. make bench runs them with a fixed count
// (-benchtime 200x) and reports them in docs/performance.md.

// engineEnv, when set, makes the test binary serve the engine on that address instead.
const engineEnv = "BUFDIR_BENCH_ENGINE_ADDR"

// init turns the test binary into the engine when a benchmark starts it as one; it leaves
// TestMain to the package's tests.
func init() {
	if addr := os.Getenv(engineEnv); addr != "" {
		serveEngine(addr)
		os.Exit(0)
	}
}

// serveEngine serves the engine until the parent process goes away.
func serveEngine(addr string) {
	if _, err := testkit.StartEngine(addr, testkit.EngineOptions{}); err != nil {
		os.Exit(2)
	}
	parent := os.Getppid()
	for range time.Tick(200 * time.Millisecond) {
		if os.Getppid() != parent {
			os.Exit(0)
		}
	}
}

const (
	benchTable = "bufdir-export-audit-bench"
	benchOrg   = "org-bench-042"
	benchSub   = "usr-0042"
)

type benchEnv struct {
	deps   *api.Deps
	raw    *perf.Raw
	caller perf.Caller
}

// newBenchEnv starts an engine of its own and the service's dependencies as a function builds
// them, logging and writing metrics as it does (into io.Discard).
func newBenchEnv(b *testing.B) *benchEnv {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), engineEnv+"="+addr)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("the engine did not listen on %s", addr)
		}
	}
	ctx := context.Background()
	cfg := testkit.Config()
	cfg.TableName, cfg.DynamoDBEndpoint = benchTable, "http://"+addr
	deps, s, err := app.New(cfg, app.NewLogger(io.Discard, slog.LevelInfo), io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.EnsureTable(ctx); err != nil {
		b.Fatal(err)
	}
	db := testkit.RawClient(cfg.DynamoDBEndpoint)
	shape, err := perf.LearnShape(ctx, db, benchTable)
	if err != nil {
		b.Fatal(err)
	}
	return &benchEnv{deps: deps, raw: &perf.Raw{DB: db, Table: benchTable, Shape: shape}, caller: perf.Caller{Org: benchOrg, Sub: benchSub}}
}

// seed writes n queued records of the benchmark's organisation from day on.
func (e *benchEnv) seed(b *testing.B, first time.Time, n int, st func(int) audit.Status) []audit.RecordID {
	b.Helper()
	ids, err := e.raw.Shape.Seed(context.Background(), e.raw.DB, benchTable, perf.Batch{
		Org: benchOrg, N: n, FirstDay: first, PerDay: max(n, 100), Status: st,
	}, 2)
	if err != nil {
		b.Fatal(err)
	}
	return ids
}

func queued(int) audit.Status { return audit.StatusQueued }

var firstDay = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// benchRoute is one route: its n calls, as events for the handler and as bare calls.
type benchRoute struct {
	name string
	op   api.Operation
	want int
	// calls seeds what n calls need and returns the i-th request and the i-th bare call.
	calls func(b *testing.B, e *benchEnv, n int) (func(i int) perf.Request, func(i int) perf.Op)
}

var benchRoutes = []benchRoute{
	{"get", api.GetRecord, 200, func(b *testing.B, e *benchEnv, n int) (func(int) perf.Request, func(int) perf.Op) {
		ids := e.seed(b, firstDay, 20, nil)
		return func(i int) perf.Request { return perf.Get(ids[i%len(ids)]) },
			func(i int) perf.Op { return e.raw.Get(benchOrg, ids[i%len(ids)]) }
	}},
	{"list", api.ListRecords, 200, func(b *testing.B, e *benchEnv, n int) (func(int) perf.Request, func(int) perf.Op) {
		e.seed(b, firstDay, 20, nil)
		return func(int) perf.Request { return perf.List("") },
			func(int) perf.Op { return e.raw.ListPage(benchOrg, 20) }
	}},
	{"create", api.CreateRecord, 201, func(b *testing.B, e *benchEnv, n int) (func(int) perf.Request, func(int) perf.Op) {
		specs := perf.Batch{Org: benchOrg, N: n, FirstDay: firstDay, PerDay: max(n, 100), Status: queued, Prefix: "exp-raw"}.Specs()
		return func(i int) perf.Request { return perf.Create("exp-bench-" + strconv.Itoa(i)) },
			func(i int) perf.Op { return e.raw.Create(specs[i]) }
	}},
	{"status", api.UpdateStatus, 200, func(b *testing.B, e *benchEnv, n int) (func(int) perf.Request, func(int) perf.Op) {
		ids := e.seed(b, firstDay, n, queued)
		return func(i int) perf.Request { return perf.Status(ids[i], audit.StatusProcessing) },
			func(i int) perf.Op {
				return e.raw.Status(benchOrg, ids[i], audit.StatusProcessing, benchSub)
			}
	}},
	{"file-url", api.AttachFileURL, 200, func(b *testing.B, e *benchEnv, n int) (func(int) perf.Request, func(int) perf.Op) {
		ids := e.seed(b, firstDay, n, queued)
		return func(i int) perf.Request { return perf.FileURL(ids[i]) },
			func(i int) perf.Op { return e.raw.FileURL(benchOrg, ids[i]) }
	}},
	{"delete", api.DeleteRecord, 200, func(b *testing.B, e *benchEnv, n int) (func(int) perf.Request, func(int) perf.Op) {
		ids := e.seed(b, firstDay, n, queued)
		return func(i int) perf.Request { return perf.Delete(ids[i]) },
			func(i int) perf.Op { return e.raw.Delete(benchOrg, ids[i], benchSub) }
	}},
}

// BenchmarkHandler runs each route's handler on events built beforehand, as API Gateway and
// the Lambda runtime would hand them over.
func BenchmarkHandler(b *testing.B) {
	for _, r := range benchRoutes {
		b.Run(r.name, func(b *testing.B) {
			e := newBenchEnv(b)
			req, _ := r.calls(b, e, b.N)
			now := time.Now()
			evs := prepare(b.N, func(i int) events.APIGatewayV2HTTPRequest {
				return req(i).Event(e.caller, "bench-"+strconv.Itoa(i), now)
			})
			h := api.Handle(e.deps, r.op)
			ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
			defer cancel()
			ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: "bench"})
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				resp, err := h(ctx, evs[i])
				if err != nil || resp.StatusCode != r.want {
					b.Fatalf("%s: %d %s, want %d", r.name, resp.StatusCode, resp.Body, r.want)
				}
			}
		})
	}
}

// prepare makes the n inputs of a benchmark beforehand, so that making them is not measured.
func prepare[T any](n int, input func(int) T) []T {
	out := make([]T, n)
	for i := range out {
		out[i] = input(i)
	}
	return out
}

// BenchmarkBaseline makes the bare DynamoDB calls each route needs, prepared beforehand.
func BenchmarkBaseline(b *testing.B) {
	for _, r := range benchRoutes {
		b.Run(r.name, func(b *testing.B) {
			e := newBenchEnv(b)
			_, raw := r.calls(b, e, b.N)
			ops := prepare(b.N, raw)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := ops[i](ctx); err != nil {
					b.Fatalf("%s: %v", r.name, err)
				}
			}
		})
	}
}
