package stream_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/bufdir/export-audit/pkg/stream"
)

// seen keeps what a handler was given, batch by batch, as the items' pk.
type seen struct {
	mu       sync.Mutex
	batches  [][]string
	events   []events.DynamoDBEvent
	failures []stream.Failure
}

// handler records each batch and answers with answer (nil: success).
func (g *seen) handler(answer func(call int, batch []string, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error)) stream.Handler {
	return func(_ context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
		g.mu.Lock()
		batch := make([]string, len(ev.Records))
		for i, r := range ev.Records {
			batch[i] = r.Change.Keys["pk"].String()
		}
		g.batches = append(g.batches, batch)
		g.events = append(g.events, ev)
		call := len(g.batches)
		g.mu.Unlock()
		if answer == nil {
			return events.DynamoDBEventResponse{}, nil
		}
		return answer(call, batch, ev)
	}
}

func (g *seen) onFailure(_ context.Context, f stream.Failure) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.failures = append(g.failures, f)
}

func (g *seen) got() [][]string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.batches)
}

func sameBatches(t *testing.T, g *seen, want ...[]string) {
	t.Helper()
	if got := g.got(); !reflect.DeepEqual(got, want) {
		t.Errorf("batches:\n got %q\nwant %q", got, want)
	}
}

// fourItems is a fixture holding items a to d, one PutItem each, and a seen to subscribe with.
func fourItems(t *testing.T) (*fixture, *seen) {
	t.Helper()
	f := newFixture(t, stream.Options{KeepAll: true})
	f.putAll(t, "a", "b", "c", "d")
	return f, &seen{}
}

// putAll writes one item per pk, one PutItem each.
func (f *fixture) putAll(t *testing.T, pks ...string) {
	t.Helper()
	for _, pk := range pks {
		f.put(t, item(pk, 1, nil))
	}
}

func (f *fixture) subscribe(t *testing.T, s stream.Subscriber) *stream.Subscription {
	t.Helper()
	if s.Name == "" {
		s.Name = "reader"
	}
	s.Table = tbl
	if s.RetryBackoff == 0 {
		s.RetryBackoff = time.Millisecond
	}
	sub, err := f.Layer.Subscribe(s)
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	return sub
}

// seq is the sequence number of the record of pk in ev.
func seq(ev events.DynamoDBEvent, pk string) string {
	for _, r := range ev.Records {
		if r.Change.Keys["pk"].String() == pk {
			return r.Change.SequenceNumber
		}
	}
	return "no record of " + pk
}

func failItems(ev events.DynamoDBEvent, pks ...string) events.DynamoDBEventResponse {
	var resp events.DynamoDBEventResponse
	for _, pk := range pks {
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.DynamoDBBatchItemFailure{ItemIdentifier: seq(ev, pk)})
	}
	return resp
}

func TestSubscriber_GetsEveryRecordInOrderInBatches(t *testing.T) {
	t.Parallel()
	f := newFixture(t, stream.Options{KeepAll: true})
	f.createTable(t, "other")
	f.putAll(t, "a", "b", "c")
	if _, err := f.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("other"), Item: item("o", 1, nil)}); err != nil {
		t.Fatal(err)
	}
	f.putAll(t, "d", "e", "f", "g")
	g := &seen{}
	f.subscribe(t, stream.Subscriber{Handler: g.handler(nil), BatchSize: 3})
	f.Wait(t)
	sameBatches(t, g, []string{"a", "b", "c"}, []string{"d", "e", "f"}, []string{"g"})

	// The handler gets the records as the stream has them, through JSON as Lambda gives them.
	var delivered []events.DynamoDBEventRecord
	for _, ev := range g.events {
		delivered = append(delivered, ev.Records...)
	}
	want, _ := json.Marshal(f.Layer.Records(tbl))
	if got, _ := json.Marshal(delivered); string(got) != string(want) {
		t.Errorf("delivered records differ from the stream:\n got %s\nwant %s", got, want)
	}
}

func TestSubscriber_LatestStartsAfterWhatWasWritten(t *testing.T) {
	t.Parallel()
	f := newFixture(t, stream.Options{KeepAll: true})
	f.putAll(t, "a", "b")
	g := &seen{}
	f.subscribe(t, stream.Subscriber{Handler: g.handler(nil), StartingPosition: stream.Latest})
	f.putAll(t, "c")
	f.Wait(t)
	sameBatches(t, g, []string{"c"})
}

