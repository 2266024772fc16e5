package publish

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/bufdir/export-audit/pkg/audit"
	"github.com/bufdir/export-audit/pkg/change"
	"github.com/google/uuid"
)

// Detail is a change event's detail, as the contract gives it.
type Detail struct {
	// EventID names the change, the same on every delivery of it: consumers deduplicate on it.
	EventID  string `json:"event_id"`
	OrgID    string `json:"org_id"`
	RecordID string `json:"record_id"`
	// Version is the record's version after the change; consumers order one record's events
	// by it.
	Version   int64     `json:"version"`
	ChangedAt time.Time `json:"changed_at"`
	ChangedBy string    `json:"changed_by"`
	// PreviousStatus is the status before a status change, null on the other types.
	PreviousStatus *audit.Status `json:"previous_status"`
	// Record is the record as a GET answers it after the change (on a delete, before it),
	// written by the same JSON mapping as the API's answers (audit.Record's).
	Record audit.Record `json:"record"`
}

// eventNamespace is the namespace of the event ids, a name-based UUID of the events' source.
var eventNamespace = uuid.NewSHA1(uuid.NameSpaceDNS, []byte(Source))

// EventID is the id of the change that brought recordID to version: a name-based UUID
// (version 5) of the two, so that every redelivery of a change, from a retry of its batch or
// from the dead-letter queue, carries the same id, and no two changes share one (a record_id is
// never reused, and each change has its own version).
func EventID(recordID string, version int64) string {
	return uuid.NewSHA1(eventNamespace, []byte(recordID+"/"+strconv.FormatInt(version, 10))).String()
}

// detailTypes are the contract's detail-type of each kind of change.
var detailTypes = map[change.Kind]DetailType{
	change.Created:       RecordCreated,
	change.StatusChanged: StatusChanged,
	change.FileAttached:  FileAttached,
	change.Deleted:       RecordDeleted,
}

// EventOf is the change event of c, read from the stream record numbered seq. c is a change,
// not change.None.
func EventOf(c change.Change, seq string) (Event, error) {
	d := Detail{
		EventID: EventID(c.RecordID, c.Version), OrgID: c.OrgID, RecordID: c.RecordID,
		Version: c.Version, ChangedAt: c.At.UTC(), ChangedBy: c.By, Record: c.Record,
	}
	if c.Kind == change.StatusChanged {
		prev := c.PreviousStatus
		d.PreviousStatus = &prev
	}
	b, err := json.Marshal(d)
	if err != nil {
		return Event{}, err
	}
	return Event{Record: seq, Type: detailTypes[c.Kind], Detail: b, Time: d.ChangedAt}, nil
}
