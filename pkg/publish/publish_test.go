package publish_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/bufdir/export-audit/internal/testkit"
	"github.com/bufdir/export-audit/pkg/bus"
	"github.com/bufdir/export-audit/pkg/publish"
)

const busName = "bufdir-export-audit-test"

// env is a publisher putting events through the SDK's eventbridge client, over HTTP, on a
// local bus, with its log captured.
type env struct {
	bus *bus.Bus
	pub *publish.Publisher
	log *testkit.Buffer
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvOn(t, busName)
}

// newEnvOn builds an env whose publisher puts on the bus named target; the local bus has
// busName and another one.
func newEnvOn(t *testing.T, target string) *env {
	t.Helper()
	b := bus.New(bus.Options{Buses: []string{busName, "another-bus"}})
	srv := httptest.NewServer(b)
	t.Cleanup(srv.Close)
	c := eventbridge.New(eventbridge.Options{
		Region:       "eu-north-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIDLOCAL", SecretAccessKey: "local", Source: "test"}, nil
		}),
		// The SDK's standard retries (3 attempts), without the waits between them.
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
			o.RateLimiter = ratelimit.None
		}),
	})
	log := &testkit.Buffer{}
	return &env{bus: b, pub: publish.New(c, target, slog.New(slog.NewJSONHandler(log, nil))), log: log}
}

// seq is the stream sequence number of the i-th record of a test batch.
func seq(i int) string { return fmt.Sprintf("4421584500000000017450439%03d", i) }

// changes makes n events with small details, records seq(0) to seq(n-1).
func changes(n int) []publish.Event {
	evs := make([]publish.Event, n)
	for i := range evs {
		evs[i] = change(i, 0)
	}
	return evs
}

// change makes the i-th event of a batch, its detail padded so that the entry's size by
// EventBridge's rule is size (when size is not 0).
func change(i, size int) publish.Event {
	ev := publish.Event{
		Record: seq(i),
		Type:   publish.StatusChanged,
		Time:   time.Date(2026, 3, 1, 10, 0, i, 0, time.UTC),
	}
	ev.Detail = json.RawMessage(fmt.Sprintf(`{"event_id":"evt-%03d","pad":""}`, i))
	if size > 0 {
		fixed := 14 + len(publish.Source) + len(ev.Type) + len(ev.Detail)
		ev.Detail = json.RawMessage(fmt.Sprintf(`{"event_id":"evt-%03d","pad":"%s"}`, i, strings.Repeat("p", size-fixed)))
	}
	return ev
}

// eventIDs are the detail.event_id of the events on the bus, in order.
func (e *env) eventIDs(t *testing.T) []string {
	t.Helper()
	var ids []string
	for _, ev := range e.bus.Events() {
		var d struct {
			EventID string `json:"event_id"`
		}
		if err := json.Unmarshal(ev.Detail, &d); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, d.EventID)
	}
	return ids
}

func ids(from, to int, except ...int) []string {
	var out []string
	for i := from; i < to; i++ {
		if !slices.Contains(except, i) {
			out = append(out, fmt.Sprintf("evt-%03d", i))
		}
	}
	return out
}

func reported(resp events.DynamoDBEventResponse) []string {
	out := []string{}
	for _, f := range resp.BatchItemFailures {
		out = append(out, f.ItemIdentifier)
	}
	return out
}

func seqs(is ...int) []string {
	out := []string{}
	for _, i := range is {
		out = append(out, seq(i))
	}
	return out
}

// callSizes are the number of entries of each PutEvents call the bus received.
func (e *env) callSizes() []int {
	var n []int
	for _, c := range e.bus.Calls() {
		n = append(n, len(c.Entries))
	}
	return n
}

