package archive

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/bufdir/export-audit/pkg/config"
	"github.com/bufdir/export-audit/pkg/metrics"
)

// Writer is the archive-changes function: it writes each batch of the table's stream as one
// change object. Build it once per container; it is safe for concurrent use when its bucket
// is.
type Writer struct {
	bucket  Bucket
	periods Periods
	now     func() time.Time
	log     *slog.Logger
	metrics *metrics.Emitter
	stage   string
}

// NewWriter returns a Writer into bucket, its objects under the period its clock (now; nil
// for time.Now) is in, logging to log (nil for slog.Default()).
func NewWriter(bucket Bucket, periods Periods, now func() time.Time, log *slog.Logger) *Writer {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	return &Writer{bucket: bucket, periods: periods, now: now, log: log}
}

// Measure makes the writer write each batch's metrics (config.MetricArchiveObjectsWritten,
// MetricChangesArchived, MetricArchiveFailures) to e as one EMF line, under the Stage
// dimension stage ("" for config.LocalStage). Call it before the first batch.
func (w *Writer) Measure(e *metrics.Emitter, stage string) *Writer {
	if stage == "" {
		stage = config.LocalStage
	}
	w.metrics, w.stage = e, stage
	return w
}

// Handle writes the batch, as Lambda calls a stream consumer. A batch already written (a
// retry of one that was) is done. When the object cannot be written every record is reported
// failed, so that Lambda retries the whole batch and, once its retries are spent, sends it to
// the on-failure destination: the archive takes a batch whole or not at all.
func (w *Writer) Handle(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
	if len(ev.Records) == 0 {
		return events.DynamoDBEventResponse{}, nil
	}
	start := w.now()
	key := BatchKey(w.periods.Start(start), ev.Records)
	err := w.put(ctx, key, ev)
	switch {
	case err == nil:
		w.log.LogAttrs(ctx, slog.LevelInfo, "archived", slog.String("key", key), slog.Int("records", len(ev.Records)))
		w.emit(ctx, start, 1, len(ev.Records), 0)
		return events.DynamoDBEventResponse{}, nil
	case errors.Is(err, ErrExists):
		// Counted when it was written: a retry of a batch that was adds nothing.
		w.log.LogAttrs(ctx, slog.LevelInfo, "archived already", slog.String("key", key), slog.Int("records", len(ev.Records)))
		w.emit(ctx, start, 0, 0, 0)
		return events.DynamoDBEventResponse{}, nil
	}
	w.emit(ctx, start, 0, 0, 1)
	w.log.LogAttrs(ctx, slog.LevelError, "archive failed", slog.String("key", key), slog.Int("records", len(ev.Records)),
		slog.String("first", ev.Records[0].Change.SequenceNumber), slog.String("error", err.Error()))
	resp := events.DynamoDBEventResponse{BatchItemFailures: make([]events.DynamoDBBatchItemFailure, len(ev.Records))}
	for i, r := range ev.Records {
		resp.BatchItemFailures[i].ItemIdentifier = r.Change.SequenceNumber
	}
	return resp, nil
}

// emit writes the batch's metrics, when the writer measures.
func (w *Writer) emit(ctx context.Context, at time.Time, written, changes, failures int) {
	measure(ctx, w.metrics, w.log, w.stage, at, count{config.MetricArchiveObjectsWritten, written},
		count{config.MetricChangesArchived, changes}, count{config.MetricArchiveFailures, failures})
}

func (w *Writer) put(ctx context.Context, key string, ev events.DynamoDBEvent) error {
	body, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("marshal batch: %w", err)
	}
	return w.bucket.Create(ctx, key, body)
}

// BatchKey is the key of a batch's change object in the period that starts at start: the
// first record's sequence number, padded to DynamoDB's greatest length (40 digits) so that
// names sort as the numbers do, and a hash of the records' event IDs, so that only the same
// batch has the same name.
func BatchKey(start time.Time, recs []events.DynamoDBEventRecord) string {
	h := sha256.New()
	for _, r := range recs {
		h.Write([]byte(r.EventID))
		h.Write([]byte{'\n'})
	}
	seq := recs[0].Change.SequenceNumber
	if len(seq) < 40 {
		seq = strings.Repeat("0", 40-len(seq)) + seq
	}
	return ChangesDir(start) + seq + "-" + hex.EncodeToString(h.Sum(nil)[:16]) + ".json"
}
