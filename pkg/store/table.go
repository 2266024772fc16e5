package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/bufdir/export-audit/pkg/audit"
	"github.com/bufdir/export-audit/pkg/config"
)

// The table has one string partition key and one string sort key. Four kinds of item share it:
//
//	record   pk ORG#<org>      sk REC#<YYYYMMDD>#<seq, 9 digits>   one per record, tombstoned on delete
//	guard    pk ORG#<org>      sk EXP#<export_id>                  one per live export_id of an org
//	stats    pk ORG#<org>      sk STATS                            live record count of an org
//	counter  pk SEQ#<YYYYMMDD> sk SEQ                              the day's last sequence number
//
// Record sort keys pad the sequence so key order is (day, sequence) order, which the create
// path keeps equal to (created_at, record_id) order; lists therefore read in key order. STATS
// sorts just after every REC# key, so a descending query from it reads the count first and
// then the newest records, in one call.
const (
	attrPK        = config.TablePartitionKey
	attrSK        = config.TableSortKey
	attrExpiresAt = config.TableTTLAttribute // only tombstones carry it

	orgPrefix    = "ORG#"
	recordPrefix = "REC#"
	guardPrefix  = "EXP#"
	statsSK      = "STATS"
	counterSK    = "SEQ"
)

func orgPK(org string) string { return orgPrefix + org }

func recordSK(id audit.RecordID) string {
	return fmt.Sprintf("%s%s#%09d", recordPrefix, id.DayKey(), id.Seq)
}

func guardSK(exportID string) string { return guardPrefix + exportID }

func counterPK(day string) string { return "SEQ#" + day }

func key(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		attrPK: &types.AttributeValueMemberS{Value: pk},
		attrSK: &types.AttributeValueMemberS{Value: sk},
	}
}

// RecordKey is the key of a record's item.
func RecordKey(org string, id audit.RecordID) map[string]types.AttributeValue {
	return key(orgPK(org), recordSK(id))
}

// GuardKey is the key of the item that reserves exportID within org for one live record.
func GuardKey(org, exportID string) map[string]types.AttributeValue {
	return key(orgPK(org), guardSK(exportID))
}

// CreateTableInput is the table as local runs and tests create it: this package's key schema,
// on demand. In AWS the CDK stack owns the table (with TTL, backups and encryption).
func CreateTableInput(table string) *dynamodb.CreateTableInput {
	return &dynamodb.CreateTableInput{
		TableName: &table,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(attrPK), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(attrSK), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(attrPK), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(attrSK), KeyType: types.KeyTypeRange},
		},
		BillingMode: types.BillingModePayPerRequest,
	}
}

// EnsureTable creates the table when it is missing, as the local API does at start. In AWS the
// CDK stack owns the table (with TTL, backups and encryption); this is for local engines only.
func (s *Store) EnsureTable(ctx context.Context) error {
	_, err := s.db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &s.table})
	if err == nil {
		return nil
	}
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) {
		return fmt.Errorf("describe table %s: %w", s.table, err)
	}
	_, err = s.db.CreateTable(ctx, CreateTableInput(s.table))
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("create table %s: %w", s.table, err)
	}
	return nil
}
