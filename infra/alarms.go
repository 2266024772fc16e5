package main

import (
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"

	"github.com/bufdir/export-audit/pkg/config"
)

// AlarmPeriodMinutes is the period every alarm evaluates. Lambda, API Gateway and DynamoDB
// publish per minute, but this service's traffic comes in bursts of an export round with quiet
// minutes between: five minutes holds enough requests for a rate or a percentile to mean
// something, and still tells someone within a quarter of an hour.
const AlarmPeriodMinutes = 5

// Thresholds. Each alarm's reason is here; the test spells the numbers out again.
const (
	// Every 5xx of this service is either a bug or DynamoDB failing after the SDK's ten
	// attempts (503): none is expected. More than 5 % of the requests in a period, once at
	// least API5xxMinRequests came in, in 2 of 3 periods: a sustained failure, not one unlucky
	// request in a quiet period (1 of 3 would be 33 %), which the export service's own
	// retries absorb.
	API5xxRatePercent       = 5
	API5xxMinRequests       = 10
	API5xxEvaluationPeriods = 3
	API5xxDatapoints        = 2

	// The handler turns every error, and a panic, into a problem response, so Lambda counts an
	// error only when the process itself failed: init stopped on bad configuration, the
	// runtime crashed or ran out of memory, or the function hit its timeout. One is a bug.
	FunctionErrorsThreshold = 1

	// No function has reserved concurrency, and the stage admits at most StageThrottleBurst
	// (240) requests at once and StageThrottleRate (120) a second, of ~50 ms each: a few
	// concurrent executions, 240 at the very most, against the account's default 1,000. A
	// throttle means something else in the account has used up its concurrency, and the
	// throttled request failed. One is worth knowing.
	FunctionThrottlesThreshold = 1

	// p99 of a function's Duration, for 3 periods in a row. Duration leaves out the cold
	// start's init, so it is the handler's own time: a few DynamoDB calls of single-digit
	// milliseconds. One retry costs up to a second of backoff and a lost attempt two (the
	// SDK's settings in internal/app), so a p99 past LatencyP99ThresholdMs means at least one
	// request in a hundred is waiting on retries, well before the handler's deadline (the 10 s
	// timeout less a margin) turns that into 503s. At this traffic a period holds far fewer
	// than the 1000 samples CloudWatch calls enough for a p99, so p99 is close to the slowest
	// request: three periods keep a single slow request from alarming.
	LatencyP99EvaluationPeriods = 3

	// On-demand capacity at this traffic should never throttle: the stage admits at most
	// StageThrottleRate (120) requests a second, each at most a handful of item operations
	// (a create, the most, writes 7 units: the day counter and a transaction of three items),
	// a few hundred units a second against the 4,000 writes and 12,000 reads a new on-demand
	// table serves; the day's counter item takes one write per create, at most
	// FunctionThrottleRate (20) a second, far below a partition's 1,000. The SDK retries hide a
	// few throttles from callers, so the first one is an early warning of a hot key or a
	// runaway client, before anyone gets a 503.
	TableThrottledRequestsThreshold = 1

	// DynamoDB's internal errors (HTTP 500) are retried by the SDK, and a lone one is the
	// background noise of a large service. In two periods in a row they are a DynamoDB event
	// in the region, which explains whatever else alarms.
	TableSystemErrorsThreshold         = 1
	TableSystemErrorsEvaluationPeriods = 2

	// The SDK retries throttling, internal errors, transaction conflicts (a status change
	// meeting a delete of the same record) and attempts lost to the 2 s attempt timeout. A
	// healthy service retries almost never; ten retries in five minutes, across all routes,
	// are ten requests that each waited up to seconds, and show a problem the table's own
	// metrics do not (the network, conflicting writers) before the SDK runs out of attempts.
	DynamoDBRetriesThreshold = 10

	// A message in the dead-letter queue is a batch of stream records whose events were never
	// published after every retry: consumers are missing changes, and the records leave the
	// stream 24 hours after they were written. The first one alarms.
	DeadLettersThreshold = 1

	// The publisher reads with no batching window, so a change normally waits less than a
	// second (IteratorAge, the age of the last record of a batch when it was read). Five
	// minutes behind means it is retrying a batch that keeps failing (EventBridge refusing or
	// throttling) or cannot keep up; past an hour (config.PublisherMapping.MaximumRecordAge) the
	// records go to the dead-letter queue. One period is enough: retries cannot make it look
	// better than it is.
	IteratorAgeThresholdMs = 5 * 60 * 1000

	// A change no API operation makes is evidence that someone wrote to the table around the
	// API (pkg/change): never expected, never retried, published never; the archive keeps the
	// proof and make verify names the record. The first one alarms.
	IllegalChangesThreshold = 1
)

