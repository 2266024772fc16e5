package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/bufdir/export-audit/pkg/item"
)

// CreateTableInput is the table as local runs and tests create it: package item's key schema,
// on demand. In AWS the CDK stack owns the table (with TTL, backups and encryption).
func CreateTableInput(table string) *dynamodb.CreateTableInput {
	return &dynamodb.CreateTableInput{
		TableName: &table,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(item.AttrPK), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(item.AttrSK), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(item.AttrPK), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(item.AttrSK), KeyType: types.KeyTypeRange},
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