func TestPublish_PutsTenEntriesPerCall(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	resp, st := e.pub.Publish(context.Background(), changes(25))

	if got := reported(resp); len(got) != 0 {
		t.Errorf("reported %v, want nothing", got)
	}
	if got := e.callSizes(); !slices.Equal(got, []int{10, 10, 5}) {
		t.Errorf("calls of %v entries, want [10 10 5]", got)
	}
	if got := e.eventIDs(t); !slices.Equal(got, ids(0, 25)) {
		t.Errorf("bus holds %v, want the 25 events once each, in stream order", got)
	}
	if st != (publish.Stats{Events: 25, Published: 25, Calls: 3, Bytes: st.Bytes}) || st.Bytes == 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestPublish_KeepsEachCallWithin256KB(t *testing.T) {
	t.Parallel()
	const limit = publish.MaxRequestSize
	cases := []struct {
		name  string
		sizes []int
		calls []int
	}{
		{"entries near the limit go one per call", []int{limit - 10, limit - 10, limit}, []int{1, 1, 1}},
		{"two halves fill one call exactly", []int{limit / 2, limit / 2}, []int{2}},
		{"one byte more needs a second call", []int{limit / 2, limit/2 + 1}, []int{1, 1}},
		{"a call is cut by size before it reaches 10 entries", []int{100_000, 100_000, 100_000, 1000, 1000}, []int{2, 3}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			evs := make([]publish.Event, len(tc.sizes))
			for i, n := range tc.sizes {
				evs[i] = change(i, n)
			}
			resp, _ := e.pub.Publish(context.Background(), evs)
			if got := reported(resp); len(got) != 0 {
				t.Errorf("reported %v, want nothing", got)
			}
			if got := e.callSizes(); !slices.Equal(got, tc.calls) {
				t.Errorf("calls of %v entries, want %v", got, tc.calls)
			}
			for i, c := range e.bus.Calls() {
				if c.Size > limit {
					t.Errorf("call %d carried %d bytes", i+1, c.Size)
				}
			}
			if got := e.eventIDs(t); !slices.Equal(got, ids(0, len(tc.sizes))) {
				t.Errorf("bus holds %v", got)
			}
		})
	}
}

func TestPublish_ReportsAnEntryOver256KBWithoutSendingIt(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	evs := []publish.Event{change(0, 0), change(1, publish.MaxRequestSize+1), change(2, 0)}
	resp, st := e.pub.Publish(context.Background(), evs)

	if got := reported(resp); !slices.Equal(got, seqs(1)) {
		t.Errorf("reported %v, want only the oversized record %s", got, seq(1))
	}
	for _, c := range e.bus.Calls() {
		for _, en := range c.Entries {
			if strings.Contains(en.Detail, "evt-001") {
				t.Errorf("the oversized entry was sent (call %d)", c.N)
			}
		}
	}
	if got := e.eventIDs(t); !slices.Equal(got, ids(0, 3, 1)) {
		t.Errorf("bus holds %v, want the two others", got)
	}
	if st.Failed != 1 || st.Published != 2 {
		t.Errorf("stats %+v", st)
	}
	found := false
	for _, l := range e.log.Lines(t) {
		if l["msg"] == "event too large for EventBridge" {
			found = l["level"] == "ERROR" && l["record"] == seq(1) && l["size"] == json.Number(fmt.Sprint(publish.MaxRequestSize+1)) &&
				l["limit"] == json.Number(fmt.Sprint(publish.MaxRequestSize))
		}
	}
	if !found {
		t.Errorf("no ERROR line naming the record, its size and the limit:\n%v", e.log.Lines(t))
	}
}

