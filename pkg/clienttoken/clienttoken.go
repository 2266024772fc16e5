// Package clienttoken keeps the ClientRequestToken of TransactWriteItems in front of a
// DynamoDB-compatible engine that does not (the embedded engine, minidyn), with DynamoDB's
// documented rules, so that local runs and tests see what DynamoDB would answer.
//
// A transaction that ran (the engine's success or cancellation) is remembered per token for
// Window after it finished; a repeat of the token with the same parameters is answered with
// that outcome and not run again, one with other parameters is refused with
// IdempotentParameterMismatchException, and one while the first is still running gets
// TransactionInProgressException. A request that did not run (the engine's error, a dropped
// request) leaves its token unused, so the SDK's retry of it runs. Without this, the engine would
// run an SDK retry of an applied transaction a second time (under load, when an attempt
// outlives the SDK's attempt timeout), and a retry that reuses a spent token would run where
// DynamoDB answers the earlier outcome.
//
// Keeper.Wrap puts a keeper in front of an engine (pkg/local does, for every local run);
// faults.Injector keeps one between the faults it injects on the way and those of the engine.
package clienttoken

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Window is how long DynamoDB keeps a ClientRequestToken after the request that used it
// finished: a repeat within it is answered from the first, a later one is a new request.
const Window = 10 * time.Minute

// The answers a Keeper gives a repeated token without running the request, as Repeats counts
// them.
const (
	Outcome                              = "outcome" // the first request's outcome, replayed
	IdempotentParameterMismatchException = "IdempotentParameterMismatchException"
	TransactionInProgressException       = "TransactionInProgressException"
)

// Keeper keeps ClientRequestTokens. It is safe for concurrent use.
type Keeper struct {
	mu      sync.Mutex
	now     func() time.Time
	tokens  map[string]*use
	repeats map[string]int
}

// use is what DynamoDB keeps of a ClientRequestToken: the request's parameters and, once the
// transaction finished, its answer and when.
type use struct {
	params []byte
	answer *Recorder // nil while the transaction runs
	done   time.Time
}

// New returns a keeper that knows no token yet.
func New() *Keeper {
	return &Keeper{now: time.Now, tokens: map[string]*use{}, repeats: map[string]int{}}
}

// SetClock replaces the clock that ages tokens, for tests of Window.
func (k *Keeper) SetClock(now func() time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.now = now
}

// Repeats counts the requests answered from their token without running, by answer (Outcome,
// IdempotentParameterMismatchException, TransactionInProgressException).
func (k *Keeper) Repeats() map[string]int {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make(map[string]int, len(k.repeats))
	for a, n := range k.repeats {
		out[a] = n
	}
	return out
}

// Wrap puts the keeper in front of next: every TransactWriteItems with a token goes through
// Serve, every other request straight to next.
func (k *Keeper) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k.Serve(w, r, Read(r), next)
	})
}

// Request is what a keeper reads of a TransactWriteItems request.
type Request struct {
	Token  string // its ClientRequestToken, "" without one
	Items  int    // how many TransactItems it has
	params []byte // the request without its token, as canonical JSON
	claim  *use   // the token's use this request took, while it runs
}

// HasToken reports whether q is a TransactWriteItems with a ClientRequestToken.
func (q *Request) HasToken() bool { return q != nil && q.Token != "" }

// Read reads a TransactWriteItems request, nil for any other operation. It leaves the body for
// the engine to read.
func Read(r *http.Request) *Request {
	if !strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".TransactWriteItems") {
		return nil
	}
	raw, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(raw))
	var in map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if dec.Decode(&in) != nil {
		return &Request{}
	}
	q := &Request{}
	q.Token, _ = in["ClientRequestToken"].(string)
	items, _ := in["TransactItems"].([]any)
	q.Items = len(items)
	delete(in, "ClientRequestToken")
	// Marshalling sorts map keys, so two serialisations of the same input compare equal
	// whatever order the SDK wrote the item maps in.
	q.params, _ = json.Marshal(in)
	return q
}

// Answer answers q from its token when the keeper knows the token, as DynamoDB does before
// running anything, and reports whether it did.
func (k *Keeper) Answer(w http.ResponseWriter, q *Request) bool {
	return q.HasToken() && k.repeat(w, q, false)
}

