// Package publish is the sending half of the publish-events function: it puts the change events
// made from a batch of the table's stream records on the stage's EventBridge bus, with
// PutEvents, and answers which stream records Lambda must retry, as a partial batch response
// (events.DynamoDBEventResponse).
//
// # Calls
//
// PutEvents takes at most 10 entries and 256 KB per call, an entry's size counted by
// EventBridge's rule ("Calculating Amazon EventBridge PutEvents event entry size": 14 bytes for
// Time, the UTF-8 bytes of Source, DetailType, Detail and each of Resources). The events go in
// stream order, as many to a call as both limits allow, one call after another: parallel
// calls would save milliseconds and give up the order in which the events reach the bus.
// AWS raised EventBridge's payload limit to 1 MB in January 2026; the service keeps to the
// 256 KB it was specified against, which any bus accepts, and MaxRequestSize is the one place
// to change to adopt the larger one (the local bus, pkg/bus, enforces these limits).
//
// # What is reported
//
// Exactly the stream records whose events were not put: an entry EventBridge failed
// (FailedEntryCount, the entry's ErrorCode), every entry of a call that failed as a whole
// after the SDK's own retries (throttling, 5xx, a timeout, the function's deadline), and an
// entry that alone exceeds 256 KB, which no call can carry: it is logged at ERROR with its size
// and reported, so that it ends in the dead-letter queue after Lambda's retries instead of
// being retried here forever.
//
// A failure does not stop the batch: the events after it are put too. Lambda checkpoints at
// the lowest reported sequence number and sends every record from there again, so an event put
// after the first failure will be put again on the retry (delivery is at least once;
// consumers deduplicate on detail.event_id and order by detail.version). Stopping at the first
// failure would save those duplicates but leave good records behind a failing one unpublished:
// once Lambda's retries run out, the dead-letter queue holds only the batch's position in the
// stream, which keeps records for 24 hours. Putting whatever can be put at once leaves only the
// records that failed depending on the retries and the queue. Reporting the records after the
// first failure as well would change nothing Lambda does, and would make the report say that
// events failed which did not.
//
// Failed entries are not retried here: the SDK retries a failed call, and Lambda's retry of the
// batch (bounded, bisecting, then the dead-letter queue) is the one retry loop for the rest.
//
// # Entries
//
// Source is no.bufdir.export-audit, DetailType one of the contract's four, Detail the event's
// JSON object, EventBusName the stage's bus, Time the change's time (changed_at). Resources is
// empty: it is meant for the ARNs of the AWS resources an event concerns, and an audit record
// is no AWS resource; the table's ARN would be the same on every event and tell a rule
// nothing. Rules match on source, detail-type and detail (detail.org_id, detail.record_id).
package publish

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/smithy-go"
	"github.com/bufdir/export-audit/pkg/config"
)

// Source is the source of every event the service publishes.
const Source = config.EventSource

// EventBridge's limits of one PutEvents call.
const (
	MaxEntries     = 10
	MaxRequestSize = 256 * 1024
)

// DetailType is the kind of a change event: one of the contract's four.
type DetailType string

// The contract's detail types.
const (
	RecordCreated DetailType = "Audit Record Created"
	StatusChanged DetailType = "Audit Record Status Changed"
	FileAttached  DetailType = "Audit Record File Attached"
	RecordDeleted DetailType = "Audit Record Deleted"
)

// Event is a change event to put, with the stream record it was made from.
type Event struct {
	// Record is the stream record's sequence number, what a partial batch response names.
	Record string
	Type   DetailType
	// Detail is the event's detail, a JSON object.
	Detail json.RawMessage
	// Time is the change's time; the zero time leaves it to EventBridge (the time of the call).
	Time time.Time
}

// PutEventsAPI is what the publisher needs of *eventbridge.Client.
type PutEventsAPI interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, optFns ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

// Publisher puts events on one bus. Build it once per container; it is safe for concurrent use
// when its client is.
type Publisher struct {
	api PutEventsAPI
	bus string
	log *slog.Logger
}

// New returns a Publisher that puts events on the bus named bus (a name or an ARN) through
// api, and logs what it could not put to log.
func New(api PutEventsAPI, bus string, log *slog.Logger) *Publisher {
	return &Publisher{api: api, bus: bus, log: log}
}

// Stats counts what one Publish did.
type Stats struct {
	Events    int // events given
	Published int // events EventBridge accepted
	Failed    int // events reported for retry
	Calls     int // PutEvents calls made (the SDK's retries of a call not counted)
	Bytes     int // entry bytes sent, by EventBridge's size rule
}

