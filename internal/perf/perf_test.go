package perf_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bufdir/export-audit/internal/perf"
	"github.com/bufdir/export-audit/internal/testkit"
	"github.com/bufdir/export-audit/pkg/audit"
	"github.com/bufdir/export-audit/pkg/faults"
	"github.com/bufdir/export-audit/pkg/store"
)

const table = "perf-test"

// setup starts an engine with the table (front, when set, in front of the engine) and returns
// the baselines, with the SDK's default client, and the store on it.
func setup(t *testing.T, front func(http.Handler) http.Handler) (*perf.Raw, *store.Store) {
	t.Helper()
	db := testkit.RawClient(testkit.Engine(t, testkit.EngineOptions{Outer: front}))
	testkit.CreateTable(t, db, table)
	shape, err := perf.LearnShape(context.Background(), db, table)
	if err != nil {
		t.Fatalf("learn the shape: %v", err)
	}
	return &perf.Raw{DB: db, Table: table, Shape: shape}, store.New(db, table)
}

// Seeded records must be records the store reads as its own: the benchmarks' figures are only
// worth anything if the items are the store's.
func TestSeed_StoreReadsSeededRecordsAsItsOwn(t *testing.T) {
	t.Parallel()
	raw, s := setup(t, nil)
	ctx := context.Background()
	b := perf.Batch{Org: "org-seeded", N: 8, FirstDay: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), PerDay: 3}
	ids, err := raw.Shape.Seed(ctx, raw.DB, table, b, 2)
	if err != nil {
		t.Fatalf("seed: %v", err)
	}
	specs := b.Specs()
	for i, id := range ids {
		rec, err := s.Get(ctx, b.Org, id)
		if err != nil {
			t.Fatalf("get seeded %s: %v", id, err)
		}
		sp := specs[i]
		if rec.RecordID != id.String() || rec.ExportID != sp.ExportID || rec.OrgID != b.Org ||
			rec.Status != sp.Status || rec.Format != sp.Format || !rec.CreatedAt.Equal(sp.Created) {
			t.Errorf("seeded record %d reads back as %+v, want %+v", i, rec, sp)
		}
		if want := map[audit.Status]int{audit.StatusQueued: 1, audit.StatusProcessing: 2, audit.StatusCompleted: 3, audit.StatusFailed: 2}[sp.Status]; len(rec.History) != want {
			t.Errorf("seeded %s record has %d history entries, want %d", sp.Status, len(rec.History), want)
		}
	}
	page, err := s.List(ctx, audit.ListFilter{OrgID: b.Org, Page: 1, Limit: 20})
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	if page.Total != len(ids) || len(page.Records) != len(ids) || page.Records[0].RecordID != ids[len(ids)-1].String() {
		t.Errorf("list: total %d, %d records, first %v; want %d, newest first", page.Total, len(page.Records), page.Records, len(ids))
	}
	// The guard is in place: the same export_id again is a replay, not a second record.
	_, replayed, err := s.Create(ctx, audit.NewRecord{
		ExportID: specs[0].ExportID, OrgID: b.Org, TriggeredBy: "usr-0099", Status: audit.StatusQueued,
		Format: specs[0].Format, PeriodFrom: "2025-01-01", PeriodTo: "2025-12-31", By: "usr-0042",
	})
	if err != nil || !replayed {
		t.Errorf("create with a seeded export_id: replayed=%v err=%v, want a replay", replayed, err)
	}
}

// Each baseline makes the route's calls successfully on records the store made.
func TestRaw_BaselinesSucceedOnSeededRecords(t *testing.T) {
	t.Parallel()
	raw, s := setup(t, nil)
	ctx := context.Background()
	org := "org-raw"
	b := perf.Batch{Org: org, N: 4, FirstDay: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		Status: func(int) audit.Status { return audit.StatusQueued }}
	ids, err := raw.Shape.Seed(ctx, raw.DB, table, b, 1)
	if err != nil {
		t.Fatal(err)
	}
	create := perf.Batch{Org: org, N: 1, FirstDay: time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC), Prefix: "exp-raw"}.Specs()[0]
	ops := map[string]perf.Op{
		"get":      raw.Get(org, ids[0]),
		"list":     raw.ListPage(org, 20),
		"filtered": raw.ListByStatus(org, audit.StatusQueued),
		"status":   raw.Status(org, ids[1], audit.StatusProcessing, "usr-0042"),
		"file-url": raw.FileURL(org, ids[2]),
		"delete":   raw.Delete(org, ids[3], "usr-0042"),
		"create":   raw.Create(create),
	}
	for _, name := range []string{"get", "list", "filtered", "status", "file-url", "delete", "create"} {
		if err := ops[name](ctx); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if rec, err := s.Get(ctx, org, ids[1]); err != nil || rec.Status != audit.StatusProcessing || len(rec.History) != 2 {
		t.Errorf("after the status baseline: %+v %v, want processing with 2 history entries", rec, err)
	}
	if rec, err := s.Get(ctx, org, ids[2]); err != nil || rec.FileURL == nil {
		t.Errorf("after the file-url baseline: %+v %v, want a file_url", rec, err)
	}
	if _, err := s.Get(ctx, org, ids[3]); !errors.Is(err, audit.ErrNotFound) {
		t.Errorf("after the delete baseline: %v, want not found", err)
	}
	if rec, err := s.Get(ctx, org, create.ID); err != nil || rec.ExportID != create.ExportID {
		t.Errorf("after the create baseline: %+v %v, want the record", rec, err)
	}
	page, err := s.List(ctx, audit.ListFilter{OrgID: org, Page: 1, Limit: 20})
	if err != nil || page.Total != 4 {
		t.Errorf("list after the baselines: total %d (%v), want 4 (4 seeded, 1 deleted, 1 created)", page.Total, err)
	}
}