func TestPublish_PartialFailureReportsExactlyTheFailedRecords(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	failing := map[string]string{"evt-003": bus.ThrottlingException, "evt-017": bus.InternalFailure, "evt-024": bus.MalformedDetail}
	e.bus.SetFault(func(c bus.Call) bus.Fault {
		f := bus.Fault{Entries: map[int]bus.EntryError{}}
		for i, en := range c.Entries {
			for id, code := range failing {
				if strings.Contains(en.Detail, `"`+id+`"`) {
					f.Entries[i] = bus.EntryError{Code: code, Message: "injected"}
				}
			}
		}
		return f
	})
	resp, st := e.pub.Publish(context.Background(), changes(25))

	if got := reported(resp); !slices.Equal(got, seqs(3, 17, 24)) {
		t.Errorf("reported %v, want %v", got, seqs(3, 17, 24))
	}
	if got := e.eventIDs(t); !slices.Equal(got, ids(0, 25, 3, 17, 24)) {
		t.Errorf("bus holds %v, want every other event once, in order", got)
	}
	if got := e.callSizes(); !slices.Equal(got, []int{10, 10, 5}) {
		t.Errorf("calls of %v entries: a partial failure must not resend the call's entries", got)
	}
	if st.Published != 22 || st.Failed != 3 {
		t.Errorf("stats %+v", st)
	}
	want := map[string]string{ // record: level code
		seq(3): "WARN " + bus.ThrottlingException, seq(17): "WARN " + bus.InternalFailure, seq(24): "ERROR " + bus.MalformedDetail}
	got := map[string]string{}
	for _, l := range e.log.Lines(t) {
		if l["msg"] == "event not published" {
			got[l["record"].(string)] = fmt.Sprint(l["level"], " ", l["code"])
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("failure log lines %v, want %v (retryable codes at WARN, others at ERROR)", got, want)
	}
}

func TestPublish_LambdasRetryFromTheLowestReportedRecordPutsEveryEvent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.bus.SetFault(func(c bus.Call) bus.Fault {
		f := bus.Fault{Entries: map[int]bus.EntryError{}}
		for i, en := range c.Entries {
			if strings.Contains(en.Detail, `"evt-012"`) || strings.Contains(en.Detail, `"evt-014"`) {
				f.Entries[i] = bus.EntryError{Code: bus.ThrottlingException, Message: "Rate exceeded"}
			}
		}
		return f
	})
	batch := changes(20)
	resp, _ := e.pub.Publish(context.Background(), batch)
	if got := reported(resp); !slices.Equal(got, seqs(12, 14)) {
		t.Fatalf("reported %v", got)
	}

	// Lambda checkpoints at the lowest reported sequence number and invokes again with the
	// records from there on.
	e.bus.SetFault(nil)
	resp, _ = e.pub.Publish(context.Background(), batch[12:])
	if got := reported(resp); len(got) != 0 {
		t.Fatalf("retry reported %v", got)
	}
	want := append(ids(0, 20, 12, 14), ids(12, 20)...)
	if got := e.eventIDs(t); !slices.Equal(got, want) {
		t.Errorf("bus holds\n %v\nwant every event, those after the first failure twice\n %v", got, want)
	}
}

func TestPublish_WholeCallFailureReportsAllItsEntries(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		fault *bus.APIError
		calls int // calls the bus sees: the SDK retries throttling and 5xx twice
		code  string
	}{
		{"access denied, not retried", bus.Denied(), 3, bus.AccessDeniedException},
		{"throttled on every attempt", bus.Throttled(), 5, bus.ThrottlingException},
		{"internal error on every attempt", bus.Internal(), 5, bus.InternalException},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			// The call holding evt-012 (the second) fails whole, however often it is sent.
			e.bus.SetFault(func(c bus.Call) bus.Fault {
				for _, en := range c.Entries {
					if strings.Contains(en.Detail, `"evt-012"`) {
						return bus.Fault{Call: tc.fault}
					}
				}
				return bus.Fault{}
			})
			resp, st := e.pub.Publish(context.Background(), changes(25))

			if got := reported(resp); !slices.Equal(got, seqs(10, 11, 12, 13, 14, 15, 16, 17, 18, 19)) {
				t.Errorf("reported %v, want the second call's ten records", got)
			}
			if got := e.eventIDs(t); !slices.Equal(got, append(ids(0, 10), ids(20, 25)...)) {
				t.Errorf("bus holds %v, want the first and third calls' events once", got)
			}
			if n := len(e.bus.Calls()); n != tc.calls {
				t.Errorf("bus saw %d calls, want %d", n, tc.calls)
			}
			if st.Calls != 3 || st.Failed != 10 || st.Published != 15 {
				t.Errorf("stats %+v", st)
			}
			n := 0
			for _, l := range e.log.Lines(t) {
				if l["msg"] == "event not published" && l["code"] == tc.code && l["level"] == "ERROR" {
					n++
				}
			}
			if n != 10 {
				t.Errorf("%d ERROR lines with code %s, want one per record", n, tc.code)
			}
		})
	}
}

