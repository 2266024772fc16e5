package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
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

// oneRecord is an env whose store holds one record, org-a's exp-1, as created now.
func oneRecord(t *testing.T) (*env, *store.Store, audit.Record) {
	t.Helper()
	e := newEnv(t)
	s := e.Store()
	return e, s, mustCreate(t, s, newRecord("org-a", "exp-1"))
}

// answer is what one create of createAll answered.
type answer struct {
	rec      audit.Record
	replayed bool
	err      error
}

// createAll makes the n creates of record(i) all at once, one goroutine each, as n requests
// racing each other would, and returns their answers by i.
func createAll(s *store.Store, n int, record func(i int) audit.NewRecord) []answer {
	out := make([]answer, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			rec, replayed, err := s.Create(context.Background(), record(i))
			out[i] = answer{rec, replayed, err}
		})
	}
	wg.Wait()
	return out
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

// recordIn creates a record and moves it to status.
func recordIn(t *testing.T, s interface {
	Create(context.Context, audit.NewRecord) (audit.Record, bool, error)
	UpdateStatus(context.Context, string, audit.RecordID, audit.StatusChange) (audit.Record, bool, error)
}, org, export string, status audit.Status) audit.Record {
	t.Helper()
	n := newRecord(org, export)
	if status == audit.StatusProcessing {
		n.Status = status
	}
	rec, _, err := s.Create(ctx, n)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if rec.Status != status {
		rec, _, err = s.UpdateStatus(ctx, org, mustID(t, rec.RecordID), audit.StatusChange{To: status, At: rec.CreatedAt, By: "svc"})
		if err != nil {
			t.Fatalf("move to %s: %v", status, err)
		}
	}
	return rec
}

func attrS(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func attrN(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberN); ok {
		return v.Value
	}
	return ""
}

func mustList(t *testing.T, s interface {
	List(context.Context, audit.ListFilter) (audit.Page, error)
}, f audit.ListFilter) audit.Page {
	t.Helper()
	p, err := s.List(ctx, f)
	if err != nil {
		t.Fatalf("list %+v: %v", f, err)
	}
	return p
}