// Serve has next answer r, keeping q's token: a known token is answered as Answer does and next
// is not called; an unknown one is taken for this request, and next's answer, when it is a
// success or a cancellation, is kept as the token's outcome (any other answer frees the token).
// A request without a token goes to next as it is. It reports whether next was called.
func (k *Keeper) Serve(w http.ResponseWriter, r *http.Request, q *Request, next http.Handler) bool {
	if !q.HasToken() {
		next.ServeHTTP(w, r)
		return true
	}
	if k.repeat(w, q, true) {
		return false
	}
	rec := NewRecorder()
	// A next that fails without answering (a panic, a dropped connection) leaves the token
	// unused, not running forever.
	defer k.release(q)
	next.ServeHTTP(rec, r)
	k.finish(q, rec)
	rec.Replay(w)
	return true
}

// repeat answers a request whose token the keeper knows, and reports whether it did. With
// claim, an unknown token is taken for this request, which must then finish or release it.
func (k *Keeper) repeat(w http.ResponseWriter, q *Request, claim bool) bool {
	k.mu.Lock()
	u, known := k.tokens[q.Token]
	if known && u.answer != nil && k.now().Sub(u.done) >= Window {
		delete(k.tokens, q.Token)
		known = false
	}
	var kind string
	switch {
	case !known:
		if claim {
			q.claim = &use{params: q.params}
			k.tokens[q.Token] = q.claim
		}
		k.mu.Unlock()
		return false
	case !bytes.Equal(u.params, q.params):
		kind = IdempotentParameterMismatchException
	case u.answer == nil:
		kind = TransactionInProgressException
	default:
		kind = Outcome
	}
	k.repeats[kind]++
	answer := u.answer
	k.mu.Unlock()
	switch kind {
	case IdempotentParameterMismatchException:
		WriteError(w, http.StatusBadRequest, kind, "Request has the same ClientRequestToken as a previous request but with different parameters", nil)
	case TransactionInProgressException:
		WriteError(w, http.StatusBadRequest, kind, "The transaction with the given request token is already in progress.", nil)
	default:
		answer.Replay(w)
	}
	return true
}

// finish keeps the answer of a transaction that ran (a success or a cancellation) as its
// token's outcome. Any other answer, such as an engine's error, means it did not run, and the
// token is free again.
func (k *Keeper) finish(q *Request, answer *Recorder) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.tokens[q.Token] != q.claim {
		return
	}
	status := answer.status
	if status == 0 {
		status = http.StatusOK
	}
	if status != http.StatusOK && (status != http.StatusBadRequest || errorType(answer.body.Bytes()) != "TransactionCanceledException") {
		delete(k.tokens, q.Token)
		return
	}
	now := k.now()
	q.claim.answer, q.claim.done = answer, now
	for t, u := range k.tokens {
		if u.answer != nil && now.Sub(u.done) >= Window {
			delete(k.tokens, t)
		}
	}
}

// release frees a token its request claimed and did not finish.
func (k *Keeper) release(q *Request) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if u := k.tokens[q.Token]; u == q.claim && u.answer == nil {
		delete(k.tokens, q.Token)
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

// WriteError answers as DynamoDB does: the JSON 1.0 protocol's error document of type typ, with
// extra members beside the message.
func WriteError(w http.ResponseWriter, status int, typ, message string, extra map[string]any) {
	body := map[string]any{"__type": "com.amazonaws.dynamodb.v20120810#" + typ, "message": message}
	for k, v := range extra {
		body[k] = v
	}
	b, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amzn-Requestid", "local")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// Recorder takes an answer to keep and send later, any number of times.
type Recorder struct {
	header http.Header
	body   bytes.Buffer
	status int
}

// NewRecorder returns an empty recorder.
func NewRecorder() *Recorder { return &Recorder{header: http.Header{}} }

func (r *Recorder) Header() http.Header         { return r.header }
func (r *Recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *Recorder) WriteHeader(status int)      { r.status = status }

// Replay sends the recorded answer to w.
func (r *Recorder) Replay(w http.ResponseWriter) {
	for k, v := range r.header {
		w.Header()[k] = append([]string(nil), v...)
	}
	if r.status != 0 {
		w.WriteHeader(r.status)
	}
	_, _ = w.Write(r.body.Bytes())
}
