// Package item is the layout of the audit table: each kind of item's key and attributes as
// DynamoDB stores them, and their encoding and decoding. The repository (pkg/store) writes and
// reads items with it; whatever reads the table's stream (pkg/change: the change events, the
// archive's verifier) decodes the images with it, so there is one spelling of the layout.
//
// It imports the SDK's DynamoDB types, its attributevalue package and pkg/image (to compare an
// image with its re-encoding), never the DynamoDB client: the stream's readers do not call DynamoDB, and a Lambda function that links the
// client grows past the binary size budget.
//
// Items are encoded and decoded by attributevalue from the structs' dynamodbav tags, with one
// encoder and one decoder: strings as S, integers as N, slices as L and structs as M; an
// omitempty field that is unset (nil pointer, empty string, zero) is left out of the item,
// never written as NULL, so that conditions can test it with attribute_not_exists. Times are
// strings in TimeFormat, not time.Time, so the encoder's time format never applies.
package item

import (
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/bufdir/export-audit/pkg/audit"
	"github.com/bufdir/export-audit/pkg/image"
)

// TimeFormat is how every time is stored: RFC 3339, UTC, whole seconds. Such strings sort as
// the times do, so conditions can compare them.
const TimeFormat = time.RFC3339

// FormatTime is t as the table stores it.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeFormat) }

// ParseTime reads a stored time.
func ParseTime(s string) (time.Time, error) { return time.Parse(TimeFormat, s) }

var (
	encoder = attributevalue.NewEncoder()
	decoder = attributevalue.NewDecoder()
)

// Encode turns an item struct into the attribute map DynamoDB stores.
func Encode(v any) (map[string]types.AttributeValue, error) {
	av, err := encoder.Encode(v)
	if err != nil {
		return nil, err
	}
	m, ok := av.(*types.AttributeValueMemberM)
	if !ok {
		return nil, fmt.Errorf("%T encoded as %T, not a map", v, av)
	}
	return m.Value, nil
}

// EncodeValue encodes one attribute's value, such as the list of one history entry a status
// change appends.
func EncodeValue(v any) (types.AttributeValue, error) { return encoder.Encode(v) }

// Decode reads a stored attribute map into the item struct out points to. An attribute of
// another type than its field's is an error; an attribute no field names is ignored.
func Decode(av map[string]types.AttributeValue, out any) error {
	return decoder.Decode(&types.AttributeValueMemberM{Value: av}, out)
}

// DecodeAsWritten decodes av into out, as Decode does, and names the attributes in which av
// differs from out encoded again, a number by its spelling too (none: av is exactly an item
// the service writes). Decode alone ignores what no field names; the stream's readers must
// not, since a write made around the store can add anything.
func DecodeAsWritten(av map[string]types.AttributeValue, out any) (odd []string, err error) {
	if err := Decode(av, out); err != nil {
		return nil, err
	}
	again, err := Encode(out)
	if err != nil {
		return nil, err
	}
	return image.DifferingExactly(av, again), nil
}

