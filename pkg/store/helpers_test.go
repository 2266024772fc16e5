package store_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/bufdir/export-audit/internal/app"
	"github.com/bufdir/export-audit/pkg/audit"
	"github.com/bufdir/export-audit/pkg/config"
	"github.com/bufdir/export-audit/pkg/faults"
	"github.com/bufdir/export-audit/pkg/store"
	"github.com/truora/minidyn/server"
)

const table = "audit-test"

// calls counts the DynamoDB operations that reach the engine, by name.
type calls struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *calls) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op := r.Header.Get("X-Amz-Target")
		op = op[strings.LastIndex(op, ".")+1:]
		c.mu.Lock()
		c.n[op]++
		c.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

// take returns the counts since the last take and starts again from zero.
func (c *calls) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.n
	c.n = map[string]int{}
	return n
}

type env struct {
	db    *dynamodb.Client
	calls *calls
}

// newEnv starts a fresh embedded engine over HTTP and returns a real SDK client for it, with
// the table created.
//
// The engine keeps no ClientRequestToken, so when an attempt outlives the SDK's 2 s attempt
// timeout (on a loaded machine) and the SDK sends the transaction again, the engine runs it a
// second time and cancels it on its own write, where DynamoDB answers the first outcome. A fault
// injector without rules in front of it keeps the tokens as DynamoDB does.
func newEnv(t *testing.T) *env {
	t.Helper()
	c := &calls{n: map[string]int{}}
	srv := httptest.NewServer(c.wrap(faults.New(1).Wrap(server.NewServer())))
	t.Cleanup(srv.Close)
	db, err := app.NewDynamoDB(config.Config{Region: "eu-north-1", DynamoDBEndpoint: srv.URL})
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	if err := store.New(db, table).EnsureTable(context.Background()); err != nil {
		t.Fatalf("create table: %v", err)
	}
	c.take()
	return &env{db: db, calls: c}
}

func (e *env) store(opts ...store.Option) *store.Store { return store.New(e.db, table, opts...) }

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