// LatencyP99ThresholdMs is, per function, the Duration p99 past which it alarms. list-records
// with filters reads every record of the organisation in the created range, a Query page (at
// most 1 MB) at a time, so a large organisation's filtered list legitimately takes several
// round trips; every other function does at most three item operations.
var LatencyP99ThresholdMs = map[string]float64{
	"list-records":    3000,
	"get-record":      1000,
	"create-record":   1000,
	"update-status":   1000,
	"attach-file-url": 1000,
	"delete-record":   1000,
	// A batch of up to 100 records is up to ten PutEvents calls of tens of milliseconds each;
	// past five seconds, half the timeout, it is waiting on EventBridge's retries.
	config.PublisherFunction: 5000,
	// One PutObject of a batch, tens of milliseconds; past ten seconds it is waiting on S3's
	// retries. seal-digest has none (NoLatencyAlarm).
	config.ArchiveFunction: 10000,
}

// monitored is what the alarms and the dashboard watch.
type monitored struct {
	table       awsdynamodb.Table
	functions   map[string]awslambda.Function // by config.Functions name
	api         awsapigatewayv2.HttpApi
	deadLetters awssqs.Queue // publish-events' on-failure destination
	archive     *Archive
}

// AlarmName is the name of one of a stage's alarms. The stack name prefix keeps stages apart
// and lets the topic's and the key's policies admit exactly this stack's alarms.
func AlarmName(stage, what string) string { return StackName(stage) + "-" + what }

