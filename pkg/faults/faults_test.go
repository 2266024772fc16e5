package faults_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	"github.com/bufdir/export-audit/pkg/faults"
	"github.com/truora/minidyn/server"
)

const table = "faults-test"

var ctx = context.Background()

// fxEngine starts minidyn behind inj, creates the table and returns a client that makes one
// attempt per call, so that each call meets the injector once. inj must have no rules yet.
func fxEngine(t *testing.T, inj *faults.Injector, timeout time.Duration) *dynamodb.Client {
	t.Helper()
	srv := httptest.NewServer(inj.Wrap(server.NewServer()))
	t.Cleanup(srv.Close)
	db := dynamodb.New(dynamodb.Options{
		Region:       "eu-north-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "x", SecretAccessKey: "x"}, nil
		}),
		RetryMaxAttempts:                1,
		DisableValidateResponseChecksum: true,
		HTTPClient:                      &http.Client{Timeout: timeout},
	})
	_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String(table),
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema:   []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
		BillingMode: types.BillingModePayPerRequest,
	})
	if err != nil {
		t.Fatalf("create table: %v", err)
	}
	return db
}

func put(db *dynamodb.Client, pk string) error {
	_, err := db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(table),
		Item:      map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}},
	})
	return err
}

func exists(t *testing.T, db *dynamodb.Client, pk string) bool {
	t.Helper()
	out, err := db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}},
	})
	if err != nil {
		t.Fatalf("get %s: %v", pk, err)
	}
	return len(out.Item) > 0
}

func TestInjector_AnswersWithDynamoDBErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		kind   faults.Kind
		status int
		code   string
	}{
		{faults.Throttling, 400, "ThrottlingException"},
		{faults.ProvisionedThroughputExceeded, 400, "ProvisionedThroughputExceededException"},
		{faults.InternalServerError, 500, "InternalServerError"},
		{faults.TransactionConflict, 400, "TransactionConflictException"},
	} {
		t.Run(string(tc.kind), func(t *testing.T) {
			t.Parallel()
			inj := faults.New(1)
			db := fxEngine(t, inj, 5*time.Second)
			inj.Set(faults.Rule{Kind: tc.kind, Rate: 1})

			var ae smithy.APIError
			if err := put(db, "a"); !errors.As(err, &ae) || ae.ErrorCode() != tc.code {
				t.Fatalf("want the SDK to see error code %s, got %v", tc.code, err)
			}
			var re interface{ HTTPStatusCode() int }
			if err := put(db, "a"); !errors.As(err, &re) || re.HTTPStatusCode() != tc.status {
				t.Errorf("want HTTP status %d, got %v", tc.status, err)
			}
			inj.Set()
			if exists(t, db, "a") {
				t.Error("want nothing written by a call answered with an error")
			}
			if c := inj.Counts(); c.Injected[tc.kind] != 2 || c.Forwarded["PutItem"] != 0 {
				t.Errorf("want 2 %s injected and no PutItem forwarded, got %+v", tc.kind, c)
			}
		})
	}
}

func TestInjector_ErrorDocumentShape(t *testing.T) {
	t.Parallel()
	inj := faults.New(1, faults.Rule{Kind: faults.Throttling, Rate: 1})
	srv := httptest.NewServer(inj.Wrap(server.NewServer()))
	t.Cleanup(srv.Close)
	req, _ := http.NewRequest("POST", srv.URL, strings.NewReader(`{}`))
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810.GetItem")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var doc map[string]string
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("want a JSON error document, got %s", b)
	}
	if resp.StatusCode != 400 || resp.Header.Get("Content-Type") != "application/x-amz-json-1.0" ||
		doc["__type"] != "com.amazonaws.dynamodb.v20120810#ThrottlingException" || doc["message"] == "" {
		t.Errorf("want 400, application/x-amz-json-1.0 and a namespaced __type with a message, got %d %q %s",
			resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
}

func TestInjector_TransactionConflictCancellation(t *testing.T) {
	t.Parallel()
	inj := faults.New(1)
	db := fxEngine(t, inj, 5*time.Second)
	inj.Set(faults.Rule{Kind: faults.TransactionConflictCanceled, Rate: 1})
	if err := put(db, "plain"); err != nil {
		t.Fatalf("want a PutItem through, since the fault is for transactions only: %v", err)
	}
	item := func(pk string) types.TransactWriteItem {
		return types.TransactWriteItem{Put: &types.Put{TableName: aws.String(table),
			Item: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}}}}
	}
	_, err := db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{
		TransactItems: []types.TransactWriteItem{item("t1"), item("t2"), item("t3")},
	})
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) {
		t.Fatalf("want a TransactionCanceledException, got %v", err)
	}
	var codes []string
	for _, r := range tce.CancellationReasons {
		codes = append(codes, aws.ToString(r.Code))
	}
	if want := []string{"None", "None", "TransactionConflict"}; !reflect.DeepEqual(codes, want) {
		t.Errorf("want reasons %v, one per item, got %v", want, codes)
	}
	inj.Set()
	if exists(t, db, "t1") {
		t.Error("want nothing of a cancelled transaction written")
	}
}

