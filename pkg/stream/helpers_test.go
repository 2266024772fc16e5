package stream_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/bufdir/export-audit/internal/testkit"
	"github.com/bufdir/export-audit/pkg/image"
	"github.com/bufdir/export-audit/pkg/stream"
)

const (
	tbl    = "items"
	region = "eu-north-1"
)

var ctx = context.Background()

// fixture is the embedded engine behind a stream layer, as the kit starts it, with a client of
// it and a table keyed by pk (string) and sk (number).
type fixture struct {
	*testkit.Streamed
	db *dynamodb.Client
}

func newFixture(t *testing.T, o stream.Options) *fixture {
	t.Helper()
	o.Region = region
	e := testkit.StreamEngine(t, o)
	db := testkit.RawClient(e.URL, func(o *dynamodb.Options) { o.RetryMaxAttempts = 1 })
	f := &fixture{Streamed: e, db: db}
	f.createTable(t, tbl)
	return f
}

func (f *fixture) createTable(t *testing.T, name string) {
	t.Helper()
	_, err := f.db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String(name),
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("sk"), AttributeType: types.ScalarAttributeTypeN},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange},
			{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash},
		},
		BillingMode: types.BillingModePayPerRequest,
	})
	if err != nil {
		t.Fatalf("create table %s: %v", name, err)
	}
}

func key(pk string, sk int) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: pk},
		"sk": &types.AttributeValueMemberN{Value: fmt.Sprint(sk)},
	}
}

// item is key(pk, sk) with more attributes.
func item(pk string, sk int, more map[string]types.AttributeValue) map[string]types.AttributeValue {
	it := key(pk, sk)
	for k, v := range more {
		it[k] = v
	}
	return it
}

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func n(v string) types.AttributeValue { return &types.AttributeValueMemberN{Value: v} }

func (f *fixture) put(t *testing.T, it map[string]types.AttributeValue) {
	t.Helper()
	if _, err := f.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(tbl), Item: it}); err != nil {
		t.Fatalf("put: %v", err)
	}
}

// get reads an item through the SDK, as a stream image: nil when there is none.
func (f *fixture) get(t *testing.T, table string, k map[string]types.AttributeValue) map[string]events.DynamoDBAttributeValue {
	t.Helper()
	out, err := f.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: k, ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if out.Item == nil {
		return nil
	}
	return image.FromSDK(out.Item)
}

// sameImage compares two images as the JSON a consumer reads.
func sameImage(t *testing.T, what string, got, want map[string]events.DynamoDBAttributeValue) {
	t.Helper()
	if !equalJSON(got, want) {
		t.Errorf("%s:\n got %v\nwant %v", what, got, want)
	}
}

// names lists the records' eventName and key, e.g. "INSERT a/1".
func names(recs []events.DynamoDBEventRecord) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = fmt.Sprintf("%s %s/%s", r.EventName, r.Change.Keys["pk"].String(), r.Change.Keys["sk"].Number())
	}
	return out
}

func sameNames(t *testing.T, recs []events.DynamoDBEventRecord, want ...string) {
	t.Helper()
	if got := names(recs); !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
		t.Errorf("records:\n got %q\nwant %q", got, want)
	}
}

// raw sends one DynamoDB JSON request straight to the port, as another client would.
func raw(t *testing.T, url, op, body string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810."+op)
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", op, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// equalJSON compares two images as the JSON a consumer reads, with sets in any order: minidyn
// answers a set's members in a different order from one read to the next.
func equalJSON(a, b map[string]events.DynamoDBAttributeValue) bool {
	ja, _ := json.Marshal(sortSets(a))
	jb, _ := json.Marshal(sortSets(b))
	return string(ja) == string(jb)
}

func sortSets(m map[string]events.DynamoDBAttributeValue) map[string]events.DynamoDBAttributeValue {
	if m == nil {
		return nil
	}
	out := make(map[string]events.DynamoDBAttributeValue, len(m))
	for k, v := range m {
		out[k] = sortSet(v)
	}
	return out
}

func sortSet(v events.DynamoDBAttributeValue) events.DynamoDBAttributeValue {
	switch v.DataType() {
	case events.DataTypeStringSet:
		return events.NewStringSetAttribute(slices.Sorted(slices.Values(v.StringSet())))
	case events.DataTypeNumberSet:
		return events.NewNumberSetAttribute(slices.Sorted(slices.Values(v.NumberSet())))
	case events.DataTypeBinarySet:
		bs := slices.Clone(v.BinarySet())
		slices.SortFunc(bs, bytes.Compare)
		return events.NewBinarySetAttribute(bs)
	case events.DataTypeList:
		l := make([]events.DynamoDBAttributeValue, len(v.List()))
		for i, e := range v.List() {
			l[i] = sortSet(e)
		}
		return events.NewListAttribute(l)
	case events.DataTypeMap:
		return events.NewMapAttribute(sortSets(v.Map()))
	}
	return v
}
