// Package bus is the local stand-in for an Amazon EventBridge event bus, for make run and tests:
// an http.Handler that answers EventBridge's PutEvents as the AWS SDK's eventbridge client
// calls it (the AWS JSON 1.1 protocol, X-Amz-Target AWSEvents.PutEvents), so that the
// publisher's code runs unchanged against it with the client's BaseEndpoint pointed here.
//
// It validates what EventBridge validates and what the publisher must get right: at most 10
// entries and 256 KB per call (an entry's size by EventBridge's documented rule: 14 bytes for a
// Time, the UTF-8 bytes of Source, DetailType, Detail and each of Resources), Source,
// DetailType and Detail present, DetailType at most 128 characters, Detail a JSON object, and
// a bus that exists. An entry that fails its own checks is answered with EventBridge's error
// code (InvalidArgument, MalformedDetail) while the others are stored; a call that breaks a
// limit of the request is refused whole with ValidationException, as EventBridge does. Where
// EventBridge is looser than documented it is stricter on purpose: EventBridge has been
// reported to accept events for a bus that does not exist and drop them; the stand-in refuses
// the call with ResourceNotFoundException, so that a wrong bus name fails a test or shows at
// make run instead of losing the events.
//
// Each accepted event is kept as an EventBridge rule's target receives it (version "0", id,
// detail-type, source, account, time, region, resources, detail as a JSON object), oldest
// first; Events lists them. SetFault lets a test fail chosen entries (with EventBridge's entry
// error codes, such as InternalFailure or ThrottlingException) or whole calls.
//
// The limit is EventBridge's 256 KB of the documentation this service was built against. AWS
// raised EventBridge's payload limit to 1 MB in January 2026; publish.MaxRequestSize is the one
// place to change if the service adopts it. The limits and the entry size rule are the
// publisher's own, so the two cannot disagree; the tests here spell the rule out by hand.
package bus

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"mime"
	"net/http"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/bufdir/export-audit/pkg/publish"
	"github.com/google/uuid"
)

// EventBridge's limits that the stand-in enforces: the publisher's (pkg/publish), one place for
// both.
const (
	// MaxEntries is the most entries one PutEvents call may carry.
	MaxEntries = publish.MaxEntries
	// MaxRequestSize is the most bytes the entries of one PutEvents call may add up to, each
	// measured by EntrySize.
	MaxRequestSize = publish.MaxRequestSize
	// maxDetailTypeLength is DetailType's limit in characters.
	maxDetailTypeLength = 128
)

// The defaults of Options.
const (
	DefaultAccount = "123456789012" // the account id AWS's documentation uses in examples
	DefaultRegion  = "eu-north-1"
	DefaultBus     = "default"
)

// Error codes of PutEvents: whole-call errors (an HTTP status and the __type of the answer) and
// entry error codes (PutEventsResultEntry.ErrorCode).
const (
	ValidationException   = "ValidationException"
	ResourceNotFound      = "ResourceNotFoundException"
	ThrottlingException   = "ThrottlingException" // a whole call (400) or an entry, retryable
	InternalException     = "InternalException"   // a whole call (500), PutEvents' modelled error
	AccessDeniedException = "AccessDeniedException"
	InternalFailure       = "InternalFailure" // an entry, retryable
	InvalidArgument       = "InvalidArgument" // an entry
	MalformedDetail       = "MalformedDetail" // an entry
	serializationError    = "SerializationException"
	unknownOperation      = "UnknownOperationException"
)

// Options configure a Bus.
type Options struct {
	// Region and Account are what the stored events carry (DefaultRegion and DefaultAccount
	// when empty), and what a bus ARN in EventBusName must name.
	Region  string
	Account string
	// Buses are the names of the buses that exist. A PutEvents entry may name one by its name
	// or its ARN; an entry without EventBusName goes to "default", which exists only when
	// listed. Empty means just DefaultBus.
	Buses []string
	// Now is the clock for events put without Time (time.Now when nil).
	Now func() time.Time
}

