package archive_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/bufdir/export-audit/pkg/archive"
	"github.com/bufdir/export-audit/pkg/stream"
	"github.com/truora/minidyn/server"
)

var ctx = context.Background()

const tbl = "items"

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// clock is a test's clock, moved by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// streamRecords writes n items to a real engine behind the stream layer and returns their
// stream records, as Lambda would deliver them.
func streamRecords(t *testing.T, pks ...string) []events.DynamoDBEventRecord {
	t.Helper()
	l := stream.New(stream.Options{KeepAll: true, Region: "eu-north-1", Log: quiet})
	srv := httptest.NewServer(l.Wrap(server.NewServer()))
	t.Cleanup(func() { l.Close(); srv.Close() })
	db := dynamodb.New(dynamodb.Options{
		Region: "eu-north-1", BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "x", SecretAccessKey: "x"}, nil
		}),
	})
	_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String(tbl),
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("sk"), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange},
		},
		BillingMode: types.BillingModePayPerRequest,
	})
	if err != nil {
		t.Fatalf("create table: %v", err)
	}
	for _, pk := range pks {
		_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(tbl), Item: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: pk}, "sk": &types.AttributeValueMemberS{Value: "A"},
			"n": &types.AttributeValueMemberN{Value: "1"},
		}})
		if err != nil {
			t.Fatalf("put %s: %v", pk, err)
		}
	}
	recs := l.Records(tbl)
	if len(recs) != len(pks) {
		t.Fatalf("the stream has %d records, want %d", len(recs), len(pks))
	}
	return recs
}

func mustPeriods(t *testing.T, d time.Duration) archive.Periods {
	t.Helper()
	p, err := archive.NewPeriods(d)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func keys(objs []archive.Object) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.Key)
	}
	return out
}

func list(t *testing.T, b archive.Bucket, prefix string) []string {
	t.Helper()
	objs, err := b.List(ctx, prefix, "")
	if err != nil {
		t.Fatalf("list %s: %v", prefix, err)
	}
	return keys(objs)
}

func get(t *testing.T, b archive.Bucket, key string) []byte {
	t.Helper()
	body, err := b.Get(ctx, key)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	return body
}
