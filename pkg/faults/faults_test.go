package faults_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	"github.com/bufdir/export-audit/internal/testkit"
	"github.com/bufdir/export-audit/pkg/clienttoken"
	"github.com/bufdir/export-audit/pkg/faults"
)

const table = "faults-test"

var ctx = context.Background()

// engine starts the embedded engine behind inj, creates the table and returns a client that
// makes one attempt per call, so that each call meets the injector once. inj must have no
// rules yet.
func engine(t *testing.T, inj *faults.Injector, timeout time.Duration) *dynamodb.Client {
	t.Helper()
	return engineWith(t, inj, nil, timeout)
}

// engineWith is engine with behind between the injector and the engine.
func engineWith(t *testing.T, inj *faults.Injector, behind func(http.Handler) http.Handler, timeout time.Duration) *dynamodb.Client {
	t.Helper()
	url := testkit.Engine(t, testkit.EngineOptions{Faults: inj, Inner: behind})
	db := testkit.RawClient(url, func(o *dynamodb.Options) {
		o.RetryMaxAttempts = 1
		o.HTTPClient = &http.Client{Timeout: timeout}
	})
	testkit.CreateTable(t, db, table)
	return db
}

func put(db *dynamodb.Client, pk string) error {
	_, err := db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(table),
		Item:      testkit.Key(pk, pk),
	})
	return err
}

// item reads the item pk; nil when it is absent.
func item(t *testing.T, db *dynamodb.Client, pk string) map[string]types.AttributeValue {
	t.Helper()
	out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true), Key: testkit.Key(pk, pk)})
	if err != nil {
		t.Fatalf("get %s: %v", pk, err)
	}
	return out.Item
}

func exists(t *testing.T, db *dynamodb.Client, pk string) bool {
	t.Helper()
	return len(item(t, db, pk)) > 0
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
			db := engine(t, inj, 5*time.Second)
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
	url := testkit.Engine(t, testkit.EngineOptions{Faults: inj})
	req, _ := http.NewRequest("POST", url, strings.NewReader(`{}`))
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
	db := engine(t, inj, 5*time.Second)
	inj.Set(faults.Rule{Kind: faults.TransactionConflictCanceled, Rate: 1})
	if err := put(db, "plain"); err != nil {
		t.Fatalf("want a PutItem through, since the fault is for transactions only: %v", err)
	}
	item := func(pk string) types.TransactWriteItem {
		return types.TransactWriteItem{Put: &types.Put{TableName: aws.String(table),
			Item: testkit.Key(pk, pk)}}
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
			db := engine(t, inj, 5*time.Second)
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
	db := engine(t, inj, 5*time.Second)
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
	db := engine(t, inj, 50*time.Millisecond)
	inj.Set(faults.Rule{Kind: faults.Slow, Rate: 1, Delay: 2 * time.Second, Ops: []string{"PutItem"}})
	if err := put(db, "a"); err == nil {
		t.Fatal("want a call slower than the client's timeout to fail")
	}
}

func TestInjector_OpsLimitAndRate(t *testing.T) {
	t.Parallel()
	inj := faults.New(1)
	db := engine(t, inj, 5*time.Second)
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
			Key: testkit.Key("a", "a")}); err != nil {
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
	db := engine(t, inj, 5*time.Second)
	inj.Set(faults.Rule{Kind: faults.Throttling, Rate: 0.3})
	out := make([]bool, n)
	for i := range out {
		_, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table),
			Key: testkit.Key("a", "a")})
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

// bump is a TransactWriteItems that adds one to the counter item pk, with token as its
// ClientRequestToken: running it twice shows in the count.
func bump(db *dynamodb.Client, token, pk string) error {
	_, err := db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{
		ClientRequestToken: aws.String(token),
		TransactItems: []types.TransactWriteItem{{Update: &types.Update{
			TableName:                 aws.String(table),
			Key:                       testkit.Key(pk, pk),
			UpdateExpression:          aws.String("ADD n :one"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":one": &types.AttributeValueMemberN{Value: "1"}},
		}}},
	})
	return err
}

// count reads the counter item pk; 0 when it is absent.
func count(t *testing.T, db *dynamodb.Client, pk string) string {
	t.Helper()
	if n, ok := item(t, db, pk)["n"].(*types.AttributeValueMemberN); ok {
		return n.Value
	}
	return "0"
}

