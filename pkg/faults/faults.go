// Package faults is for tests: an http.Handler that stands in front of a DynamoDB-compatible
// engine and makes some of its calls fail the way DynamoDB and the network fail in production
// (throttling, internal errors, transaction conflicts, slow answers, dropped connections), so
// that a test can show what the service does then. Given a seed, it decides the same way for
// the same sequence of requests.
//
// It also keeps what the engine does not: the ClientRequestToken of TransactWriteItems, with
// DynamoDB's documented rules. A transaction that ran (the engine's success or cancellation, or
// an injected cancellation) is remembered per token for TokenWindow after it finished; a repeat
// of the token with the same parameters is answered with that outcome and not run again, one
// with other parameters is refused with IdempotentParameterMismatchException, and one while the
// first is still running gets TransactionInProgressException. A request refused before it ran
// (throttling, an internal error, a dropped or abandoned request) leaves its token unused, so the
// SDK's retry of it runs. Without this, the engine would run an SDK retry of an applied
// transaction a second time, and a retry that reuses a spent token would run where DynamoDB
// answers the earlier outcome.
//
// Nothing in the service imports it; the local API takes it through Options.EngineWrap.
package faults

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Kind is a way a call can fail.
type Kind string

// The faults an Injector can inject.
const (
	// Throttling answers 400 ThrottlingException.
	Throttling Kind = "ThrottlingException"
	// ProvisionedThroughputExceeded answers 400 ProvisionedThroughputExceededException.
	ProvisionedThroughputExceeded Kind = "ProvisionedThroughputExceededException"
	// InternalServerError answers 500 InternalServerError.
	InternalServerError Kind = "InternalServerError"
	// TransactionConflict answers 400 TransactionConflictException, what DynamoDB answers a
	// PutItem, UpdateItem or DeleteItem on an item an ongoing transaction holds.
	TransactionConflict Kind = "TransactionConflictException"
	// TransactionConflictCanceled answers a TransactWriteItems with 400
	// TransactionCanceledException whose reasons name a TransactionConflict, what DynamoDB
	// answers a transaction that met another one. It applies to TransactWriteItems only.
	TransactionConflictCanceled Kind = "TransactionCanceledException/TransactionConflict"
	// Slow waits Rule.Delay before forwarding the request; when the client gives up first, the
	// request never reaches the engine.
	Slow Kind = "Slow"
	// DropBefore closes the connection without forwarding the request: the call did nothing
	// and the client sees a broken connection.
	DropBefore Kind = "DropBefore"
	// DropAfter forwards the request to the engine and then closes the connection instead of
	// answering: the call took effect but the client sees a broken connection.
	DropAfter Kind = "DropAfter"
)

// Kinds lists every kind, in the order of the constants.
var Kinds = []Kind{
	Throttling, ProvisionedThroughputExceeded, InternalServerError, TransactionConflict,
	TransactionConflictCanceled, Slow, DropBefore, DropAfter,
}

// Rule says which requests fail and how.
type Rule struct {
	Kind Kind
	// Ops are the DynamoDB operations (the last part of X-Amz-Target, e.g. "UpdateItem") the
	// rule applies to; empty means every operation.
	Ops []string
	// Rate is the chance that a request the rule applies to fails, from 0 to 1; 1 fails every one.
	Rate float64
	// Limit caps how many faults the rule injects; 0 means no cap.
	Limit int
	// Delay is how long a Slow fault waits.
	Delay time.Duration
}

// TokenWindow is how long DynamoDB keeps a ClientRequestToken after the request that used it
// finished: a repeat within it is answered from the first, a later one is a new request.
const TokenWindow = 10 * time.Minute

// Injector is the fault-injecting handler. Build it with New, put it in front of the engine
// with Wrap, and read what it did with Counts.
type Injector struct {
	mu       sync.Mutex
	next     http.Handler
	rng      *rand.Rand
	rules    []Rule
	injected []int // per rule
	counts   Counts
	now      func() time.Time
	tokens   map[string]*tokenUse
}

// tokenUse is what DynamoDB keeps of a ClientRequestToken: the request's parameters and, once
// the transaction finished, its answer and when.
type tokenUse struct {
	params []byte
	answer *recorder // nil while the transaction runs
	done   time.Time
}

