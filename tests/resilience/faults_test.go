package resilience

import (
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bufdir/export-audit/pkg/faults"
)

// rsRun drives exports through their whole life over HTTP from several goroutines, as the
// export service and an administrator do, keeps what the API acknowledged and counts the
// answers. A call that fails is sent again up to retries times, as the export service does.
type rsRun struct {
	e       *rsEnv
	ledger  *rsLedger
	org     string
	token   string
	retries int

	mu        sync.Mutex
	calls     int
	first     map[int]int // status of each call's first answer (0: no answer)
	oddities  []string    // first answers that are not 2xx, for the log
	unhealed  []string    // calls still failing after every retry
	latencies []time.Duration
}

func newRSRun(e *rsEnv, org string, retries int, token string) *rsRun {
	l := newRSLedger()
	l.tokens[org] = token
	return &rsRun{e: e, ledger: l, org: org, token: token, retries: retries, first: map[int]int{}}
}

// call sends one request until done says the answer is final, at most 1+retries times.
func (r *rsRun) call(method, path string, body any, done func(rsReply) bool) (rsReply, bool) {
	var last rsReply
	for attempt := 0; attempt <= r.retries; attempt++ {
		start := time.Now()
		rep, err := r.e.rsSend(method, path, r.token, body)
		took := time.Since(start)
		if err != nil {
			rep = rsReply{method: method, path: path, body: []byte(err.Error())}
		}
		r.mu.Lock()
		if attempt == 0 {
			r.calls++
			r.first[rep.status]++
			r.latencies = append(r.latencies, took)
			if rep.status < 200 || rep.status > 299 {
				r.oddities = append(r.oddities, rep.String())
			}
		}
		r.mu.Unlock()
		last = rep
		if err == nil && done(rep) {
			return rep, true
		}
	}
	r.mu.Lock()
	r.unhealed = append(r.unhealed, last.String())
	r.mu.Unlock()
	return last, false
}

func is(statuses ...int) func(rsReply) bool {
	return func(r rsReply) bool {
		for _, s := range statuses {
			if r.status == s {
				return true
			}
		}
		return false
	}
}

// life takes one export through create, read, processing, completed (with a file) or failed,
// a filtered list, and for some a delete.
func (r *rsRun) life(export string, n int) error {
	rep, ok := r.call("POST", rsBase, rsBody(export), is(http.StatusCreated, http.StatusOK))
	if !ok {
		return nil
	}
	rec, err := rep.rec()
	if err != nil {
		return err
	}
	r.ledger.create(r.org, rec)
	path := rsBase + "/" + rec.RecordID
	r.call("GET", path, nil, is(http.StatusOK))
	if _, ok := r.call("PUT", path+"/status", map[string]any{"status": "processing"}, is(http.StatusOK)); ok {
		r.ledger.move(rec.RecordID, "processing")
	}
	final := map[string]any{"status": "completed", "activity_count": n}
	if n%3 == 0 {
		final = map[string]any{"status": "failed", "failure_reason": "the export service gave up"}
	}
	if _, ok := r.call("PUT", path+"/status", final, is(http.StatusOK)); ok {
		r.ledger.move(rec.RecordID, final["status"].(string))
	}
	if n%3 != 0 {
		url := "https://storage.example.no/exports/" + export + ".csv"
		if _, ok := r.call("PUT", path+"/file-url", map[string]any{"file_url": url}, is(http.StatusOK)); ok {
			r.ledger.file(rec.RecordID, url)
		}
	}
	if lr, ok := r.call("GET", rsBase+"?export_id="+export, nil, is(http.StatusOK)); ok {
		if !strings.Contains(string(lr.body), `"total":1}`) || !strings.Contains(string(lr.body), rec.RecordID) {
			return fmt.Errorf("export %s: want exactly its one record %s listed, got %s", export, rec.RecordID, lr)
		}
	}
	if n%4 == 0 {
		// Nobody else deletes this record, so a 404 means an earlier attempt of ours did. A
		// delete answered 5xx may or may not have been applied, like any call that timed out.
		if _, ok := r.call("DELETE", path, nil, is(http.StatusOK, http.StatusNotFound)); ok {
			r.ledger.del(rec.RecordID)
		} else {
			r.ledger.maybeDel(rec.RecordID)
		}
	}
	return nil
}

