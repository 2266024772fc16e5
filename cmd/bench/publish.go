package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/bufdir/export-audit/internal/app/publisher"
	"github.com/bufdir/export-audit/pkg/audit"
	"github.com/bufdir/export-audit/pkg/bus"
	"github.com/bufdir/export-audit/pkg/config"
	"github.com/bufdir/export-audit/pkg/local"
	"github.com/bufdir/export-audit/pkg/stream"
)

// publishBatches are the batch sizes the publisher's cost is measured at: one stream record
// per invocation, ten, and the stack's mapping's 100 (config.PublisherMapping).
var publishBatches = []int{1, 10, config.PublisherMapping.BatchSize}

// billedChunk is what EventBridge bills a PutEvents entry by: each started 64 KB is one event.
const billedChunk = 64 * 1024

// publishResult is what publish-events' handler cost at one batch size, for the same stream.
type publishResult struct {
	batch       int // stream records per invocation
	records     int // stream records handled
	invocations int
	events      int // events the bus accepted: the records' changes among the stream records
	calls       int // PutEvents calls
	entryBytes  int // the entries' size by EventBridge's rule, what its 256 KB limit counts
	wireBytes   int // the PutEvents request bodies as the SDK sent them
	billed      int // events as EventBridge bills them: each entry's started 64 KB chunks
}

const publishOrg = "org-bench-events"

// runPublish records the table's stream of lives records, each created, moved to processing,
// then to completed with its activity count, and given its file, through the store on a local
// run as the API makes them; then hands that same stream to publish-events' handler (built by
// its composition root, its EventBridge client on a local bus of its own per batch size) in
// batches of each size, and counts what reaches the bus.
func (e *bench) runPublish(ctx context.Context, batches []int, lives int) ([]publishResult, error) {
	recs, err := e.recordStream(ctx, lives)
	if err != nil {
		return nil, err
	}
	out := make([]publishResult, 0, len(batches))
	for _, n := range batches {
		e.progress(fmt.Sprintf("publisher: %d stream records in batches of %d", len(recs), n))
		r, err := publishInBatches(ctx, recs, n)
		if err != nil {
			return nil, err
		}
		if r.events != 4*lives {
			return nil, fmt.Errorf("publisher, batches of %d: %d events on the bus, want 4 for each of %d records", n, r.events, lives)
		}
		out = append(out, r)
	}
	return out, nil
}

// recordStream makes the changes of lives records on a local run and returns the stream
// records they wrote, in order.
func (e *bench) recordStream(ctx context.Context, lives int) ([]events.DynamoDBEventRecord, error) {
	s, err := e.stack(ctx, publishOrg)
	if err != nil {
		return nil, err
	}
	defer s.close()
	var mu sync.Mutex
	var recs []events.DynamoDBEventRecord
	_, err = s.run.Stream.Subscribe(stream.Subscriber{Name: "bench-recorder", Table: tableName,
		Handler: func(_ context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
			mu.Lock()
			defer mu.Unlock()
			recs = append(recs, ev.Records...)
			return events.DynamoDBEventResponse{}, nil
		}})
	if err != nil {
		return nil, err
	}
	st := s.run.Store
	for i := range lives {
		rec, _, err := st.Create(ctx, audit.NewRecord{ExportID: fmt.Sprintf("exp-bench-events-%d", i), OrgID: publishOrg,
			TriggeredBy: sub, Status: audit.StatusQueued, Format: audit.FormatPDF, PeriodFrom: "2025-01-01", PeriodTo: "2025-12-31", By: sub})
		if err != nil {
			return nil, err
		}
		id, err := audit.ParseRecordID(rec.RecordID)
		if err != nil {
			return nil, err
		}
		at := audit.Timestamp(time.Now())
		if _, _, err := st.UpdateStatus(ctx, publishOrg, id, audit.StatusChange{To: audit.StatusProcessing, At: at, By: sub}); err != nil {
			return nil, err
		}
		if _, _, err := st.UpdateStatus(ctx, publishOrg, id, audit.StatusChange{To: audit.StatusCompleted, At: at, By: sub, ActivityCount: aws.Int64(312)}); err != nil {
			return nil, err
		}
		if _, _, err := st.AttachFileURL(ctx, publishOrg, id, "https://storage.example.no/exports/"+rec.ExportID+".xlsx", sub); err != nil {
			return nil, err
		}
	}
	if err := s.run.WaitForEvents(ctx); err != nil {
		return nil, err
	}
	mu.Lock()
	defer mu.Unlock()
	return recs, nil
}

// publishInBatches hands recs to a fresh publish-events handler, n records per invocation, and
// counts the PutEvents calls and bytes its local bus received.
func publishInBatches(ctx context.Context, recs []events.DynamoDBEventRecord, n int) (publishResult, error) {
	name := config.EventBusName(config.LocalStage)
	b := bus.New(bus.Options{Region: "eu-north-1", Buses: []string{name}})
	var wire atomic.Int64
	srv, err := local.Serve("127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		wire.Add(int64(len(body)))
		r.Body = io.NopCloser(bytes.NewReader(body))
		b.ServeHTTP(w, r)
	}))
	if err != nil {
		return publishResult{}, err
	}
	defer srv.Close()
	h, err := publisher.New(config.PublisherConfig{Stage: config.LocalStage, Region: "eu-north-1", EventBusName: name,
		EventBridgeEndpoint: srv.URL, LogLevel: slog.LevelError}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		return publishResult{}, err
	}
	r := publishResult{batch: n, records: len(recs)}
	for from := 0; from < len(recs); from += n {
		resp, err := h.Handle(ctx, events.DynamoDBEvent{Records: recs[from:min(from+n, len(recs))]})
		if err != nil || len(resp.BatchItemFailures) > 0 {
			return publishResult{}, fmt.Errorf("publish-events, batch of %d from record %d: %v, failures %v", n, from, err, resp.BatchItemFailures)
		}
		r.invocations++
	}
	for _, c := range b.Calls() {
		r.calls++
		r.entryBytes += c.Size
		for _, en := range c.Entries {
			r.billed += (bus.EntrySize(en) + billedChunk - 1) / billedChunk
		}
	}
	r.events, r.wireBytes = len(b.Events()), int(wire.Load())
	return r, nil
}