func TestSubscriber_FailedBatchIsRetriedAsLambdaRetriesIt(t *testing.T) {
	t.Parallel()
	all := []string{"a", "b", "c", "d", "e"}
	cases := []struct {
		name    string
		report  bool
		answer  func(ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error)
		batches [][]string
	}{
		{"item failures: retried from the lowest failed record", true,
			func(ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
				return failItems(ev, "e", "c"), nil
			},
			[][]string{all, {"c", "d", "e"}}},
		{"item failures ignored without ReportBatchItemFailures", false,
			func(ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
				return failItems(ev, "c"), nil
			},
			[][]string{all}},
		{"an unknown item identifier fails the whole batch", true,
			func(events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
				return events.DynamoDBEventResponse{BatchItemFailures: []events.DynamoDBBatchItemFailure{{ItemIdentifier: ""}}}, nil
			},
			[][]string{all, all}},
		{"an error fails the whole batch", true,
			func(ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
				return failItems(ev, "e"), errors.New("boom")
			},
			[][]string{all, all}},
		{"a panic fails the whole batch", true,
			func(events.DynamoDBEvent) (events.DynamoDBEventResponse, error) { panic("boom") },
			[][]string{all, all}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, stream.Options{KeepAll: true})
			f.putAll(t, all...)
			g := &seen{}
			f.subscribe(t, stream.Subscriber{
				BatchSize: 5, ReportBatchItemFailures: c.report, MaximumRetryAttempts: -1,
				Handler: g.handler(func(call int, _ []string, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
					if call == 1 {
						return c.answer(ev)
					}
					return events.DynamoDBEventResponse{}, nil
				}),
			})
			f.Wait(t)
			sameBatches(t, g, c.batches...)
		})
	}
}

func TestSubscriber_BisectsAFailingBatchDownToTheBadRecord(t *testing.T) {
	t.Parallel()
	f, g := fourItems(t)
	f.subscribe(t, stream.Subscriber{
		BatchSize: 4, BisectBatchOnFunctionError: true, MaximumRetryAttempts: 1, OnFailure: g.onFailure,
		Handler: g.handler(func(_ int, batch []string, _ events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
			if slices.Contains(batch, "c") {
				return events.DynamoDBEventResponse{}, errors.New("c is poison")
			}
			return events.DynamoDBEventResponse{}, nil
		}),
	})
	f.Wait(t)
	// Splits do not use the retry: c alone is tried twice (MaximumRetryAttempts 1), then given up.
	sameBatches(t, g, []string{"a", "b", "c", "d"}, []string{"a", "b"}, []string{"c", "d"}, []string{"c"}, []string{"c"}, []string{"d"})
	if len(g.failures) != 1 {
		t.Fatalf("%d failures, want 1", len(g.failures))
	}
	info := g.failures[0].BatchInfo
	recs := f.Layer.Records(tbl)
	if info.BatchSize != 1 || info.StartSequenceNumber != recs[2].Change.SequenceNumber || info.EndSequenceNumber != recs[2].Change.SequenceNumber {
		t.Errorf("given up on %+v, want c's record alone", info)
	}
	if got := g.failures[0].ResponseContext.FunctionError; got != "Unhandled" {
		t.Errorf("functionError %q, want Unhandled", got)
	}
}

func TestSubscriber_RetriesExhaustedGoToOnFailureAndTheReaderMovesOn(t *testing.T) {
	t.Parallel()
	f, g := fourItems(t)
	f.subscribe(t, stream.Subscriber{
		Name: "publish-events", BatchSize: 2, ReportBatchItemFailures: true, MaximumRetryAttempts: 2, OnFailure: g.onFailure,
		Handler: g.handler(func(_ int, batch []string, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
			if slices.Contains(batch, "b") {
				return failItems(ev, "b"), nil
			}
			return events.DynamoDBEventResponse{}, nil
		}),
	})
	f.Wait(t)
	sameBatches(t, g, []string{"a", "b"}, []string{"b"}, []string{"b"}, []string{"c", "d"})
	if len(g.failures) != 1 {
		t.Fatalf("%d failures, want 1", len(g.failures))
	}
	fail := g.failures[0]
	b := f.Layer.Records(tbl)[1]
	if fail.RequestContext.Condition != "RetryAttemptsExhausted" || fail.RequestContext.ApproximateInvokeCount != 3 ||
		fail.RequestContext.FunctionARN != "arn:aws:lambda:eu-north-1:000000000000:function:publish-events" ||
		fail.ResponseContext.StatusCode != 200 || fail.ResponseContext.FunctionError != "" || fail.Version != "1.0" {
		t.Errorf("failure %+v", fail)
	}
	info := fail.BatchInfo
	if info.StartSequenceNumber != b.Change.SequenceNumber || info.EndSequenceNumber != b.Change.SequenceNumber ||
		info.BatchSize != 1 || info.StreamARN != b.EventSourceArn || !regexp.MustCompile(`^shardId-\d{20}-[0-9a-f]{8}$`).MatchString(info.ShardID) {
		t.Errorf("batch info %+v, want b's record", info)
	}
	arrival := b.Change.ApproximateCreationDateTime.UTC().Format("2006-01-02T15:04:05Z")
	if info.ApproximateArrivalOfFirstRecord != arrival || info.ApproximateArrivalOfLastRecord != arrival {
		t.Errorf("arrivals %s, %s; want %s", info.ApproximateArrivalOfFirstRecord, info.ApproximateArrivalOfLastRecord, arrival)
	}
	if _, err := time.Parse("2006-01-02T15:04:05.000Z", fail.Timestamp); err != nil {
		t.Errorf("timestamp %q: %v", fail.Timestamp, err)
	}
	doc, _ := json.Marshal(fail)
	for _, field := range []string{`"requestContext":{"requestId":`, `"responseContext":{"statusCode":200,"executedVersion":"$LATEST"}`,
		`"version":"1.0"`, `"DDBStreamBatchInfo":{"shardId":`, `"approximateInvokeCount":3`, `"streamArn":`} {
		if !strings.Contains(string(doc), field) {
			t.Errorf("on-failure record %s lacks %s", doc, field)
		}
	}
}