// drive runs workers goroutines, each taking perWorker exports through their life.
func (r *rsRun) drive(t *testing.T, prefix string, workers, perWorker int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, workers*perWorker)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWorker; i++ {
				n := w*perWorker + i
				if err := r.life(fmt.Sprintf("%s-%03d", prefix, n), n); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func (r *rsRun) firstAnswers() string {
	var keys []int
	for k := range r.first {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d×%d", r.first[k], k))
	}
	return strings.Join(parts, " ")
}

// rsAll runs each function in its own goroutine and waits for all. Tests whose time goes in
// waiting (the SDK's backoff, slow answers) set up and check in their own goroutine and only
// wait together, since go test runs no more parallel tests than there are CPUs.
func rsAll(fns ...func()) {
	var wg sync.WaitGroup
	for _, fn := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn()
		}()
	}
	wg.Wait()
}

// TestFaults_TwentyPercentThrottlingEveryCallSucceeds: with one DynamoDB call in five throttled,
// every API call still answers 2xx at its first attempt, through the SDK's retries, and
// everything acknowledged is stored whole.
func TestFaults_TwentyPercentThrottlingEveryCallSucceeds(t *testing.T) {
	t.Parallel()
	kinds := []faults.Kind{faults.Throttling, faults.ProvisionedThroughputExceeded}
	envs := make([]*rsEnv, len(kinds))
	runs := make([]*rsRun, len(kinds))
	var drives []func()
	for i, kind := range kinds {
		envs[i] = rsStart(t, faults.New(uint64(20+i)))
		runs[i] = newRSRun(envs[i], "org-throttled", 0, rsToken(t, "org-throttled", "usr-export-service"))
		envs[i].inj.Set(faults.Rule{Kind: kind, Rate: 0.2})
		drives = append(drives, func() { runs[i].drive(t, "exp-thr", 12, 2) })
	}
	rsAll(drives...)
	for i, kind := range kinds {
		t.Run(string(kind), func(t *testing.T) {
			e, run := envs[i], runs[i]
			counts := e.inj.Counts()
			if len(run.oddities) > 0 {
				t.Errorf("want every call answered 2xx through the SDK's retries; %d of %d were not: %s",
					len(run.oddities), run.calls, strings.Join(run.oddities, "\n"))
			}
			f := e.rsCheck(t)
			read := e.rsVerify(t, run.ledger)
			t.Logf("%d API calls, first answers %s; injected %s; table: %d live, %d tombstones; %d acknowledged records read back",
				run.calls, run.firstAnswers(), counts, f.live, f.tombstones, read)
		})
	}
}

