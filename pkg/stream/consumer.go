package stream

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// Handler is a Lambda handler of a DynamoDB stream.
type Handler func(context.Context, events.DynamoDBEvent) (events.DynamoDBEventResponse, error)

// Position is where a new subscriber starts reading.
type Position int

const (
	// TrimHorizon starts at the oldest retained record.
	TrimHorizon Position = iota
	// Latest starts after the records written so far.
	Latest
)

// Subscriber is a reader of one table's stream with the settings of a Lambda event source
// mapping; the settings mean what they mean there.
type Subscriber struct {
	// Name names the reader, as a function name: in logs and in the on-failure record's
	// functionArn.
	Name    string
	Table   string
	Handler Handler
	// StartingPosition is TrimHorizon (the zero value) or Latest.
	StartingPosition Position
	// BatchSize is the most records per invocation; 0 means Lambda's default, 100.
	BatchSize int
	// MaximumBatchingWindow is how long after the previous invocation ended the reader waits
	// for a full batch before it invokes with fewer records.
	MaximumBatchingWindow time.Duration
	// ReportBatchItemFailures makes the handler's BatchItemFailures count: the batch is retried
	// from the lowest failed sequence number, and the records before it are done. Without it
	// the response is ignored.
	ReportBatchItemFailures bool
	// BisectBatchOnFunctionError splits a batch whose invocation returned an error in two
	// halves, tried one after the other; a split does not count as a retry.
	BisectBatchOnFunctionError bool
	// MaximumRetryAttempts is how often a failed batch is retried before OnFailure gets it and
	// the reader moves on: 0 to 10000, or -1 for no limit. Lambda's default is -1; the zero
	// value here means no retry, as the mapping's parameter set to 0 does.
	MaximumRetryAttempts int
	// OnFailure receives what Lambda sends the on-failure destination when it gives up on
	// records; nil discards them, as a mapping without a destination does.
	OnFailure func(context.Context, Failure)
	// RetryBackoff is the wait before the first retry, doubled for each further one up to
	// 30 times as long; default 100ms.
	RetryBackoff time.Duration
}

// Failure is the record Lambda sends a stream mapping's on-failure destination (an SQS queue,
// an SNS topic) for records it gave up on: where they are in the stream, not the records.
type Failure struct {
	RequestContext  FailureRequest  `json:"requestContext"`
	ResponseContext FailureResponse `json:"responseContext"`
	Version         string          `json:"version"`
	Timestamp       string          `json:"timestamp"`
	BatchInfo       BatchInfo       `json:"DDBStreamBatchInfo"`
	// Err is the handler's last error, nil when it reported item failures instead. Lambda
	// sends it nowhere; it is here for the log.
	Err error `json:"-"`
}

// FailureRequest is the failed invocation.
type FailureRequest struct {
	RequestID              string `json:"requestId"`
	FunctionARN            string `json:"functionArn"`
	Condition              string `json:"condition"` // RetryAttemptsExhausted
	ApproximateInvokeCount int    `json:"approximateInvokeCount"`
}

// FailureResponse is the function's last answer.
type FailureResponse struct {
	StatusCode      int    `json:"statusCode"`
	ExecutedVersion string `json:"executedVersion"`
	FunctionError   string `json:"functionError,omitempty"` // "Unhandled" when it returned an error
}

// BatchInfo is the range of records given up on.
type BatchInfo struct {
	ShardID                         string `json:"shardId"`
	StartSequenceNumber             string `json:"startSequenceNumber"`
	EndSequenceNumber               string `json:"endSequenceNumber"`
	ApproximateArrivalOfFirstRecord string `json:"approximateArrivalOfFirstRecord"`
	ApproximateArrivalOfLastRecord  string `json:"approximateArrivalOfLastRecord"`
	BatchSize                       int    `json:"batchSize"`
	StreamARN                       string `json:"streamArn"`
}

// Subscription is a running subscriber.
type Subscription struct {
	l      *Layer
	s      Subscriber
	next   uint64 // the index of the first record not yet passed; guarded by l.mu
	cancel context.CancelFunc
	done   chan struct{}
}