// requestShapes records the requests that reach the engine, without their data (keys, items,
// values, tokens): what is left is the operation, the expressions, the attribute names and
// the options, which a baseline must share with the store's request.
type requestShapes struct {
	mu    sync.Mutex
	calls []string
}

func (rs *requestShapes) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := testkit.PeekBody(r)
		var in any
		_ = json.Unmarshal(body, &in)
		shape, _ := json.Marshal(withoutData(in))
		rs.mu.Lock()
		rs.calls = append(rs.calls, faults.Operation(r)+" "+string(shape))
		rs.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

func withoutData(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range v {
			switch k {
			case "Key", "Item", "ExpressionAttributeValues", "ClientRequestToken", "ExclusiveStartKey", "TableName":
			default:
				out[k] = withoutData(e)
			}
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = withoutData(e)
		}
		return out
	}
	return v
}

func (rs *requestShapes) take() []string {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	calls := rs.calls
	rs.calls = nil
	return calls
}

// Each baseline makes the calls the store makes for its route, with the same expressions,
// attribute names and options, so that a change to the table layout or to an expression
// cannot leave a baseline measuring something else.
func TestRaw_BaselinesMakeTheStoresRequests(t *testing.T) {
	t.Parallel()
	shapes := &requestShapes{}
	raw, s := setup(t, shapes.wrap)
	db, shape, ctx := raw.DB, raw.Shape, context.Background()
	const org = "org-requests"
	ids, err := shape.Seed(ctx, db, table, perf.Batch{Org: org, N: 8, FirstDay: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		Status: func(int) audit.Status { return audit.StatusQueued }}, 1)
	if err != nil {
		t.Fatal(err)
	}
	create := perf.Batch{Org: org, N: 1, FirstDay: time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC), Prefix: "exp-raw"}.Specs()[0]
	now := audit.Timestamp(time.Now())
	routes := []struct {
		name    string
		service func() error
		raw     perf.Op
	}{
		{"get", func() error { _, err := s.Get(ctx, org, ids[0]); return err }, raw.Get(org, ids[0])},
		{"list", func() error {
			_, err := s.List(ctx, audit.ListFilter{OrgID: org, Page: 1, Limit: 20})
			return err
		}, raw.ListPage(org, 20)},
		{"filtered list", func() error {
			_, err := s.List(ctx, audit.ListFilter{OrgID: org, Status: audit.StatusCompleted, Page: 1, Limit: 20})
			return err
		}, raw.ListByStatus(org, audit.StatusCompleted)},
		{"status", func() error {
			_, _, err := s.UpdateStatus(ctx, org, ids[1], audit.StatusChange{To: audit.StatusProcessing, At: now, By: "usr-0042"})
			return err
		}, raw.Status(org, ids[2], audit.StatusProcessing, "usr-0042")},
		{"file-url", func() error {
			_, _, err := s.AttachFileURL(ctx, org, ids[3], "https://storage.example.no/exports/a.csv", "usr-0042")
			return err
		}, raw.FileURL(org, ids[4])},
		{"delete", func() error { return s.Delete(ctx, org, ids[5], "usr-0042") }, raw.Delete(org, ids[6], "usr-0042")},
		{"create", func() error {
			_, _, err := s.Create(ctx, audit.NewRecord{ExportID: "exp-service", OrgID: org, TriggeredBy: "usr-0099",
				Status: audit.StatusQueued, Format: audit.FormatPDF, PeriodFrom: "2025-01-01", PeriodTo: "2025-12-31", By: "usr-0042"})
			return err
		}, raw.Create(create)},
	}
	for _, r := range routes {
		shapes.take()
		if err := r.service(); err != nil {
			t.Fatalf("%s through the store: %v", r.name, err)
		}
		want := shapes.take()
		if err := r.raw(ctx); err != nil {
			t.Fatalf("%s baseline: %v", r.name, err)
		}
		if got := shapes.take(); !slices.Equal(got, want) {
			t.Errorf("%s: the baseline's requests\n%s\nare not the store's\n%s", r.name, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}
