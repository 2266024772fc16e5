package publish

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/bufdir/export-audit/pkg/change"
	"github.com/bufdir/export-audit/pkg/config"
	"github.com/bufdir/export-audit/pkg/metrics"
)

// Handler is the publish-events function: a batch of the table's stream in, a change event on
// the bus for each change of a record (pkg/change judges them), and the partial batch response
// out, naming the records whose events were not put. Build it once per container.
//
// A record that is no change to publish (the guard, the live count, the day counter, the TTL's
// removal of a tombstone) is done. So is a change the API cannot make: it is evidence that
// someone wrote to the table around the API, which the archive keeps and make verify reports;
// publishing it would tell consumers of a change that did not happen through the service, and
// retrying it would change nothing. It is logged at ERROR and counted (IllegalChanges).
type Handler struct {
	Publisher *Publisher
	Log       *slog.Logger
	// Metrics writes each invocation's EMF document; nil writes none.
	Metrics *metrics.Emitter
	// Stage is the Stage dimension of the metrics; empty, config.LocalStage.
	Stage string
}

// deadlineMargin is kept back from the Lambda deadline, so that the calls still running fail
// and their records are reported before Lambda ends the invocation, which would retry the
// whole batch.
const deadlineMargin = time.Second

// Handle is the Lambda handler. It returns no error: what failed is in the response.
func (h *Handler) Handle(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
	start := time.Now()
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-deadlineMargin))
		defer cancel()
	}
	var evs []Event
	var unsent []events.DynamoDBBatchItemFailure
	skipped, illegal := 0, 0
	for _, r := range ev.Records {
		seq := r.Change.SequenceNumber
		c, err := change.Read(r)
		if err != nil {
			illegal++
			attrs := []slog.Attr{slog.String("sequence_number", seq), slog.String("stream_event_id", r.EventID)}
			if ill := (*change.Illegal)(nil); errors.As(err, &ill) {
				attrs = append(attrs, slog.String("record_id", ill.RecordID), slog.String("org_id", ill.OrgID),
					slog.String("event_name", ill.EventName), slog.String("reason", ill.Reason))
			}
			h.Log.LogAttrs(ctx, slog.LevelError, "illegal change: not published", append(attrs, slog.String("error", err.Error()))...)
			continue
		}
		if c.Kind == change.None {
			skipped++
			h.Log.LogAttrs(ctx, slog.LevelDebug, "nothing to publish", slog.String("sequence_number", seq), slog.String("why", c.Skip))
			continue
		}
		e, err := EventOf(c, seq)
		if err != nil {
			h.Log.LogAttrs(ctx, slog.LevelError, "event not made", slog.String("record_id", c.RecordID), slog.String("error", err.Error()))
			unsent = append(unsent, events.DynamoDBBatchItemFailure{ItemIdentifier: seq})
			continue
		}
		evs = append(evs, e)
	}
	resp, stats := h.Publisher.Publish(ctx, evs)
	resp.BatchItemFailures = append(resp.BatchItemFailures, unsent...)
	h.emit(ctx, start, stats, len(unsent), skipped, illegal)
	return resp, nil
}

// emit writes the invocation's metrics: every record of the batch counts once, as published,
// failed, skipped or illegal.
func (h *Handler) emit(ctx context.Context, start time.Time, stats Stats, unsent, skipped, illegal int) {
	if h.Metrics == nil {
		return
	}
	stage := h.Stage
	if stage == "" {
		stage = config.LocalStage
	}
	doc := metrics.New(start)
	doc.AlwaysDimension(config.DimStage, stage)
	doc.DefaultDimensions([]string{})
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		doc.Property("lambda_request_id", lc.AwsRequestID)
	}
	doc.Add(config.MetricEventsPublished, metrics.Count, float64(stats.Published))
	doc.Add(config.MetricEventsFailed, metrics.Count, float64(stats.Failed+unsent))
	doc.Add(config.MetricEventsSkipped, metrics.Count, float64(skipped))
	doc.Add(config.MetricIllegalChanges, metrics.Count, float64(illegal))
	if err := h.Metrics.Emit(doc); err != nil {
		h.Log.LogAttrs(context.WithoutCancel(ctx), slog.LevelWarn, "metrics not written", slog.String("error", err.Error()))
	}
}