// rsOneRecord creates a record of org (faults off) and returns it.
func rsOneRecord(t *testing.T, e *rsEnv, token, export string) rsRec {
	t.Helper()
	r := e.rsMust(t, "POST", rsBase, token, rsBody(export))
	if r.status != http.StatusCreated {
		t.Fatalf("create %s: %s", export, r)
	}
	rec, err := r.rec()
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// rsWant503 checks a throttling or timeout answer: 503, a problem document and Retry-After.
func rsWant503(t *testing.T, r rsReply, codes ...string) {
	t.Helper()
	code, err := rsProblem(r, http.StatusServiceUnavailable)
	if err != nil {
		t.Error(err)
		return
	}
	if r.header.Get("Retry-After") == "" {
		t.Errorf("want a Retry-After header on %s", r)
	}
	for _, c := range codes {
		if c == code {
			return
		}
	}
	t.Errorf("want code %v, got %s", codes, r)
}

// TestFaults_PersistentFaultsAre503WithRetryAfter: when DynamoDB throttles every call, or
// every call of one operation, each route on both prefixes answers 503 with Retry-After once
// the SDK's retries are spent, never 500, and nothing is written; when every call is slower
// than the SDK's attempt timeout, the answer is 503 too, before the function's deadline.
func TestFaults_PersistentFaultsAre503WithRetryAfter(t *testing.T) {
	t.Parallel()
	type req struct {
		method, path string
		body         any
		reaches      string // the operations the route uses
	}
	type variant struct {
		rule   faults.Rule
		codes  []string // the 503's code
		env    *rsEnv
		rec    rsRec
		tok    string
		reqs   []req
		reps   []rsReply
		errs   []error
		before rsSnapshot
	}
	variants := []*variant{
		{rule: faults.Rule{Kind: faults.Throttling, Rate: 1}, codes: []string{"throttled"}},
		{rule: faults.Rule{Kind: faults.ProvisionedThroughputExceeded, Rate: 1}, codes: []string{"throttled"}},
		{rule: faults.Rule{Kind: faults.Throttling, Rate: 1, Ops: []string{"TransactWriteItems"}}, codes: []string{"throttled"}},
		{rule: faults.Rule{Kind: faults.ProvisionedThroughputExceeded, Rate: 1, Ops: []string{"UpdateItem"}}, codes: []string{"throttled"}},
		{rule: faults.Rule{Kind: faults.Slow, Rate: 1, Delay: 3 * time.Second, Ops: []string{"UpdateItem"}}, codes: []string{"timeout"}},
	}
	var calls []func()
	for i, v := range variants {
		v.env = rsStart(t, faults.New(uint64(30+i)))
		v.tok = rsToken(t, "org-busy", "usr-busy")
		v.rec = rsOneRecord(t, v.env, v.tok, "exp-busy-1")
		v.before = v.env.rsScan(t)
		for _, p := range []string{rsBase, rsBase + rsBase} {
			id := p + "/" + v.rec.RecordID
			v.reqs = append(v.reqs,
				req{"GET", p, nil, "Query"},
				req{"GET", id, nil, "GetItem"},
				req{"POST", p, rsBody("exp-busy-2"), "UpdateItem TransactWriteItems"},
				req{"PUT", id + "/status", map[string]any{"status": "processing"}, "UpdateItem"},
				req{"PUT", id + "/file-url", map[string]any{"file_url": "https://storage.example.no/a.csv"}, "UpdateItem"},
				req{"DELETE", id, nil, "GetItem TransactWriteItems"},
			)
		}
		// Only the routes that use a faulty operation: the others would rightly write.
		v.reqs = slices.DeleteFunc(v.reqs, func(rq req) bool {
			for _, op := range v.rule.Ops {
				if strings.Contains(rq.reaches, op) {
					return false
				}
			}
			return v.rule.Ops != nil
		})
		v.reps, v.errs = make([]rsReply, len(v.reqs)), make([]error, len(v.reqs))
		v.env.inj.Set(v.rule)
		for j, rq := range v.reqs {
			calls = append(calls, func() { v.reps[j], v.errs[j] = v.env.rsSend(rq.method, rq.path, v.tok, rq.body) })
		}
	}
	rsAll(calls...)
	for _, v := range variants {
		t.Run(fmt.Sprintf("%s on %v", v.rule.Kind, v.rule.Ops), func(t *testing.T) {
			counts := v.env.inj.Counts()
			for j, rq := range v.reqs {
				if v.errs[j] != nil {
					t.Errorf("%s %s: %v", rq.method, rq.path, v.errs[j])
					continue
				}
				rsWant503(t, v.reps[j], v.codes...)
			}
			after := v.env.rsScan(t)
			if len(after.records) != len(v.before.records) || len(after.guards) != len(v.before.guards) ||
				after.stats["org-busy"] != v.before.stats["org-busy"] {
				t.Errorf("want nothing written: records %d→%d, guards %d→%d, live %d→%d",
					len(v.before.records), len(after.records), len(v.before.guards), len(after.guards),
					v.before.stats["org-busy"], after.stats["org-busy"])
			}
			if r := after.records["org-busy|"+v.rec.RecordID]; r.Status != "queued" || r.FileURL != "" || r.DeletedAt != "" {
				t.Errorf("want the record unchanged, got %+v", r)
			}
			v.env.rsCheck(t)
			t.Logf("%d routes answered 503 with Retry-After; injected %s", len(v.reqs), counts)
		})
	}
}

// TestFaults_TransactionConflictOnAnItemIsRetried: DynamoDB refuses an UpdateItem on an item
// that an ongoing transaction holds (a status or file change meeting a delete) with
// TransactionConflictException, which is over in milliseconds: the call is retried, not
// answered 500.
func TestFaults_TransactionConflictOnAnItemIsRetried(t *testing.T) {
	t.Parallel()
	e := rsStart(t, faults.New(40))
	tok := rsToken(t, "org-conflict", "usr-conflict")
	rec := rsOneRecord(t, e, tok, "exp-conflict-1")
	e.inj.Set(faults.Rule{Kind: faults.TransactionConflict, Rate: 1, Limit: 2, Ops: []string{"UpdateItem"}})
	r := e.rsMust(t, "PUT", rsBase+"/"+rec.RecordID+"/status", tok, map[string]any{"status": "completed"})
	if r.status != http.StatusOK {
		t.Errorf("status move after 2 transaction conflicts: want 200, got %s", r)
	}
	e.inj.Set(faults.Rule{Kind: faults.TransactionConflict, Rate: 1, Limit: 2, Ops: []string{"UpdateItem"}})
	r = e.rsMust(t, "PUT", rsBase+"/"+rec.RecordID+"/file-url", tok, map[string]any{"file_url": "https://storage.example.no/c.csv"})
	if r.status != http.StatusOK {
		t.Errorf("file URL after 2 transaction conflicts: want 200, got %s", r)
	}
	e.rsCheck(t)
}

// TestFaults_StoreRetriesCancelledTransactions: a TransactWriteItems cancelled because another
// transaction held one of its items is tried again by the store (the SDK does not), up to its
// limit of 5 attempts; past it the answer is a 503 "busy" with Retry-After, and nothing is written.
func TestFaults_StoreRetriesCancelledTransactions(t *testing.T) {
	t.Parallel()
	e := rsStart(t, faults.New(41))
	tok := rsToken(t, "org-tx", "usr-tx")

	e.inj.Set(faults.Rule{Kind: faults.TransactionConflictCanceled, Rate: 1, Limit: 4})
	r := e.rsMust(t, "POST", rsBase, tok, rsBody("exp-tx-1"))
	if r.status != http.StatusCreated {
		t.Fatalf("create after 4 cancelled transactions: want 201, got %s", r)
	}
	rec, _ := r.rec()
	e.inj.Set(faults.Rule{Kind: faults.TransactionConflictCanceled, Rate: 1, Limit: 4})
	if r := e.rsMust(t, "DELETE", rsBase+"/"+rec.RecordID, tok, nil); r.status != http.StatusOK {
		t.Errorf("delete after 4 cancelled transactions: want 200, got %s", r)
	}
	e.inj.Set(faults.Rule{Kind: faults.TransactionConflictCanceled, Rate: 1, Limit: 5})
	r = e.rsMust(t, "POST", rsBase, tok, rsBody("exp-tx-2"))
	if code, err := rsProblem(r, http.StatusServiceUnavailable); err != nil || code != "busy" ||
		r.header.Get("Retry-After") == "" || strings.Contains(string(r.body), "Transaction") {
		t.Errorf("create after 5 cancelled transactions: want a 503 busy with Retry-After, got %s (%v)", r, err)
	}
	counts := e.inj.Counts()
	if counts.Injected[faults.TransactionConflictCanceled] != 13 {
		t.Errorf("want 4+4+5 cancellations, got %s", counts)
	}
	if f := e.rsCheck(t); f.live != 0 || f.tombstones != 1 || f.guards != 0 {
		t.Errorf("want one tombstone and nothing else, got %+v", f)
	}
}

// TestFaults_EveryKindLosesNothing: under each kind of fault, on every operation at a fixed
// rate, exports go through their whole life with the export service's own retries. Whatever a
// first answer was, afterwards a create wrote its record, guard and count together or not at
// all, a status move is whole or absent, every history is legal, and everything acknowledged
// with a 2xx reads back. Throttling is never a 500.
func TestFaults_EveryKindLosesNothing(t *testing.T) {
	t.Parallel()
	cases := []struct {
		rule faults.Rule
		// allowed are the first answers besides 2xx that this fault may cause.
		allowed []int
	}{
		{faults.Rule{Kind: faults.Throttling, Rate: 0.3}, []int{503}},
		{faults.Rule{Kind: faults.ProvisionedThroughputExceeded, Rate: 0.3}, []int{503}},
		{faults.Rule{Kind: faults.InternalServerError, Rate: 0.3}, []int{500}},
		{faults.Rule{Kind: faults.TransactionConflict, Rate: 0.3, Ops: []string{"UpdateItem", "PutItem", "DeleteItem"}}, []int{503}},
		{faults.Rule{Kind: faults.TransactionConflictCanceled, Rate: 0.3}, []int{503}},
		{faults.Rule{Kind: faults.Slow, Rate: 0.3, Delay: 30 * time.Millisecond}, nil},
		{faults.Rule{Kind: faults.Slow, Rate: 0.05, Delay: 2500 * time.Millisecond, Limit: 3}, nil},
		{faults.Rule{Kind: faults.DropBefore, Rate: 0.2}, []int{500}},
		// Dropped after the engine applied the call: the SDK sends it again. A transaction's
		// retry is answered from its ClientRequestToken (see
		// TestFaults_DroppedAfterForwardTransaction); the other calls are safe to run again.
		{faults.Rule{Kind: faults.DropAfter, Rate: 0.2}, nil},
	}
	var (
		names  []string
		envs   []*rsEnv
		runs   []*rsRun
		drives []func()
	)
	for i, tc := range cases {
		name := string(tc.rule.Kind)
		if tc.rule.Delay > 0 {
			name += "/" + tc.rule.Delay.String()
		}
		names = append(names, name)
		envs = append(envs, rsStart(t, faults.New(uint64(100+i))))
		runs = append(runs, newRSRun(envs[i], "org-faulty", 6, rsToken(t, "org-faulty", "usr-faulty")))
		envs[i].inj.Set(tc.rule)
		drives = append(drives, func() { runs[i].drive(t, "exp-fault", 12, 1) })
	}
	rsAll(drives...)
	for i, tc := range cases {
		t.Run(names[i], func(t *testing.T) {
			e, run := envs[i], runs[i]
			counts := e.inj.Counts()
			e.inj.Set()
			for _, s := range run.unhealed {
				t.Errorf("want every call to succeed once the export service retries, still failing: %s", s)
			}
			for status := range run.first {
				if status >= 200 && status <= 299 || slices.Contains(tc.allowed, status) {
					continue
				}
				t.Errorf("first answer %d is not one %s may cause; odd answers:\n%s\nerror log:\n%s",
					status, tc.rule.Kind, strings.Join(run.oddities, "\n"), e.logs)
			}
			for _, o := range run.oddities {
				if strings.Contains(o, "→ 5") && !strings.Contains(o, `"code":"internal_error"`) && !strings.Contains(o, `"code":"throttled"`) {
					t.Errorf("want a 5xx to be a bare problem document, got %s", o)
				}
			}
			if counts.Total() == 0 {
				t.Errorf("want faults injected, got %s", counts)
			}
			f := e.rsCheck(t)
			read := e.rsVerify(t, run.ledger)
			t.Logf("%d API calls, first answers %s; injected %s; table: %d live, %d tombstones, %d guards; %d acknowledged records read back",
				run.calls, run.firstAnswers(), counts, f.live, f.tombstones, f.guards, read)
		})
	}
}

// TestFaults_DroppedAfterForwardTransaction: the nasty case. The engine applied a create's or a
// delete's TransactWriteItems, but the connection broke before the answer, so the SDK sent the
// transaction again with the same ClientRequestToken. DynamoDB, and the fault layer in front of
// the engine, answer that retry with the first success instead of running it again (where it
// would meet its own write), so the API answers as if nothing had been lost: 201 and 200.
func TestFaults_DroppedAfterForwardTransaction(t *testing.T) {
	t.Parallel()
	e := rsStart(t, faults.New(50))
	tok := rsToken(t, "org-dropped", "usr-dropped")

	e.inj.Set(faults.Rule{Kind: faults.DropAfter, Rate: 1, Limit: 1, Ops: []string{"TransactWriteItems"}})
	first := e.rsMust(t, "POST", rsBase, tok, rsBody("exp-dropped-1"))
	f := e.rsCheck(t)
	if f.live != 1 || f.guards != 1 {
		t.Fatalf("want the dropped create written once, whole: %+v", f)
	}
	if first.status != http.StatusCreated || first.header.Get("Idempotent-Replayed") != "" {
		t.Errorf("create whose transaction's answer was lost: want 201, got %s", first)
	}
	again := e.rsMust(t, "POST", rsBase, tok, rsBody("exp-dropped-1"))
	rec, err := again.rec()
	if err != nil || again.status != http.StatusOK || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("want the export service's retry answered 200 with the stored record, got %s", again)
	}

	e.inj.Set(faults.Rule{Kind: faults.DropAfter, Rate: 1, Limit: 1, Ops: []string{"TransactWriteItems"}})
	first = e.rsMust(t, "DELETE", rsBase+"/"+rec.RecordID, tok, nil)
	f = e.rsCheck(t)
	if f.live != 0 || f.tombstones != 1 || f.guards != 0 {
		t.Fatalf("want the dropped delete applied once, whole: %+v", f)
	}
	if first.status != http.StatusOK {
		t.Errorf("delete whose transaction's answer was lost: want 200, got %s", first)
	}
	if r := e.rsMust(t, "GET", rsBase+"/"+rec.RecordID, tok, nil); r.status != http.StatusNotFound {
		t.Errorf("want the deleted record gone, got %s", r)
	}
	if c := e.inj.Counts(); c.Repeats["outcome"] != 2 {
		t.Errorf("want both SDK retries answered from their ClientRequestToken, got %s", c)
	}
}

// TestFaults_SlowAttemptIsSentAgain: a call slower than the SDK's 2 s attempt timeout is sent
// again, and the move it carried is applied once. (Every call that slow: see
// TestFaults_PersistentFaultsAre503WithRetryAfter.)
func TestFaults_SlowAttemptIsSentAgain(t *testing.T) {
	t.Parallel()
	e := rsStart(t, faults.New(60))
	tok := rsToken(t, "org-slow", "usr-slow")
	rec := rsOneRecord(t, e, tok, "exp-slow-1")
	path := rsBase + "/" + rec.RecordID

	e.inj.Set(faults.Rule{Kind: faults.Slow, Rate: 1, Limit: 1, Delay: 2500 * time.Millisecond, Ops: []string{"UpdateItem"}})
	r := e.rsMust(t, "PUT", path+"/status", tok, map[string]any{"status": "processing"})
	moved, err := r.rec()
	if err != nil || r.status != http.StatusOK || len(moved.History) != 2 {
		t.Errorf("want one slow attempt retried and the move applied once, got %s", r)
	}

	counts := e.inj.Counts()
	e.rsCheck(t)
	t.Logf("injected %s", counts)
}