// S is a string attribute value.
func S(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

// N is a number attribute value.
func N(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

// Shared are the attributes a record and its export_id guard both hold, under the same names:
// what a create sets. The guard keeps them as the create asked, so that a retry can be told
// from a clash without reading the record; in the record, status and activity_count move on
// with it.
type Shared struct {
	ExportID      string `dynamodbav:"export_id"`
	OrgID         string `dynamodbav:"org_id"`
	TriggeredBy   string `dynamodbav:"triggered_by_user_id"`
	Status        string `dynamodbav:"status"`
	Format        string `dynamodbav:"format"`
	PeriodFrom    string `dynamodbav:"period_from"`
	PeriodTo      string `dynamodbav:"period_to"`
	ActivityCount *int64 `dynamodbav:"activity_count,omitempty"`
}

// Record is a record as stored; a tombstone when DeletedAt is set. Unset optional attributes
// are absent, not NULL, so that attribute_not_exists works on them in conditions.
type Record struct {
	PK       string `dynamodbav:"pk"`
	SK       string `dynamodbav:"sk"`
	RecordID string `dynamodbav:"record_id"`
	Shared
	FileURL       *string   `dynamodbav:"file_url,omitempty"`
	FailureReason *string   `dynamodbav:"failure_reason,omitempty"`
	CreatedAt     string    `dynamodbav:"created_at"`
	UpdatedAt     string    `dynamodbav:"updated_at"`
	StatusAt      string    `dynamodbav:"status_at"` // the last history entry's time, for conditions
	History       []History `dynamodbav:"history"`   // oldest first; a record has at least one entry
	// Version is 1 at creation and one more at each change (a status move, the file, the
	// delete); ChangedBy is the user id of the last change's caller. The write that makes a
	// change keeps both, so every image of the table's stream says which change it is and who
	// made it. The API's answers carry neither; the change events do. A record stored before
	// versions were kept has none, which counts as version 1 (see Versioned).
	Version   int64  `dynamodbav:"version,omitempty"`
	ChangedBy string `dynamodbav:"changed_by,omitempty"`
	DeletedAt string `dynamodbav:"deleted_at,omitempty"`
	DeletedBy string `dynamodbav:"deleted_by,omitempty"`
	ExpiresAt int64  `dynamodbav:"expires_at,omitempty"` // the table's TTL attribute
}

// History is one entry of a record's status history.
type History struct {
	Status string `dynamodbav:"status"`
	At     string `dynamodbav:"at"`
	By     string `dynamodbav:"by"`
}

// Guard reserves an export_id within an organisation for one live record.
type Guard struct {
	PK       string `dynamodbav:"pk"`
	SK       string `dynamodbav:"sk"`
	RecordID string `dynamodbav:"record_id"`
	Shared
}

// Stats is an organisation's live record count; absent until its first record.
type Stats struct {
	Live int `dynamodbav:"live"`
}

// Counter is a day's counter: the last sequence number taken and the latest created_at handed
// out with one.
type Counter struct {
	Seq    int64  `dynamodbav:"seq"`
	LastAt string `dynamodbav:"last_at"`
}

// NewHistory is a history entry as stored.
func NewHistory(h audit.HistoryEntry) History {
	return History{Status: string(h.Status), At: FormatTime(h.At), By: h.By}
}

func sharedOf(n audit.NewRecord) Shared {
	return Shared{
		ExportID: n.ExportID, OrgID: n.OrgID, TriggeredBy: n.TriggeredBy,
		Status: string(n.Status), Format: string(n.Format),
		PeriodFrom: n.PeriodFrom, PeriodTo: n.PeriodTo, ActivityCount: n.ActivityCount,
	}
}

// NewRecord is the item of a record as a create first stores it: version 1, changed by the
// caller whose create it is.
func NewRecord(r audit.Record, id audit.RecordID) Record {
	hist := make([]History, len(r.History))
	for i, h := range r.History {
		hist[i] = NewHistory(h)
	}
	return Record{
		PK: OrgPK(r.OrgID), SK: RecordSK(id), RecordID: r.RecordID,
		Shared: Shared{
			ExportID: r.ExportID, OrgID: r.OrgID, TriggeredBy: r.TriggeredBy,
			Status: string(r.Status), Format: string(r.Format),
			PeriodFrom: r.PeriodFrom, PeriodTo: r.PeriodTo, ActivityCount: r.ActivityCount,
		},
		FileURL: r.FileURL, FailureReason: r.FailureReason,
		CreatedAt: FormatTime(r.CreatedAt), UpdatedAt: FormatTime(r.UpdatedAt),
		StatusAt:  FormatTime(r.History[len(r.History)-1].At),
		History:   hist,
		Version:   1,
		ChangedBy: r.History[0].By,
	}
}

// Audit is the record as callers see it. A tombstone reads as the record it was.
func (it Record) Audit() (audit.Record, error) {
	created, err := ParseTime(it.CreatedAt)
	if err != nil {
		return audit.Record{}, fmt.Errorf("record %s: created_at: %w", it.RecordID, err)
	}
	updated, err := ParseTime(it.UpdatedAt)
	if err != nil {
		return audit.Record{}, fmt.Errorf("record %s: updated_at: %w", it.RecordID, err)
	}
	hist := make([]audit.HistoryEntry, len(it.History))
	for i, h := range it.History {
		at, err := ParseTime(h.At)
		if err != nil {
			return audit.Record{}, fmt.Errorf("record %s: history %d: %w", it.RecordID, i, err)
		}
		hist[i] = audit.HistoryEntry{Status: audit.Status(h.Status), At: at, By: h.By}
	}
	return audit.Record{
		RecordID: it.RecordID, ExportID: it.ExportID, OrgID: it.OrgID, TriggeredBy: it.TriggeredBy,
		Status: audit.Status(it.Status), Format: audit.Format(it.Format),
		PeriodFrom: it.PeriodFrom, PeriodTo: it.PeriodTo,
		FileURL: it.FileURL, ActivityCount: it.ActivityCount, FailureReason: it.FailureReason,
		CreatedAt: created, UpdatedAt: updated, History: hist,
	}, nil
}

// Versioned is the record's version, 1 for a record stored before versions were kept: the
// first change of such a record writes version 2 (the store's update expressions read an
// absent version as 1 too).
func (it Record) Versioned() int64 { return max(it.Version, 1) }

// Deleted reports whether the item is a tombstone.
func (it Record) Deleted() bool { return it.DeletedAt != "" }

// NewGuard is the guard of the export_id that n creates recordID for.
func NewGuard(n audit.NewRecord, recordID string) Guard {
	return Guard{PK: OrgPK(n.OrgID), SK: GuardSK(n.ExportID), RecordID: recordID, Shared: sharedOf(n)}
}

// Request is the create the guard was written for, to compare a retry with.
func (g Guard) Request() audit.NewRecord {
	return audit.NewRecord{
		ExportID: g.ExportID, OrgID: g.OrgID, TriggeredBy: g.TriggeredBy,
		Status: audit.Status(g.Status), Format: audit.Format(g.Format),
		PeriodFrom: g.PeriodFrom, PeriodTo: g.PeriodTo, ActivityCount: g.ActivityCount,
	}
}
