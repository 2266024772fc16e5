package clienttoken_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
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

// keeperEnv is the embedded engine behind a Keeper, with the service's SDK client. The engine
// can be told to hold the next transaction, or to fail the next calls with a 500.
type keeperEnv struct {
	keeper *clienttoken.Keeper
	db     *dynamodb.Client
	table  string
	ran    atomic.Int32  // TransactWriteItems that reached the engine
	fail   atomic.Int32  // calls still to answer with InternalServerError
	hold   chan struct{} // when set, the next transaction waits for it to close
	held   chan struct{} // closed once that transaction is waiting
	mu     sync.Mutex
}

func newKeeperEnv(t *testing.T) *keeperEnv {
	t.Helper()
	e := &keeperEnv{keeper: clienttoken.New()}
	inner := func(engine http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if faults.Operation(r) == "TransactWriteItems" {
				if e.fail.Add(-1) >= 0 {
					clienttoken.WriteError(w, http.StatusInternalServerError, "InternalServerError", "Internal server error", nil)
					return
				}
				e.mu.Lock()
				hold, held := e.hold, e.held
				e.hold = nil
				e.mu.Unlock()
				if hold != nil {
					close(held)
					<-hold
				}
				e.ran.Add(1)
			}
			engine.ServeHTTP(w, r)
		})
	}
	db := testkit.NewDB(t, testkit.EngineOptions{Keeper: e.keeper, Inner: inner})
	e.db, e.table = db.Client, db.Table
	return e
}

// add is one TransactWriteItems that adds one to the counter item named key, with token as
// its ClientRequestToken, in one attempt: running it twice shows in the count.
func (e *keeperEnv) add(token, key string) error {
	return e.transact(aws.String(token), key, 1)
}

// transact is add with the SDK's token when token is nil, and its retries up to attempts.
func (e *keeperEnv) transact(token *string, key string, attempts int) error {
	_, err := e.db.TransactWriteItems(context.Background(), &dynamodb.TransactWriteItemsInput{
		ClientRequestToken: token,
		TransactItems: []types.TransactWriteItem{{Update: &types.Update{
			TableName: aws.String(e.table), Key: testkit.Key(key, key),
			UpdateExpression:          aws.String("ADD n :one"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":one": &types.AttributeValueMemberN{Value: "1"}},
		}}},
	}, func(o *dynamodb.Options) { o.RetryMaxAttempts = attempts })
	return err
}

// counter reads the counter item named key; "0" when it is absent.
func (e *keeperEnv) counter(t *testing.T, key string) string {
	t.Helper()
	out, err := e.db.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(e.table), Key: testkit.Key(key, key), ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatalf("read counter %s: %v", key, err)
	}
	if n, ok := out.Item["n"].(*types.AttributeValueMemberN); ok {
		return n.Value
	}
	return "0"
}

func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestKeeper_RepeatOfATokenIsAnsweredWithTheFirstOutcomeAndNotRun(t *testing.T) {
	t.Parallel()
	e := newKeeperEnv(t)
	for i := 0; i < 3; i++ {
		if err := e.add("tok-1", "c"); err != nil {
			t.Fatalf("call %d with the token of a transaction that succeeded: want success, got %v", i+1, err)
		}
	}
	if err := e.add("tok-2", "c"); err != nil {
		t.Fatal(err)
	}
	if got := e.counter(t, "c"); got != "2" || e.ran.Load() != 2 {
		t.Errorf("want each token's transaction run once (counter 2, 2 runs), got counter %s after %d runs", got, e.ran.Load())
	}
	if r := e.keeper.Repeats(); r[clienttoken.Outcome] != 2 {
		t.Errorf("want 2 repeats answered with their outcome, got %v", r)
	}
}

func TestKeeper_TokenWithOtherParametersIsRefused(t *testing.T) {
	t.Parallel()
	e := newKeeperEnv(t)
	if err := e.add("tok-m", "a"); err != nil {
		t.Fatal(err)
	}
	if err := e.add("tok-m", "b"); errorCode(err) != clienttoken.IdempotentParameterMismatchException {
		t.Errorf("want IdempotentParameterMismatchException for the token with another item, got %v", err)
	}
	if e.counter(t, "a") != "1" || e.counter(t, "b") != "0" {
		t.Errorf("want only the first run: a=%s b=%s", e.counter(t, "a"), e.counter(t, "b"))
	}
}

func TestKeeper_TokenWhileItsTransactionRunsIsInProgress(t *testing.T) {
	t.Parallel()
	e := newKeeperEnv(t)
	e.hold, e.held = make(chan struct{}), make(chan struct{})
	hold, held := e.hold, e.held
	first := make(chan error, 1)
	go func() { first <- e.add("tok-p", "c") }()
	<-held
	if err := e.add("tok-p", "c"); errorCode(err) != clienttoken.TransactionInProgressException {
		t.Errorf("want TransactionInProgressException while the first runs, got %v", err)
	}
	close(hold)
	if err := <-first; err != nil {
		t.Fatalf("first: %v", err)
	}
	if err := e.add("tok-p", "c"); err != nil || e.counter(t, "c") != "1" {
		t.Errorf("want the repeat after it finished answered with its success: %v, counter %s", err, e.counter(t, "c"))
	}
}

// An engine's error means the transaction did not run: the SDK's own retry, with the same
// token, runs it.
func TestKeeper_EngineErrorLeavesTheTokenUnused(t *testing.T) {
	t.Parallel()
	e := newKeeperEnv(t)
	e.fail.Store(1)
	err := e.transact(nil, "c", 2)
	if err != nil || e.counter(t, "c") != "1" || e.ran.Load() != 1 {
		t.Errorf("want the SDK's retry after the 500 run once: %v, counter %s, %d runs", err, e.counter(t, "c"), e.ran.Load())
	}
	if r := e.keeper.Repeats(); len(r) != 0 {
		t.Errorf("want no request answered from its token, got %v", r)
	}
}

func TestKeeper_TokenIsForgottenAfterTheWindow(t *testing.T) {
	t.Parallel()
	e := newKeeperEnv(t)
	var mu sync.Mutex
	now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	e.keeper.SetClock(func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }
	if err := e.add("tok-w", "c"); err != nil {
		t.Fatal(err)
	}
	advance(clienttoken.Window - time.Second)
	if err := e.add("tok-w", "c"); err != nil || e.counter(t, "c") != "1" {
		t.Errorf("want a repeat within the window answered, not run: %v, counter %s", err, e.counter(t, "c"))
	}
	advance(time.Second)
	if err := e.add("tok-w", "c"); err != nil || e.counter(t, "c") != "2" {
		t.Errorf("want the token treated as new after %s: %v, counter %s", clienttoken.Window, err, e.counter(t, "c"))
	}
}
