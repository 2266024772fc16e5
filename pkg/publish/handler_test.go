package publish_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/bufdir/export-audit/internal/testkit"
	"github.com/bufdir/export-audit/pkg/audit"
	"github.com/bufdir/export-audit/pkg/bus"
	"github.com/bufdir/export-audit/pkg/config"
	"github.com/bufdir/export-audit/pkg/item"
	"github.com/bufdir/export-audit/pkg/metrics"
	"github.com/bufdir/export-audit/pkg/publish"
	"github.com/bufdir/export-audit/pkg/store"
	"github.com/bufdir/export-audit/pkg/stream"
)

var update = flag.Bool("update", false, "write events/publish-events.json from the stream of a record's life")

const (
	sampleFile = "../../events/publish-events.json"
	table      = "bufdir-export-audit-local"
)

// engine is the repository on the embedded engine with the table's stream, as every local run
// has them (the token keeper in front of the stream, the stream in front of the engine), its DB
// a client anyone with the table's permissions could use.
type engine struct{ *testkit.StreamStore }

func newEngine(t *testing.T) *engine {
	t.Helper()
	return &engine{testkit.NewStreamStore(t, stream.Options{KeepAll: true}, table, time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC),
		store.WithRetention(30*24*time.Hour))}
}

// life takes a record of org through every change the API makes (and a replay and a no-op,
// which change nothing), then lets the TTL remove its tombstone.
func (e *engine) life(t *testing.T, org, export string) audit.Record {
	t.Helper()
	ctx := context.Background()
	start := e.Clock.Now()
	n := audit.NewRecord{ExportID: export, OrgID: org, TriggeredBy: "usr-0099", Status: audit.StatusQueued,
		Format: audit.FormatPDF, PeriodFrom: "2025-01-01", PeriodTo: "2025-12-31", By: "usr-0042"}
	rec, _, err := e.Store.Create(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := audit.ParseRecordID(rec.RecordID)
	must := func(_ audit.Record, _ bool, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(e.Store.Create(ctx, n))
	e.Clock.Set(start.Add(2 * time.Minute))
	must(e.Store.UpdateStatus(ctx, org, id, audit.StatusChange{To: audit.StatusProcessing, At: start.Add(time.Minute), By: "usr-svc"}))
	must(e.Store.UpdateStatus(ctx, org, id, audit.StatusChange{To: audit.StatusProcessing, At: start.Add(time.Minute), By: "usr-svc"}))
	must(e.Store.UpdateStatus(ctx, org, id, audit.StatusChange{To: audit.StatusCompleted, At: e.Clock.Now(), By: "usr-svc", ActivityCount: aws.Int64(312)}))
	e.Clock.Set(start.Add(3 * time.Minute))
	must(e.Store.AttachFileURL(ctx, org, id, "https://storage.example.no/exports/"+export+".pdf", "usr-svc"))
	e.Clock.Set(start.Add(4 * time.Minute))
	if err := e.Store.Delete(ctx, org, id, "usr-admin"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Layer.Expire(ctx, table, config.TableTTLAttribute, start.Add(31*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	e.Clock.Set(start.Add(5 * time.Minute))
	return rec
}

// sample reads events/publish-events.json; with -update it writes it first, from the stream of
// one record's life.
func sample(t *testing.T) events.DynamoDBEvent {
	t.Helper()
	if *update {
		e := newEngine(t)
		e.life(t, "org-bufdir-042", "exp-20260301-abc123")
		b, err := json.MarshalIndent(events.DynamoDBEvent{Records: e.Layer.Records(table)}, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(sampleFile, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(sampleFile)
	if err != nil {
		t.Fatalf("%v (go test ./pkg/publish -run Sample -update writes it)", err)
	}
	var ev events.DynamoDBEvent
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ev); err != nil {
		t.Fatalf("%s is not a DynamoDB stream event: %v", filepath.Base(sampleFile), err)
	}
	return ev
}

// handler is the publish-events handler on a local bus, with its log and metrics captured.
type handler struct {
	*env
	h   *publish.Handler
	emf *testkit.Buffer
}

func newHandler(t *testing.T) *handler {
	t.Helper()
	e := newEnv(t)
	emf := &testkit.Buffer{}
	log := slog.New(slog.NewJSONHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return &handler{env: e, emf: emf, h: &publish.Handler{Publisher: e.pub, Log: log, Metrics: metrics.NewEmitter(emf), Stage: "test"}}
}

func (h *handler) handle(t *testing.T, ev events.DynamoDBEvent) events.DynamoDBEventResponse {
	t.Helper()
	resp, err := h.h.Handle(context.Background(), ev)
	if err != nil {
		t.Fatalf("Handle returned an error: %v", err)
	}
	return resp
}

// counts are the last metrics line's counters.
func (h *handler) counts(t *testing.T) map[string]float64 {
	t.Helper()
	lines := h.emf.Lines(t)
	last := lines[len(lines)-1]
	out := map[string]float64{}
	for _, name := range []string{config.MetricEventsPublished, config.MetricEventsFailed, config.MetricEventsSkipped, config.MetricIllegalChanges} {
		n, _ := last[name].(json.Number)
		out[name], _ = n.Float64()
	}
	if last[config.DimStage] != "test" {
		t.Errorf("metrics line Stage = %v, want test", last[config.DimStage])
	}
	return out
}

type detail = testkit.EventDetail

func details(t *testing.T, evs []bus.Event) []detail {
	t.Helper()
	var out []detail
	for _, ev := range evs {
		d, err := testkit.DecodeEventDetail(ev.Detail)
		if err != nil {
			t.Fatalf("detail %s: %v", ev.Detail, err)
		}
		out = append(out, d)
	}
	return out
}

// TestSample_IsTheStreamOfARecordsLife holds events/publish-events.json to what it stands for:
// stream records of the table as the embedded engine's stream writes them, with a record's
// create, status moves, file, delete and its tombstone's removal by the TTL, and the guard, the
// live count and the day counter beside them.
func TestSample_IsTheStreamOfARecordsLife(t *testing.T) {
	ev := sample(t)
	kinds := map[string]int{}
	for _, r := range ev.Records {
		if r.EventSource != "aws:dynamodb" || r.Change.StreamViewType != "NEW_AND_OLD_IMAGES" || r.Change.SequenceNumber == "" {
			t.Errorf("record %s is not a stream record with new and old images", r.EventID)
		}
		keys := map[string]string{}
		for k, v := range r.Change.Keys {
			keys[k] = v.String()
		}
		kind := strings.SplitN(keys["sk"], "#", 2)[0]
		if strings.HasPrefix(keys["pk"], "SEQ#") {
			kind = "counter"
		}
		name := kind + " " + r.EventName
		if r.UserIdentity != nil {
			name += " by " + r.UserIdentity.PrincipalID
		}
		kinds[name]++
	}
	want := map[string]int{
		"counter INSERT": 1, "counter MODIFY": 1, "REC INSERT": 1, "EXP INSERT": 1, "STATS INSERT": 1,
		"REC MODIFY": 4, "EXP REMOVE": 1, "STATS MODIFY": 1, "REC REMOVE by dynamodb.amazonaws.com": 1,
	}
	if !reflect.DeepEqual(kinds, want) {
		t.Errorf("the sample's records %v, want %v", kinds, want)
	}
}

// TestHandle_TheSamplePublishesTheContractsEvents: the sample's changes become the contract's
// four events, in version order, with the detail the contract gives; the other records publish
// nothing, and nothing is reported for retry.
func TestHandle_TheSamplePublishesTheContractsEvents(t *testing.T) {
	t.Parallel()
	h := newHandler(t)
	resp := h.handle(t, sample(t))
	if len(resp.BatchItemFailures) != 0 {
		t.Fatalf("reported %v", resp.BatchItemFailures)
	}
	evs := h.bus.Events()
	var types []string
	for _, ev := range evs {
		types = append(types, ev.DetailType)
		if ev.Source != publish.Source {
			t.Errorf("source %s", ev.Source)
		}
	}
	wantTypes := []string{"Audit Record Created", "Audit Record Status Changed", "Audit Record Status Changed",
		"Audit Record File Attached", "Audit Record Deleted"}
	if !slices.Equal(types, wantTypes) {
		t.Fatalf("detail types %v, want %v", types, wantTypes)
	}
	ds := details(t, evs)
	id := ds[0].RecordID
	queued, processing := "queued", "processing"
	want := []struct {
		at, by string
		prev   *string
		status string
	}{
		{"2026-03-01T08:00:00Z", "usr-0042", nil, "queued"},
		{"2026-03-01T08:01:00Z", "usr-svc", &queued, "processing"},
		{"2026-03-01T08:02:00Z", "usr-svc", &processing, "completed"},
		{"2026-03-01T08:03:00Z", "usr-svc", nil, "completed"},
		{"2026-03-01T08:04:00Z", "usr-admin", nil, "completed"},
	}
	for i, d := range ds {
		w := want[i]
		if d.OrgID != "org-bufdir-042" || d.RecordID != id || d.Version != int64(i+1) || d.ChangedAt != w.at || d.ChangedBy != w.by ||
			!reflect.DeepEqual(d.PreviousStatus, w.prev) || d.Record["status"] != w.status || d.Record["record_id"] != id {
			t.Errorf("%s: %+v, want version %d at %s by %s from %v to %s", types[i], d, i+1, w.at, w.by, w.prev, w.status)
		}
		if d.EventID != publish.EventID(id, d.Version) {
			t.Errorf("%s: event_id %s, want the name-based id of %s version %d", types[i], d.EventID, id, d.Version)
		}
		if evs[i].Time != w.at {
			t.Errorf("%s: event time %s, want the change's %s", types[i], evs[i].Time, w.at)
		}
		history, _ := d.Record["status_history"].([]any)
		if wantLen := min(i+1, 3); len(history) != wantLen {
			t.Errorf("%s: %d history entries, want %d", types[i], len(history), wantLen)
		}
	}
	// The record is the API's record: every key a GET answers, and nothing of the table's.
	wantKeys := []string{"activity_count", "created_at", "export_id", "failure_reason", "file_url", "format", "org_id", "period_from",
		"period_to", "record_id", "status", "status_history", "triggered_by_user_id", "updated_at"}
	for i, d := range ds {
		var keys []string
		for k := range d.Record {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if !slices.Equal(keys, wantKeys) {
			t.Errorf("%s: record keys %v, want %v", types[i], keys, wantKeys)
		}
	}
	if f := ds[4].Record["file_url"]; f != "https://storage.example.no/exports/exp-20260301-abc123.pdf" {
		t.Errorf("deleted: record as it was before, file_url %v", f)
	}
	if got := h.counts(t); !reflect.DeepEqual(got, map[string]float64{"EventsPublished": 5, "EventsFailed": 0, "EventsSkipped": 7, "IllegalChanges": 0}) {
		t.Errorf("metrics %v", got)
	}
}

// Lambda delivers a batch again after a failure and, rarely, twice anyway: the same changes
// carry the same event ids.
func TestHandle_ARedeliveryCarriesTheSameEventIDs(t *testing.T) {
	t.Parallel()
	h := newHandler(t)
	ev := sample(t)
	h.handle(t, ev)
	h.handle(t, ev)
	ids := h.eventIDs(t)
	if len(ids) != 10 || !slices.Equal(ids[:5], ids[5:]) {
		t.Errorf("event ids of two deliveries %v, want the same five twice", ids)
	}
	if len(slices.Compact(slices.Sorted(slices.Values(ids[:5])))) != 5 {
		t.Errorf("event ids %v, want five different ones", ids[:5])
	}
}

// A failed entry reports exactly its stream record; Lambda then sends the batch again from that
// record, and every event reaches the bus (the ones after it twice, with their ids).
func TestHandle_PartialPutEventsFailureReportsItsRecord(t *testing.T) {
	t.Parallel()
	h := newHandler(t)
	ev := sample(t)
	h.bus.SetFault(func(c bus.Call) bus.Fault {
		if c.N == 1 {
			return bus.Fault{Entries: map[int]bus.EntryError{2: {Code: bus.InternalFailure, Message: "try again"}}}
		}
		return bus.Fault{}
	})
	resp := h.handle(t, ev)
	var statusMoves []string
	for _, r := range ev.Records {
		if r.EventName == "MODIFY" && strings.HasPrefix(r.Change.Keys["sk"].String(), "REC#") {
			statusMoves = append(statusMoves, r.Change.SequenceNumber)
		}
	}
	if got := reported(resp); len(statusMoves) < 2 || !slices.Equal(got, statusMoves[1:2]) {
		t.Fatalf("reported %v, want the record of the second status move %v", got, statusMoves[1:2])
	}
	if got := h.counts(t); got["EventsPublished"] != 4 || got["EventsFailed"] != 1 {
		t.Errorf("metrics %v, want 4 published and 1 failed", got)
	}
	// Lambda's retry: the batch from the lowest reported record on.
	from := slices.IndexFunc(ev.Records, func(r events.DynamoDBEventRecord) bool { return r.Change.SequenceNumber == statusMoves[1] })
	if resp := h.handle(t, events.DynamoDBEvent{Records: ev.Records[from:]}); len(resp.BatchItemFailures) != 0 {
		t.Fatalf("the retry reported %v", resp.BatchItemFailures)
	}
	seen := map[string]bool{}
	for _, id := range h.eventIDs(t) {
		seen[id] = true
	}
	if len(seen) != 5 {
		t.Errorf("%d different events reached the bus, want all 5", len(seen))
	}
}

// A call that fails as a whole after the SDK's retries reports every record it carried.
func TestHandle_AFailedCallReportsAllItsRecords(t *testing.T) {
	t.Parallel()
	h := newHandler(t)
	h.bus.SetFault(func(bus.Call) bus.Fault { return bus.Fault{Call: bus.Denied()} })
	resp := h.handle(t, sample(t))
	if n := len(resp.BatchItemFailures); n != 5 {
		t.Errorf("reported %d records, want the 5 changes", n)
	}
	if got := h.counts(t); got["EventsPublished"] != 0 || got["EventsFailed"] != 5 || got["EventsSkipped"] != 7 {
		t.Errorf("metrics %v", got)
	}
}

// A batch of Lambda's default size, 100 records of twenty records' lives, goes out in calls of
// at most ten entries, every change once, in stream order.
func TestHandle_ABatchOfManyChangesGoesOutInCallsOfTen(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	for i := 0; len(e.Layer.Records(table)) < 100; i++ {
		e.life(t, "org-a", fmt.Sprintf("exp-%d", i))
	}
	recs := e.Layer.Records(table)[:100]
	h := newHandler(t)
	if resp := h.handle(t, events.DynamoDBEvent{Records: recs}); len(resp.BatchItemFailures) != 0 {
		t.Fatalf("reported %v", resp.BatchItemFailures)
	}
	sizes := h.callSizes()
	total := 0
	for _, n := range sizes {
		total += n
		if n > 10 {
			t.Errorf("a call of %d entries", n)
		}
	}
	counts := h.counts(t)
	if total != len(h.bus.Events()) || float64(total) != counts["EventsPublished"] || total+int(counts["EventsSkipped"]) != 100 || total < 40 {
		t.Errorf("calls %v (%d entries), %d events, metrics %v: want every change of the 100 records once", sizes, total, len(h.bus.Events()), counts)
	}
	// In stream order: each record's versions one after another.
	last := map[string]int64{}
	for _, d := range details(t, h.bus.Events()) {
		if d.Version != last[d.RecordID]+1 {
			t.Errorf("%s: version %d after %d", d.RecordID, d.Version, last[d.RecordID])
		}
		last[d.RecordID] = d.Version
	}
}

// A change written straight to the table that the API cannot make is evidence, not news: it is
// logged at ERROR naming the record, counted, not published, and not retried.
func TestHandle_AnIllegalChangeIsLoggedNotPublished(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	ctx := context.Background()
	n := audit.NewRecord{ExportID: "exp-1", OrgID: "org-a", TriggeredBy: "usr-0099", Status: audit.StatusQueued,
		Format: audit.FormatPDF, PeriodFrom: "2025-01-01", PeriodTo: "2025-12-31", By: "usr-0042"}
	rec, _, err := e.Store.Create(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := audit.ParseRecordID(rec.RecordID)
	before := len(e.Layer.Records(table))
	// Someone with the table's permissions changes what never changes.
	if _, err := e.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(table), Key: item.RecordKey("org-a", id),
		UpdateExpression:          aws.String("SET export_id = :e"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":e": item.S("exp-2")},
	}); err != nil {
		t.Fatal(err)
	}
	recs := e.Layer.Records(table)
	if len(recs) != before+1 {
		t.Fatalf("the direct write made %d stream records, want 1", len(recs)-before)
	}
	h := newHandler(t)
	resp := h.handle(t, events.DynamoDBEvent{Records: recs})
	if len(resp.BatchItemFailures) != 0 {
		t.Errorf("reported %v: an illegal change is not retried", resp.BatchItemFailures)
	}
	if evs := h.bus.Events(); len(evs) != 1 || evs[0].DetailType != "Audit Record Created" {
		t.Errorf("bus holds %v, want only the creation", evs)
	}
	var logged bool
	for _, l := range h.log.Lines(t) {
		if l["level"] == "ERROR" && l["msg"] == "illegal change: not published" && l["record_id"] == rec.RecordID && l["org_id"] == "org-a" &&
			strings.Contains(l["reason"].(string), "export_id") {
			logged = true
		}
	}
	if !logged {
		t.Errorf("no ERROR line naming %s and export_id: %v", rec.RecordID, h.log.Lines(t))
	}
	if got := h.counts(t); got["IllegalChanges"] != 1 || got["EventsPublished"] != 1 {
		t.Errorf("metrics %v, want 1 illegal change and 1 event", got)
	}
}
