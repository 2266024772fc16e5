package testkit

import (
	"bytes"
	"encoding/json"

	"github.com/bufdir/export-audit/pkg/bus"
)

// Event is a change event as an EventBridge rule's target receives it, and as GET
// /_local/events lists it: the bus's envelope, its detail decoded as the contract gives it. The
// keys of both are checked on the raw event (tests/events) before it is decoded, so a field the
// service renamed or dropped still fails the tests.
type Event struct {
	bus.Event
	Detail EventDetail `json:"detail"`
}

// EventDetail is a change event's detail, as the contract gives it.
type EventDetail struct {
	EventID        string  `json:"event_id"`
	OrgID          string  `json:"org_id"`
	RecordID       string  `json:"record_id"`
	Version        int64   `json:"version"`
	ChangedAt      string  `json:"changed_at"`
	ChangedBy      string  `json:"changed_by"`
	PreviousStatus *string `json:"previous_status"`
	// Record is the record as JSON, numbers as they were written (json.Number), as
	// Reply.Object reads an answer, so that the two compare.
	Record map[string]any `json:"record"`
}

// DecodeEvent decodes an event, refusing a key the contract does not give.
func DecodeEvent(raw []byte) (Event, error) {
	var ev Event
	return ev, strictDecode(raw, &ev)
}

// DecodeEventDetail decodes an event's detail, refusing a key the contract does not give.
func DecodeEventDetail(raw []byte) (EventDetail, error) {
	var d EventDetail
	return d, strictDecode(raw, &d)
}

func strictDecode(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	return dec.Decode(v)
}
