package bus_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/smithy-go"

	"github.com/bufdir/export-audit/pkg/bus"
)

const busName = "bufdir-export-audit-test"

// start serves a bus with the test's bus over HTTP and returns it with an SDK client for it.
func start(t *testing.T, o bus.Options) (*bus.Bus, *eventbridge.Client) {
	t.Helper()
	if o.Buses == nil {
		o.Buses = []string{busName}
	}
	b := bus.New(o)
	srv := httptest.NewServer(b)
	t.Cleanup(srv.Close)
	return b, client(srv.URL)
}

// client is the SDK's eventbridge client as a function builds it, aimed at url, with dummy
// credentials and retries without backoff, so that a test of retried failures takes no time.
func client(url string) *eventbridge.Client {
	return eventbridge.New(eventbridge.Options{
		Region:       "eu-north-1",
		BaseEndpoint: aws.String(url),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIDLOCAL", SecretAccessKey: "local", Source: "test"}, nil
		}),
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
			o.RateLimiter = ratelimit.None
		}),
	})
}

func entry(detail string) types.PutEventsRequestEntry {
	return types.PutEventsRequestEntry{
		Source:       aws.String("no.bufdir.export-audit"),
		DetailType:   aws.String("Audit Record Created"),
		Detail:       aws.String(detail),
		EventBusName: aws.String(busName),
	}
}

func put(t *testing.T, c *eventbridge.Client, entries ...types.PutEventsRequestEntry) *eventbridge.PutEventsOutput {
	t.Helper()
	out, err := c.PutEvents(context.Background(), &eventbridge.PutEventsInput{Entries: entries})
	if err != nil {
		t.Fatalf("PutEvents: %v", err)
	}
	return out
}

// errorCode is the AWS error code of err, "" when err is not an API error.
func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestPutEvents_StoresTheEventAsARuleTargetReceivesIt(t *testing.T) {
	t.Parallel()
	clock := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	b, c := start(t, bus.Options{Region: "eu-north-1", Account: "111122223333", Now: func() time.Time { return clock }})

	changed := time.Date(2026, 3, 1, 10, 15, 30, 250*int(time.Millisecond), time.FixedZone("CET", 3600))
	withTime := entry(`{ "record_id": "rec-20260301-0001",  "version": 1, "record": {"status": "queued"} }`)
	withTime.Time = aws.Time(changed)
	withoutTime := entry(`{"record_id":"rec-20260301-0002"}`)
	withoutTime.DetailType = aws.String("Audit Record Deleted")
	withoutTime.Resources = []string{"arn:aws:dynamodb:eu-north-1:111122223333:table/t"}
	out := put(t, c, withTime, withoutTime)

	if out.FailedEntryCount != 0 || len(out.Entries) != 2 {
		t.Fatalf("answer: %d failed, %d entries; want 0 failed, 2 entries", out.FailedEntryCount, len(out.Entries))
	}
	evs := b.Events()
	if len(evs) != 2 {
		t.Fatalf("stored %d events, want 2", len(evs))
	}
	for i, ev := range evs {
		if !uuidV4.MatchString(ev.ID) {
			t.Errorf("event %d: id %q is not a UUID as EventBridge's are", i, ev.ID)
		}
		if got := aws.ToString(out.Entries[i].EventId); got != ev.ID {
			t.Errorf("event %d: answered EventId %q, stored id %q", i, got, ev.ID)
		}
		if ev.Bus != busName {
			t.Errorf("event %d: on bus %q, want %q", i, ev.Bus, busName)
		}
	}

	got, err := json.Marshal(evs[0])
	if err != nil {
		t.Fatal(err)
	}
	want := `{"version":"0","id":"` + evs[0].ID + `","detail-type":"Audit Record Created","source":"no.bufdir.export-audit",` +
		`"account":"111122223333","time":"2026-03-01T09:15:30Z","region":"eu-north-1","resources":[],` +
		`"detail":{"record_id":"rec-20260301-0001","version":1,"record":{"status":"queued"}}}`
	if string(got) != want {
		t.Errorf("stored event\n got %s\nwant %s", got, want)
	}
	if evs[1].Time != "2026-03-01T09:00:00Z" {
		t.Errorf("an event put without Time has time %q, want the time of the call, 2026-03-01T09:00:00Z", evs[1].Time)
	}
	if len(evs[1].Resources) != 1 || evs[1].Resources[0] != withoutTime.Resources[0] || evs[1].DetailType != "Audit Record Deleted" {
		t.Errorf("second event: %+v", evs[1])
	}
}

