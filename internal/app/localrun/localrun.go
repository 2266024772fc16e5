// Package localrun starts the whole API on one machine, built as the functions build it
// (package app): the embedded DynamoDB-compatible engine, the handlers' dependencies on it, the
// table, and pkg/local's stand-in for API Gateway in front of the handlers. make run (cmd/local),
// the end-to-end tests and make bench start it. It is apart from package app so that the
// functions, which import app, link none of it.
package localrun

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/bufdir/export-audit/internal/app"
	"github.com/bufdir/export-audit/pkg/api"
	"github.com/bufdir/export-audit/pkg/config"
	"github.com/bufdir/export-audit/pkg/faults"
	"github.com/bufdir/export-audit/pkg/local"
	"github.com/bufdir/export-audit/pkg/store"
)

// Options say where the local API listens and what it serves.
type Options struct {
	Addr       string // the API, e.g. 127.0.0.1:8080; port 0 picks a free one
	EngineAddr string // the embedded engine, e.g. 127.0.0.1:8000; unused when Config.DynamoDBEndpoint is set
	Config     config.Config
	// Auth checks the tokens: its Secret (at least local.MinSecretLen bytes) and, when set, the
	// Issuer and Audiences API Gateway's JWT authorizer would check.
	Auth local.Authorizer
	Log  *slog.Logger
	// Metrics receives each request's EMF line (cmd/local: os.Stdout, as in Lambda); nil
	// writes none.
	Metrics io.Writer
	// Faults, when set, stands in front of the embedded engine in place of its plain
	// clienttoken.Keeper, injecting faults and keeping ClientRequestTokens itself.
	Faults *faults.Injector
	// EngineWrap, when set, wraps the embedded engine's handler, in front of Faults or the
	// keeper: tests and make bench watch or answer the engine's calls there.
	EngineWrap   func(http.Handler) http.Handler
	StoreOptions []store.Option
}

// Run is a started local API.
type Run struct {
	APIURL    string // e.g. http://127.0.0.1:8080
	EngineURL string // the DynamoDB endpoint in use
	Deps      *api.Deps
	Store     *store.Store
	api       *local.Server
	engine    *local.Server // nil when Config.DynamoDBEndpoint names an external engine
}

// Start starts the engine (unless an endpoint is configured), builds the service on it as a
// function would, creates the table if it is missing and starts the API. It returns once both
// accept connections. A key shorter than local.MinSecretLen is refused before anything starts.
func Start(ctx context.Context, o Options) (*Run, error) {
	if err := o.Auth.CheckKey(); err != nil {
		return nil, err
	}
	run := &Run{}
	cfg := o.Config
	if cfg.DynamoDBEndpoint == "" {
		var front func(http.Handler) http.Handler
		if o.Faults != nil {
			front = o.Faults.Wrap
		}
		engine, err := local.StartEngine(o.EngineAddr, front, o.EngineWrap)
		if err != nil {
			return nil, fmt.Errorf("start the embedded DynamoDB engine: %w", err)
		}
		run.engine = engine
		cfg.DynamoDBEndpoint = engine.URL
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
	srv, err := local.Serve(o.Addr, local.NewAPI(deps, o.Auth, s.EnsureTable))
	if err != nil {
		run.Close()
		return nil, fmt.Errorf("start the API: %w", err)
	}
	run.api = srv
	run.APIURL = srv.URL
	return run, nil
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

// Close stops the API, letting calls in flight finish, and then the engine; the engine's data
// is gone with it.
func (r *Run) Close() {
	if r.api != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = r.api.Shutdown(ctx)
	}
	// Once the API has stopped nothing of ours calls the engine. Shutdown would wait 5 seconds
	// for any connection the SDK dialled and never used (net/http counts it as active that long),
	// so every Close of a busy engine took 5 seconds.
	if r.engine != nil {
		_ = r.engine.Close()
	}
}
