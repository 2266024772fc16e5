package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/bufdir/export-audit/pkg/app"
	"github.com/bufdir/export-audit/pkg/config"
	"github.com/bufdir/export-audit/pkg/metrics"
	"github.com/bufdir/export-audit/pkg/store"
	"github.com/truora/minidyn/server"
)

// Options say where the local API listens and what it serves.
type Options struct {
	Addr       string // the API, e.g. 127.0.0.1:8080; port 0 picks a free one
	EngineAddr string // the embedded engine, e.g. 127.0.0.1:8000; unused when Config.DynamoDBEndpoint is set
	Config     config.Config
	Secret     string // HS256 key of the tokens the API accepts, at least MinSecretLen bytes
	// Issuer and Audiences, when set, are checked as API Gateway's JWT authorizer checks its
	// own (see Authorizer).
	Issuer    string
	Audiences []string
	Log       *slog.Logger
	// Metrics receives each request's EMF line (cmd/local: os.Stdout, as in Lambda); nil
	// writes none.
	Metrics io.Writer
	// EngineWrap, when set, wraps the embedded engine's handler: tests put fault injection there.
	EngineWrap   func(http.Handler) http.Handler
	StoreOptions []store.Option
}

// Running is a started local API.
type Running struct {
	APIURL    string // e.g. http://127.0.0.1:8080
	EngineURL string // the DynamoDB endpoint in use
	Deps      *app.Deps
	api       *http.Server
	engine    *http.Server // nil when Config.DynamoDBEndpoint names an external engine
}

// Start starts the engine (unless an endpoint is configured), creates the table if it is
// missing and starts the API. It returns once both accept connections. A key shorter than
// MinSecretLen is refused before anything starts.
func Start(ctx context.Context, o Options) (*Running, error) {
	auth := Authorizer{Secret: o.Secret, Issuer: o.Issuer, Audiences: o.Audiences}
	if err := auth.Check(); err != nil {
		return nil, err
	}
	run := &Running{}
	cfg := o.Config
	if cfg.DynamoDBEndpoint == "" {
		var h http.Handler = server.NewServer()
		if o.EngineWrap != nil {
			h = o.EngineWrap(h)
		}
		url, srv, err := serve(o.EngineAddr, h)
		if err != nil {
			return nil, fmt.Errorf("start the embedded DynamoDB engine: %w", err)
		}
		run.engine = srv
		cfg.DynamoDBEndpoint = url
	}
	run.EngineURL = cfg.DynamoDBEndpoint
	deps, err := app.New(ctx, cfg, o.Log, o.StoreOptions...)
	if err != nil {
		run.Close()
		return nil, err
	}
	deps.Metrics = nil
	if o.Metrics != nil {
		deps.Metrics = metrics.NewEmitter(o.Metrics)
	}
	run.Deps = deps
	if err := ensureTable(ctx, deps.Store); err != nil {
		run.Close()
		return nil, err
	}
	url, srv, err := serve(o.Addr, NewAPI(deps, auth, deps.Store.EnsureTable))
	if err != nil {
		run.Close()
		return nil, fmt.Errorf("start the API: %w", err)
	}
	run.api = srv
	run.APIURL = url
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

func serve(addr string, h http.Handler) (string, *http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			slog.Error("server stopped", "addr", addr, "error", err.Error())
		}
	}()
	return "http://" + ln.Addr().String(), srv, nil
}

// Close stops the API, letting calls in flight finish, and then the engine; the engine's data
// is gone with it.
func (r *Running) Close() {
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
