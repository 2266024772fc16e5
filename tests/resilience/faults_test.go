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

	"github.com/bufdir/export-audit/internal/testkit"
	"github.com/bufdir/export-audit/pkg/faults"
)

// driver drives exports through their whole life over HTTP from several goroutines, as the
// export service and an administrator do, keeps what the API acknowledged and counts the
// answers. A call that fails is sent again up to retries times, as the export service does.
type driver struct {
	e       *env
	ledger  *ledger
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

func newDriver(e *env, org string, retries int, token string) *driver {
	l := newLedger()
	l.tokens[org] = token
	return &driver{e: e, ledger: l, org: org, token: token, retries: retries, first: map[int]int{}}
}

// call sends one request until done says the answer is final, at most 1+retries times.
func (r *driver) call(method, path string, body any, done func(testkit.Reply) bool) (testkit.Reply, bool) {
	var last testkit.Reply
	for attempt := 0; attempt <= r.retries; attempt++ {
		start := time.Now()
		rep, err := r.e.Send(method, path, r.token, body)
		took := time.Since(start)
		if err != nil {
			rep = testkit.Reply{Method: method, Path: path, Body: []byte(err.Error())}
		}
		r.mu.Lock()
		if attempt == 0 {
			r.calls++
			r.first[rep.Status]++
			r.latencies = append(r.latencies, took)
			if rep.Status < 200 || rep.Status > 299 {
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

func is(statuses ...int) func(testkit.Reply) bool {
	return func(r testkit.Reply) bool {
		for _, s := range statuses {
			if r.Status == s {
				return true
			}
		}
		return false
	}
}

// life takes one export through create, read, processing, completed (with a file) or failed,
// a filtered list, and for some a delete.
func (r *driver) life(export string, n int) error {
	rep, ok := r.call("POST", base, createBody(export), is(http.StatusCreated, http.StatusOK))
	if !ok {
		return nil
	}
	rec, err := rep.ParseRecord()
	if err != nil {
		return err
	}
	r.ledger.create(r.org, rec)
	path := base + "/" + rec.RecordID
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
	if lr, ok := r.call("GET", base+"?export_id="+export, nil, is(http.StatusOK)); ok {
		if !strings.Contains(string(lr.Body), `"total":1}`) || !strings.Contains(string(lr.Body), rec.RecordID) {
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
func (r *driver) drive(t *testing.T, prefix string, workers, perWorker int) {
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

func (r *driver) firstAnswers() string {
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

// inParallel runs each function in its own goroutine and waits for all. Tests whose time goes in
// waiting (the SDK's backoff, slow answers) set up and check in their own goroutine and only
// wait together, since go test runs no more parallel tests than there are CPUs.
func inParallel(fns ...func()) {
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
	envs := make([]*env, len(kinds))
	runs := make([]*driver, len(kinds))
	var drives []func()
	for i, kind := range kinds {
		envs[i] = startAPI(t, faults.New(uint64(20+i)))
		runs[i] = newDriver(envs[i], "org-throttled", 0, testkit.Token(t, "org-throttled", "usr-export-service"))
		envs[i].Faults.Set(faults.Rule{Kind: kind, Rate: 0.2})
		drives = append(drives, func() { runs[i].drive(t, "exp-thr", 12, 2) })
	}
	inParallel(drives...)
	for i, kind := range kinds {
		t.Run(string(kind), func(t *testing.T) {
			e, run := envs[i], runs[i]
			counts := e.Faults.Counts()
			if len(run.oddities) > 0 {
				t.Errorf("want every call answered 2xx through the SDK's retries; %d of %d were not: %s",
					len(run.oddities), run.calls, strings.Join(run.oddities, "\n"))
			}
			f := e.Check(t)
			read := e.verify(t, run.ledger)
			t.Logf("%d API calls, first answers %s; injected %s; table: %d live, %d tombstones; %d acknowledged records read back",
				run.calls, run.firstAnswers(), counts, f.Live, f.Tombstones, read)
		})
	}
}

// oneRecord creates a record of org (faults off) and returns it.
func oneRecord(t *testing.T, e *env, token, export string) testkit.Record {
	t.Helper()
	r := e.Must(t, "POST", base, token, createBody(export))
	if r.Status != http.StatusCreated {
		t.Fatalf("create %s: %s", export, r)
	}
	rec, err := r.ParseRecord()
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// want503 checks a throttling or timeout answer: 503, a problem document and Retry-After.
func want503(t *testing.T, r testkit.Reply, codes ...string) {
	t.Helper()
	p, err := r.ParseProblem(http.StatusServiceUnavailable)
	if err != nil {
		t.Error(err)
		return
	}
	if r.Header.Get("Retry-After") == "" {
		t.Errorf("want a Retry-After header on %s", r)
	}
	for _, c := range codes {
		if c == p["code"] {
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
		env    *env
		rec    testkit.Record
		tok    string
		reqs   []req
		reps   []testkit.Reply
		errs   []error
		before testkit.Snapshot
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
		v.env = startAPI(t, faults.New(uint64(30+i)))
		v.tok = testkit.Token(t, "org-busy", "usr-busy")
		v.rec = oneRecord(t, v.env, v.tok, "exp-busy-1")
		v.before = v.env.Scan(t)
		for _, p := range []string{base, base + base} {
			id := p + "/" + v.rec.RecordID
			v.reqs = append(v.reqs,
				req{"GET", p, nil, "Query"},
				req{"GET", id, nil, "GetItem"},
				req{"POST", p, createBody("exp-busy-2"), "UpdateItem TransactWriteItems"},
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
		v.reps, v.errs = make([]testkit.Reply, len(v.reqs)), make([]error, len(v.reqs))
		v.env.Faults.Set(v.rule)
		for j, rq := range v.reqs {
			calls = append(calls, func() { v.reps[j], v.errs[j] = v.env.Send(rq.method, rq.path, v.tok, rq.body) })
		}
	}
	inParallel(calls...)
	for _, v := range variants {
		t.Run(fmt.Sprintf("%s on %v", v.rule.Kind, v.rule.Ops), func(t *testing.T) {
			counts := v.env.Faults.Counts()
			for j, rq := range v.reqs {
				if v.errs[j] != nil {
					t.Errorf("%s %s: %v", rq.method, rq.path, v.errs[j])
					continue
				}
				want503(t, v.reps[j], v.codes...)
			}
			after := v.env.Scan(t)
			if len(after.Records) != len(v.before.Records) || len(after.Guards) != len(v.before.Guards) ||
				after.Stats["org-busy"] != v.before.Stats["org-busy"] {
				t.Errorf("want nothing written: records %d→%d, guards %d→%d, live %d→%d",
					len(v.before.Records), len(after.Records), len(v.before.Guards), len(after.Guards),
					v.before.Stats["org-busy"], after.Stats["org-busy"])
			}
			if r := after.Records["org-busy|"+v.rec.RecordID]; r.Status != "queued" || r.FileURL != "" || r.DeletedAt != "" {
				t.Errorf("want the record unchanged, got %+v", r)
			}
			v.env.Check(t)
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
	e := startAPI(t, faults.New(40))
	tok := testkit.Token(t, "org-conflict", "usr-conflict")
	rec := oneRecord(t, e, tok, "exp-conflict-1")
	e.Faults.Set(faults.Rule{Kind: faults.TransactionConflict, Rate: 1, Limit: 2, Ops: []string{"UpdateItem"}})
	r := e.Must(t, "PUT", base+"/"+rec.RecordID+"/status", tok, map[string]any{"status": "completed"})
	if r.Status != http.StatusOK {
		t.Errorf("status move after 2 transaction conflicts: want 200, got %s", r)
	}
	e.Faults.Set(faults.Rule{Kind: faults.TransactionConflict, Rate: 1, Limit: 2, Ops: []string{"UpdateItem"}})
	r = e.Must(t, "PUT", base+"/"+rec.RecordID+"/file-url", tok, map[string]any{"file_url": "https://storage.example.no/c.csv"})
	if r.Status != http.StatusOK {
		t.Errorf("file URL after 2 transaction conflicts: want 200, got %s", r)
	}
	e.Check(t)
}

// TestFaults_StoreRetriesCancelledTransactions: a TransactWriteItems cancelled because another
// transaction held one of its items is tried again by the store (the SDK does not), up to its
// limit of 5 attempts; past it the answer is a 503 "busy" with Retry-After, and nothing is written.
func TestFaults_StoreRetriesCancelledTransactions(t *testing.T) {
	t.Parallel()
	e := startAPI(t, faults.New(41))
	tok := testkit.Token(t, "org-tx", "usr-tx")

	e.Faults.Set(faults.Rule{Kind: faults.TransactionConflictCanceled, Rate: 1, Limit: 4})
	r := e.Must(t, "POST", base, tok, createBody("exp-tx-1"))
	if r.Status != http.StatusCreated {
		t.Fatalf("create after 4 cancelled transactions: want 201, got %s", r)
	}
	rec, _ := r.ParseRecord()
	e.Faults.Set(faults.Rule{Kind: faults.TransactionConflictCanceled, Rate: 1, Limit: 4})
	if r := e.Must(t, "DELETE", base+"/"+rec.RecordID, tok, nil); r.Status != http.StatusOK {
		t.Errorf("delete after 4 cancelled transactions: want 200, got %s", r)
	}
	e.Faults.Set(faults.Rule{Kind: faults.TransactionConflictCanceled, Rate: 1, Limit: 5})
	r = e.Must(t, "POST", base, tok, createBody("exp-tx-2"))
	if p, err := r.ParseProblem(http.StatusServiceUnavailable); err != nil || p["code"] != "busy" ||
		r.Header.Get("Retry-After") == "" || strings.Contains(string(r.Body), "Transaction") {
		t.Errorf("create after 5 cancelled transactions: want a 503 busy with Retry-After, got %s (%v)", r, err)
	}
	counts := e.Faults.Counts()
	if counts.Injected[faults.TransactionConflictCanceled] != 13 {
		t.Errorf("want 4+4+5 cancellations, got %s", counts)
	}
	if f := e.Check(t); f.Live != 0 || f.Tombstones != 1 || f.Guards != 0 {
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
		envs   []*env
		runs   []*driver
		drives []func()
	)
	for i, tc := range cases {
		name := string(tc.rule.Kind)
		if tc.rule.Delay > 0 {
			name += "/" + tc.rule.Delay.String()
		}
		names = append(names, name)
		envs = append(envs, startAPI(t, faults.New(uint64(100+i))))
		runs = append(runs, newDriver(envs[i], "org-faulty", 6, testkit.Token(t, "org-faulty", "usr-faulty")))
		envs[i].Faults.Set(tc.rule)
		drives = append(drives, func() { runs[i].drive(t, "exp-fault", 12, 1) })
	}
	inParallel(drives...)
	for i, tc := range cases {
		t.Run(names[i], func(t *testing.T) {
			e, run := envs[i], runs[i]
			counts := e.Faults.Counts()
			e.Faults.Set()
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
			f := e.Check(t)
			read := e.verify(t, run.ledger)
			t.Logf("%d API calls, first answers %s; injected %s; table: %d live, %d tombstones, %d guards; %d acknowledged records read back",
				run.calls, run.firstAnswers(), counts, f.Live, f.Tombstones, f.Guards, read)
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
	e := startAPI(t, faults.New(50))
	tok := testkit.Token(t, "org-dropped", "usr-dropped")

	e.Faults.Set(faults.Rule{Kind: faults.DropAfter, Rate: 1, Limit: 1, Ops: []string{"TransactWriteItems"}})
	first := e.Must(t, "POST", base, tok, createBody("exp-dropped-1"))
	f := e.Check(t)
	if f.Live != 1 || f.Guards != 1 {
		t.Fatalf("want the dropped create written once, whole: %+v", f)
	}
	if first.Status != http.StatusCreated || first.Header.Get("Idempotent-Replayed") != "" {
		t.Errorf("create whose transaction's answer was lost: want 201, got %s", first)
	}
	again := e.Must(t, "POST", base, tok, createBody("exp-dropped-1"))
	rec, err := again.ParseRecord()
	if err != nil || again.Status != http.StatusOK || again.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("want the export service's retry answered 200 with the stored record, got %s", again)
	}

	e.Faults.Set(faults.Rule{Kind: faults.DropAfter, Rate: 1, Limit: 1, Ops: []string{"TransactWriteItems"}})
	first = e.Must(t, "DELETE", base+"/"+rec.RecordID, tok, nil)
	f = e.Check(t)
	if f.Live != 0 || f.Tombstones != 1 || f.Guards != 0 {
		t.Fatalf("want the dropped delete applied once, whole: %+v", f)
	}
	if first.Status != http.StatusOK {
		t.Errorf("delete whose transaction's answer was lost: want 200, got %s", first)
	}
	if r := e.Must(t, "GET", base+"/"+rec.RecordID, tok, nil); r.Status != http.StatusNotFound {
		t.Errorf("want the deleted record gone, got %s", r)
	}
	if c := e.Faults.Counts(); c.Repeats["outcome"] != 2 {
		t.Errorf("want both SDK retries answered from their ClientRequestToken, got %s", c)
	}
}

// TestFaults_SlowAttemptIsSentAgain: a call slower than the SDK's 2 s attempt timeout is sent
// again, and the move it carried is applied once. (Every call that slow: see
// TestFaults_PersistentFaultsAre503WithRetryAfter.)
func TestFaults_SlowAttemptIsSentAgain(t *testing.T) {
	t.Parallel()
	e := startAPI(t, faults.New(60))
	tok := testkit.Token(t, "org-slow", "usr-slow")
	rec := oneRecord(t, e, tok, "exp-slow-1")
	path := base + "/" + rec.RecordID

	e.Faults.Set(faults.Rule{Kind: faults.Slow, Rate: 1, Limit: 1, Delay: 2500 * time.Millisecond, Ops: []string{"UpdateItem"}})
	r := e.Must(t, "PUT", path+"/status", tok, map[string]any{"status": "processing"})
	moved, err := r.ParseRecord()
	if err != nil || r.Status != http.StatusOK || len(moved.History) != 2 {
		t.Errorf("want one slow attempt retried and the move applied once, got %s", r)
	}

	counts := e.Faults.Counts()
	e.Check(t)
	t.Logf("injected %s", counts)
}