// Event is an event as an EventBridge rule's target receives it.
type Event struct {
	Version    string          `json:"version"`
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Account    string          `json:"account"`
	Time       string          `json:"time"`
	Region     string          `json:"region"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
	// Bus is the name of the bus the event was put on. It is not part of the event a target
	// receives, so it is not in its JSON.
	Bus string `json:"-"`
}

// Entry is a PutEvents request entry as the bus received it; a field the request left out is
// empty (Time nil).
type Entry struct {
	Source       string
	DetailType   string
	Detail       string
	EventBusName string
	Resources    []string
	Time         *time.Time
	TraceHeader  string
}

// wireEntry is a PutEventsRequestEntry as the SDK serializes it.
type wireEntry struct {
	Source       string     `json:"Source"`
	DetailType   string     `json:"DetailType"`
	Detail       string     `json:"Detail"`
	EventBusName string     `json:"EventBusName"`
	Resources    []string   `json:"Resources"`
	Time         *epochTime `json:"Time"`
	TraceHeader  string     `json:"TraceHeader"`
}

func (w wireEntry) entry() Entry {
	e := Entry{Source: w.Source, DetailType: w.DetailType, Detail: w.Detail, EventBusName: w.EventBusName,
		Resources: w.Resources, TraceHeader: w.TraceHeader}
	if w.Time != nil {
		t := w.Time.t
		e.Time = &t
	}
	return e
}

// Call is one PutEvents request the bus received, whatever its outcome.
type Call struct {
	// N numbers the calls from 1, in the order they arrived; an SDK retry is a call of its own.
	N       int
	Entries []Entry
	// Size is the sum of the entries' EntrySize.
	Size int
}

// Fault is what SetFault's function decides for a call.
type Fault struct {
	// Call, when not nil, fails the whole call with this error: nothing of it is stored.
	Call *APIError
	// Entries fails the entries at these indexes of the call with these errors; the others
	// are stored.
	Entries map[int]EntryError
}

// APIError is an error answer to a whole call.
type APIError struct {
	Status  int    // the HTTP status, 400 or 500
	Code    string // the error's type, e.g. ThrottlingException
	Message string
}

// EntryError is a failed entry's ErrorCode and ErrorMessage.
type EntryError struct {
	Code    string
	Message string
}

// Throttled is the whole-call error EventBridge answers when it throttles the caller; the SDK
// retries it.
func Throttled() *APIError {
	return &APIError{Status: http.StatusBadRequest, Code: ThrottlingException, Message: "Rate exceeded"}
}

// Internal is EventBridge's whole-call internal error (500); the SDK retries it.
func Internal() *APIError {
	return &APIError{Status: http.StatusInternalServerError, Code: InternalException, Message: "An internal error occurred"}
}

// Denied is the whole-call error of a caller without events:PutEvents on the bus; the SDK does
// not retry it.
func Denied() *APIError {
	return &APIError{Status: http.StatusBadRequest, Code: AccessDeniedException,
		Message: "User is not authorized to perform: events:PutEvents"}
}

// Bus is a local EventBridge with one or more event buses. It is safe for concurrent use.
type Bus struct {
	region, account string
	buses           map[string]string // name or ARN -> name
	now             func() time.Time

	mu     sync.Mutex
	events []Event
	calls  []Call
	fault  func(Call) Fault
}

// New returns a Bus with no events.
func New(o Options) *Bus {
	b := &Bus{region: o.Region, account: o.Account, now: o.Now, buses: map[string]string{}}
	if b.region == "" {
		b.region = DefaultRegion
	}
	if b.account == "" {
		b.account = DefaultAccount
	}
	if b.now == nil {
		b.now = time.Now
	}
	names := o.Buses
	if len(names) == 0 {
		names = []string{DefaultBus}
	}
	for _, n := range names {
		b.buses[n] = n
		b.buses[b.ARN(n)] = n
	}
	return b
}

// ARN is the ARN of the bus named name.
func (b *Bus) ARN(name string) string {
	return "arn:aws:events:" + b.region + ":" + b.account + ":event-bus/" + name
}

// Events returns the events stored so far, oldest first.
func (b *Bus) Events() []Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Event(nil), b.events...)
}

// Calls returns the PutEvents calls received so far, in order.
func (b *Bus) Calls() []Call {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Call(nil), b.calls...)
}

// SetFault makes f decide, for every PutEvents call that passes validation, what fails in it
// (the zero Fault: nothing). nil removes it.
func (b *Bus) SetFault(f func(Call) Fault) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.fault = f
}

// EntrySize is an entry's size by EventBridge's rule, as the publisher measures it
// (publish.EntrySize).
func EntrySize(e Entry) int {
	return publish.EntrySize(types.PutEventsRequestEntry{
		Source: &e.Source, DetailType: &e.DetailType, Detail: &e.Detail, Resources: e.Resources, Time: e.Time,
	})
}

type putEventsRequest struct {
	Entries    []wireEntry `json:"Entries"`
	EndpointID *string     `json:"EndpointId"`
}

type resultEntry struct {
	EventID      string `json:"EventId,omitempty"`
	ErrorCode    string `json:"ErrorCode,omitempty"`
	ErrorMessage string `json:"ErrorMessage,omitempty"`
}

type putEventsResponse struct {
	Entries          []resultEntry `json:"Entries"`
	FailedEntryCount int           `json:"FailedEntryCount"`
}

// ServeHTTP answers PutEvents; any other operation is refused.
func (b *Bus) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeError(w, &APIError{Status: http.StatusMethodNotAllowed, Code: unknownOperation, Message: "EventBridge takes POST"})
		return
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/x-amz-json-1.1" {
		writeError(w, &APIError{Status: http.StatusBadRequest, Code: serializationError,
			Message: fmt.Sprintf("Content-Type %q is not application/x-amz-json-1.1", r.Header.Get("Content-Type"))})
		return
	}
	if t := r.Header.Get("X-Amz-Target"); t != "AWSEvents.PutEvents" {
		writeError(w, &APIError{Status: http.StatusBadRequest, Code: unknownOperation,
			Message: fmt.Sprintf("the local event bus answers AWSEvents.PutEvents only, not %q", t)})
		return
	}
	var req putEventsRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, &APIError{Status: http.StatusBadRequest, Code: serializationError,
			Message: "the request is not PutEvents JSON: " + err.Error()})
		return
	}
	resp, apiErr := b.putEvents(req)
	if apiErr != nil {
		writeError(w, apiErr)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(resp)
}

func (b *Bus) putEvents(req putEventsRequest) (*putEventsResponse, *APIError) {
	call := Call{Entries: make([]Entry, len(req.Entries))}
	for i, w := range req.Entries {
		call.Entries[i] = w.entry()
		call.Size += EntrySize(call.Entries[i])
	}
	b.mu.Lock()
	call.N = len(b.calls) + 1
	b.calls = append(b.calls, call)
	fault := b.fault
	b.mu.Unlock()

	switch {
	case len(call.Entries) == 0:
		return nil, validation("Value at 'entries' failed to satisfy constraint: Member must have length greater than or equal to 1")
	case len(call.Entries) > MaxEntries:
		return nil, validation(fmt.Sprintf("Value at 'entries' failed to satisfy constraint: "+
			"Member must have length less than or equal to %d (it has %d)", MaxEntries, len(call.Entries)))
	case call.Size > MaxRequestSize:
		return nil, validation(fmt.Sprintf("Total size of the entries in the request is over the limit "+
			"(%d bytes, at most %d).", call.Size, MaxRequestSize))
	}
	names := make([]string, len(call.Entries))
	for i, e := range call.Entries {
		name, ok := b.buses[cmp.Or(e.EventBusName, DefaultBus)]
		if !ok {
			return nil, &APIError{Status: http.StatusBadRequest, Code: ResourceNotFound,
				Message: "Event bus " + cmp.Or(e.EventBusName, DefaultBus) + " does not exist."}
		}
		names[i] = name
	}

	results := make([]resultEntry, len(call.Entries))
	failed := 0
	for i, e := range call.Entries {
		if code, msg := check(e); code != "" {
			results[i] = resultEntry{ErrorCode: code, ErrorMessage: msg}
			failed++
		}
	}
	// EventBridge fails an entry that is not valid, and the whole request when none is.
	if failed == len(call.Entries) {
		return nil, validation("No entry of the request is valid. " + results[0].ErrorMessage)
	}

	var f Fault
	if fault != nil {
		f = fault(call)
	}
	if f.Call != nil {
		return nil, f.Call
	}
	for i, ee := range f.Entries {
		if i >= 0 && i < len(results) && results[i].ErrorCode == "" {
			results[i] = resultEntry{ErrorCode: ee.Code, ErrorMessage: ee.Message}
			failed++
		}
	}

	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, e := range call.Entries {
		if results[i].ErrorCode != "" {
			continue
		}
		ev := b.event(e, names[i], now)
		results[i].EventID = ev.ID
		b.events = append(b.events, ev)
	}
	return &putEventsResponse{Entries: results, FailedEntryCount: failed}, nil
}

// check answers an entry's own error code and message, or "" when it is valid.
func check(e Entry) (string, string) {
	switch {
	case e.Source == "":
		return InvalidArgument, "Parameter Source is not valid. Reason: Source is a required argument."
	case e.DetailType == "":
		return InvalidArgument, "Parameter DetailType is not valid. Reason: DetailType is a required argument."
	case utf8.RuneCountInString(e.DetailType) > maxDetailTypeLength:
		return InvalidArgument, fmt.Sprintf("Parameter DetailType is not valid. Reason: DetailType is longer than %d characters.", maxDetailTypeLength)
	case e.Detail == "":
		return InvalidArgument, "Parameter Detail is not valid. Reason: Detail is a required argument."
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(e.Detail), &obj); err != nil || obj == nil {
		return MalformedDetail, "Detail is malformed."
	}
	return "", ""
}

func (b *Bus) event(e Entry, bus string, now time.Time) Event {
	t := now
	if e.Time != nil {
		t = *e.Time
	}
	var detail bytes.Buffer
	_ = json.Compact(&detail, []byte(e.Detail)) // check has made sure it is JSON
	resources := e.Resources
	if resources == nil {
		resources = []string{}
	}
	return Event{
		Version:    "0",
		ID:         uuid.NewString(), // EventBridge's ids are random UUIDs too
		DetailType: e.DetailType,
		Source:     e.Source,
		Account:    b.account,
		// A target sees the time to the second (RFC3339 drops the fraction), in UTC.
		Time:      t.UTC().Format(time.RFC3339),
		Region:    b.region,
		Resources: resources,
		Detail:    detail.Bytes(),
		Bus:       bus,
	}
}

func validation(msg string) *APIError {
	return &APIError{Status: http.StatusBadRequest, Code: ValidationException, Message: "1 validation error detected: " + msg}
}

// writeError answers as an AWS JSON 1.1 service does: the error's type in X-Amzn-ErrorType
// (which the SDK reads first) and in the body's __type.
func writeError(w http.ResponseWriter, e *APIError) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", e.Code)
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": e.Code, "message": e.Message})
}

// epochTime is a timestamp as AWS JSON 1.1 sends it: seconds since the epoch, a JSON number
// with a fraction of up to milliseconds.
type epochTime struct{ t time.Time }

func (e *epochTime) UnmarshalJSON(p []byte) error {
	var f float64
	if err := json.Unmarshal(p, &f); err != nil {
		return fmt.Errorf("time is not epoch seconds: %w", err)
	}
	sec, frac := math.Modf(f)
	e.t = time.Unix(int64(sec), int64(math.Round(frac*1e3))*int64(time.Millisecond)).UTC()
	return nil
}
