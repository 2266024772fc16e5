// Package localrun starts the whole service on one machine, built as the functions build it
// (packages app, publisher, archiver and sealer): the embedded DynamoDB-compatible engine with
// the table's stream (pkg/stream), the handlers' dependencies on it, the table, pkg/local's
// stand-in for API Gateway in front of the handlers, and the change events: the publish-events
// handler subscribed to the stream as the stack's event source mapping reads it, putting its
// events on a local EventBridge bus (pkg/bus) through the EventBridge SDK client; and, when
// asked, the archive: archive-changes' writer subscribed to the stream likewise, writing into
// a local directory, and seal-digest's sealer signing with a local key file. make run (cmd/local),
// the end-to-end tests and make bench start it. It is apart from package app so that the
// functions, which import app, link none of it.
package localrun

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/bufdir/export-audit/internal/app"
	"github.com/bufdir/export-audit/internal/app/publisher"
	"github.com/bufdir/export-audit/pkg/api"
	"github.com/bufdir/export-audit/pkg/bus"
	"github.com/bufdir/export-audit/pkg/config"
	"github.com/bufdir/export-audit/pkg/faults"
	"github.com/bufdir/export-audit/pkg/local"
	"github.com/bufdir/export-audit/pkg/store"
	"github.com/bufdir/export-audit/pkg/stream"
)

// EventBusName is the local event bus's name, as the stack names a stage's bus.
var EventBusName = config.EventBusName(config.LocalStage)

// EventsPath is where the local API lists the events on the local bus, without a token.
const EventsPath = "/_local/events"

// Options say where the local API listens and what it serves.
type Options struct {
	Addr       string // the API, e.g. 127.0.0.1:8080; port 0 picks a free one
	EngineAddr string // the embedded engine, e.g. 127.0.0.1:8000; unused when Config.DynamoDBEndpoint is set
	BusAddr    string // the local event bus; empty picks a free port on 127.0.0.1
	Config     config.Config
	// Auth checks the tokens: its Secret (at least local.MinSecretLen bytes) and, when set, the
	// Issuer and Audiences API Gateway's JWT authorizer would check.
	Auth local.Authorizer
	Log  *slog.Logger
	// Metrics receives each request's EMF line (cmd/local: os.Stdout, as in Lambda); nil
	// writes none.
	Metrics io.Writer
	// PublisherLog and PublisherMetrics receive the publish-events handler's log lines and
	// EMF lines, which in AWS go to the function's own log group (cmd/local: Log with
	// function=publish-events, and os.Stdout). nil writes none, so that a test reading the
	// API's lines sees only those.
	PublisherLog     *slog.Logger
	PublisherMetrics io.Writer
	// Faults, when set, stands in front of the embedded engine in place of its plain
	// clienttoken.Keeper, injecting faults and keeping ClientRequestTokens itself. The table's
	// stream stands behind it: an injected fault or a token's replay never reaches the stream,
	// as neither changes the table.
	Faults *faults.Injector
	// EngineWrap, when set, wraps the embedded engine's handler, in front of Faults or the
	// keeper: tests and make bench watch or answer the engine's calls there.
	EngineWrap   func(http.Handler) http.Handler
	StoreOptions []store.Option
	// StreamRetryBackoff is the wait before the publisher's first retry of a failed batch
	// (pkg/stream's Subscriber.RetryBackoff); 0 is pkg/stream's default. Tests that exhaust the
	// retries shorten it.
	StreamRetryBackoff time.Duration
	// SweepEvery is how often the TTL removes expired tombstones (pkg/stream's Sweep); default
	// a minute. Tests call Run.Stream.Expire instead.
	SweepEvery time.Duration
	// Archive, when its Dir is set (cmd/local: config.LoadLocalArchive), keeps the archive in
	// that directory: archive-changes' writer reads the stream as the stack's mapping
	// (config.ArchiveMapping) does, and seal-digest's sealer seals each period with the key
	// file once it is due (SealInterval, default config.DefaultSealInterval, plus SealGrace).
	// An earlier run's archive in Dir is moved aside first (Run.EarlierArchive). Empty: no
	// archive.
	Archive config.LocalArchive
	// ArchiveLog and ArchiveMetrics receive both archive functions' log lines (with their
	// function attribute) and EMF lines, as PublisherLog and PublisherMetrics do the
	// publisher's.
	ArchiveLog     *slog.Logger
	ArchiveMetrics io.Writer
}