// TableOperations are the DynamoDB operations the functions call: every action of TableActions
// and TransactWriteItems, whose parts IAM authorises as PutItem, UpdateItem and DeleteItem.
// DynamoDB publishes ThrottledRequests and SystemErrors per operation only.
func TableOperations() []string {
	seen := map[string]bool{"TransactWriteItems": true}
	for _, actions := range TableActions {
		for _, a := range actions {
			seen[strings.TrimPrefix(a, "dynamodb:")] = true
		}
	}
	ops := make([]string, 0, len(seen))
	for op := range seen {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	return ops
}

func period() awscdk.Duration { return awscdk.Duration_Minutes(jsii.Number(AlarmPeriodMinutes)) }

// alarmSpec is one alarm: it fires when the metric is at or above (or above, when strict) the
// threshold in datapoints of the last evaluation periods.
type alarmSpec struct {
	id, name, description string
	metric                awscloudwatch.IMetric
	threshold             float64
	strict                bool
	evaluation, datapoint float64
	percentile            bool
	// missingBreaches treats a period without data as breaching: for a metric that must be
	// there (a scheduled run's), not one that only shows trouble.
	missingBreaches bool
}

// addMonitoring adds the alarm topic, the alarms and the dashboard.
func addMonitoring(stack awscdk.Stack, cfg Config, m monitored) {
	topic := alarmTopic(stack, cfg)
	action := awscloudwatchactions.NewSnsAction(topic)
	rate := api5xxRate(m.api)

	specs := []alarmSpec{{
		id: "Api5xxRateAlarm", name: "Api5xxRate",
		description: fmt.Sprintf("More than %d%% of the HTTP API's answers were 5xx (with at least %d requests in %d minutes) in %d of %d periods.",
			API5xxRatePercent, API5xxMinRequests, AlarmPeriodMinutes, API5xxDatapoints, API5xxEvaluationPeriods),
		metric: rate, threshold: API5xxRatePercent, strict: true,
		evaluation: API5xxEvaluationPeriods, datapoint: API5xxDatapoints,
	}}
	for _, fn := range config.FunctionNames() {
		f, name := m.functions[fn], LogicalName(fn)
		sum := &awscloudwatch.MetricOptions{Period: period(), Statistic: jsii.String("Sum")}
		specs = append(specs, alarmSpec{
			id: name + "ErrorsAlarm", name: name + "-Errors",
			description: fn + ": Lambda counted a failed invocation (init failure, crash, timeout); the handler answers every other error itself.",
			metric:      f.MetricErrors(sum), threshold: FunctionErrorsThreshold, evaluation: 1, datapoint: 1,
		}, alarmSpec{
			id: name + "ThrottlesAlarm", name: name + "-Throttles",
			description: fn + ": Lambda throttled invocations; the account's concurrency is used up.",
			metric:      f.MetricThrottles(sum), threshold: FunctionThrottlesThreshold, evaluation: 1, datapoint: 1,
		})
		if threshold, ok := LatencyP99ThresholdMs[fn]; ok {
			specs = append(specs, alarmSpec{
				id: name + "LatencyAlarm", name: name + "-LatencyP99",
				description: fmt.Sprintf("%s: p99 duration above %.0f ms for %d periods of %d minutes; calls are waiting on retries.",
					fn, threshold, LatencyP99EvaluationPeriods, AlarmPeriodMinutes),
				metric: functionDurationP99(f, fn), threshold: threshold, strict: true,
				evaluation: LatencyP99EvaluationPeriods, datapoint: LatencyP99EvaluationPeriods, percentile: true,
			})
		}
	}
	specs = append(specs, alarmSpec{
		id: "TableThrottledRequestsAlarm", name: "TableThrottledRequests",
		description: "DynamoDB throttled requests to the audit table (the SDK retried them; callers may not have noticed yet).",
		metric:      tableSum(m.table, "ThrottledRequests", "Throttled requests"),
		threshold:   TableThrottledRequestsThreshold, evaluation: 1, datapoint: 1,
	}, alarmSpec{
		id: "TableSystemErrorsAlarm", name: "TableSystemErrors",
		description: fmt.Sprintf("DynamoDB answered the audit table's requests with internal errors in %d periods in a row.", TableSystemErrorsEvaluationPeriods),
		metric:      tableSum(m.table, "SystemErrors", "System errors"),
		threshold:   TableSystemErrorsThreshold, evaluation: TableSystemErrorsEvaluationPeriods, datapoint: TableSystemErrorsEvaluationPeriods,
	}, alarmSpec{
		id: "DynamoDBRetriesAlarm", name: "DynamoDBRetries",
		description: fmt.Sprintf("The functions retried DynamoDB calls %d times or more in %d minutes (%s %s, all routes).",
			DynamoDBRetriesThreshold, AlarmPeriodMinutes, config.MetricNamespace, config.MetricDynamoDBRetries),
		metric:    sumOverRoutes(cfg.Stage, config.MetricDynamoDBRetries, "DynamoDB retries (all routes)"),
		threshold: DynamoDBRetriesThreshold, evaluation: 1, datapoint: 1,
	}, alarmSpec{
		id: "PublishEventsDeadLettersAlarm", name: "PublishEvents-DeadLetters",
		description: "publish-events gave up on stream records: their change events were never published. Send them again " +
			"within 24 hours of the change (README, Change events); the stream drops them after that.",
		metric:    deadLetterDepth(m.deadLetters),
		threshold: DeadLettersThreshold, evaluation: 1, datapoint: 1,
	}, alarmSpec{
		id: "PublishEventsIteratorAgeAlarm", name: "PublishEvents-IteratorAge",
		description: fmt.Sprintf("publish-events is more than %d minutes behind the table's stream: change events are late, "+
			"and records older than %s go to the dead-letter queue.", IteratorAgeThresholdMs/60000, config.PublisherMapping.MaximumRecordAge),
		metric:    iteratorAge(m.functions[config.PublisherFunction]),
		threshold: IteratorAgeThresholdMs, evaluation: 1, datapoint: 1,
	}, alarmSpec{
		id: "IllegalChangesAlarm", name: "IllegalChanges",
		description: "The table's stream carried a change of a record that no API operation makes: someone wrote to the table " +
			"around the API. publish-events logged it at ERROR naming the record; run make verify.",
		metric:    emfMetric(cfg.Stage, config.MetricIllegalChanges, nil, "Sum", "illegal changes"),
		threshold: IllegalChangesThreshold, evaluation: 1, datapoint: 1,
	})
	specs = append(specs, archiveAlarms(cfg, m.archive, m.functions)...)

	alarms := make([]awscloudwatch.Alarm, 0, len(specs))
	for _, s := range specs {
		op := awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD
		if s.strict {
			op = awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD
		}
		props := &awscloudwatch.AlarmProps{
			AlarmName:          jsii.String(AlarmName(cfg.Stage, s.name)),
			AlarmDescription:   jsii.String(s.description),
			Metric:             s.metric,
			Threshold:          jsii.Number(s.threshold),
			ComparisonOperator: op,
			EvaluationPeriods:  jsii.Number(s.evaluation),
			DatapointsToAlarm:  jsii.Number(s.datapoint),
			// No traffic is no trouble: an idle API between export rounds publishes nothing.
			TreatMissingData: awscloudwatch.TreatMissingData_NOT_BREACHING,
		}
		if s.missingBreaches {
			props.TreatMissingData = awscloudwatch.TreatMissingData_BREACHING
		}
		if s.percentile {
			// Few requests per period is the normal case here (see LatencyP99EvaluationPeriods);
			// "ignore" would leave the alarm in its last state nearly always.
			props.EvaluateLowSampleCountPercentile = jsii.String("evaluate")
		}
		a := awscloudwatch.NewAlarm(stack, jsii.String(s.id), props)
		a.AddAlarmAction(action)
		// Recovery is news too: whoever got the alarm learns it is over.
		a.AddOkAction(action)
		alarms = append(alarms, a)
	}

	addDashboard(stack, cfg, m, rate, alarms)
}

// alarmTopic is the one topic every alarm notifies, encrypted with a key of its own: the
// AWS-managed SNS key's policy cannot let CloudWatch use it, so alarms could not publish.
func alarmTopic(stack awscdk.Stack, cfg Config) awssns.Topic {
	alarmArns := stack.FormatArn(&awscdk.ArnComponents{
		Service:      jsii.String("cloudwatch"),
		Resource:     jsii.String("alarm"),
		ResourceName: jsii.String(AlarmName(cfg.Stage, "*")),
		ArnFormat:    awscdk.ArnFormat_COLON_RESOURCE_NAME,
	})
	// The confused-deputy guard: CloudWatch acts for this stack's alarms only.
	fromOurAlarms := &map[string]interface{}{
		"StringEquals": map[string]interface{}{"aws:SourceAccount": stack.Account()},
		"ArnLike":      map[string]interface{}{"aws:SourceArn": alarmArns},
	}
	cloudwatch := awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)

	key := awskms.NewKey(stack, jsii.String("AlarmTopicKey"), &awskms.KeyProps{
		Description:       jsii.String("Encrypts the alarm notifications of " + StackName(cfg.Stage)),
		EnableKeyRotation: jsii.Bool(true),
		// It protects messages in flight only: nothing stays encrypted with it once the topic
		// is gone, so it goes with the stack (after KMS's shortest waiting period).
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
		PendingWindow: awscdk.Duration_Days(jsii.Number(7)),
	})
	key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("CloudWatchAlarmsPublish"),
		Principals: &[]awsiam.IPrincipal{cloudwatch},
		Actions:    jsii.Strings("kms:Decrypt", "kms:GenerateDataKey*"),
		// In a key policy "*" is this key.
		Resources:  jsii.Strings("*"),
		Conditions: fromOurAlarms,
	}), nil)

	topic := awssns.NewTopic(stack, jsii.String("AlarmTopic"), &awssns.TopicProps{
		DisplayName: jsii.String("Bufdir export audit alarms (" + cfg.Stage + ")"),
		MasterKey:   key,
		// A topic policy denying every publish without TLS (cdk-nag SNS3).
		EnforceSSL: jsii.Bool(true),
	})
	// The topic policy replaces SNS's default one, which is what lets CloudWatch publish to a
	// topic of its own account; say so explicitly.
	topic.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("CloudWatchAlarmsPublish"),
		Principals: &[]awsiam.IPrincipal{cloudwatch},
		Actions:    jsii.Strings("sns:Publish"),
		Resources:  jsii.Strings(*topic.TopicArn()),
		Conditions: fromOurAlarms,
	}))
	if cfg.AlarmEmail != "" {
		// SNS mails a confirmation link first; nothing arrives until someone follows it.
		topic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(cfg.AlarmEmail), nil))
	}
	output(stack, "AlarmTopicArn", "SNS topic every alarm notifies; subscribe more endpoints here", topic.TopicArn())
	return topic
}

