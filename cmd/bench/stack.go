package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/bufdir/export-audit/internal/app"
	"github.com/bufdir/export-audit/internal/app/localrun"
	"github.com/bufdir/export-audit/internal/perf"
	"github.com/bufdir/export-audit/internal/testkit"
	"github.com/bufdir/export-audit/pkg/api"
	"github.com/bufdir/export-audit/pkg/audit"
	"github.com/bufdir/export-audit/pkg/config"
	"github.com/bufdir/export-audit/pkg/local"
	"github.com/bufdir/export-audit/pkg/store"
)

const (
	tableName = "bufdir-export-audit-bench"
	sub       = "usr-0042"
)

// stack is one local API on a fresh embedded engine, and the three other ways of making the
// same calls that it is measured against: its handlers called in-process with the event, the
// bare DynamoDB calls, and an HTTP round trip to a server that does nothing.
type stack struct {
	run      *localrun.Run
	meter    *meter
	tr       *http.Transport
	client   *http.Client
	token    string
	caller   perf.Caller
	raw      *perf.Raw
	handlers map[string]api.Handler // by function
	hop      *httptest.Server
	emf      *testkit.Buffer // the EMF lines of the local API's requests since the last deep call
}

// retries reads DynamoDBRetries from an EMF line: the attempts the SDK made again.
func retries(emf []byte) int {
	var doc struct {
		Retries float64 `json:"DynamoDBRetries"`
	}
	_ = json.Unmarshal(emf, &doc)
	return int(doc.Retries)
}

// bench is what every phase shares.
type bench struct {
	all       *tally      // every DynamoDB call of the run, by operation
	shape     *perf.Shape // the store's items, for seeding
	progress  func(string)
	recounted int // calls counted again because the SDK had retried one of theirs
}

func (e *bench) stack(ctx context.Context, org string) (*stack, error) {
	return newStack(ctx, e.all, org, e.shape)
}

// newStack starts a local API for org on an engine of its own, logging and writing metrics
// as a function does (JSON lines, here into io.Discard). The store reads at most a megabyte's
// worth of records per Query call, as DynamoDB does and the engine does not.
func newStack(ctx context.Context, all *tally, org string, shape *perf.Shape) (*stack, error) {
	s := &stack{caller: perf.Caller{Org: org, Sub: sub}, handlers: map[string]api.Handler{}, emf: &testkit.Buffer{}}
	cfg := testkit.Config()
	cfg.TableName = tableName
	run, err := localrun.Start(ctx, testkit.WithDefaults(localrun.Options{
		Config:  cfg,
		Log:     app.NewLogger(io.Discard, cfg.LogLevel),
		Metrics: s.emf,
		EngineWrap: func(h http.Handler) http.Handler {
			s.meter = newMeter(h, all)
			return s.meter
		},
		StoreOptions: []store.Option{store.WithPageSize(pageSize(shape))},
	}))
	if err != nil {
		return nil, err
	}
	s.run = run
	s.tr = http.DefaultTransport.(*http.Transport).Clone()
	s.client = &http.Client{Transport: s.tr}
	s.hop = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	s.token, err = local.Token(testkit.Secret, org, sub, []string{config.ScopeRead, config.ScopeWrite, config.ScopeDelete}, 2*time.Hour, time.Now())
	if err != nil {
		s.close()
		return nil, err
	}
	for _, op := range api.Operations {
		s.handlers[op.Route.Function] = api.Handle(run.Deps, op)
	}
	s.raw = &perf.Raw{DB: testkit.RawClient(run.EngineURL), Table: tableName, Shape: shape, PageSize: pageSize(shape)}
	s.meter.take()
	return s, nil
}

// pageSize is how many records make DynamoDB's 1 MB page of a Query. The embedded engine has no
// such limit: without it, a filtered list of a large organisation would be one call there (and
// one that runs past the client's 2 s attempt timeout, as the engine walks the whole table).
func pageSize(shape *perf.Shape) int32 {
	return int32(1_000_000 / shape.RecordSize())
}

// learnShape makes the store's items once, on an engine of its own, for every stack to copy.
func learnShape(ctx context.Context) (*perf.Shape, error) {
	engine, err := testkit.StartEngine("127.0.0.1:0", testkit.EngineOptions{})
	if err != nil {
		return nil, err
	}
	defer engine.Close()
	db := testkit.RawClient(engine.URL)
	if err := store.New(db, tableName).EnsureTable(ctx); err != nil {
		return nil, err
	}
	return perf.LearnShape(ctx, db, tableName)
}

func (s *stack) close() {
	if s.tr != nil {
		s.tr.CloseIdleConnections()
	}
	if s.hop != nil {
		s.hop.Close()
	}
	if s.run != nil {
		s.run.Close()
	}
}

// seed writes records straight into the table.
func (s *stack) seed(ctx context.Context, b perf.Batch) ([]audit.RecordID, error) {
	return s.raw.Shape.Seed(ctx, s.raw.DB, tableName, b, 2)
}

// deep sends r to the local API with the meter working out what each DynamoDB call costs, and
// returns the cost. A call the SDK made again (a retried attempt, which the service's EMF line
// counts) would count twice at the engine: deep then reports ok false.
func (s *stack) deep(ctx context.Context, r perf.Request, want int) (u usage, ok bool, err error) {
	s.meter.take()
	s.emf.Reset()
	s.meter.setDeep(true)
	defer s.meter.setDeep(false)
	if _, _, err := s.viaAPI(ctx, r, want); err != nil {
		return usage{}, false, err
	}
	return s.meter.take(), retries(s.emf.Bytes()) == 0, nil
}

// viaAPI sends r to the local API, checks the answer's status and returns its body.
func (s *stack) viaAPI(ctx context.Context, r perf.Request, want int) (time.Duration, string, error) {
	var body io.Reader
	if r.Body != "" {
		body = strings.NewReader(r.Body)
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, s.run.APIURL+r.URL(), body)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	if r.Body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	start := time.Now()
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, "", err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	if err != nil {
		return 0, "", err
	}
	if resp.StatusCode != want {
		return 0, "", fmt.Errorf("%s %s: local API answered %d, want %d: %s", r.Method, r.URL(), resp.StatusCode, want, b)
	}
	return took, string(b), nil
}

// viaHandler calls the route's handler in-process with the event API Gateway would send, as
// the Lambda runtime would, checks the answer's status and returns its body.
func (s *stack) viaHandler(ctx context.Context, function string, r perf.Request, want int) (time.Duration, string, error) {
	ev := r.Event(s.caller, requestID(), time.Now())
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: requestID()})
	start := time.Now()
	resp, err := s.handlers[function](ctx, ev)
	took := time.Since(start)
	if err != nil {
		return 0, "", err
	}
	if resp.StatusCode != want {
		return 0, "", fmt.Errorf("%s %s: handler answered %d, want %d: %s", r.Method, r.URL(), resp.StatusCode, want, resp.Body)
	}
	return took, resp.Body, nil
}

// viaHop makes an HTTP round trip of r's shape to a server that does nothing: what the local
// API's hop alone costs on this machine.
func (s *stack) viaHop(ctx context.Context, r perf.Request) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, r.Method, s.hop.URL+r.URL(), bytes.NewReader([]byte(r.Body)))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	start := time.Now()
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return time.Since(start), nil
}

// viaRaw times a prepared baseline call.
func viaRaw(ctx context.Context, op perf.Op) (time.Duration, error) {
	start := time.Now()
	err := op(ctx)
	return time.Since(start), err
}

func requestID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