func TestPutEvents_KeepsEventsOldestFirst(t *testing.T) {
	t.Parallel()
	b, c := start(t, bus.Options{})
	var want []string
	for call := range 3 {
		var entries []types.PutEventsRequestEntry
		for i := range 4 {
			id := `{"n":"` + string(rune('a'+call)) + string(rune('0'+i)) + `"}`
			want = append(want, id)
			entries = append(entries, entry(id))
		}
		put(t, c, entries...)
	}
	var got []string
	for _, ev := range b.Events() {
		got = append(got, string(ev.Detail))
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("events in order\n %v\nwant\n %v", got, want)
	}
}

func TestPutEvents_RefusesMoreThanTenEntries(t *testing.T) {
	t.Parallel()
	b, c := start(t, bus.Options{})
	entries := make([]types.PutEventsRequestEntry, 11)
	for i := range entries {
		entries[i] = entry(`{}`)
	}
	_, err := c.PutEvents(context.Background(), &eventbridge.PutEventsInput{Entries: entries})
	if errorCode(err) != bus.ValidationException {
		t.Fatalf("11 entries: error %v, want ValidationException", err)
	}
	if n := len(b.Events()); n != 0 {
		t.Errorf("a refused call stored %d events", n)
	}
	put(t, c, entries[:10]...)
	if n := len(b.Events()); n != 10 {
		t.Errorf("10 entries stored %d events", n)
	}
}

func TestPutEvents_RefusesMoreThan256KBByEventBridgesSizeRule(t *testing.T) {
	t.Parallel()
	b, c := start(t, bus.Options{})
	// Two entries of exactly half the limit each, by the rule: 14 for Time, the bytes of
	// Source, DetailType and Detail, Resources; EventBusName (an ARN here) and TraceHeader
	// do not count. Detail carries multi-byte characters: bytes count, not characters.
	half := func(extra int) types.PutEventsRequestEntry {
		e := entry("")
		e.Time = aws.Time(time.Now())
		e.Resources = []string{"r1", "r22"}
		e.EventBusName = aws.String(b.ARN(busName))
		e.TraceHeader = aws.String("Root=1-67891233-abcdef012345678912345678")
		fixed := 14 + len(*e.Source) + len(*e.DetailType) + 5 + len(`{"a":"ø"}`)
		e.Detail = aws.String(`{"a":"ø` + strings.Repeat("x", bus.MaxRequestSize/2-fixed+extra) + `"}`)
		if got := bus.EntrySize(bus.Entry{Source: *e.Source, DetailType: *e.DetailType, Detail: *e.Detail,
			Resources: e.Resources, Time: e.Time}); got != bus.MaxRequestSize/2+extra {
			t.Fatalf("EntrySize = %d, want %d", got, bus.MaxRequestSize/2+extra)
		}
		return e
	}

	_, err := c.PutEvents(context.Background(), &eventbridge.PutEventsInput{Entries: []types.PutEventsRequestEntry{half(0), half(1)}})
	if errorCode(err) != bus.ValidationException || !strings.Contains(err.Error(), "Total size of the entries") {
		t.Fatalf("256 KB + 1 byte: error %v, want ValidationException on the total size", err)
	}
	if n := len(b.Events()); n != 0 {
		t.Errorf("a refused call stored %d events", n)
	}
	out := put(t, c, half(0), half(0))
	if out.FailedEntryCount != 0 || len(b.Events()) != 2 {
		t.Errorf("exactly 256 KB: %d failed, %d stored; want 0 failed, 2 stored", out.FailedEntryCount, len(b.Events()))
	}
	if calls := b.Calls(); len(calls) != 2 || calls[1].Size != bus.MaxRequestSize {
		t.Errorf("calls %d, last call's size %d; want 2 calls, the last of %d bytes", len(calls), calls[len(calls)-1].Size, bus.MaxRequestSize)
	}
}