// Counts is what an Injector did.
type Counts struct {
	Requests  map[string]int // requests seen, by operation
	Forwarded map[string]int // requests that reached the engine, by operation
	Injected  map[Kind]int   // faults injected, by kind
	ByOp      map[string]int // faults injected, by operation
	// Repeats counts requests answered from their ClientRequestToken without running, by
	// answer: "outcome" (the first request's, replayed), "IdempotentParameterMismatchException",
	// "TransactionInProgressException".
	Repeats map[string]int
}

// Total is the number of faults injected.
func (c Counts) Total() int {
	n := 0
	for _, v := range c.Injected {
		n += v
	}
	return n
}

func (c Counts) String() string {
	var b strings.Builder
	for _, k := range Kinds {
		if n := c.Injected[k]; n > 0 {
			fmt.Fprintf(&b, "%s=%d ", k, n)
		}
	}
	out := fmt.Sprintf("%d faults (%s) in %d requests", c.Total(), strings.TrimSpace(b.String()), sum(c.Requests))
	if n := sum(c.Repeats); n > 0 {
		out += fmt.Sprintf(", %d answered from their ClientRequestToken", n)
	}
	return out
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// New returns an injector that decides with a generator seeded with seed and applies rules,
// the first that fires winning.
func New(seed uint64, rules ...Rule) *Injector {
	i := &Injector{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), now: time.Now, tokens: map[string]*tokenUse{}}
	i.Set(rules...)
	return i
}

// SetClock replaces the clock that ages ClientRequestTokens, for tests of TokenWindow.
func (i *Injector) SetClock(now func() time.Time) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.now = now
}

// Wrap puts the injector in front of next and returns it; its signature is what
// localrun.Options.EngineWrap takes.
func (i *Injector) Wrap(next http.Handler) http.Handler {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.next = next
	return i
}

// Set replaces the rules; Set() with none lets every request through, for example while a test
// inspects the table afterwards. The counts and the tokens are kept.
func (i *Injector) Set(rules ...Rule) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.rules = append([]Rule(nil), rules...)
	i.injected = make([]int, len(rules))
}

// Counts returns a copy of what the injector has done so far.
func (i *Injector) Counts() Counts {
	i.mu.Lock()
	defer i.mu.Unlock()
	return Counts{
		Requests: clone(i.counts.Requests), Forwarded: clone(i.counts.Forwarded),
		Injected: clone(i.counts.Injected), ByOp: clone(i.counts.ByOp), Repeats: clone(i.counts.Repeats),
	}
}