func TestPublish_ACallTheSDKRetriesToSuccessReportsNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.bus.SetFault(func(c bus.Call) bus.Fault {
		if c.N == 2 {
			return bus.Fault{Call: bus.Throttled()}
		}
		return bus.Fault{}
	})
	resp, _ := e.pub.Publish(context.Background(), changes(25))
	if got := reported(resp); len(got) != 0 {
		t.Errorf("reported %v, want nothing", got)
	}
	if got := e.eventIDs(t); !slices.Equal(got, ids(0, 25)) {
		t.Errorf("bus holds %v, want each event once", got)
	}
}

func TestPublish_AWrongBusReportsEveryRecord(t *testing.T) {
	t.Parallel()
	e := newEnvOn(t, "bufdir-export-audit-typo")
	resp, _ := e.pub.Publish(context.Background(), changes(12))
	if got := reported(resp); !slices.Equal(got, seqs(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)) {
		t.Errorf("reported %v, want all 12", got)
	}
	if n := len(e.bus.Events()); n != 0 {
		t.Errorf("bus holds %d events", n)
	}
}

func TestPublish_AnEndedContextReportsEveryRecord(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	resp, _ := e.pub.Publish(ctx, changes(3))
	if got := reported(resp); !slices.Equal(got, seqs(0, 1, 2)) {
		t.Errorf("reported %v, want all 3", got)
	}
}

func TestPublish_ReportsARecordOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.bus.SetFault(func(bus.Call) bus.Fault { return bus.Fault{Call: bus.Denied()} })
	evs := changes(2)
	evs[1].Record = evs[0].Record
	resp, _ := e.pub.Publish(context.Background(), evs)
	if got := reported(resp); !slices.Equal(got, seqs(0)) {
		t.Errorf("reported %v, want %s once", got, seq(0))
	}
}

func TestPublish_EventsReachTheBusAsTheContractDescribes(t *testing.T) {
	t.Parallel()
	e := newEnvOn(t, "another-bus")
	detail := `{"event_id":"evt-1","org_id":"org-bufdir-042","record_id":"rec-20260301-0001","version":2,` +
		`"changed_at":"2026-03-01T10:15:30Z","changed_by":"usr-0042","previous_status":"queued","record":{"status":"processing"}}`
	types := []publish.DetailType{publish.RecordCreated, publish.StatusChanged, publish.FileAttached, publish.RecordDeleted}
	var evs []publish.Event
	for i, dt := range types {
		evs = append(evs, publish.Event{Record: seq(i), Type: dt, Detail: json.RawMessage(detail),
			Time: time.Date(2026, 3, 1, 11, 15, 30, 0, time.FixedZone("CET", 3600))})
	}
	evs = append(evs, publish.Event{Record: seq(9), Type: publish.RecordCreated, Detail: json.RawMessage(detail)})
	if resp, _ := e.pub.Publish(context.Background(), evs); len(resp.BatchItemFailures) != 0 {
		t.Fatalf("reported %v", resp.BatchItemFailures)
	}

	got := e.bus.Events()
	if len(got) != 5 {
		t.Fatalf("bus holds %d events, want 5", len(got))
	}
	wantTypes := []string{"Audit Record Created", "Audit Record Status Changed", "Audit Record File Attached", "Audit Record Deleted", "Audit Record Created"}
	for i, ev := range got {
		if ev.Source != "no.bufdir.export-audit" || ev.DetailType != wantTypes[i] || ev.Bus != "another-bus" ||
			string(ev.Detail) != detail || len(ev.Resources) != 0 {
			t.Errorf("event %d: %+v", i, ev)
		}
		if i < 4 && ev.Time != "2026-03-01T10:15:30Z" {
			t.Errorf("event %d: time %s, want the change's time 2026-03-01T10:15:30Z", i, ev.Time)
		}
	}
	if got[4].Time == "2026-03-01T10:15:30Z" || got[4].Time == "" {
		t.Errorf("an event without a time has %q, want the time of the call", got[4].Time)
	}
	for _, c := range e.bus.Calls() {
		for _, en := range c.Entries {
			if en.Resources != nil {
				t.Errorf("an entry carried Resources %v", en.Resources)
			}
		}
	}
}
