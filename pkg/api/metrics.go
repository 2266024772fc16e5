package api

import (
	"context"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/bufdir/export-audit/pkg/audit"
	"github.com/bufdir/export-audit/pkg/config"
	"github.com/bufdir/export-audit/pkg/metrics"
)

// The request's metrics, named in package config (which infra's alarms and dashboard read too).
// The DynamoDB ones are recorded by metrics.InstrumentSDK on the client (internal/app), under
// the document's default dimension set, [Route]. Every dimension set below also carries
// config.DimStage, first (metrics.Document.AlwaysDimension).
var (
	byRoute         = []string{config.DimRoute}
	byRouteAndClass = []string{config.DimRoute, config.DimStatusClass}
	byToStatus      = []string{config.DimToStatus}
)

// newDocument starts a request's metrics for the deployment stage.
func newDocument(start time.Time, op Operation, stage string) *metrics.Document {
	doc := metrics.New(start)
	if stage == "" {
		// Only Settings built in code (tests, the bench) have no stage: config.Load, which every
		// function and make run read theirs with, requires STAGE.
		stage = config.LocalStage
	}
	doc.AlwaysDimension(config.DimStage, stage)
	doc.Dimension(config.DimRoute, op.Route.Function)
	doc.DefaultDimensions(byRoute)
	return doc
}

// finishDocument adds what is known when the answer is: the request itself, zeros for the
// DynamoDB counters of a request that made no call (so that a sum over a period counts every
// request), and the ids that find the request's log line.
func finishDocument(ctx context.Context, doc *metrics.Document, r *request, status int, took time.Duration) {
	doc.Property("api_request_id", r.ev.RequestContext.RequestID)
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		doc.Property("lambda_request_id", lc.AwsRequestID)
	}
	doc.Property("trace_id", r.traceID)
	doc.Dimension(config.DimStatusClass, strconv.Itoa(status/100)+"xx")
	doc.Add(config.MetricRequests, metrics.Count, 1, byRouteAndClass, byRoute)
	doc.Put(config.MetricLatency, metrics.Milliseconds, float64(took.Microseconds())/1000)
	for _, n := range []string{config.MetricDynamoDBCalls, config.MetricDynamoDBRetries, config.MetricDynamoDBThrottles} {
		doc.Add(n, metrics.Count, 0)
	}
}

// countCreate records what a create did.
func countCreate(ctx context.Context, replayed bool) {
	doc := metrics.FromContext(ctx)
	created, replays := 1.0, 0.0
	if replayed {
		created, replays = 0, 1
	}
	doc.Add(config.MetricRecordsCreated, metrics.Count, created)
	doc.Add(config.MetricIdempotentReplays, metrics.Count, replays)
}

// countStatusMove records a status change that changed something, or a no-op.
func countStatusMove(ctx context.Context, to audit.Status, changed bool) {
	doc := metrics.FromContext(ctx)
	if changed {
		doc.Dimension(config.DimToStatus, string(to))
		doc.Add(config.MetricStatusMoves, metrics.Count, 1, byToStatus)
	}
	countNoop(ctx, changed)
}

// countNoop records whether an update changed the record.
func countNoop(ctx context.Context, changed bool) {
	n := 1.0
	if changed {
		n = 0
	}
	metrics.FromContext(ctx).Add(config.MetricNoopUpdates, metrics.Count, n)
}
