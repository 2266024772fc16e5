package config

// MetricNamespace is the CloudWatch namespace of every metric the service emits (pkg/metrics).
const MetricNamespace = "BufdirExportAudit"

// The metrics of one request. The README ("Operating it") lists them with their dimensions;
// infra's alarms and dashboard read them by these names. Every dimension set also carries
// DimStage, first: two stages in one account and region share the namespace, and each stage's
// alarms must read its own requests only.
const (
	MetricRequests          = "Requests"          // Count, [Stage, Route, StatusClass] and [Stage, Route]
	MetricLatency           = "Latency"           // Milliseconds, [Stage, Route]
	MetricRecordsCreated    = "RecordsCreated"    // Count, [Stage, Route]; create only, 0 on a replay
	MetricIdempotentReplays = "IdempotentReplays" // Count, [Stage, Route]; create only
	MetricStatusMoves       = "StatusMoves"       // Count, [Stage, ToStatus]; a status that changed
	MetricNoopUpdates       = "NoopUpdates"       // Count, [Stage, Route]; status and file-url, 1 when nothing changed
)

// The metrics of one invocation of publish-events, under [Stage]: what became of the batch's
// stream records. Every record counts in exactly one of them.
const (
	MetricEventsPublished = "EventsPublished" // Count: change events EventBridge accepted
	MetricEventsFailed    = "EventsFailed"    // Count: change events not put, their records reported for retry
	MetricEventsSkipped   = "EventsSkipped"   // Count: records that are no change to publish (guard, count, counter, TTL, no-op)
	MetricIllegalChanges  = "IllegalChanges"  // Count: record changes no API operation makes (see pkg/change); published never
)

// The DynamoDB metrics of a request, recorded on the SDK client (metrics.InstrumentSDK) under
// [Stage, Route].
const (
	MetricDynamoDBCalls     = "DynamoDBCalls"     // Count: calls made, whatever their outcome
	MetricDynamoDBLatency   = "DynamoDBLatency"   // Milliseconds: one value per call, retries and backoff included
	MetricDynamoDBRetries   = "DynamoDBRetries"   // Count: attempts after a call's first
	MetricDynamoDBThrottles = "DynamoDBThrottles" // Count: attempts DynamoDB answered with a throttling error
)

// Dimension names.
const (
	DimStage       = "Stage"       // the deployment's stage (Config.Stage, STAGE), on every set
	DimRoute       = "Route"       // the route's function name, e.g. get-record
	DimStatusClass = "StatusClass" // 2xx, 4xx, 5xx
	DimToStatus    = "ToStatus"    // the status a record moved to
)
