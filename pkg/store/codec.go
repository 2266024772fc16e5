package store

import (
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The items are turned into attribute values and back by hand, not with the SDK's
// attributevalue package. Its reflection made a third of the allocations the service adds to a
// list's Query, and importing it links in, and initialises at every cold start, the DynamoDB
// Streams client's types and schemas, which nothing here uses. The encoding is the one
// attributevalue produced for these structs: unset optional attributes are absent, not NULL.

// Attribute names of the record, guard and history items.
const (
	attrRecordID      = "record_id"
	attrExportID      = "export_id"
	attrOrgID         = "org_id"
	attrTriggeredBy   = "triggered_by_user_id"
	attrStatus        = "status"
	attrFormat        = "format"
	attrPeriodFrom    = "period_from"
	attrPeriodTo      = "period_to"
	attrFileURL       = "file_url"
	attrActivityCount = "activity_count"
	attrFailureReason = "failure_reason"
	attrCreatedAt     = "created_at"
	attrUpdatedAt     = "updated_at"
	attrStatusAt      = "status_at" // the last history entry's time, for conditions
	attrHistory       = "history"
	attrDeletedAt     = "deleted_at"
	attrDeletedBy     = "deleted_by"
	attrAt            = "at" // of a history entry
	attrBy            = "by" // of a history entry
	attrLastAt        = "last_at"
)

func (it recordItem) attributes() map[string]types.AttributeValue {
	m := map[string]types.AttributeValue{
		attrPK: str(it.PK), attrSK: str(it.SK),
		attrRecordID: str(it.RecordID), attrExportID: str(it.ExportID), attrOrgID: str(it.OrgID),
		attrTriggeredBy: str(it.TriggeredBy), attrStatus: str(it.Status), attrFormat: str(it.Format),
		attrPeriodFrom: str(it.PeriodFrom), attrPeriodTo: str(it.PeriodTo),
		attrCreatedAt: str(it.CreatedAt), attrUpdatedAt: str(it.UpdatedAt), attrStatusAt: str(it.StatusAt),
		attrHistory: historyList(it.History),
	}
	if it.FileURL != nil {
		m[attrFileURL] = str(*it.FileURL)
	}
	if it.ActivityCount != nil {
		m[attrActivityCount] = num(*it.ActivityCount)
	}
	if it.FailureReason != nil {
		m[attrFailureReason] = str(*it.FailureReason)
	}
	if it.DeletedAt != "" {
		m[attrDeletedAt] = str(it.DeletedAt)
	}
	if it.DeletedBy != "" {
		m[attrDeletedBy] = str(it.DeletedBy)
	}
	if it.ExpiresAt != 0 {
		m[attrExpiresAt] = num(it.ExpiresAt)
	}
	return m
}

func historyList(h []historyItem) types.AttributeValue {
	if h == nil {
		return &types.AttributeValueMemberNULL{Value: true}
	}
	l := make([]types.AttributeValue, len(h))
	for i, e := range h {
		l[i] = &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
			attrStatus: str(e.Status), attrAt: str(e.At), attrBy: str(e.By),
		}}
	}
	return &types.AttributeValueMemberL{Value: l}
}

func decodeRecordItem(av map[string]types.AttributeValue) (recordItem, error) {
	f := fields{av: av}
	it := recordItem{
		PK: f.str(attrPK), SK: f.str(attrSK),
		RecordID: f.str(attrRecordID), ExportID: f.str(attrExportID), OrgID: f.str(attrOrgID),
		TriggeredBy: f.str(attrTriggeredBy), Status: f.str(attrStatus), Format: f.str(attrFormat),
		PeriodFrom: f.str(attrPeriodFrom), PeriodTo: f.str(attrPeriodTo),
		FileURL: f.optStr(attrFileURL), ActivityCount: f.optInt(attrActivityCount), FailureReason: f.optStr(attrFailureReason),
		CreatedAt: f.str(attrCreatedAt), UpdatedAt: f.str(attrUpdatedAt), StatusAt: f.str(attrStatusAt),
		History:   f.history(attrHistory),
		DeletedAt: f.str(attrDeletedAt), DeletedBy: f.str(attrDeletedBy), ExpiresAt: f.int(attrExpiresAt),
	}
	return it, f.err
}

