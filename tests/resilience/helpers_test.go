package resilience

// What the suite's tests share: a local API of their own with a fault injector in front of its
// engine and its error log kept, and the smallest create body.

import (
	"log/slog"
	"testing"
	"time"

	"github.com/bufdir/export-audit/internal/app/localrun"
	"github.com/bufdir/export-audit/internal/testkit"
	"github.com/bufdir/export-audit/pkg/faults"
	"github.com/bufdir/export-audit/pkg/store"
)

// base is the contract's canonical prefix.
const base = testkit.Prefix

// env is one local API on its own engine, with a fault injector in front of the engine.
type env struct {
	*testkit.API
	logs *testkit.Buffer // the API's error log lines: the 5xx answers, with their causes
}

// startAPI starts the local API on loopback with inj (no rules yet; a new one when nil) in
// front of its engine; opts may add store options or change the configuration.
func startAPI(t testing.TB, inj *faults.Injector, opts ...func(*localrun.Options)) *env {
	t.Helper()
	if inj == nil {
		inj = faults.New(1)
	}
	logs := &testkit.Buffer{}
	o := localrun.Options{
		Log:    slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelError})),
		Faults: inj,
	}
	for _, f := range opts {
		f(&o)
	}
	return &env{API: testkit.StartAPI(t, o), logs: logs}
}

// withClock makes the store's clock stand at at.
func withClock(at time.Time) func(*localrun.Options) {
	return func(o *localrun.Options) {
		o.StoreOptions = append(o.StoreOptions, store.WithClock(func() time.Time { return at }))
	}
}

// createBody is the smallest valid create body for export.
func createBody(export string) testkit.Fields {
	return testkit.NewRecord(testkit.Fields{"export_id": export, "format": "csv"})
}