func TestInjector_TokenRepeatIsAnsweredWithTheFirstOutcome(t *testing.T) {
	t.Parallel()
	inj := faults.New(1)
	db := engine(t, inj, 5*time.Second)
	for i := 0; i < 3; i++ {
		if err := bump(db, "tok-1", "c"); err != nil {
			t.Fatalf("call %d with the token of a transaction that succeeded: want success, got %v", i+1, err)
		}
	}
	if got := count(t, db, "c"); got != "1" {
		t.Errorf("want the transaction run once for its three calls, counter is %s", got)
	}
	if err := bump(db, "tok-2", "c"); err != nil || count(t, db, "c") != "2" {
		t.Errorf("want a new token to run the transaction again: %v, counter %s", err, count(t, db, "c"))
	}
	if c := inj.Counts(); c.Forwarded["TransactWriteItems"] != 2 || c.Repeats["outcome"] != 2 {
		t.Errorf("want 2 transactions forwarded and 2 repeats answered from the token, got %+v", c)
	}
}

func TestInjector_TokenOfACancelledTransactionKeepsTheCancellation(t *testing.T) {
	t.Parallel()
	t.Run("injected", func(t *testing.T) {
		t.Parallel()
		inj := faults.New(1)
		db := engine(t, inj, 5*time.Second)
		inj.Set(faults.Rule{Kind: faults.TransactionConflictCanceled, Rate: 1, Limit: 1})
		var tce *types.TransactionCanceledException
		if err := bump(db, "tok-c", "c"); !errors.As(err, &tce) {
			t.Fatalf("want the injected cancellation, got %v", err)
		}
		inj.Set()
		err := bump(db, "tok-c", "c")
		if !errors.As(err, &tce) || len(tce.CancellationReasons) != 1 || aws.ToString(tce.CancellationReasons[0].Code) != "TransactionConflict" {
			t.Errorf("want the repeat of the token answered with the same cancellation, not run, got %v", err)
		}
		if got := count(t, db, "c"); got != "0" {
			t.Errorf("want nothing written, counter is %s", got)
		}
		if err := bump(db, "tok-d", "c"); err != nil || count(t, db, "c") != "1" {
			t.Errorf("want a new token to run: %v", err)
		}
	})
	t.Run("by the engine", func(t *testing.T) {
		t.Parallel()
		inj := faults.New(1)
		db := engine(t, inj, 5*time.Second)
		if err := put(db, "taken"); err != nil {
			t.Fatal(err)
		}
		create := func(token string) error {
			_, err := db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{
				ClientRequestToken: aws.String(token),
				TransactItems: []types.TransactWriteItem{{Put: &types.Put{
					TableName: aws.String(table), ConditionExpression: aws.String("attribute_not_exists(pk)"),
					Item: testkit.Key("taken", "taken"),
				}}},
			})
			return err
		}
		var tce *types.TransactionCanceledException
		if err := create("tok-e"); !errors.As(err, &tce) {
			t.Fatalf("want the engine's cancellation on the condition, got %v", err)
		}
		if _, err := db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(table),
			Key: testkit.Key("taken", "taken")}); err != nil {
			t.Fatal(err)
		}
		if err := create("tok-e"); !errors.As(err, &tce) {
			t.Errorf("want the token's cancellation again although the condition holds now, got %v", err)
		}
		if exists(t, db, "taken") {
			t.Error("want the repeat not run")
		}
		if err := create("tok-f"); err != nil || !exists(t, db, "taken") {
			t.Errorf("want a new token to run: %v", err)
		}
	})
}

func TestInjector_TokenWithOtherParametersIsRefused(t *testing.T) {
	t.Parallel()
	inj := faults.New(1)
	db := engine(t, inj, 5*time.Second)
	if err := bump(db, "tok-m", "a"); err != nil {
		t.Fatal(err)
	}
	var mismatch *types.IdempotentParameterMismatchException
	if err := bump(db, "tok-m", "b"); !errors.As(err, &mismatch) {
		t.Errorf("want IdempotentParameterMismatchException for the token with another item, got %v", err)
	}
	if count(t, db, "a") != "1" || count(t, db, "b") != "0" {
		t.Errorf("want only the first run: a=%s b=%s", count(t, db, "a"), count(t, db, "b"))
	}
	if c := inj.Counts(); c.Repeats["IdempotentParameterMismatchException"] != 1 || c.Forwarded["TransactWriteItems"] != 1 {
		t.Errorf("counts: %+v", c)
	}
}

