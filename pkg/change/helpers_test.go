package change_test

import (
	"context"
	"testing"
	"time"

	"github.com/bufdir/export-audit/internal/testkit"
	"github.com/bufdir/export-audit/pkg/audit"
	"github.com/bufdir/export-audit/pkg/store"
	"github.com/bufdir/export-audit/pkg/stream"
)

const table = "change-test"

var ctx = context.Background()

// env is the repository on the embedded engine with its stream, as every local run has them:
// the token keeper in front of the stream, the stream in front of the engine.
type env struct {
	layer *stream.Layer
	store *store.Store
	clock time.Time
}

func newEnv(t *testing.T) *env {
	t.Helper()
	streamed := testkit.StreamEngine(t, stream.Options{KeepAll: true})
	e := &env{layer: streamed.Layer, clock: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)}
	e.store = store.New(testkit.Client(t, streamed.URL), table, store.WithClock(func() time.Time { return e.clock }), store.WithRetention(30*24*time.Hour))
	if err := e.store.EnsureTable(ctx); err != nil {
		t.Fatal(err)
	}
	return e
}

func newRecord(org, export string) audit.NewRecord {
	return audit.NewRecord{
		ExportID: export, OrgID: org, TriggeredBy: "usr-0099", Status: audit.StatusQueued, Format: audit.FormatPDF,
		PeriodFrom: "2025-01-01", PeriodTo: "2025-12-31", By: "usr-0042",
	}
}

func mustID(t *testing.T, s string) audit.RecordID {
	t.Helper()
	id, err := audit.ParseRecordID(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