func TestPutEvents_FailsInvalidEntriesAndStoresTheOthers(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		change func(*types.PutEventsRequestEntry)
		code   string
	}{
		{"no Source", func(e *types.PutEventsRequestEntry) { e.Source = nil }, bus.InvalidArgument},
		{"empty Source", func(e *types.PutEventsRequestEntry) { e.Source = aws.String("") }, bus.InvalidArgument},
		{"no DetailType", func(e *types.PutEventsRequestEntry) { e.DetailType = nil }, bus.InvalidArgument},
		{"DetailType over 128 characters", func(e *types.PutEventsRequestEntry) { e.DetailType = aws.String(strings.Repeat("å", 129)) }, bus.InvalidArgument},
		{"no Detail", func(e *types.PutEventsRequestEntry) { e.Detail = nil }, bus.InvalidArgument},
		{"Detail not JSON", func(e *types.PutEventsRequestEntry) { e.Detail = aws.String(`{"a":`) }, bus.MalformedDetail},
		{"Detail an array", func(e *types.PutEventsRequestEntry) { e.Detail = aws.String(`[{"a":1}]`) }, bus.MalformedDetail},
		{"Detail null", func(e *types.PutEventsRequestEntry) { e.Detail = aws.String(`null`) }, bus.MalformedDetail},
		{"Detail a string", func(e *types.PutEventsRequestEntry) { e.Detail = aws.String(`"a"`) }, bus.MalformedDetail},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, c := start(t, bus.Options{})
			bad := entry(`{"n":"bad"}`)
			tc.change(&bad)
			out := put(t, c, entry(`{"n":"first"}`), bad, entry(`{"n":"last"}`))
			if out.FailedEntryCount != 1 || len(out.Entries) != 3 {
				t.Fatalf("answer: %d failed of %d; want 1 of 3", out.FailedEntryCount, len(out.Entries))
			}
			if got := aws.ToString(out.Entries[1].ErrorCode); got != tc.code || out.Entries[1].EventId != nil {
				t.Errorf("the bad entry's result: code %q, event id %v; want %s and no id", got, aws.ToString(out.Entries[1].EventId), tc.code)
			}
			if aws.ToString(out.Entries[1].ErrorMessage) == "" {
				t.Error("the bad entry's result has no ErrorMessage")
			}
			evs := b.Events()
			if len(evs) != 2 || string(evs[0].Detail) != `{"n":"first"}` || string(evs[1].Detail) != `{"n":"last"}` {
				t.Errorf("stored %v, want the first and the last entry", evs)
			}
		})
	}
}

func TestPutEvents_RefusesACallWithoutAValidEntry(t *testing.T) {
	t.Parallel()
	b, c := start(t, bus.Options{})
	bad := entry(`not json`)
	_, err := c.PutEvents(context.Background(), &eventbridge.PutEventsInput{Entries: []types.PutEventsRequestEntry{bad, bad}})
	if errorCode(err) != bus.ValidationException {
		t.Errorf("only invalid entries: error %v, want ValidationException", err)
	}
	if n := len(b.Events()); n != 0 {
		t.Errorf("stored %d events", n)
	}
}

func TestPutEvents_UnknownBusIsResourceNotFound(t *testing.T) {
	t.Parallel()
	b, c := start(t, bus.Options{})
	other := entry(`{}`)
	other.EventBusName = aws.String("bufdir-export-audit-prod")
	_, err := c.PutEvents(context.Background(), &eventbridge.PutEventsInput{Entries: []types.PutEventsRequestEntry{entry(`{}`), other}})
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) || !strings.Contains(err.Error(), "bufdir-export-audit-prod") {
		t.Fatalf("unknown bus: error %v, want the SDK's ResourceNotFoundException naming the bus", err)
	}
	noBus := entry(`{}`)
	noBus.EventBusName = nil
	if _, err := c.PutEvents(context.Background(), &eventbridge.PutEventsInput{Entries: []types.PutEventsRequestEntry{noBus}}); errorCode(err) != bus.ResourceNotFound {
		t.Errorf("no EventBusName on a bus without \"default\": error %v, want ResourceNotFoundException", err)
	}
	if n := len(b.Events()); n != 0 {
		t.Errorf("refused calls stored %d events", n)
	}
	byARN := entry(`{}`)
	byARN.EventBusName = aws.String("arn:aws:events:eu-north-1:123456789012:event-bus/" + busName)
	put(t, c, byARN)
	if evs := b.Events(); len(evs) != 1 || evs[0].Bus != busName {
		t.Errorf("by ARN: stored %v, want one event on %s", evs, busName)
	}
}