func TestSubscribers_AreIndependentAndRecordsStayUntilAllPassed(t *testing.T) {
	t.Parallel()
	f := newFixture(t, stream.Options{})
	f.putAll(t, "before anyone read")
	if got := f.Layer.Records(tbl); len(got) != 0 {
		t.Errorf("retained %q while nobody subscribes", names(got))
	}
	stuck, fine := &seen{}, &seen{}
	stuckSub := f.subscribe(t, stream.Subscriber{Name: "stuck", MaximumRetryAttempts: -1,
		Handler: stuck.handler(func(int, []string, events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
			return events.DynamoDBEventResponse{}, errors.New("down")
		})})
	f.subscribe(t, stream.Subscriber{Name: "fine", BatchSize: 1, Handler: fine.handler(nil)})
	f.putAll(t, "a", "b", "c")

	deadline := time.Now().Add(20 * time.Second)
	for len(fine.got()) < 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	sameBatches(t, fine, []string{"a"}, []string{"b"}, []string{"c"})
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := f.Layer.Wait(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait = %v while a subscriber is stuck, want it to wait", err)
	}
	if got := names(f.Layer.Records(tbl)); len(got) != 3 {
		t.Errorf("retained %q while a subscriber has not passed them, want all three", got)
	}

	stuckSub.Close()
	calls := len(stuck.got())
	time.Sleep(20 * time.Millisecond)
	if len(stuck.got()) != calls {
		t.Error("a closed subscriber's handler is still called")
	}
	f.Wait(t)
	if got := f.Layer.Records(tbl); len(got) != 0 {
		t.Errorf("retained %q after every subscriber passed them", names(got))
	}
	f.putAll(t, "d")
	f.Wait(t)
	if got := f.Layer.Records(tbl); len(got) != 0 {
		t.Errorf("retained %q after every subscriber passed them", names(got))
	}
}

func TestWait_ReturnsOnceEverySubscriberHandledEverything(t *testing.T) {
	t.Parallel()
	f := newFixture(t, stream.Options{})
	slow := &seen{}
	f.subscribe(t, stream.Subscriber{Name: "slow", BatchSize: 1, Handler: slow.handler(
		func(int, []string, events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
			time.Sleep(10 * time.Millisecond)
			return events.DynamoDBEventResponse{}, nil
		})})
	other := &seen{}
	f.subscribe(t, stream.Subscriber{Name: "other", Handler: other.handler(nil)})
	pks := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	f.putAll(t, pks...)
	f.Wait(t)
	for name, g := range map[string]*seen{"slow": slow, "other": other} {
		if got := slices.Concat(g.got()...); !slices.Equal(got, pks) {
			t.Errorf("%s had %q when Wait returned, want %q", name, got, pks)
		}
	}
}

func TestBatchingWindow_GathersRecordsUntilTheBatchIsFull(t *testing.T) {
	t.Parallel()
	f := newFixture(t, stream.Options{})
	g := &seen{}
	f.subscribe(t, stream.Subscriber{Handler: g.handler(nil), BatchSize: 3, MaximumBatchingWindow: time.Hour})
	f.putAll(t, "a", "b", "c")
	f.Wait(t)
	sameBatches(t, g, []string{"a", "b", "c"})
}

func TestBatchingWindow_AShortBatchWaitsForTheWindow(t *testing.T) {
	t.Parallel()
	f := newFixture(t, stream.Options{})
	const window = 200 * time.Millisecond
	var at time.Time
	g := &seen{}
	start := time.Now()
	f.subscribe(t, stream.Subscriber{BatchSize: 10, MaximumBatchingWindow: window, Handler: g.handler(
		func(int, []string, events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
			at = time.Now()
			return events.DynamoDBEventResponse{}, nil
		})})
	f.putAll(t, "a")
	f.Wait(t)
	sameBatches(t, g, []string{"a"})
	if at.Sub(start) < window {
		t.Errorf("invoked %v after the reader started, before its %v window ended", at.Sub(start), window)
	}
}

func TestSubscribe_RefusesWhatLambdaRefuses(t *testing.T) {
	t.Parallel()
	f := newFixture(t, stream.Options{})
	h := (&seen{}).handler(nil)
	for name, s := range map[string]stream.Subscriber{
		"no name":          {Table: tbl, Handler: h},
		"no handler":       {Name: "x", Table: tbl},
		"batch too big":    {Name: "x", Table: tbl, Handler: h, BatchSize: 10001},
		"retries too many": {Name: "x", Table: tbl, Handler: h, MaximumRetryAttempts: 10001},
		"retries below -1": {Name: "x", Table: tbl, Handler: h, MaximumRetryAttempts: -2},
	} {
		if _, err := f.Layer.Subscribe(s); err == nil {
			t.Errorf("%s: subscribed", name)
		}
	}
}
