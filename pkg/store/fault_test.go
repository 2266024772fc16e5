package store_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bufdir/export-audit/internal/testkit"
	"github.com/bufdir/export-audit/pkg/audit"
	"github.com/bufdir/export-audit/pkg/faults"
	"github.com/bufdir/export-audit/pkg/store"
)

// overtaker stands in front of the engine and, before each of the first n UpdateItem calls
// on a day counter reaches it, lands another container's later stamp on that counter: what
// happens when concurrent creates overtake a create whose counter call is slow (throttled and
// retried by the SDK) and take later seconds first.
type overtaker struct {
	mu sync.Mutex
	n  int
	at time.Time
}

func (o *overtaker) wrap(engine http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.overtake(engine, r)
		engine.ServeHTTP(w, r)
	})
}

// overtake lands the later stamp when r is one of the first n counter calls.
func (o *overtaker) overtake(engine http.Handler, r *http.Request) {
	body := testkit.PeekBody(r)
	o.mu.Lock()
	due := o.n > 0 && faults.Operation(r) == "UpdateItem" && bytes.Contains(body, []byte(`"SEQ#`))
	if due {
		o.n--
		o.at = o.at.Add(time.Second)
	}
	at := o.at
	o.mu.Unlock()
	if due {
		var in struct{ Key json.RawMessage }
		_ = json.Unmarshal(body, &in)
		other := fmt.Sprintf(`{"TableName":%q,"Key":%s,"UpdateExpression":"SET last_at = :t ADD seq :one",`+
			`"ExpressionAttributeValues":{":t":{"S":%q},":one":{"N":"1"}}}`, table, in.Key, at.Format(time.RFC3339))
		req := httptest.NewRequest("POST", "/", strings.NewReader(other))
		req.Header.Set("X-Amz-Target", "DynamoDB_20120810.UpdateItem")
		rec := httptest.NewRecorder()
		engine.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			panic("overtaking write failed: " + rec.Body.String())
		}
	}
}

// TestCreate_OvertakenDayCounterStillTakesANumber: a create whose counter call is overtaken
// by other creates' later stamps several times in a row (as under throttling, when each of its
// attempts lands seconds late) still gets a sequence number, with the latest stamp as its
// created_at, rather than failing with a 500.
func TestCreate_OvertakenDayCounterStillTakesANumber(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	o := &overtaker{n: 4, at: now}
	s := testkit.NewDB(t, testkit.EngineOptions{Inner: o.wrap}).Store(store.WithClock(fixedClock(now)))
	rec, replayed, err := s.Create(context.Background(), newRecord("org-a", "exp-1"))
	if err != nil || replayed {
		t.Fatalf("create overtaken 4 times: replayed=%v err=%v", replayed, err)
	}
	if want := now.Add(4 * time.Second); !rec.CreatedAt.Equal(want) || rec.RecordID != "rec-20260301-005" {
		t.Errorf("want the 5th number of the day at the latest stamp %s, got %s at %s", want, rec.RecordID, rec.CreatedAt)
	}
}

// onGuardRead runs before, once it is set, ahead of the next GetItem of an export_id guard
// that reaches the engine, and only then.
type onGuardRead struct {
	before atomic.Pointer[func()]
}

func (o *onGuardRead) wrap(engine http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if faults.Operation(r) == "GetItem" && bytes.Contains(testkit.PeekBody(r), []byte(`"EXP#`)) {
			if fn := o.before.Swap(nil); fn != nil {
				(*fn)()
			}
		}
		engine.ServeHTTP(w, r)
	})
}

// TestCreate_GuardFreedWhileReadingItMakesANewRecord: a create meets the export_id's guard,
// and the record it guards is deleted before the create reads the guard (an engine that sends
// no item with the cancellation costs that read). The export_id is free now, so the create
// makes a new record rather than failing.
func TestCreate_GuardFreedWhileReadingItMakesANewRecord(t *testing.T) {
	t.Parallel()
	o := &onGuardRead{}
	s := testkit.NewDB(t, testkit.EngineOptions{Inner: o.wrap}).Store()
	old := mustCreate(t, s, newRecord("org-a", "exp-1"))
	deleteOld := func() {
		if err := s.Delete(context.Background(), "org-a", mustID(t, old.RecordID), "usr-admin"); err != nil {
			t.Errorf("delete %s: %v", old.RecordID, err)
		}
	}
	o.before.Store(&deleteOld)
	rec, replayed, err := s.Create(context.Background(), newRecord("org-a", "exp-1"))
	if err != nil || replayed || rec.RecordID == old.RecordID {
		t.Fatalf("want a new record once the export_id is free, got %s replayed=%v err=%v", rec.RecordID, replayed, err)
	}
	if _, err := s.Get(context.Background(), "org-a", mustID(t, rec.RecordID)); err != nil {
		t.Errorf("want the new record readable: %v", err)
	}
}