// api5xxRate is the share of the API's answers that were 5xx, in percent; 0 in a period with
// fewer than API5xxMinRequests requests, where one failure would be a large share of nothing.
func api5xxRate(httpAPI awsapigatewayv2.HttpApi) awscloudwatch.MathExpression {
	return awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
		Expression: jsii.String(fmt.Sprintf("IF(requests >= %d, 100 * FILL(errors, 0) / requests, 0)", API5xxMinRequests)),
		UsingMetrics: &map[string]awscloudwatch.IMetric{
			"errors":   httpAPI.MetricServerError(&awscloudwatch.MetricOptions{Period: period()}),
			"requests": httpAPI.MetricCount(&awscloudwatch.MetricOptions{Period: period()}),
		},
		Label:  jsii.String("5xx, % of requests"),
		Period: period(),
	})
}

// functionDurationP99 is the per-route latency the alarms watch. Each route has a function of
// its own, so a function's Duration is its route's time in the code, under both prefixes at
// once. The HTTP API's route-level metrics would need detailed metrics on the stage (paid as
// custom metrics, for twelve route keys), would split each route over its two prefixes, whose
// p99s cannot be combined, and would add API Gateway's own time, which the dashboard shows
// for the whole API anyway.
func functionDurationP99(f awslambda.Function, fn string) awscloudwatch.Metric {
	return f.MetricDuration(&awscloudwatch.MetricOptions{
		Period:    period(),
		Statistic: jsii.String("p99"),
		Label:     jsii.String(fn + " p99"),
	})
}

