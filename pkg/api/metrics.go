package api

import (
	"context"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/bufdir/export-audit/pkg/app"
	"github.com/bufdir/export-audit/pkg/audit"
	"github.com/bufdir/export-audit/pkg/metrics"
)

// The metrics of one request, in namespace metrics.Namespace. The README ("Operating it") lists
// them with their dimensions; the DynamoDB ones are recorded by metrics.InstrumentSDK on the
// client (app.NewDynamoDB), under the document's default dimension set, [Route]. Every
// dimension set below also carries DimStage, first (metrics.Document.AlwaysDimension): two
// stages in one account and region share the namespace, and each stage's alarms must read its
// own requests only.
const (
	MetricRequests          = "Requests"          // Count, [Stage, Route, StatusClass] and [Stage, Route]
	MetricLatency           = "Latency"           // Milliseconds, [Stage, Route]
	MetricRecordsCreated    = "RecordsCreated"    // Count, [Stage, Route]; create only, 0 on a replay
	MetricIdempotentReplays = "IdempotentReplays" // Count, [Stage, Route]; create only
	MetricStatusMoves       = "StatusMoves"       // Count, [Stage, ToStatus]; a status that changed
	MetricNoopUpdates       = "NoopUpdates"       // Count, [Stage, Route]; status and file-url, 1 when nothing changed
	MetricDynamoDBPrefix    = "DynamoDB"          // + Calls, Latency (one value per call), Retries, Throttles
)

// Dimension names.
const (
	DimStage       = "Stage"       // the deployment's stage (app.Config.Stage, STAGE), on every set
	DimRoute       = "Route"       // the route's function name, e.g. get-record
	DimStatusClass = "StatusClass" // 2xx, 4xx, 5xx
	DimToStatus    = "ToStatus"    // the status a record moved to
)

var (
	byRoute         = []string{DimRoute}
	byRouteAndClass = []string{DimRoute, DimStatusClass}
	byToStatus      = []string{DimToStatus}
)

// newDocument starts a request's metrics for the deployment stage.
func newDocument(start time.Time, op Operation, stage string) *metrics.Document {
	doc := metrics.New(start)
	if stage == "" {
		// Only a Config built in code (tests, the bench) has no stage: LoadConfig, which every
		// function and make run read theirs with, requires STAGE.
		stage = app.LocalStage
	}
	doc.AlwaysDimension(DimStage, stage)
	doc.Dimension(DimRoute, op.Route.Function)
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
	doc.Dimension(DimStatusClass, strconv.Itoa(status/100)+"xx")
	doc.Add(MetricRequests, metrics.Count, 1, byRouteAndClass, byRoute)
	doc.Put(MetricLatency, metrics.Milliseconds, float64(took.Microseconds())/1000)
	for _, n := range []string{metrics.SDKCalls, metrics.SDKRetries, metrics.SDKThrottles} {
		doc.Add(MetricDynamoDBPrefix+n, metrics.Count, 0)
	}
}

// countCreate records what a create did.
func countCreate(ctx context.Context, replayed bool) {
	doc := metrics.FromContext(ctx)
	created, replays := 1.0, 0.0
	if replayed {
		created, replays = 0, 1
	}
	doc.Add(MetricRecordsCreated, metrics.Count, created)
	doc.Add(MetricIdempotentReplays, metrics.Count, replays)
}

// countStatusMove records a status change that changed something, or a no-op.
func countStatusMove(ctx context.Context, to audit.Status, changed bool) {
	doc := metrics.FromContext(ctx)
	if changed {
		doc.Dimension(DimToStatus, string(to))
		doc.Add(MetricStatusMoves, metrics.Count, 1, byToStatus)
	}
	countNoop(ctx, changed)
}

// countNoop records whether an update changed the record.
func countNoop(ctx context.Context, changed bool) {
	n := 1.0
	if changed {
		n = 0
	}
	metrics.FromContext(ctx).Add(MetricNoopUpdates, metrics.Count, n)
}
