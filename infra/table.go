package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/jsii-runtime-go"

	"github.com/bufdir/export-audit/pkg/config"
)

// The table's layout, as the repository code (pkg/store) keys its items.
const (
	PartitionKey = config.TablePartitionKey
	SortKey      = config.TableSortKey
	// TTLAttribute holds epoch seconds on tombstones of deleted records; DynamoDB removes them
	// after DELETED_RETENTION_DAYS.
	TTLAttribute = config.TableTTLAttribute
)

// newTable is the audit table: on demand, with point-in-time recovery, protected against
// deletion and kept when the stack goes, with a stream of new and old images.
func newTable(stack awscdk.Stack) awsdynamodb.Table {
	return awsdynamodb.NewTable(stack, jsii.String("AuditTable"), &awsdynamodb.TableProps{
		PartitionKey: &awsdynamodb.Attribute{Name: jsii.String(PartitionKey), Type: awsdynamodb.AttributeType_STRING},
		SortKey:      &awsdynamodb.Attribute{Name: jsii.String(SortKey), Type: awsdynamodb.AttributeType_STRING},
		// Traffic is a few bursts per export round: on-demand costs nothing while idle and
		// needs no capacity planning.
		BillingMode: awsdynamodb.BillingMode_PAY_PER_REQUEST,
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: jsii.Bool(true),
		},
		// An audit trail must survive a mistaken `cdk destroy` or a replacement: protected
		// against deletion by API and retained when removed from the stack.
		DeletionProtection:  jsii.Bool(true),
		RemovalPolicy:       awscdk.RemovalPolicy_RETAIN,
		TimeToLiveAttribute: jsii.String(TTLAttribute),
		// Every change of every item, with the item before and after: publish-events makes the
		// change events from it (pkg/change reads both images), and archive-changes keeps every
		// one in the archive as the stream gives it, whoever made it; nothing else writes them.
		Stream: awsdynamodb.StreamViewType_NEW_AND_OLD_IMAGES,
		// The AWS-managed key (aws/dynamodb) logs every use in CloudTrail without a key policy
		// to look after; a customer-managed key would only pay off for cross-account access or
		// key revocation, which this service does not need.
		Encryption: awsdynamodb.TableEncryption_AWS_MANAGED,
	})
}
