package archive_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/bufdir/export-audit/internal/testkit"
	"github.com/bufdir/export-audit/pkg/archive"
	"github.com/bufdir/export-audit/pkg/stream"
)

var ctx = context.Background()

const tbl = "items"

var quiet = slog.New(slog.DiscardHandler)

// streamRecords writes an item for each pk to a real engine behind the stream layer and
// returns their stream records, as Lambda would deliver them.
func streamRecords(t *testing.T, pks ...string) []events.DynamoDBEventRecord {
	t.Helper()
	e := testkit.StreamEngine(t, stream.Options{KeepAll: true})
	db := testkit.Client(t, e.URL)
	testkit.CreateTable(t, db, tbl)
	for _, pk := range pks {
		if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(tbl), Item: item(pk)}); err != nil {
			t.Fatalf("put %s: %v", pk, err)
		}
	}
	recs := e.Layer.Records(tbl)
	if len(recs) != len(pks) {
		t.Fatalf("the stream has %d records, want %d", len(recs), len(pks))
	}
	return recs
}

func item(pk string) map[string]types.AttributeValue {
	it := testkit.Key(pk, "A")
	it["n"] = &types.AttributeValueMemberN{Value: "1"}
	return it
}

func mustPeriods(t *testing.T, d time.Duration) archive.Periods {
	t.Helper()
	p, err := archive.NewPeriods(d)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