// Subscribe starts a subscriber on its own goroutine. It reads until Close (its own or the
// layer's).
func (l *Layer) Subscribe(s Subscriber) (*Subscription, error) {
	switch {
	case s.Name == "" || s.Table == "" || s.Handler == nil:
		return nil, errors.New("stream: a subscriber needs a Name, a Table and a Handler")
	case s.BatchSize < 0 || s.BatchSize > 10000:
		return nil, fmt.Errorf("stream: BatchSize %d is outside 1 to 10000", s.BatchSize)
	case s.MaximumRetryAttempts < -1 || s.MaximumRetryAttempts > 10000:
		return nil, fmt.Errorf("stream: MaximumRetryAttempts %d is outside -1 to 10000", s.MaximumRetryAttempts)
	}
	if s.BatchSize == 0 {
		s.BatchSize = 100
	}
	if s.RetryBackoff <= 0 {
		s.RetryBackoff = 100 * time.Millisecond
	}
	ctx, cancel := context.WithCancel(l.ctx)
	sub := &Subscription{l: l, s: s, cancel: cancel, done: make(chan struct{})}
	l.mu.Lock()
	if l.ctx.Err() != nil {
		l.mu.Unlock()
		cancel()
		return nil, errors.New("stream: the layer is closed")
	}
	if s.StartingPosition == Latest {
		sub.next = l.head
	} else if len(l.recs) > 0 {
		sub.next = l.recs[0].idx
	} else {
		sub.next = l.head
	}
	l.subs[sub] = struct{}{}
	l.wg.Add(1)
	l.mu.Unlock()
	go sub.run(ctx)
	return sub, nil
}

// Close stops the subscriber and waits for the invocation in flight, if any, to return; its
// outcome is dropped (no retry, no OnFailure).
func (sub *Subscription) Close() {
	sub.cancel()
	<-sub.done
}

// Wait returns once every subscriber has passed (handled, or given up on) every record written
// before the call, or with ctx's error.
func (l *Layer) Wait(ctx context.Context) error {
	l.mu.Lock()
	target := l.head
	for {
		behind := false
		for s := range l.subs {
			behind = behind || s.next < target
		}
		wake := l.wake
		l.mu.Unlock()
		if !behind {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wake:
		}
		l.mu.Lock()
	}
}

func (sub *Subscription) run(ctx context.Context) {
	defer func() {
		sub.l.mu.Lock()
		delete(sub.l.subs, sub)
		sub.l.trim()
		sub.l.notify()
		sub.l.mu.Unlock()
		close(sub.done)
		sub.l.wg.Done()
	}()
	// pending holds the batches still to deliver; a bisected batch becomes two.
	var pending [][]entry
	invokes := 0
	for {
		if len(pending) == 0 {
			batch, ok := sub.fetch(ctx)
			if !ok {
				return
			}
			pending, invokes = [][]entry{batch}, 0
		}
		batch := pending[0]
		invokes++
		done, err := sub.invoke(ctx, batch)
		if ctx.Err() != nil {
			return
		}
		if done > 0 {
			sub.pass(batch[done-1])
		}
		if done == len(batch) {
			pending, invokes = pending[1:], 0
			continue
		}
		rest := batch[done:]
		sub.l.log.Warn("stream: batch failed", "subscriber", sub.s.Name, "records", len(rest), "invocation", invokes, "error", fmt.Sprint(err))
		if err != nil && sub.s.BisectBatchOnFunctionError && len(rest) > 1 {
			half := len(rest) / 2
			pending = append([][]entry{rest[:half], rest[half:]}, pending[1:]...)
			invokes = 0
			continue
		}
		pending[0] = rest
		if sub.s.MaximumRetryAttempts >= 0 && invokes > sub.s.MaximumRetryAttempts {
			sub.giveUp(ctx, rest, invokes, err)
			sub.pass(rest[len(rest)-1])
			pending, invokes = pending[1:], 0
			continue
		}
		wait := sub.s.RetryBackoff << min(invokes-1, 5)
		select {
		case <-ctx.Done():
			return
		case <-time.After(min(wait, 30*sub.s.RetryBackoff)):
		}
	}
}