// tableSum sums a per-operation DynamoDB metric of the table over TableOperations. FILL: DynamoDB
// publishes these only when they happen, and a sum with a missing term would be missing.
func tableSum(table awsdynamodb.Table, metricName, label string) awscloudwatch.MathExpression {
	using := map[string]awscloudwatch.IMetric{}
	var ids []string
	for _, op := range TableOperations() {
		// Ids are unique per metric too: a graph may hold two of these sums.
		id := strings.ToLower(metricName + "_" + op)
		using[id] = awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace:     jsii.String("AWS/DynamoDB"),
			MetricName:    jsii.String(metricName),
			DimensionsMap: &map[string]*string{"TableName": table.TableName(), "Operation": jsii.String(op)},
			Statistic:     jsii.String("Sum"),
			Period:        period(),
		})
		ids = append(ids, id)
	}
	return filledSum(using, ids, label)
}

// filledSum adds up the metrics of using, in the order of ids, each one FILLed with 0.
func filledSum(using map[string]awscloudwatch.IMetric, ids []string, label string) awscloudwatch.MathExpression {
	terms := make([]string, len(ids))
	for i, id := range ids {
		terms[i] = "FILL(" + id + ", 0)"
	}
	return awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
		Expression:   jsii.String(strings.Join(terms, " + ")),
		UsingMetrics: &using,
		Label:        jsii.String(label),
		Period:       period(),
	})
}

// emfMetric is one of the service's own metrics, the stage's own. The functions write them in
// the Embedded Metric Format (pkg/metrics), named and dimensioned by pkg/config, every one with
// the Stage dimension ahead of the others: stages in one account and region share the
// namespace, so the alarms and the dashboard read their own stage's only.
func emfMetric(stage, name string, dimensions map[string]string, statistic, label string) awscloudwatch.Metric {
	dims := map[string]*string{config.DimStage: jsii.String(stage)}
	for k, v := range dimensions {
		dims[k] = jsii.String(v)
	}
	return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace:     jsii.String(config.MetricNamespace),
		MetricName:    jsii.String(name),
		DimensionsMap: &dims,
		Statistic:     jsii.String(statistic),
		Period:        period(),
		Label:         jsii.String(label),
	})
}

// deadLetterDepth is how many failure records wait in the dead-letter queue.
func deadLetterDepth(q awssqs.Queue) awscloudwatch.Metric {
	return q.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{
		Period: period(), Statistic: jsii.String("Maximum"), Label: jsii.String("dead letters"),
	})
}

// iteratorAge is how far behind its stream a stream-reading function is, at its worst.
func iteratorAge(f awslambda.Function) awscloudwatch.Metric {
	return f.Metric(jsii.String("IteratorAge"), &awscloudwatch.MetricOptions{
		Period: period(), Statistic: jsii.String("Maximum"), Label: jsii.String("iterator age (ms)"),
	})
}

// sumOverRoutes adds up one of the service's per-route counters over every route of the stage.
func sumOverRoutes(stage, name, label string) awscloudwatch.MathExpression {
	using := map[string]awscloudwatch.IMetric{}
	var ids []string
	for i, fn := range config.RouteFunctionNames() {
		id := fmt.Sprintf("%s_%d", strings.ToLower(name), i)
		using[id] = emfMetric(stage, name, map[string]string{config.DimRoute: fn}, "Sum", fn)
		ids = append(ids, id)
	}
	return filledSum(using, ids, label)
}
