package main

import (
	"encoding/json"
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"

	"github.com/bufdir/export-audit/pkg/config"
)

// The change events' resources: the stage's bus with its archive, and what connects the table's
// stream to the publisher (the event source mapping, its dead-letter queue, the publisher's
// permissions).
const (
	// DeadLetterRetentionDays is SQS's longest retention: a failure record waits two weeks for
	// someone to read it, though the records it names stay in the stream only 24 hours.
	DeadLetterRetentionDays = 14
	// StreamStartingPosition: a new mapping starts at the oldest record the stream holds, so a
	// change stored while the mapping was being created is still published.
	StreamStartingPosition = "TRIM_HORIZON"
)

// StreamActions are what Lambda's event source mapping calls on the stream with the
// function's role, on the stream's ARN. ListStreams is granted apart: it has no resource type
// in IAM, so it can only be granted on "*".
var StreamActions = []string{"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"}

// RecordItemsFilter is the mapping's filter: only the stream records of record items (their
// sort key starts with config.RecordSortKeyPrefix) reach the function. The guard, the live
// count and the day counter change with every create and delete and publish nothing; Lambda
// drops them before an invocation instead of the function skipping them.
func RecordItemsFilter() string {
	b, _ := json.Marshal(map[string]any{"dynamodb": map[string]any{"Keys": map[string]any{
		config.TableSortKey: map[string]any{"S": []any{map[string]string{"prefix": config.RecordSortKeyPrefix}}},
	}}})
	return string(b)
}

// newEventBus is the stage's own bus, with an archive of every event the service publishes on
// it, so that a consumer can replay what it missed.
func newEventBus(stack awscdk.Stack, cfg Config) awsevents.EventBus {
	bus := awsevents.NewEventBus(stack, jsii.String("EventBus"), &awsevents.EventBusProps{
		EventBusName: jsii.String(config.EventBusName(cfg.Stage)),
		Description:  jsii.String("Bufdir export audit: a change event for every change of a record (" + cfg.Stage + ")"),
	})
	props := &awsevents.BaseArchiveProps{
		Description:  jsii.String("Every change event of " + config.EventBusName(cfg.Stage) + ", for replays"),
		EventPattern: &awsevents.EventPattern{Source: jsii.Strings(config.EventSource)},
	}
	if cfg.EventArchiveRetentionDays > 0 {
		props.Retention = awscdk.Duration_Days(jsii.Number(float64(cfg.EventArchiveRetentionDays)))
	}
	bus.Archive(jsii.String("EventArchive"), props)
	output(stack, "EventBusName", "The stage's event bus: subscribe to the change events with rules on it", bus.EventBusName())
	output(stack, "EventBusArn", "ARN of the stage's event bus", bus.EventBusArn())
	return bus
}

// connectPublisher has the publisher read the table's stream as config.PublisherMapping says,
// with partial batch responses, and send what it gives up on to a dead-letter queue. Its role
// may read the stream, put events on the bus, send to the queue, and nothing else (besides its
// log group and X-Ray, newFunctions). It returns the queue.
func connectPublisher(stack awscdk.Stack, table awsdynamodb.Table, fn awslambda.Function, bus awsevents.EventBus) awssqs.Queue {
	queue := awssqs.NewQueue(stack, jsii.String("PublishEventsDeadLetterQueue"), &awssqs.QueueProps{
		// SQS-managed keys: the messages are positions in the stream, no record data, and
		// Lambda needs no key grant to send them.
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(DeadLetterRetentionDays)),
	})
	suppress(queue, "AwsSolutions-SQS3", "This queue is itself the dead-letter queue: the on-failure destination of the stream's event "+
		"source mapping. Its messages say which stream records to send again and are read by an operator; a queue "+
		"behind it would only hide them.", true)

	role := fn.Role()
	policy := awsiam.NewPolicy(stack, jsii.String("PublishEventsPolicy"), &awsiam.PolicyProps{
		Roles: &[]awsiam.IRole{role},
		Statements: &[]awsiam.PolicyStatement{
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Actions: jsii.Strings(StreamActions...), Resources: jsii.Strings(*table.TableStreamArn()),
			}),
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Actions: jsii.Strings("dynamodb:ListStreams"), Resources: jsii.Strings("*"),
			}),
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Actions: jsii.Strings("events:PutEvents"), Resources: jsii.Strings(*bus.EventBusArn()),
			}),
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Actions: jsii.Strings("sqs:SendMessage"), Resources: jsii.Strings(*queue.QueueArn()),
			}),
		},
	})
	suppress(policy, "AwsSolutions-IAM5", listStreamsReason, true, "Resource::*")

	newStreamMapping(stack, "PublishEventsStreamMapping", fn, table, config.PublisherMapping, queue, policy, jsii.String(RecordItemsFilter()))

	output(stack, "DeadLetterQueueUrl", "Where the stream's event source mapping sends what publish-events gave up on; the README says how to send it again", queue.QueueUrl())
	return queue
}

// newStreamMapping has fn read the table's stream as m says, from StreamStartingPosition, with
// filter as its one filter (nil: every record) and queue as its on-failure destination. Lambda
// checks the role's permissions when it creates the mapping, so the mapping waits for policy.
func newStreamMapping(stack awscdk.Stack, id string, fn awslambda.Function, table awsdynamodb.Table, m config.StreamMapping,
	queue awssqs.Queue, policy awsiam.Policy, filter *string) awslambda.CfnEventSourceMapping {
	props := &awslambda.CfnEventSourceMappingProps{
		FunctionName:               fn.FunctionName(),
		EventSourceArn:             table.TableStreamArn(),
		StartingPosition:           jsii.String(StreamStartingPosition),
		BatchSize:                  jsii.Number(float64(m.BatchSize)),
		MaximumRetryAttempts:       jsii.Number(float64(m.MaximumRetryAttempts)),
		MaximumRecordAgeInSeconds:  jsii.Number(m.MaximumRecordAge.Seconds()),
		BisectBatchOnFunctionError: jsii.Bool(m.BisectBatchOnFunctionError),
		FunctionResponseTypes:      functionResponseTypes(m),
		DestinationConfig: &awslambda.CfnEventSourceMapping_DestinationConfigProperty{
			OnFailure: &awslambda.CfnEventSourceMapping_OnFailureProperty{Destination: queue.QueueArn()},
		},
	}
	if filter != nil {
		props.FilterCriteria = &awslambda.CfnEventSourceMapping_FilterCriteriaProperty{
			Filters: &[]interface{}{&awslambda.CfnEventSourceMapping_FilterProperty{Pattern: filter}},
		}
	}
	mapping := awslambda.NewCfnEventSourceMapping(stack, jsii.String(id), props)
	mapping.Node().AddDependency(policy)
	return mapping
}

func functionResponseTypes(m config.StreamMapping) *[]*string {
	if !m.ReportBatchItemFailures {
		return nil
	}
	return jsii.Strings("ReportBatchItemFailures")
}

// validateArchiveRetention refuses a retention EventBridge does not take.
func validateArchiveRetention(days int) error {
	if days < 0 {
		return fmt.Errorf("eventArchiveRetentionDays %d: want 0 (keep for ever) or more", days)
	}
	return nil
}