// Publish puts evs, given in stream order, on the bus and returns the stream records to retry:
// those whose events were not put (see the package documentation). It never returns an error:
// a failure is a reported record.
func (p *Publisher) Publish(ctx context.Context, evs []Event) (events.DynamoDBEventResponse, Stats) {
	b := batch{p: p, ctx: ctx, reported: map[string]bool{}}
	b.stats.Events = len(evs)
	for _, ev := range evs {
		e := p.entry(ev)
		n := EntrySize(e)
		if n > MaxRequestSize {
			p.log.LogAttrs(ctx, slog.LevelError, "event too large for EventBridge",
				slog.String("record", ev.Record), slog.String("detail_type", string(ev.Type)),
				slog.Int("size", n), slog.Int("limit", MaxRequestSize))
			b.fail(ev)
			continue
		}
		if len(b.entries) == MaxEntries || b.size+n > MaxRequestSize {
			b.flush()
		}
		b.entries = append(b.entries, e)
		b.pending = append(b.pending, ev)
		b.size += n
	}
	b.flush()
	if len(evs) == 0 {
		return b.resp, b.stats // a batch of no changes (the guard, the counters) is not news
	}
	level := slog.LevelInfo
	if b.stats.Failed > 0 {
		level = slog.LevelWarn
	}
	p.log.LogAttrs(ctx, level, "published", slog.Int("events", b.stats.Events), slog.Int("published", b.stats.Published),
		slog.Int("failed", b.stats.Failed), slog.Int("calls", b.stats.Calls), slog.Int("bytes", b.stats.Bytes))
	return b.resp, b.stats
}

func (p *Publisher) entry(ev Event) types.PutEventsRequestEntry {
	e := types.PutEventsRequestEntry{
		Source:       aws.String(Source),
		DetailType:   aws.String(string(ev.Type)),
		Detail:       aws.String(string(ev.Detail)),
		EventBusName: aws.String(p.bus),
	}
	if !ev.Time.IsZero() {
		e.Time = aws.Time(ev.Time)
	}
	return e
}

// EntrySize is an entry's size by EventBridge's rule ("Calculating Amazon EventBridge
// PutEvents event entry size"): 14 bytes for a Time, and the UTF-8 bytes of Source, DetailType,
// Detail and each of Resources; EventBusName and TraceHeader do not count. The local bus
// (pkg/bus) measures what it receives with it too.
func EntrySize(e types.PutEventsRequestEntry) int {
	n := len(aws.ToString(e.Source)) + len(aws.ToString(e.DetailType)) + len(aws.ToString(e.Detail))
	if e.Time != nil {
		n += 14
	}
	for _, r := range e.Resources {
		n += len(r)
	}
	return n
}

// batch is one Publish under way: the call being filled and what has been reported.
type batch struct {
	p   *Publisher
	ctx context.Context

	entries []types.PutEventsRequestEntry
	pending []Event // the events of entries
	size    int

	resp     events.DynamoDBEventResponse
	reported map[string]bool
	stats    Stats
}

func (b *batch) fail(ev Event) {
	b.stats.Failed++
	if b.reported[ev.Record] {
		return
	}
	b.reported[ev.Record] = true
	b.resp.BatchItemFailures = append(b.resp.BatchItemFailures, events.DynamoDBBatchItemFailure{ItemIdentifier: ev.Record})
}

// flush puts the entries gathered so far in one call.
func (b *batch) flush() {
	if len(b.entries) == 0 {
		return
	}
	entries, evs := b.entries, b.pending
	b.entries, b.pending, b.size = nil, nil, 0
	b.stats.Calls++
	for _, e := range entries {
		b.stats.Bytes += EntrySize(e)
	}

	out, err := b.p.api.PutEvents(b.ctx, &eventbridge.PutEventsInput{Entries: entries})
	if err != nil {
		code := ""
		var ae smithy.APIError
		if errors.As(err, &ae) {
			code = ae.ErrorCode()
		}
		for _, ev := range evs {
			b.p.log.LogAttrs(b.ctx, slog.LevelError, "event not published", slog.String("record", ev.Record),
				slog.String("detail_type", string(ev.Type)), slog.String("code", code), slog.String("error", err.Error()))
			b.fail(ev)
		}
		return
	}
	for i, ev := range evs {
		// The answer lists one result per entry, in order. An entry without a result, or
		// with neither an error nor an event id, is not known to be on the bus, so it is
		// reported rather than assumed put.
		var r types.PutEventsResultEntry
		if i < len(out.Entries) {
			r = out.Entries[i]
		}
		if r.ErrorCode == nil && aws.ToString(r.EventId) != "" {
			b.stats.Published++
			continue
		}
		code := aws.ToString(r.ErrorCode)
		level := slog.LevelError
		if code == "ThrottlingException" || code == "InternalFailure" {
			level = slog.LevelWarn // EventBridge's retryable entry errors: Lambda's retry is likely to put it
		}
		b.p.log.LogAttrs(b.ctx, level, "event not published", slog.String("record", ev.Record),
			slog.String("detail_type", string(ev.Type)), slog.String("code", code),
			slog.String("error", aws.ToString(r.ErrorMessage)))
		b.fail(ev)
	}
}