// fetch waits for the next batch: up to BatchSize records of the subscriber's table, once the
// batch is full or the batching window has passed with at least one record. It passes other
// tables' records on the way.
func (sub *Subscription) fetch(ctx context.Context) ([]entry, bool) {
	deadline := time.Now().Add(sub.s.MaximumBatchingWindow)
	l := sub.l
	for {
		l.mu.Lock()
		from := sub.next
		var batch []entry
		// The log's indexes are consecutive, so the reader's place in it is a subtraction.
		skip := 0
		if len(l.recs) > 0 && sub.next > l.recs[0].idx {
			skip = int(min(sub.next-l.recs[0].idx, uint64(len(l.recs))))
		}
		for _, e := range l.recs[skip:] {
			if e.table != sub.s.Table {
				if len(batch) == 0 {
					sub.next = e.idx + 1
				}
				continue
			}
			if batch = append(batch, e); len(batch) == sub.s.BatchSize {
				break
			}
		}
		if len(batch) == 0 {
			sub.next = l.head
		}
		if sub.next != from {
			l.trim()
			l.notify()
		}
		wake := l.wake
		l.mu.Unlock()
		wait := time.Until(deadline)
		if len(batch) == sub.s.BatchSize || (len(batch) > 0 && wait <= 0) {
			return batch, true
		}
		var timer <-chan time.Time
		if len(batch) > 0 {
			timer = time.After(wait)
		}
		select {
		case <-ctx.Done():
			return nil, false
		case <-wake:
		case <-timer:
		}
	}
}

// invoke hands a batch to the handler as Lambda does, through JSON, and says how many of its
// records are done.
func (sub *Subscription) invoke(ctx context.Context, batch []entry) (done int, err error) {
	recs := make([]events.DynamoDBEventRecord, len(batch))
	for i, e := range batch {
		recs[i] = e.rec
	}
	resp, err := func() (resp events.DynamoDBEventResponse, err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("handler panicked: %v", p)
			}
		}()
		return sub.s.Handler(ctx, events.DynamoDBEvent{Records: cloneRecords(recs)})
	}()
	if err != nil {
		return 0, err
	}
	if !sub.s.ReportBatchItemFailures || len(resp.BatchItemFailures) == 0 {
		return len(batch), nil
	}
	done = len(batch)
	for _, f := range resp.BatchItemFailures {
		i := -1
		for j, e := range batch {
			if e.rec.Change.SequenceNumber == f.ItemIdentifier {
				i = j
			}
		}
		if i < 0 {
			// Lambda takes an empty or unknown itemIdentifier as the whole batch failing.
			return 0, nil
		}
		done = min(done, i)
	}
	return done, nil
}

// pass checkpoints the subscriber after e.
func (sub *Subscription) pass(e entry) {
	l := sub.l
	l.mu.Lock()
	defer l.mu.Unlock()
	sub.next = max(sub.next, e.idx+1)
	l.trim()
	l.notify()
}

func (sub *Subscription) giveUp(ctx context.Context, rest []entry, invokes int, err error) {
	first, last := rest[0].rec, rest[len(rest)-1].rec
	f := Failure{
		RequestContext: FailureRequest{
			RequestID:              eventID(),
			FunctionARN:            fmt.Sprintf("arn:aws:lambda:%s:000000000000:function:%s", sub.l.opts.Region, sub.s.Name),
			Condition:              "RetryAttemptsExhausted",
			ApproximateInvokeCount: invokes,
		},
		ResponseContext: FailureResponse{StatusCode: 200, ExecutedVersion: "$LATEST"},
		Version:         "1.0",
		Timestamp:       time.Now().UTC().Format("2006-01-02T15:04:05.000Z"),
		BatchInfo: BatchInfo{
			ShardID:                         rest[0].shard,
			StartSequenceNumber:             first.Change.SequenceNumber,
			EndSequenceNumber:               last.Change.SequenceNumber,
			ApproximateArrivalOfFirstRecord: first.Change.ApproximateCreationDateTime.UTC().Format(time.RFC3339),
			ApproximateArrivalOfLastRecord:  last.Change.ApproximateCreationDateTime.UTC().Format(time.RFC3339),
			BatchSize:                       len(rest),
			StreamARN:                       first.EventSourceArn,
		},
		Err: err,
	}
	if err != nil {
		f.ResponseContext.FunctionError = "Unhandled"
	}
	sub.l.log.Error("stream: retries exhausted, records given up", "subscriber", sub.s.Name,
		"from", f.BatchInfo.StartSequenceNumber, "to", f.BatchInfo.EndSequenceNumber, "error", fmt.Sprint(err))
	if sub.s.OnFailure != nil {
		sub.s.OnFailure(ctx, f)
	}
}
