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

// newEnv is the repository on the embedded engine with its stream, as every local run has
// them, keeping every record, its clock at 2026-03-01 08:00 UTC.
func newEnv(t *testing.T) *testkit.StreamStore {
	t.Helper()
	return testkit.NewStreamStore(t, stream.Options{KeepAll: true}, table, time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC),
		store.WithRetention(30*24*time.Hour))
}

// withRecord is newEnv holding one record, org-a's exp-1.
func withRecord(t *testing.T) (*testkit.StreamStore, audit.Record) {
	t.Helper()
	e := newEnv(t)
	rec, _, err := e.Store.Create(ctx, newRecord("org-a", "exp-1"))
	if err != nil {
		t.Fatal(err)
	}
	return e, rec
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
