package local_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/bufdir/export-audit/internal/testkit"
	"github.com/bufdir/export-audit/pkg/clienttoken"
	"github.com/bufdir/export-audit/pkg/faults"
	"github.com/bufdir/export-audit/pkg/local"
)

// The embedded engine keeps no ClientRequestToken. StartEngine puts a keeper in front of it, so
// that the SDK's retry of a transaction whose answer was lost on the way back (an attempt that
// outlived the SDK's timeout on a loaded machine) is answered from its token, as DynamoDB
// answers it, instead of being applied a second time.
func TestStartEngine_SDKRetryOfALostAnswerIsAppliedOnce(t *testing.T) {
	t.Parallel()
	var lost atomic.Bool
	loseFirstAnswer := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if faults.Operation(r) != "TransactWriteItems" || lost.Swap(true) {
				next.ServeHTTP(w, r)
				return
			}
			next.ServeHTTP(clienttoken.NewRecorder(), r)
			panic(http.ErrAbortHandler) // the connection closes without an answer
		})
	}
	engine, err := local.StartEngine("127.0.0.1:0", local.EngineLayers{Outer: loseFirstAnswer})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = engine.Close() })
	ctx := context.Background()
	db := testkit.Client(t, engine.URL)
	const table = "engine-tokens"
	testkit.CreateTable(t, db, table)
	key := testkit.Key("c", "c")
	_, err = db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{{Update: &types.Update{
		TableName: aws.String(table), Key: key, UpdateExpression: aws.String("ADD n :one"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":one": &types.AttributeValueMemberN{Value: "1"}},
	}}}})
	if err != nil || !lost.Load() {
		t.Fatalf("want the SDK's retry of the lost answer to succeed: %v (answer lost: %v)", err, lost.Load())
	}
	out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: key, ConsistentRead: aws.Bool(true)})
	if n, _ := out.Item["n"].(*types.AttributeValueMemberN); err != nil || n == nil || n.Value != "1" {
		t.Errorf("want the transaction applied once (n = 1), got %v %v", out.Item["n"], err)
	}
}