func clone[K comparable](m map[K]int) map[K]int {
	out := make(map[K]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func inc[K comparable](m *map[K]int, k K) {
	if *m == nil {
		*m = map[K]int{}
	}
	(*m)[k]++
}

// Operation is the DynamoDB operation a request asks for, from its X-Amz-Target header
// ("DynamoDB_20120810.GetItem" → "GetItem").
func Operation(r *http.Request) string {
	t := r.Header.Get("X-Amz-Target")
	return t[strings.LastIndex(t, ".")+1:]
}

// decide picks the fault for a request of op, if any. Every rule that applies draws a number,
// so the decisions depend only on the seed and the sequence of requests.
func (i *Injector) decide(op string) (Rule, bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	var chosen Rule
	found := false
	for n, r := range i.rules {
		if !r.applies(op) {
			continue
		}
		hit := i.rng.Float64() < r.Rate
		if found || !hit || (r.Limit > 0 && i.injected[n] >= r.Limit) {
			continue
		}
		i.injected[n]++
		chosen, found = r, true
	}
	if found {
		inc(&i.counts.Injected, chosen.Kind)
		inc(&i.counts.ByOp, op)
	}
	return chosen, found
}

func (r Rule) applies(op string) bool {
	if r.Kind == TransactionConflictCanceled && op != "TransactWriteItems" {
		return false
	}
	if len(r.Ops) == 0 {
		return true
	}
	for _, o := range r.Ops {
		if o == op {
			return true
		}
	}
	return false
}

func (i *Injector) forwarded(op string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	inc(&i.counts.Forwarded, op)
}

func (i *Injector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op := Operation(r)
	i.mu.Lock()
	inc(&i.counts.Requests, op)
	next := i.next
	i.mu.Unlock()
	tx := readTxn(op, r)
	// DynamoDB answers a known token before running anything, so no fault is drawn for it.
	if tx.hasToken() && i.repeat(w, tx, false) {
		return
	}
	rule, fault := i.decide(op)
	if !fault {
		i.forward(w, r, op, tx, next, false)
		return
	}
	switch rule.Kind {
	case Throttling, ProvisionedThroughputExceeded, TransactionConflict:
		writeError(w, http.StatusBadRequest, string(rule.Kind), messages[rule.Kind], nil)
	case InternalServerError:
		writeError(w, http.StatusInternalServerError, string(rule.Kind), messages[rule.Kind], nil)
	case TransactionConflictCanceled:
		// The transaction ran and was cancelled: that is its token's outcome.
		if tx.hasToken() && i.repeat(w, tx, true) {
			return
		}
		rec := &recorder{header: http.Header{}}
		writeCanceled(rec, tx)
		if tx.hasToken() {
			i.finish(tx, rec)
		}
		rec.replay(w)
	case Slow:
		// Reading the body whole lets the server notice a client that hangs up while we wait.
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		select {
		case <-r.Context().Done():
			// The client gave up (its attempt timed out); like a lost request, it did nothing.
			return
		case <-time.After(rule.Delay):
		}
		i.forward(w, r, op, tx, next, false)
	case DropBefore:
		drop(w)
	case DropAfter:
		i.forward(w, r, op, tx, next, true)
	default:
		writeError(w, http.StatusInternalServerError, "InternalServerError", "unknown fault "+string(rule.Kind), nil)
	}
}

// forward hands the request to the engine; with dropAnswer it then closes the connection
// instead of answering. A transaction with a token claims the token first and leaves its
// outcome there.
func (i *Injector) forward(w http.ResponseWriter, r *http.Request, op string, tx *txn, next http.Handler, dropAnswer bool) {
	keep := tx.hasToken()
	if keep && i.repeat(w, tx, true) {
		return
	}
	i.forwarded(op)
	if !keep && !dropAnswer {
		next.ServeHTTP(w, r)
		return
	}
	rec := &recorder{header: http.Header{}}
	if keep {
		// An engine that fails without answering leaves the token unused, not running forever.
		defer i.release(tx)
	}
	next.ServeHTTP(rec, r)
	if keep {
		i.finish(tx, rec)
	}
	if dropAnswer {
		drop(w)
		return
	}
	rec.replay(w)
}

// txn is what the injector reads of a TransactWriteItems request.
type txn struct {
	token  string // its ClientRequestToken, "" without one
	params []byte // the request without its token, as canonical JSON
	items  int
	claim  *tokenUse // the token's use this request took, while it runs
}

func (tx *txn) hasToken() bool { return tx != nil && tx.token != "" }

// readTxn reads a TransactWriteItems request, nil for any other operation. It leaves the body
// for the engine to read.
func readTxn(op string, r *http.Request) *txn {
	if op != "TransactWriteItems" {
		return nil
	}
	raw, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(raw))
	var in map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if dec.Decode(&in) != nil {
		return &txn{}
	}
	tx := &txn{}
	tx.token, _ = in["ClientRequestToken"].(string)
	items, _ := in["TransactItems"].([]any)
	tx.items = len(items)
	delete(in, "ClientRequestToken")
	// Marshalling sorts map keys, so two serialisations of the same input compare equal
	// whatever order the SDK wrote the item maps in.
	tx.params, _ = json.Marshal(in)
	return tx
}

// repeat answers a request whose token DynamoDB knows, and reports whether it did. With claim,
// an unknown token is taken for this request, which must then finish it.
func (i *Injector) repeat(w http.ResponseWriter, tx *txn, claim bool) bool {
	i.mu.Lock()
	use, known := i.tokens[tx.token]
	if known && use.answer != nil && i.now().Sub(use.done) >= TokenWindow {
		delete(i.tokens, tx.token)
		known = false
	}
	var kind string
	switch {
	case !known:
		if claim {
			tx.claim = &tokenUse{params: tx.params}
			i.tokens[tx.token] = tx.claim
		}
		i.mu.Unlock()
		return false
	case !bytes.Equal(use.params, tx.params):
		kind = "IdempotentParameterMismatchException"
	case use.answer == nil:
		kind = "TransactionInProgressException"
	default:
		kind = "outcome"
	}
	inc(&i.counts.Repeats, kind)
	answer := use.answer
	i.mu.Unlock()
	switch kind {
	case "IdempotentParameterMismatchException":
		writeError(w, http.StatusBadRequest, kind, "Request has the same ClientRequestToken as a previous request but with different parameters", nil)
	case "TransactionInProgressException":
		writeError(w, http.StatusBadRequest, kind, "The transaction with the given request token is already in progress.", nil)
	default:
		answer.replay(w)
	}
	return true
}

// finish keeps the answer of a transaction that ran (a success or a cancellation) as its
// token's outcome. Any other answer, such as an engine's error, means it did not run, and the
// token is free again.
func (i *Injector) finish(tx *txn, answer *recorder) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.tokens[tx.token] != tx.claim {
		return
	}
	status := answer.status
	if status == 0 {
		status = http.StatusOK
	}
	if status != http.StatusOK && (status != http.StatusBadRequest || errorType(answer.body.Bytes()) != "TransactionCanceledException") {
		delete(i.tokens, tx.token)
		return
	}
	now := i.now()
	tx.claim.answer, tx.claim.done = answer, now
	for t, u := range i.tokens {
		if u.answer != nil && now.Sub(u.done) >= TokenWindow {
			delete(i.tokens, t)
		}
	}
}