func TestSetFault_FailsChosenEntriesWithEventBridgesCodes(t *testing.T) {
	t.Parallel()
	b, c := start(t, bus.Options{})
	b.SetFault(func(call bus.Call) bus.Fault {
		f := bus.Fault{Entries: map[int]bus.EntryError{}}
		for i, e := range call.Entries {
			switch e.Detail {
			case `{"n":1}`:
				f.Entries[i] = bus.EntryError{Code: bus.ThrottlingException, Message: "Rate exceeded"}
			case `{"n":3}`:
				f.Entries[i] = bus.EntryError{Code: bus.InternalFailure, Message: "Internal failure"}
			}
		}
		return f
	})
	out := put(t, c, entry(`{"n":0}`), entry(`{"n":1}`), entry(`{"n":2}`), entry(`{"n":3}`))
	if out.FailedEntryCount != 2 {
		t.Fatalf("FailedEntryCount %d, want 2", out.FailedEntryCount)
	}
	codes := []string{}
	for _, r := range out.Entries {
		codes = append(codes, aws.ToString(r.ErrorCode))
	}
	if strings.Join(codes, ",") != ",ThrottlingException,,InternalFailure" {
		t.Errorf("entry codes %q", codes)
	}
	var stored []string
	for _, ev := range b.Events() {
		stored = append(stored, string(ev.Detail))
	}
	if strings.Join(stored, " ") != `{"n":0} {"n":2}` {
		t.Errorf("stored %v, want the entries that did not fail", stored)
	}
	if calls := b.Calls(); len(calls) != 1 {
		t.Errorf("%d calls: the SDK must not retry a call with failed entries (it answered 200)", len(calls))
	}
}

func TestSetFault_FailsWholeCalls(t *testing.T) {
	t.Parallel()
	t.Run("not retried", func(t *testing.T) {
		t.Parallel()
		b, c := start(t, bus.Options{})
		b.SetFault(func(bus.Call) bus.Fault { return bus.Fault{Call: bus.Denied()} })
		_, err := c.PutEvents(context.Background(), &eventbridge.PutEventsInput{Entries: []types.PutEventsRequestEntry{entry(`{}`)}})
		if errorCode(err) != bus.AccessDeniedException {
			t.Errorf("error %v, want AccessDeniedException", err)
		}
		if len(b.Events()) != 0 || len(b.Calls()) != 1 {
			t.Errorf("%d events, %d calls; want none stored, one call", len(b.Events()), len(b.Calls()))
		}
	})
	t.Run("retried by the SDK", func(t *testing.T) {
		t.Parallel()
		b, c := start(t, bus.Options{})
		b.SetFault(func(call bus.Call) bus.Fault {
			switch call.N {
			case 1:
				return bus.Fault{Call: bus.Throttled()}
			case 2:
				return bus.Fault{Call: bus.Internal()}
			}
			return bus.Fault{}
		})
		out := put(t, c, entry(`{}`))
		if out.FailedEntryCount != 0 || len(b.Events()) != 1 || len(b.Calls()) != 3 {
			t.Errorf("%d failed, %d events, %d calls; want the third attempt to store the event once",
				out.FailedEntryCount, len(b.Events()), len(b.Calls()))
		}
	})
}

func TestServeHTTP_AnswersPutEventsOnly(t *testing.T) {
	t.Parallel()
	_, c := start(t, bus.Options{})
	_, err := c.ListEventBuses(context.Background(), &eventbridge.ListEventBusesInput{})
	if errorCode(err) != "UnknownOperationException" {
		t.Errorf("ListEventBuses: error %v, want UnknownOperationException", err)
	}

	b := bus.New(bus.Options{})
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"Entries":[]}`))
	req.Header.Set("X-Amz-Target", "AWSEvents.PutEvents")
	req.Header.Set("Content-Type", "application/json")
	b.ServeHTTP(rec, req)
	if rec.Code != http.StatusBadRequest || rec.Header().Get("X-Amzn-ErrorType") != "SerializationException" {
		t.Errorf("Content-Type application/json: %d %s, want 400 SerializationException", rec.Code, rec.Header().Get("X-Amzn-ErrorType"))
	}
}