// Run is a started local run.
type Run struct {
	APIURL    string // e.g. http://127.0.0.1:8080
	EngineURL string // the DynamoDB endpoint in use
	Deps      *api.Deps
	Store     *store.Store
	// Stream is the table's stream in front of the embedded engine; nil when
	// Config.DynamoDBEndpoint names an external engine, which no stream watches (then no
	// events are published).
	Stream *stream.Layer
	// Bus is the local event bus the publisher puts its events on (EventBusName), at BusURL.
	Bus    *bus.Bus
	BusURL string
	// ArchiveDir and ArchiveKeyFile are the archive's directory and signing key file; ""
	// when the run keeps no archive. EarlierArchive is where an earlier run's archive in
	// ArchiveDir was moved; "" when there was none.
	ArchiveDir, ArchiveKeyFile, EarlierArchive string

	api     *local.Server
	archive *localArchive // nil without an archive
	engine  *local.Server // nil when Config.DynamoDBEndpoint names an external engine
	busSrv  *local.Server

	mu          sync.Mutex
	deadLetters []stream.Failure
}

// Start starts the engine with its stream (unless an endpoint is configured), builds the
// service on it as a function would, creates the table if it is missing, starts the bus and
// subscribes the publisher to the stream, and then starts the API. It returns once all accept
// connections. A key shorter than local.MinSecretLen is refused before anything starts.
func Start(ctx context.Context, o Options) (*Run, error) {
	if err := o.Auth.CheckKey(); err != nil {
		return nil, err
	}
	run := &Run{}
	cfg := o.Config
	if cfg.DynamoDBEndpoint == "" {
		run.Stream = stream.New(stream.Options{Region: cfg.Region, Tables: []string{cfg.TableName}, Log: o.Log})
		layers := local.EngineLayers{Inner: run.Stream.Wrap, Outer: o.EngineWrap}
		if o.Faults != nil {
			layers.Front = o.Faults.Wrap
		}
		engine, err := local.StartEngine(o.EngineAddr, layers)
		if err != nil {
			return nil, fmt.Errorf("start the embedded DynamoDB engine: %w", err)
		}
		run.engine = engine
		cfg.DynamoDBEndpoint = engine.URL
	} else {
		o.Log.Warn("DYNAMODB_ENDPOINT names another engine, which has no stream here: no change events are published")
	}
	run.EngineURL = cfg.DynamoDBEndpoint
	deps, s, err := app.New(cfg, o.Log, o.Metrics, o.StoreOptions...)
	if err != nil {
		run.Close()
		return nil, err
	}
	run.Deps, run.Store = deps, s
	if err := ensureTable(ctx, s); err != nil {
		run.Close()
		return nil, err
	}
	if err := run.startEvents(o, cfg); err != nil {
		run.Close()
		return nil, err
	}
	if err := run.startArchive(o, cfg); err != nil {
		run.Close()
		return nil, err
	}
	localAPI := local.NewAPI(deps, o.Auth, s.EnsureTable)
	localAPI.HandleLocal(EventsPath, http.HandlerFunc(run.serveEvents))
	srv, err := local.Serve(o.Addr, localAPI)
	if err != nil {
		run.Close()
		return nil, fmt.Errorf("start the API: %w", err)
	}
	run.api = srv
	run.APIURL = srv.URL
	return run, nil
}

