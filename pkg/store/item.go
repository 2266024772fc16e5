package store

import (
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/bufdir/export-audit/pkg/audit"
)

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

// timeFormat keeps times sortable as strings, so conditions can compare them.
const timeFormat = time.RFC3339

// The items are encoded and decoded by the SDK's attributevalue package, from the structs'
// dynamodbav tags. Its encoder and decoder are built once, here, with their defaults: strings as
// S, integers as N, slices as L and structs as M; an omitempty field that is unset (nil pointer,
// empty string, zero) is left out of the item, never written as NULL. Times are strings the
// store formats itself (timeFormat), not time.Time, so the encoder's time format never applies.
var (
	itemEncoder = attributevalue.NewEncoder()
	itemDecoder = attributevalue.NewDecoder()
)

// encodeItem turns an item struct into the attribute map DynamoDB stores.
func encodeItem(v any) (map[string]types.AttributeValue, error) {
	av, err := itemEncoder.Encode(v)
	if err != nil {
		return nil, err
	}
	m, ok := av.(*types.AttributeValueMemberM)
	if !ok {
		return nil, fmt.Errorf("%T encoded as %T, not a map", v, av)
	}
	return m.Value, nil
}

// decodeItem reads a stored attribute map into the item struct out points to. An attribute of
// another type than its field's is an error.
func decodeItem(av map[string]types.AttributeValue, out any) error {
	return itemDecoder.Decode(&types.AttributeValueMemberM{Value: av}, out)
}

// recordItem is a record as stored. Unset optional fields are absent, not NULL, so that
// attribute_not_exists works on them in conditions.
type recordItem struct {
	PK            string        `dynamodbav:"pk"`
	SK            string        `dynamodbav:"sk"`
	RecordID      string        `dynamodbav:"record_id"`
	ExportID      string        `dynamodbav:"export_id"`
	OrgID         string        `dynamodbav:"org_id"`
	TriggeredBy   string        `dynamodbav:"triggered_by_user_id"`
	Status        string        `dynamodbav:"status"`
	Format        string        `dynamodbav:"format"`
	PeriodFrom    string        `dynamodbav:"period_from"`
	PeriodTo      string        `dynamodbav:"period_to"`
	FileURL       *string       `dynamodbav:"file_url,omitempty"`
	ActivityCount *int64        `dynamodbav:"activity_count,omitempty"`
	FailureReason *string       `dynamodbav:"failure_reason,omitempty"`
	CreatedAt     string        `dynamodbav:"created_at"`
	UpdatedAt     string        `dynamodbav:"updated_at"`
	StatusAt      string        `dynamodbav:"status_at"` // the last history entry's time, for conditions
	History       []historyItem `dynamodbav:"history"`   // oldest first; a record has at least one entry
	DeletedAt     string        `dynamodbav:"deleted_at,omitempty"`
	DeletedBy     string        `dynamodbav:"deleted_by,omitempty"`
	ExpiresAt     int64         `dynamodbav:"expires_at,omitempty"` // the table's TTL attribute
}

type historyItem struct {
	Status string `dynamodbav:"status"`
	At     string `dynamodbav:"at"`
	By     string `dynamodbav:"by"`
}

func toHistoryItem(h audit.HistoryEntry) historyItem {
	return historyItem{Status: string(h.Status), At: h.At.UTC().Format(timeFormat), By: h.By}
}

func newRecordItem(r audit.Record, id audit.RecordID) recordItem {
	hist := make([]historyItem, len(r.History))
	for i, h := range r.History {
		hist[i] = toHistoryItem(h)
	}
	return recordItem{
		PK: orgPK(r.OrgID), SK: recordSK(id),
		RecordID: r.RecordID, ExportID: r.ExportID, OrgID: r.OrgID, TriggeredBy: r.TriggeredBy,
		Status: string(r.Status), Format: string(r.Format),
		PeriodFrom: r.PeriodFrom, PeriodTo: r.PeriodTo,
		FileURL: r.FileURL, ActivityCount: r.ActivityCount, FailureReason: r.FailureReason,
		CreatedAt: r.CreatedAt.UTC().Format(timeFormat), UpdatedAt: r.UpdatedAt.UTC().Format(timeFormat),
		StatusAt: r.History[len(r.History)-1].At.UTC().Format(timeFormat),
		History:  hist,
	}
}

func parseTime(s string) (time.Time, error) { return time.Parse(timeFormat, s) }

func (it recordItem) record() (audit.Record, error) {
	created, err := parseTime(it.CreatedAt)
	if err != nil {
		return audit.Record{}, fmt.Errorf("record %s: created_at: %w", it.RecordID, err)
	}
	updated, err := parseTime(it.UpdatedAt)
	if err != nil {
		return audit.Record{}, fmt.Errorf("record %s: updated_at: %w", it.RecordID, err)
	}
	hist := make([]audit.HistoryEntry, len(it.History))
	for i, h := range it.History {
		at, err := parseTime(h.At)
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

// decodeLive turns a stored item into a record, or ErrNotFound when the item is absent or a
// tombstone: to callers a deleted record does not exist.
func decodeLive(av map[string]types.AttributeValue) (audit.Record, error) {
	if len(av) == 0 {
		return audit.Record{}, audit.ErrNotFound
	}
	if _, deleted := av["deleted_at"]; deleted {
		return audit.Record{}, audit.ErrNotFound
	}
	var it recordItem
	if err := decodeItem(av, &it); err != nil {
		return audit.Record{}, fmt.Errorf("decode record: %w", err)
	}
	return it.record()
}

// guardItem reserves an export_id within an organisation for one live record. It keeps what the
// create asked for, so a retry can be told from a clash without reading the record.
type guardItem struct {
	PK            string `dynamodbav:"pk"`
	SK            string `dynamodbav:"sk"`
	RecordID      string `dynamodbav:"record_id"`
	ExportID      string `dynamodbav:"export_id"`
	OrgID         string `dynamodbav:"org_id"`
	TriggeredBy   string `dynamodbav:"triggered_by_user_id"`
	Status        string `dynamodbav:"status"`
	Format        string `dynamodbav:"format"`
	PeriodFrom    string `dynamodbav:"period_from"`
	PeriodTo      string `dynamodbav:"period_to"`
	ActivityCount *int64 `dynamodbav:"activity_count,omitempty"`
}

// statsItem is an organisation's live record count; absent until its first record.
type statsItem struct {
	Live int `dynamodbav:"live"`
}

// counterItem is a day's counter: the last sequence number taken and the latest created_at
// handed out with one.
type counterItem struct {
	Seq    int64  `dynamodbav:"seq"`
	LastAt string `dynamodbav:"last_at"`
}

func newGuardItem(n audit.NewRecord, recordID string) guardItem {
	return guardItem{
		PK: orgPK(n.OrgID), SK: guardSK(n.ExportID), RecordID: recordID,
		ExportID: n.ExportID, OrgID: n.OrgID, TriggeredBy: n.TriggeredBy,
		Status: string(n.Status), Format: string(n.Format),
		PeriodFrom: n.PeriodFrom, PeriodTo: n.PeriodTo, ActivityCount: n.ActivityCount,
	}
}

func (g guardItem) request() audit.NewRecord {
	return audit.NewRecord{
		ExportID: g.ExportID, OrgID: g.OrgID, TriggeredBy: g.TriggeredBy,
		Status: audit.Status(g.Status), Format: audit.Format(g.Format),
		PeriodFrom: g.PeriodFrom, PeriodTo: g.PeriodTo, ActivityCount: g.ActivityCount,
	}
}
