package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/bufdir/export-audit/internal/testkit"
	"github.com/bufdir/export-audit/pkg/audit"
	"github.com/bufdir/export-audit/pkg/store"
)

const table = testkit.Table

// env is the table on an engine of its own, with the service's client and a count of the
// DynamoDB operations that reach the engine.
type env struct {
	*testkit.DB
	calls *testkit.Calls
}

// newEnv starts a fresh embedded engine over HTTP, behind a keeper of ClientRequestTokens as
// DynamoDB keeps them, and returns a real SDK client for it, with the table created.
func newEnv(t *testing.T) *env {
	t.Helper()
	c := &testkit.Calls{}
	db := testkit.NewDB(t, testkit.EngineOptions{Outer: c.Wrap})
	c.Take()
	return &env{DB: db, calls: c}
}

func newRecord(org, export string) audit.NewRecord {
	return audit.NewRecord{
		ExportID: export, OrgID: org, TriggeredBy: "usr-0099", Status: audit.StatusQueued,
		Format: audit.FormatPDF, PeriodFrom: "2025-01-01", PeriodTo: "2025-12-31", By: "usr-0042",
	}
}

func mustCreate(t *testing.T, s *store.Store, n audit.NewRecord) audit.Record {
	t.Helper()
	rec, replayed, err := s.Create(context.Background(), n)
	if err != nil || replayed {
		t.Fatalf("create %s: replayed=%v err=%v", n.ExportID, replayed, err)
	}
	return rec
}

func mustID(t *testing.T, s string) audit.RecordID {
	t.Helper()
	id, err := audit.ParseRecordID(s)
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return id
}

// fixedClock returns a clock that stands at t.
func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }
