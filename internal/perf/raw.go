package perf

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/bufdir/export-audit/pkg/audit"
)

// NewRawClient returns a DynamoDB client with the SDK's defaults for a local engine at
// endpoint: the baseline's client, without the service's middleware or retry settings.
func NewRawClient(endpoint string) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:       "eu-north-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "local", SecretAccessKey: "local", Source: "bench"}, nil
		}),
		// Local engines send no CRC32 of their answers.
		DisableValidateResponseChecksum: true,
	})
}

// Raw makes the bare DynamoDB calls each route needs, with the requests the store makes for
// them (the same keys, expressions and return values), built before the call so that a
// baseline times the calls alone. Each method returns the prepared call.
type Raw struct {
	DB    *dynamodb.Client
	Table string
	Shape *Shape
	// PageSize, when set, is the Limit of the filtered list's Query calls, as
	// store.WithPageSize sets the store's.
	PageSize int32
}

// Op is one prepared baseline call.
type Op func(context.Context) error

// Get is the get route's one consistent GetItem.
func (r *Raw) Get(org string, id audit.RecordID) Op {
	in := &dynamodb.GetItemInput{TableName: &r.Table, Key: key(orgPK(org), recordSK(id)), ConsistentRead: aws.Bool(true)}
	return func(ctx context.Context) error {
		out, err := r.DB.GetItem(ctx, in)
		if err == nil && len(out.Item) == 0 {
			err = errors.New("raw get: no item")
		}
		return err
	}
}

// Create is the create route's UpdateItem on a day counter and TransactWriteItems of the
// record, its guard and the live count, for the record spec. The counter is the one of spec's
// day, not today's, so that the baseline never moves the service's; specs of one day must be
// made in order of creation, as the counter refuses an earlier time.
func (r *Raw) Create(spec Spec) Op {
	rec, guard := r.Shape.Items(spec)
	counter := &dynamodb.UpdateItemInput{
		TableName:                           &r.Table,
		Key:                                 key("SEQ#"+spec.ID.DayKey(), "SEQ"),
		UpdateExpression:                    aws.String("SET #last = :now ADD #seq :one"),
		ConditionExpression:                 aws.String("attribute_not_exists(#last) OR #last <= :now"),
		ExpressionAttributeNames:            map[string]string{"#last": "last_at", "#seq": "seq"},
		ExpressionAttributeValues:           map[string]types.AttributeValue{":now": str(spec.Created.UTC().Format(time.RFC3339)), ":one": num(1)},
		ReturnValues:                        types.ReturnValueUpdatedNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}
	notExists := aws.String("attribute_not_exists(pk)")
	tx := &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: &r.Table, Item: rec, ConditionExpression: notExists}},
		{Put: &types.Put{TableName: &r.Table, Item: guard, ConditionExpression: notExists,
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld}},
		{Update: &types.Update{TableName: &r.Table, Key: key(orgPK(spec.Org), statsSK),
			UpdateExpression:          aws.String("ADD live :one"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":one": num(1)}}},
	}}
	return func(ctx context.Context) error {
		if _, err := r.DB.UpdateItem(ctx, counter); err != nil {
			return err
		}
		_, err := r.DB.TransactWriteItems(ctx, tx)
		return err
	}
}

// Status is the status route's one conditional UpdateItem, moving a record from `from` to `to`.
func (r *Raw) Status(org string, id audit.RecordID, from, to audit.Status, by string) Op {
	at := time.Now().UTC().Format(time.RFC3339)
	hist := &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
		"status": str(string(to)), "at": str(at), "by": str(by),
	}}}}
	in := &dynamodb.UpdateItemInput{
		TableName: &r.Table, Key: key(orgPK(org), recordSK(id)),
		UpdateExpression:    aws.String("SET #st = :to, #ua = :at, #sa = :at, #h = list_append(#h, :h)"),
		ConditionExpression: aws.String("attribute_exists(pk) AND attribute_not_exists(#del) AND #sa <= :at AND #st IN (:from0)"),
		ExpressionAttributeNames: map[string]string{
			"#st": "status", "#ua": "updated_at", "#h": "history", "#sa": "status_at", "#del": "deleted_at",
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":to": str(string(to)), ":at": str(at), ":h": hist, ":from0": str(string(from)),
		},
		ReturnValues:                        types.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}
	return func(ctx context.Context) error {
		_, err := r.DB.UpdateItem(ctx, in)
		return err
	}
}

// FileURL is the file-url route's one conditional UpdateItem.
func (r *Raw) FileURL(org string, id audit.RecordID) Op {
	in := &dynamodb.UpdateItemInput{
		TableName: &r.Table, Key: key(orgPK(org), recordSK(id)),
		UpdateExpression:    aws.String("SET #fu = :url, #ua = :now"),
		ConditionExpression: aws.String("attribute_exists(pk) AND attribute_not_exists(#del) AND attribute_not_exists(#fu) AND #st <> :failed"),
		ExpressionAttributeNames: map[string]string{
			"#fu": "file_url", "#ua": "updated_at", "#del": "deleted_at", "#st": "status",
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":url": str("https://storage.example.no/exports/" + id.String() + ".xlsx"),
			":now": str(time.Now().UTC().Format(time.RFC3339)), ":failed": str(string(audit.StatusFailed)),
		},
		ReturnValues:                        types.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}
	return func(ctx context.Context) error {
		_, err := r.DB.UpdateItem(ctx, in)
		return err
	}
}

// Delete is the delete route's consistent GetItem of the record (for its export_id) and
// TransactWriteItems of the tombstone, the guard's removal and the live count.
func (r *Raw) Delete(org string, id audit.RecordID, by string) Op {
	get := &dynamodb.GetItemInput{TableName: &r.Table, Key: key(orgPK(org), recordSK(id)), ConsistentRead: aws.Bool(true)}
	now := time.Now().UTC()
	tombstone := types.TransactWriteItem{Update: &types.Update{
		TableName: &r.Table, Key: key(orgPK(org), recordSK(id)),
		UpdateExpression:         aws.String("SET #del = :now, #by = :by, #exp = :exp"),
		ConditionExpression:      aws.String("attribute_exists(pk) AND attribute_not_exists(#del)"),
		ExpressionAttributeNames: map[string]string{"#del": "deleted_at", "#by": "deleted_by", "#exp": "expires_at"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":now": str(now.Format(time.RFC3339)), ":by": str(by), ":exp": num(now.Add(365 * 24 * time.Hour).Unix()),
		},
	}}
	stats := types.TransactWriteItem{Update: &types.Update{
		TableName: &r.Table, Key: key(orgPK(org), statsSK),
		UpdateExpression:          aws.String("ADD live :minus"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":minus": num(-1)},
	}}
	return func(ctx context.Context) error {
		out, err := r.DB.GetItem(ctx, get)
		if err != nil {
			return err
		}
		exp, _ := out.Item["export_id"].(*types.AttributeValueMemberS)
		if exp == nil {
			return errors.New("raw delete: no record")
		}
		_, err = r.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
			tombstone,
			{Delete: &types.Delete{
				TableName: &r.Table, Key: key(orgPK(org), guardSK(exp.Value)),
				ConditionExpression:       aws.String("record_id = :id"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":id": str(id.String())},
			}},
			stats,
		}})
		return err
	}
}

// ListPage is the unfiltered list's one Query: from the organisation's STATS item down
// through its newest records, limit records and the count.
func (r *Raw) ListPage(org string, limit int) Op {
	in := &dynamodb.QueryInput{
		TableName:              &r.Table,
		KeyConditionExpression: aws.String("pk = :pk AND sk BETWEEN :first AND :stats"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(orgPK(org)), ":first": str("REC#"), ":stats": str(statsSK),
		},
		ScanIndexForward: aws.Bool(false),
		ConsistentRead:   aws.Bool(true),
		Limit:            aws.Int32(int32(limit) + 1),
	}
	return func(ctx context.Context) error {
		_, err := r.DB.Query(ctx, in)
		return err
	}
}

// ListByStatus is the filtered list's pass of Query pages over every record of the
// organisation, filtered in DynamoDB to live records of one status.
func (r *Raw) ListByStatus(org string, st audit.Status) Op {
	return func(ctx context.Context) error {
		in := &dynamodb.QueryInput{
			TableName:                &r.Table,
			KeyConditionExpression:   aws.String("pk = :pk AND sk BETWEEN :lo AND :hi"),
			FilterExpression:         aws.String("attribute_not_exists(#del) AND #1 = :3"),
			ExpressionAttributeNames: map[string]string{"#del": "deleted_at", "#1": "status"},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":pk": str(orgPK(org)), ":lo": str("REC#"), ":hi": str("REC#~"), ":3": str(string(st)),
			},
			ScanIndexForward: aws.Bool(false),
			ConsistentRead:   aws.Bool(true),
		}
		if r.PageSize > 0 {
			in.Limit = &r.PageSize
		}
		for {
			out, err := r.DB.Query(ctx, in)
			if err != nil {
				return err
			}
			if len(out.LastEvaluatedKey) == 0 {
				return nil
			}
			in.ExclusiveStartKey = out.LastEvaluatedKey
		}
	}
}

func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}