// faulty returns a store on a fresh engine behind inj, with the client the functions use.
func faulty(t *testing.T, inj *faults.Injector) *store.Store {
	t.Helper()
	return testkit.NewDB(t, testkit.EngineOptions{Faults: inj}).Store()
}

// TestTransact_RetryOfACancelledTransactionRunsAgain: DynamoDB cancels a create's and a
// delete's transaction twice because other transactions held their items. The fault layer
// keeps ClientRequestTokens as DynamoDB does, so a retry that carried the cancelled call's
// token would be answered with the same cancellation, five times over, and end in audit.ErrBusy.
// The store's retries are new requests: the third runs, and the write is made once.
func TestTransact_RetryOfACancelledTransactionRunsAgain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	inj := faults.New(1)
	s := faulty(t, inj)

	inj.Set(faults.Rule{Kind: faults.TransactionConflictCanceled, Rate: 1, Limit: 2})
	rec, replayed, err := s.Create(ctx, newRecord("org-a", "exp-1"))
	if err != nil || replayed {
		t.Fatalf("create after 2 cancellations: want the record made, got replayed=%v err=%v", replayed, err)
	}
	id := mustID(t, rec.RecordID)
	if _, err := s.Get(ctx, "org-a", id); err != nil {
		t.Errorf("want the record readable: %v", err)
	}

	inj.Set(faults.Rule{Kind: faults.TransactionConflictCanceled, Rate: 1, Limit: 2})
	if err := s.Delete(ctx, "org-a", id, "usr-admin"); err != nil {
		t.Fatalf("delete after 2 cancellations: want it applied, got %v", err)
	}
	if _, err := s.Get(ctx, "org-a", id); !errors.Is(err, audit.ErrNotFound) {
		t.Errorf("want the deleted record gone, got %v", err)
	}

	c := inj.Counts()
	if c.Injected[faults.TransactionConflictCanceled] != 4 || c.Forwarded["TransactWriteItems"] != 2 || c.Repeats["outcome"] != 0 {
		t.Errorf("want 4 cancellations, then each transaction run once with a token of its own, got %+v", c)
	}
}

// TestTransact_SDKRetryOfALostAnswerKeepsTheToken: the engine applied a create's and a
// delete's transaction but the answer was lost. The SDK sends the same call again with its
// token, and DynamoDB answers it with the first success instead of running it again (which
// would meet its own write). The store sees a success: a new record, not a replay; a delete,
// not ErrNotFound.
func TestTransact_SDKRetryOfALostAnswerKeepsTheToken(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	inj := faults.New(1)
	s := faulty(t, inj)

	inj.Set(faults.Rule{Kind: faults.DropAfter, Rate: 1, Limit: 1, Ops: []string{"TransactWriteItems"}})
	rec, replayed, err := s.Create(ctx, newRecord("org-a", "exp-1"))
	if err != nil || replayed {
		t.Fatalf("create whose answer was lost: want the record made, got replayed=%v err=%v", replayed, err)
	}
	inj.Set(faults.Rule{Kind: faults.DropAfter, Rate: 1, Limit: 1, Ops: []string{"TransactWriteItems"}})
	if err := s.Delete(ctx, "org-a", mustID(t, rec.RecordID), "usr-admin"); err != nil {
		t.Fatalf("delete whose answer was lost: want it applied, got %v", err)
	}
	if c := inj.Counts(); c.Forwarded["TransactWriteItems"] != 2 || c.Repeats["outcome"] != 2 {
		t.Errorf("want each transaction run once and the SDK's retry answered from its token, got %+v", c)
	}
}
