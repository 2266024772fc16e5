// Package faults is for tests: an http.Handler that stands in front of a DynamoDB-compatible
// engine and makes some of its calls fail the way DynamoDB and the network fail in production
// (throttling, internal errors, transaction conflicts, slow answers, dropped connections), so
// that a test can show what the service does then. Given a seed, it decides the same way for
// the same sequence of requests.
//
// It keeps ClientRequestTokens as DynamoDB does (a clienttoken.Keeper of its own), between the
// faults of the way there and back and those of DynamoDB itself: a request it throttles, fails
// or drops before the engine leaves its token unused; an injected cancellation is its token's
// outcome; a transaction whose answer it drops keeps its outcome, so the SDK's retry is answered
// from it. A repeat of a known token is answered before any fault is drawn, as DynamoDB answers
// it before running anything.
//
// Nothing in the service imports it; a local run takes it through localrun.Options.Faults, in
// place of the engine's plain clienttoken.Keeper.
package faults

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/bufdir/export-audit/pkg/clienttoken"
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

// Injector is the fault-injecting handler. Build it with New, put it in front of the engine
// with Wrap, and read what it did with Counts.
type Injector struct {
	mu       sync.Mutex
	next     http.Handler
	rng      *rand.Rand
	rules    []Rule
	injected []int // per rule
	counts   Counts
	tokens   *clienttoken.Keeper
}

// Counts is what an Injector did.
type Counts struct {
	Requests  map[string]int // requests seen, by operation
	Forwarded map[string]int // requests that reached the engine, by operation
	Injected  map[Kind]int   // faults injected, by kind
	ByOp      map[string]int // faults injected, by operation
	// Repeats counts requests answered from their ClientRequestToken without running, by
	// answer: clienttoken.Outcome ("outcome", the first request's, replayed),
	// "IdempotentParameterMismatchException", "TransactionInProgressException".
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
	i := &Injector{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), tokens: clienttoken.New()}
	i.Set(rules...)
	return i
}

// SetClock replaces the clock that ages ClientRequestTokens, for tests of clienttoken.Window.
func (i *Injector) SetClock(now func() time.Time) { i.tokens.SetClock(now) }

// Wrap puts the injector in front of next and returns it.
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
		Injected: clone(i.counts.Injected), ByOp: clone(i.counts.ByOp), Repeats: i.tokens.Repeats(),
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
	tx := clienttoken.Read(r)
	// DynamoDB answers a known token before running anything, so no fault is drawn for it.
	if i.tokens.Answer(w, tx) {
		return
	}
	rule, fault := i.decide(op)
	if !fault {
		i.forward(w, r, op, tx, next)
		return
	}
	switch rule.Kind {
	case Throttling, ProvisionedThroughputExceeded, TransactionConflict:
		writeError(w, http.StatusBadRequest, string(rule.Kind), messages[rule.Kind], nil)
	case InternalServerError:
		writeError(w, http.StatusInternalServerError, string(rule.Kind), messages[rule.Kind], nil)
	case TransactionConflictCanceled:
		// The transaction ran and was cancelled: that is its token's outcome.
		i.tokens.Serve(w, r, tx, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { writeCanceled(w, tx) }))
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
		i.forward(w, r, op, tx, next)
	case DropBefore:
		drop(w)
	case DropAfter:
		i.forwardAndDrop(w, r, op, tx, next)
	default:
		writeError(w, http.StatusInternalServerError, "InternalServerError", "unknown fault "+string(rule.Kind), nil)
	}
}

// forward hands the request to the engine through the token keeper.
func (i *Injector) forward(w http.ResponseWriter, r *http.Request, op string, tx *clienttoken.Request, next http.Handler) {
	i.tokens.Serve(w, r, tx, i.engine(op, next))
}

// forwardAndDrop hands the request to the engine through the token keeper and then closes the
// connection instead of answering, once the engine has run it.
func (i *Injector) forwardAndDrop(w http.ResponseWriter, r *http.Request, op string, tx *clienttoken.Request, next http.Handler) {
	rec := clienttoken.NewRecorder()
	if !i.tokens.Serve(rec, r, tx, i.engine(op, next)) {
		// Answered from its token without reaching the engine: nothing to lose.
		rec.Replay(w)
		return
	}
	drop(w)
}

// engine is next, counting the requests that reach it.
func (i *Injector) engine(op string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i.forwarded(op)
		next.ServeHTTP(w, r)
	})
}

var messages = map[Kind]string{
	Throttling:                    "Rate of requests exceeds the allowed throughput.",
	ProvisionedThroughputExceeded: "The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.",
	InternalServerError:           "Internal server error",
	TransactionConflict:           "Transaction is ongoing for the item",
}

// writeError answers as DynamoDB does: the JSON 1.0 protocol's error document.
var writeError = clienttoken.WriteError

// writeCanceled answers a TransactWriteItems with a cancellation whose last item (in this
// service, the organisation's STATS item, which every create and delete touches) met another
// transaction; the other items are "None", as DynamoDB reports them.
func writeCanceled(w http.ResponseWriter, tx *clienttoken.Request) {
	n := 1
	if tx != nil {
		n = max(tx.Items, 1)
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