func TestInjector_TokenIsForgottenAfterTenMinutes(t *testing.T) {
	t.Parallel()
	inj := faults.New(1)
	db := engine(t, inj, 5*time.Second)
	var mu sync.Mutex
	now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	inj.SetClock(func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }
	if err := bump(db, "tok-w", "c"); err != nil {
		t.Fatal(err)
	}
	advance(clienttoken.Window - time.Second)
	if err := bump(db, "tok-w", "c"); err != nil || count(t, db, "c") != "1" {
		t.Errorf("want a repeat within the window answered, not run: %v, counter %s", err, count(t, db, "c"))
	}
	advance(time.Second)
	if err := bump(db, "tok-w", "c"); err != nil || count(t, db, "c") != "2" {
		t.Errorf("want the token treated as new after %s: %v, counter %s", clienttoken.Window, err, count(t, db, "c"))
	}
}

// A request refused before it ran leaves its token unused: the SDK's retry with it runs.
func TestInjector_RefusedRequestLeavesTheTokenUnused(t *testing.T) {
	t.Parallel()
	for _, kind := range []faults.Kind{faults.Throttling, faults.InternalServerError, faults.DropBefore} {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			inj := faults.New(1)
			db := engine(t, inj, 5*time.Second)
			inj.Set(faults.Rule{Kind: kind, Rate: 1, Limit: 1})
			if err := bump(db, "tok-r", "c"); err == nil {
				t.Fatal("want the first attempt refused")
			}
			if err := bump(db, "tok-r", "c"); err != nil || count(t, db, "c") != "1" {
				t.Errorf("want the retry with the token run once: %v, counter %s", err, count(t, db, "c"))
			}
		})
	}
}

// The engine applied the transaction and the answer was lost: the SDK's retry with the same
// token gets the first success, and the transaction ran once.
func TestInjector_DroppedAnswerRetriedWithTheTokenGetsTheOutcome(t *testing.T) {
	t.Parallel()
	inj := faults.New(1)
	db := engine(t, inj, 5*time.Second)
	inj.Set(faults.Rule{Kind: faults.DropAfter, Rate: 1, Limit: 1, Ops: []string{"TransactWriteItems"}})
	var se interface{ ConnectionError() bool }
	if err := bump(db, "tok-d", "c"); !errors.As(err, &se) || !se.ConnectionError() {
		t.Fatalf("want a broken connection, got %v", err)
	}
	if err := bump(db, "tok-d", "c"); err != nil {
		t.Errorf("want the retry answered with the first success, got %v", err)
	}
	if got := count(t, db, "c"); got != "1" {
		t.Errorf("want the transaction run once, counter is %s", got)
	}
}

// hold holds the first TransactWriteItems at the engine until release is closed.
type hold struct {
	next    http.Handler
	once    sync.Once
	entered chan struct{}
	release chan struct{}
}

func (h *hold) wrap(engine http.Handler) http.Handler {
	h.next = engine
	return h
}

func (h *hold) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if faults.Operation(r) == "TransactWriteItems" {
		h.once.Do(func() {
			close(h.entered)
			<-h.release
		})
	}
	h.next.ServeHTTP(w, r)
}

func TestInjector_TokenWhileItsTransactionRunsIsInProgress(t *testing.T) {
	t.Parallel()
	inj := faults.New(1)
	held := &hold{entered: make(chan struct{}), release: make(chan struct{})}
	db := engineWith(t, inj, held.wrap, 5*time.Second)
	first := make(chan error, 1)
	go func() { first <- bump(db, "tok-p", "c") }()
	<-held.entered
	var ae smithy.APIError
	if err := bump(db, "tok-p", "c"); !errors.As(err, &ae) || ae.ErrorCode() != "TransactionInProgressException" {
		t.Errorf("want TransactionInProgressException while the first runs, got %v", err)
	}
	close(held.release)
	if err := <-first; err != nil {
		t.Fatalf("first: %v", err)
	}
	if err := bump(db, "tok-p", "c"); err != nil || count(t, db, "c") != "1" {
		t.Errorf("want the repeat after it finished answered with its success: %v, counter %s", err, count(t, db, "c"))
	}
}