func TestInjector_DropBeforeAndAfterForwarding(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		kind    faults.Kind
		written bool
	}{
		{faults.DropBefore, false},
		{faults.DropAfter, true},
	} {
		t.Run(string(tc.kind), func(t *testing.T) {
			t.Parallel()
			inj := faults.New(1)
			db := fxEngine(t, inj, 5*time.Second)
			inj.Set(faults.Rule{Kind: tc.kind, Rate: 1, Ops: []string{"PutItem"}})
			err := put(db, "a")
			var se interface{ ConnectionError() bool }
			if err == nil || !errors.As(err, &se) || !se.ConnectionError() {
				t.Fatalf("want a broken connection, got %v", err)
			}
			inj.Set()
			if got := exists(t, db, "a"); got != tc.written {
				t.Errorf("want written=%v after %s, got %v", tc.written, tc.kind, got)
			}
		})
	}
}

func TestInjector_SlowForwardsAfterTheDelay(t *testing.T) {
	t.Parallel()
	inj := faults.New(1)
	db := fxEngine(t, inj, 5*time.Second)
	inj.Set(faults.Rule{Kind: faults.Slow, Rate: 1, Delay: 20 * time.Millisecond})
	if err := put(db, "a"); err != nil {
		t.Fatalf("want a slow call to succeed: %v", err)
	}
	if !exists(t, db, "a") {
		t.Error("want the slow write applied")
	}
	if c := inj.Counts(); c.Injected[faults.Slow] != 2 || c.Forwarded["PutItem"] != 1 {
		t.Errorf("want both calls slowed and the PutItem forwarded, got %+v", c)
	}
}

func TestInjector_SlowPastTheClientTimeoutFails(t *testing.T) {
	t.Parallel()
	inj := faults.New(1)
	db := fxEngine(t, inj, 50*time.Millisecond)
	inj.Set(faults.Rule{Kind: faults.Slow, Rate: 1, Delay: 2 * time.Second, Ops: []string{"PutItem"}})
	if err := put(db, "a"); err == nil {
		t.Fatal("want a call slower than the client's timeout to fail")
	}
}

func TestInjector_OpsLimitAndRate(t *testing.T) {
	t.Parallel()
	inj := faults.New(1)
	db := fxEngine(t, inj, 5*time.Second)
	inj.Set(
		faults.Rule{Kind: faults.InternalServerError, Rate: 1, Limit: 2, Ops: []string{"GetItem"}},
		faults.Rule{Kind: faults.Throttling, Rate: 1, Ops: []string{"DeleteItem"}},
	)
	for i := 0; i < 5; i++ {
		if err := put(db, "a"); err != nil {
			t.Fatalf("want PutItem untouched by rules for other operations: %v", err)
		}
	}
	failed := 0
	for i := 0; i < 5; i++ {
		if _, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table),
			Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "a"}}}); err != nil {
			failed++
		}
	}
	if failed != 2 {
		t.Errorf("want the limit of 2 faults kept, got %d failed GetItem calls", failed)
	}
	c := inj.Counts()
	if c.Requests["GetItem"] != 5 || c.Forwarded["GetItem"] != 3 || c.ByOp["GetItem"] != 2 || c.Injected[faults.Throttling] != 0 {
		t.Errorf("counts: %+v", c)
	}
}

// decisions runs n sequential GetItem calls through an injector with a 30% rule and returns
// which failed.
func decisions(t *testing.T, seed uint64, n int) []bool {
	t.Helper()
	inj := faults.New(seed)
	db := fxEngine(t, inj, 5*time.Second)
	inj.Set(faults.Rule{Kind: faults.Throttling, Rate: 0.3})
	out := make([]bool, n)
	for i := range out {
		_, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table),
			Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "a"}}})
		out[i] = err != nil
	}
	return out
}

func TestInjector_SameSeedSameDecisions(t *testing.T) {
	t.Parallel()
	const n = 200
	a, b, c := decisions(t, 7, n), decisions(t, 7, n), decisions(t, 8, n)
	if !reflect.DeepEqual(a, b) {
		t.Error("want the same seed to fail the same calls")
	}
	if reflect.DeepEqual(a, c) {
		t.Error("want another seed to fail other calls")
	}
	failed := 0
	for _, f := range a {
		if f {
			failed++
		}
	}
	// The seed makes this exact; the bounds only say the rate is about right.
	if failed < n*2/10 || failed > n*4/10 {
		t.Errorf("want about 30%% of %d calls failed, got %d", n, failed)
	}
}