// startEvents serves the bus and, on the embedded engine, subscribes the publisher's handler to
// the table's stream as the stack's event source mapping (config.PublisherMapping) reads it,
// from the trim horizon, before anything can write; and sweeps the TTL.
func (r *Run) startEvents(o Options, cfg config.Config) error {
	r.Bus = bus.New(bus.Options{Region: cfg.Region, Buses: []string{EventBusName}})
	srv, err := local.Serve(cmp.Or(o.BusAddr, "127.0.0.1:0"), r.Bus)
	if err != nil {
		return fmt.Errorf("start the local event bus: %w", err)
	}
	r.busSrv, r.BusURL = srv, srv.URL
	if r.Stream == nil {
		return nil
	}
	h, err := publisher.New(config.PublisherConfig{
		Stage: cfg.Stage, Region: cfg.Region, EventBusName: EventBusName, EventBridgeEndpoint: r.BusURL, LogLevel: cfg.LogLevel,
	}, cmp.Or(o.PublisherLog, slog.New(slog.DiscardHandler)), o.PublisherMetrics)
	if err != nil {
		return err
	}
	if err := r.subscribe(o, cfg, config.PublisherFunction, h.Handle, config.PublisherMapping); err != nil {
		return err
	}
	every := o.SweepEvery
	if every <= 0 {
		every = time.Minute
	}
	r.Stream.Sweep(cfg.TableName, config.TableTTLAttribute, every)
	return nil
}

// subscribe subscribes a function's handler to the table's stream as the stack's event source
// mapping m reads it: from the trim horizon, with m's batch size and failure handling, and the
// stack's dead-letter queue as the on-failure destination.
func (r *Run) subscribe(o Options, cfg config.Config, function string, h stream.Handler, m config.StreamMapping) error {
	_, err := r.Stream.Subscribe(stream.Subscriber{
		Name:                       function,
		Table:                      cfg.TableName,
		Handler:                    h,
		StartingPosition:           stream.TrimHorizon,
		BatchSize:                  m.BatchSize,
		ReportBatchItemFailures:    m.ReportBatchItemFailures,
		BisectBatchOnFunctionError: m.BisectBatchOnFunctionError,
		MaximumRetryAttempts:       m.MaximumRetryAttempts,
		RetryBackoff:               o.StreamRetryBackoff,
		OnFailure:                  r.deadLetter,
	})
	if err != nil {
		return fmt.Errorf("subscribe %s to the stream: %w", function, err)
	}
	return nil
}

// deadLetter keeps what the stack's on-failure destination (the dead-letter queue) would get.
func (r *Run) deadLetter(_ context.Context, f stream.Failure) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.deadLetters = append(r.deadLetters, f)
}

// DeadLetters returns what the stream readers' retries (the publisher's, the archive writer's)
// gave up on, oldest first: the records' place in the stream, as Lambda sends it to the stack's
// dead-letter queues, each naming its function.
func (r *Run) DeadLetters() []stream.Failure {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]stream.Failure(nil), r.deadLetters...)
}

// WaitForEvents returns once the publisher has handled (or given up on) every change written
// before the call, or with ctx's error: after it, Bus.Events holds their events.
func (r *Run) WaitForEvents(ctx context.Context) error {
	if r.Stream == nil {
		return nil
	}
	return r.Stream.Wait(ctx)
}

// serveEvents answers GET /_local/events: {"events": [...]}, oldest first, each as an
// EventBridge rule's target receives it.
func (r *Run) serveEvents(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, "GET only", http.StatusMethodNotAllowed)
		return
	}
	evs := r.Bus.Events()
	if evs == nil {
		evs = []bus.Event{}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{"events": evs})
}

// ensureTable waits briefly for an external endpoint that is still starting.
func ensureTable(ctx context.Context, s *store.Store) error {
	var err error
	for i := 0; i < 20; i++ {
		if err = s.EnsureTable(ctx); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	return err
}

// Close stops the API, letting calls in flight finish, then the publisher (an invocation in
// flight finishes), the bus and the engine; the engine's data is gone with it.
func (r *Run) Close() {
	if r.api != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = r.api.Shutdown(ctx)
	}
	if r.Stream != nil {
		r.Stream.Close()
	}
	if r.archive != nil {
		r.archive.close()
	}
	if r.busSrv != nil {
		_ = r.busSrv.Close()
	}
	// Once the API has stopped nothing of ours calls the engine. Shutdown would wait 5 seconds
	// for any connection the SDK dialled and never used (net/http counts it as active that long),
	// so every Close of a busy engine took 5 seconds.
	if r.engine != nil {
		_ = r.engine.Close()
	}
}