// release frees a token its request claimed and did not finish.
func (i *Injector) release(tx *txn) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if use := i.tokens[tx.token]; use == tx.claim && use.answer == nil {
		delete(i.tokens, tx.token)
	}
}

// errorType is the error code of a JSON 1.0 error document, without its namespace.
func errorType(body []byte) string {
	var doc struct {
		Type string `json:"__type"`
	}
	_ = json.Unmarshal(body, &doc)
	return doc.Type[strings.LastIndex(doc.Type, "#")+1:]
}

var messages = map[Kind]string{
	Throttling:                    "Rate of requests exceeds the allowed throughput.",
	ProvisionedThroughputExceeded: "The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.",
	InternalServerError:           "Internal server error",
	TransactionConflict:           "Transaction is ongoing for the item",
}

// writeError answers as DynamoDB does: the JSON 1.0 protocol's error document.
func writeError(w http.ResponseWriter, status int, typ, message string, extra map[string]any) {
	body := map[string]any{"__type": "com.amazonaws.dynamodb.v20120810#" + typ, "message": message}
	for k, v := range extra {
		body[k] = v
	}
	b, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amzn-Requestid", "faults")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeCanceled answers a TransactWriteItems with a cancellation whose last item (in this
// service, the organisation's STATS item, which every create and delete touches) met another
// transaction; the other items are "None", as DynamoDB reports them.
func writeCanceled(w http.ResponseWriter, tx *txn) {
	n := 1
	if tx != nil {
		n = max(tx.items, 1)
	}
	reasons := make([]map[string]string, n)
	codes := make([]string, n)
	for j := range reasons {
		reasons[j], codes[j] = map[string]string{"Code": "None"}, "None"
	}
	reasons[n-1] = map[string]string{"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}
	codes[n-1] = "TransactionConflict"
	writeError(w, http.StatusBadRequest, "TransactionCanceledException",
		"Transaction cancelled, please refer cancellation reasons for specific reasons ["+strings.Join(codes, ", ")+"]",
		map[string]any{"CancellationReasons": reasons})
}

// drop closes the client's connection without an answer.
func drop(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		// HTTP/2 cannot be hijacked; aborting the handler resets the stream instead.
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close()
}

// recorder takes an answer to keep: the engine's, which a DropAfter fault throws away, or a
// transaction's, which its token keeps.
type recorder struct {
	header http.Header
	body   bytes.Buffer
	status int
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *recorder) WriteHeader(status int)      { r.status = status }

// replay sends the recorded answer to w; it may be sent any number of times.
func (r *recorder) replay(w http.ResponseWriter) {
	for k, v := range r.header {
		w.Header()[k] = append([]string(nil), v...)
	}
	if r.status != 0 {
		w.WriteHeader(r.status)
	}
	_, _ = w.Write(r.body.Bytes())
}
