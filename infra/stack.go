package main

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/bufdir/export-audit/pkg/config"
)

const (
	// Go on Lambda gets CPU in proportion to memory; 256 MB gives a cold start (SDK client,
	// config) well under a second while staying at a fraction of the price of 1 GB. The
	// handlers hold one record or one page of at most 100 records, far below it.
	FunctionMemoryMB = 256
	// Every handler does at most a handful of DynamoDB calls; 10 s leaves room for the SDK's
	// retries on throttling (tuned to give up in time to answer 503 with Retry-After) and is
	// well under the HTTP API's 30 s integration limit, so callers get our answer, not a 504.
	// The archive's functions have their own (ArchiveTimeouts).
	FunctionTimeoutSeconds = 10
	// Logs carry user ids and source addresses: keep them long enough to investigate an
	// incident reported after a quarterly export round, and no longer.
	LogRetention = awslogs.RetentionDays_THREE_MONTHS
	// Throttling, per route key: an HTTP API stage's default route throttling applies its rate
	// and burst to each route key on its own, not to the stage as a whole. The callers are one
	// export service and a handful of administrators per organisation, in bursts of an export
	// round: 10 requests/s and bursts of 20 on each route key is far above that, and the
	// stage's ceiling (StageThrottleRate) keeps a runaway client from exhausting the account's
	// Lambda concurrency or running up the on-demand table bill.
	RouteThrottleRateLimit  = 10
	RouteThrottleBurstLimit = 20
)

// RouteKeys is the number of route keys the HTTP API has: every route under both prefixes (12).
func RouteKeys() int { return len(config.Routes) * len(config.Prefixes) }

// The ceilings that follow from the per-route-key limits, which the alarms reason from: the
// whole stage (12 route keys: 120 requests/s, 240 at once) and one function, which serves its
// route under both prefixes (20 requests/s, 40 at once). The test spells them out.
func StageThrottleRate() int     { return RouteKeys() * RouteThrottleRateLimit }
func StageThrottleBurst() int    { return RouteKeys() * RouteThrottleBurstLimit }
func FunctionThrottleRate() int  { return len(config.Prefixes) * RouteThrottleRateLimit }
func FunctionThrottleBurst() int { return len(config.Prefixes) * RouteThrottleBurstLimit }

// checkCoverage makes sure every function has its table actions and its latency threshold: a
// route added to config.Routes must say what it may do and how slow it may be.
func checkCoverage(functions []string, actions map[string][]string, latency map[string]float64) error {
	for _, fn := range functions {
		if _, ok := actions[fn]; !ok {
			return fmt.Errorf("function %s has no entry in TableActions", fn)
		}
		if _, ok := latency[fn]; !ok && NoLatencyAlarm[fn] == "" {
			return fmt.Errorf("function %s has no entry in LatencyP99ThresholdMs", fn)
		}
	}
	return nil
}

// StackName is the CloudFormation stack name of a stage.
func StackName(stage string) string { return "BufdirExportAudit-" + stage }

// NewAuditStack builds the whole service for one stage: the table with its stream, one function
// per entry of config.Functions, the HTTP API serving every route of config.Routes under both
// prefixes, the stage's event bus with its archive and publish-events reading the stream into
// it (with its dead-letter queue), the audit archive with archive-changes and seal-digest
// (archive.go), and the monitoring (alarms and dashboard). It also applies the cdk-nag
// AwsSolutions checks, so
// every synth (and every test) is checked.
func NewAuditStack(scope constructs.Construct, cfg Config, props *awscdk.StackProps) (awscdk.Stack, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := checkCoverage(config.FunctionNames(), TableActions, LatencyP99ThresholdMs); err != nil {
		return nil, err
	}
	if err := checkSealTiming(); err != nil {
		return nil, err
	}
	if props == nil {
		props = &awscdk.StackProps{}
	}
	if props.Description == nil {
		props.Description = jsii.String("Bufdir export audit records (" + cfg.Stage + ")")
	}
	stack := awscdk.NewStack(scope, jsii.String(StackName(cfg.Stage)), props)
	// S3 server access logs are delivered under a bucket policy for logging.s3.amazonaws.com,
	// with ACLs off (AWS's advice), not through the LogDeliveryWrite ACL. Feature flags are
	// context, set before the stack has children.
	stack.Node().SetContext(jsii.String("@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy"), true)
	awscdk.Tags_Of(stack).Add(jsii.String("project"), jsii.String("bufdir-export-audit"), nil)
	awscdk.Tags_Of(stack).Add(jsii.String("stage"), jsii.String(cfg.Stage), nil)

	table := newTable(stack)
	bus := newEventBus(stack, cfg)
	archive := newArchive(stack, cfg)
	functions, err := newFunctions(stack, cfg, table, bus, archive)
	if err != nil {
		return nil, err
	}
	deadLetters := connectPublisher(stack, table, functions[config.PublisherFunction], bus)
	connectArchive(stack, cfg, archive, table, functions)
	httpAPI, stage := newHTTPAPI(stack, cfg, functions)

	output(stack, "ApiUrl", "Base URL of the HTTP API ($default stage)", stage.Url())
	output(stack, "TableName", "DynamoDB table holding the audit records", table.TableName())

	addMonitoring(stack, cfg, monitored{
		table:       table,
		functions:   functions,
		api:         httpAPI,
		deadLetters: deadLetters,
		archive:     archive,
	})

	applyNag(stack)
	return stack, nil
}

// output is one of the stack's outputs, what deploying prints and other stacks may read.
func output(stack awscdk.Stack, id, description string, value *string) {
	awscdk.NewCfnOutput(stack, jsii.String(id), &awscdk.CfnOutputProps{Description: jsii.String(description), Value: value})
}
