package store

import (
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The items as the store described them to the SDK's attributevalue package before it encoded
// them by hand: the hand-written codec must write and read exactly what attributevalue did, so
// that items written before and after the change read the same.
type taggedRecord struct {
	PK            string          `dynamodbav:"pk"`
	SK            string          `dynamodbav:"sk"`
	RecordID      string          `dynamodbav:"record_id"`
	ExportID      string          `dynamodbav:"export_id"`
	OrgID         string          `dynamodbav:"org_id"`
	TriggeredBy   string          `dynamodbav:"triggered_by_user_id"`
	Status        string          `dynamodbav:"status"`
	Format        string          `dynamodbav:"format"`
	PeriodFrom    string          `dynamodbav:"period_from"`
	PeriodTo      string          `dynamodbav:"period_to"`
	FileURL       *string         `dynamodbav:"file_url,omitempty"`
	ActivityCount *int64          `dynamodbav:"activity_count,omitempty"`
	FailureReason *string         `dynamodbav:"failure_reason,omitempty"`
	CreatedAt     string          `dynamodbav:"created_at"`
	UpdatedAt     string          `dynamodbav:"updated_at"`
	StatusAt      string          `dynamodbav:"status_at"`
	History       []taggedHistory `dynamodbav:"history"`
	DeletedAt     string          `dynamodbav:"deleted_at,omitempty"`
	DeletedBy     string          `dynamodbav:"deleted_by,omitempty"`
	ExpiresAt     int64           `dynamodbav:"expires_at,omitempty"`
}

type taggedHistory struct {
	Status string `dynamodbav:"status"`
	At     string `dynamodbav:"at"`
	By     string `dynamodbav:"by"`
}

type taggedGuard struct {
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

func tagged(it recordItem) taggedRecord {
	t := taggedRecord{
		PK: it.PK, SK: it.SK, RecordID: it.RecordID, ExportID: it.ExportID, OrgID: it.OrgID,
		TriggeredBy: it.TriggeredBy, Status: it.Status, Format: it.Format, PeriodFrom: it.PeriodFrom,
		PeriodTo: it.PeriodTo, FileURL: it.FileURL, ActivityCount: it.ActivityCount, FailureReason: it.FailureReason,
		CreatedAt: it.CreatedAt, UpdatedAt: it.UpdatedAt, StatusAt: it.StatusAt,
		DeletedAt: it.DeletedAt, DeletedBy: it.DeletedBy, ExpiresAt: it.ExpiresAt,
	}
	if it.History != nil {
		t.History = []taggedHistory{}
	}
	for _, h := range it.History {
		t.History = append(t.History, taggedHistory(h))
	}
	return t
}

func untagged(t taggedRecord) recordItem {
	it := recordItem{
		PK: t.PK, SK: t.SK, RecordID: t.RecordID, ExportID: t.ExportID, OrgID: t.OrgID,
		TriggeredBy: t.TriggeredBy, Status: t.Status, Format: t.Format, PeriodFrom: t.PeriodFrom,
		PeriodTo: t.PeriodTo, FileURL: t.FileURL, ActivityCount: t.ActivityCount, FailureReason: t.FailureReason,
		CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt, StatusAt: t.StatusAt,
		DeletedAt: t.DeletedAt, DeletedBy: t.DeletedBy, ExpiresAt: t.ExpiresAt,
	}
	if t.History != nil {
		it.History = []historyItem{}
	}
	for _, h := range t.History {
		it.History = append(it.History, historyItem(h))
	}
	return it
}

func ptr[T any](v T) *T { return &v }

func TestCodec_RecordAsAttributevalueWroteAndReadIt(t *testing.T) {
	t.Parallel()
	queued := recordItem{
		PK: "ORG#org-a", SK: "REC#20260301#000000001", RecordID: "rec-20260301-001", ExportID: "exp-1",
		OrgID: "org-a", TriggeredBy: "usr-0099", Status: "queued", Format: "pdf",
		PeriodFrom: "2025-01-01", PeriodTo: "2025-12-31",
		CreatedAt: "2026-03-01T08:00:00Z", UpdatedAt: "2026-03-01T08:00:00Z", StatusAt: "2026-03-01T08:00:00Z",
		History: []historyItem{{Status: "queued", At: "2026-03-01T08:00:00Z", By: "usr-0042"}},
	}
	full := queued
	full.Status, full.FileURL, full.ActivityCount, full.FailureReason = "failed", ptr("https://x.example/f.pdf"), ptr(int64(0)), ptr("")
	full.History = append(full.History, historyItem{Status: "failed", At: "2026-03-01T08:03:21Z", By: "usr-0042"})
	full.DeletedAt, full.DeletedBy, full.ExpiresAt = "2026-03-02T08:00:00Z", "usr-0042", 1803888000
	noHistory := queued
	noHistory.History = nil
	emptyHistory := queued
	emptyHistory.History = []historyItem{}
	for name, it := range map[string]recordItem{"queued": queued, "every attribute": full, "nil history": noHistory, "empty history": emptyHistory} {
		t.Run(name, func(t *testing.T) {
			want, err := attributevalue.MarshalMap(tagged(it))
			if err != nil {
				t.Fatal(err)
			}
			got := it.attributes()
			if !reflect.DeepEqual(got, want) {
				t.Errorf("attributes()\n%#v\nattributevalue wrote\n%#v", got, want)
			}
			var back taggedRecord
			if err := attributevalue.UnmarshalMap(want, &back); err != nil {
				t.Fatal(err)
			}
			decoded, err := decodeRecordItem(want)
			if err != nil || !reflect.DeepEqual(decoded, untagged(back)) {
				t.Errorf("decodeRecordItem = %+v, %v\nattributevalue read %+v", decoded, err, untagged(back))
			}
		})
	}
}

func TestCodec_GuardAsAttributevalueWroteAndReadIt(t *testing.T) {
	t.Parallel()
	g := guardItem{PK: "ORG#org-a", SK: "EXP#exp-1", RecordID: "rec-20260301-001", ExportID: "exp-1", OrgID: "org-a",
		TriggeredBy: "usr-0099", Status: "queued", Format: "pdf", PeriodFrom: "2025-01-01", PeriodTo: "2025-12-31"}
	withCount := g
	withCount.ActivityCount = ptr(int64(312))
	for name, g := range map[string]guardItem{"without activity_count": g, "with activity_count": withCount} {
		t.Run(name, func(t *testing.T) {
			want, err := attributevalue.MarshalMap(taggedGuard(g))
			if err != nil {
				t.Fatal(err)
			}
			if got := g.attributes(); !reflect.DeepEqual(got, want) {
				t.Errorf("attributes()\n%#v\nattributevalue wrote\n%#v", got, want)
			}
			var back taggedGuard
			if err := attributevalue.UnmarshalMap(want, &back); err != nil {
				t.Fatal(err)
			}
			if decoded, err := decodeGuardItem(want); err != nil || !reflect.DeepEqual(decoded, guardItem(back)) {
				t.Errorf("decodeGuardItem = %+v, %v\nattributevalue read %+v", decoded, err, back)
			}
		})
	}
}

func TestCodec_AttributeOfAnotherTypeIsAnError(t *testing.T) {
	t.Parallel()
	for name, av := range map[string]map[string]types.AttributeValue{
		"number for a string":     {attrStatus: &types.AttributeValueMemberN{Value: "1"}},
		"string for a number":     {attrActivityCount: &types.AttributeValueMemberS{Value: "1"}},
		"fraction for a count":    {attrActivityCount: &types.AttributeValueMemberN{Value: "1.5"}},
		"map for the history":     {attrHistory: &types.AttributeValueMemberM{}},
		"string in the history":   {attrHistory: &types.AttributeValueMemberL{Value: []types.AttributeValue{str("x")}}},
		"number in a history map": {attrHistory: &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberM{Value: map[string]types.AttributeValue{attrAt: num(1)}}}}},
	} {
		if _, err := decodeRecordItem(av); err == nil {
			t.Errorf("%s: decoded without an error", name)
		}
	}
}
