package resilience

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bufdir/export-audit/internal/testkit"
)

// loadFor is how long the load test drives the API in go test; bounded, never asserted on.
const loadFor = 3 * time.Second

// maxLoadExports caps the exports of one load run whatever the machine's speed.
const maxLoadExports = 2000

// TestLoad_ConcurrentClientsLoseNothing: 12 clients of 3 organisations create, move, attach,
// read, list and delete on the local API (loopback only) for a fixed time. Afterwards every
// acknowledged record is there and whole and the table keeps every invariant. The throughput
// and latencies are logged, not asserted: this is a correctness test under load.
func TestLoad_ConcurrentClientsLoseNothing(t *testing.T) {
	t.Parallel()
	e := startAPI(t, nil)
	orgs := []string{"org-load-1", "org-load-2", "org-load-3"}
	runs := make([]*driver, len(orgs))
	for i, org := range orgs {
		runs[i] = newDriver(e, org, 0, testkit.Token(t, org, "usr-load"))
	}
	const clients = 12
	var exports atomic.Int64
	deadline := time.Now().Add(loadFor)
	start := time.Now()
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run := runs[c%len(runs)]
			for time.Now().Before(deadline) {
				n := int(exports.Add(1))
				if n > maxLoadExports {
					return
				}
				if err := run.life(fmt.Sprintf("exp-load-%05d", n), n); err != nil {
					t.Error(err)
				}
				// An administrator's look at the first page now and then.
				if n%5 == 0 {
					run.call("GET", base+"?limit=20", nil, is(200))
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	calls, records := 0, 0
	var lat []time.Duration
	for _, run := range runs {
		for _, o := range run.oddities {
			t.Errorf("want every call under load answered 2xx, got %s", o)
		}
		calls += run.calls
		lat = append(lat, run.latencies...)
		records += e.verify(t, run.ledger)
	}
	f := e.Check(t)
	if records == 0 || f.Orgs != len(orgs) {
		t.Errorf("want records of %d organisations, got %d records, %+v", len(orgs), records, f)
	}
	slices.Sort(lat)
	t.Logf("load: %d clients, %v: %d API calls (%.0f/s), p50 %v, p99 %v; %d acknowledged records read back, table %d live / %d tombstones",
		clients, elapsed.Round(time.Millisecond), calls, float64(calls)/elapsed.Seconds(),
		percentile(lat, 50).Round(time.Microsecond), percentile(lat, 99).Round(time.Microsecond), records, f.Live, f.Tombstones)
}

// BenchmarkLoad_ExportLife: each iteration takes one export through its life on the local API
// (create, read, processing, completed or failed, file URL, filtered list, a delete for one in
// four: about 7 calls) from concurrent clients over loopback. Reports API calls per second and
// the calls' p50 and p99 latency. Run: go test -run '^$' -bench Load ./tests/resilience/
func BenchmarkLoad_ExportLife(b *testing.B) {
	e := startAPI(b, nil)
	run := newDriver(e, "org-bench", 0, testkit.Token(b, "org-bench", "usr-bench"))
	var n atomic.Int64
	b.SetParallelism(4)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(n.Add(1))
			if err := run.life(fmt.Sprintf("exp-bench-%07d", i), i); err != nil {
				b.Error(err)
			}
		}
	})
	elapsed := time.Since(start)
	b.StopTimer()
	if len(run.oddities) > 0 {
		b.Errorf("want every call answered 2xx, %d were not: %s", len(run.oddities), strings.Join(run.oddities[:min(5, len(run.oddities))], "\n"))
	}
	lat := slices.Clone(run.latencies)
	slices.Sort(lat)
	b.ReportMetric(float64(run.calls)/elapsed.Seconds(), "calls/s")
	b.ReportMetric(float64(percentile(lat, 50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(percentile(lat, 99).Microseconds())/1000, "p99-ms")
}