func (g guardItem) attributes() map[string]types.AttributeValue {
	m := map[string]types.AttributeValue{
		attrPK: str(g.PK), attrSK: str(g.SK), attrRecordID: str(g.RecordID),
		attrExportID: str(g.ExportID), attrOrgID: str(g.OrgID), attrTriggeredBy: str(g.TriggeredBy),
		attrStatus: str(g.Status), attrFormat: str(g.Format),
		attrPeriodFrom: str(g.PeriodFrom), attrPeriodTo: str(g.PeriodTo),
	}
	if g.ActivityCount != nil {
		m[attrActivityCount] = num(*g.ActivityCount)
	}
	return m
}

func decodeGuardItem(av map[string]types.AttributeValue) (guardItem, error) {
	f := fields{av: av}
	g := guardItem{
		PK: f.str(attrPK), SK: f.str(attrSK), RecordID: f.str(attrRecordID),
		ExportID: f.str(attrExportID), OrgID: f.str(attrOrgID), TriggeredBy: f.str(attrTriggeredBy),
		Status: f.str(attrStatus), Format: f.str(attrFormat),
		PeriodFrom: f.str(attrPeriodFrom), PeriodTo: f.str(attrPeriodTo),
		ActivityCount: f.optInt(attrActivityCount),
	}
	return g, f.err
}

// fields reads an item's attributes. An absent or NULL attribute reads as unset; one of
// another type than the field's is an error, the first of which it keeps.
type fields struct {
	av  map[string]types.AttributeValue
	err error
}

func (f *fields) wrongType(name, want string, got types.AttributeValue) {
	if f.err == nil {
		f.err = fmt.Errorf("attribute %s is %T, want %s", name, got, want)
	}
}

func (f *fields) optStr(name string) *string {
	switch v := f.av[name].(type) {
	case nil, *types.AttributeValueMemberNULL:
		return nil
	case *types.AttributeValueMemberS:
		s := v.Value
		return &s
	default:
		f.wrongType(name, "a string", v)
		return nil
	}
}

func (f *fields) str(name string) string {
	switch v := f.av[name].(type) {
	case nil, *types.AttributeValueMemberNULL:
		return ""
	case *types.AttributeValueMemberS:
		return v.Value
	default:
		f.wrongType(name, "a string", v)
		return ""
	}
}

func (f *fields) optInt(name string) *int64 {
	switch v := f.av[name].(type) {
	case nil, *types.AttributeValueMemberNULL:
		return nil
	case *types.AttributeValueMemberN:
		n, err := strconv.ParseInt(v.Value, 10, 64)
		if err != nil {
			f.wrongType(name, "a whole number", v)
			return nil
		}
		return &n
	default:
		f.wrongType(name, "a number", v)
		return nil
	}
}

func (f *fields) int(name string) int64 {
	if n := f.optInt(name); n != nil {
		return *n
	}
	return 0
}

func (f *fields) history(name string) []historyItem {
	switch v := f.av[name].(type) {
	case nil, *types.AttributeValueMemberNULL:
		return nil
	case *types.AttributeValueMemberL:
		h := make([]historyItem, len(v.Value))
		for i, e := range v.Value {
			m, ok := e.(*types.AttributeValueMemberM)
			if !ok {
				f.wrongType(name, "a list of maps", e)
				return nil
			}
			ef := fields{av: m.Value}
			h[i] = historyItem{Status: ef.str(attrStatus), At: ef.str(attrAt), By: ef.str(attrBy)}
			if ef.err != nil && f.err == nil {
				f.err = fmt.Errorf("%s %d: %w", name, i, ef.err)
			}
		}
		return h
	default:
		f.wrongType(name, "a list", v)
		return nil
	}
}
