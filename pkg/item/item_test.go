package item_test

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/bufdir/export-audit/pkg/item"
)

// The table's items as they are stored, attribute by attribute. These are the maps the store
// has always written (with attributevalue, for a while with a hand-written codec): encoding
// must give exactly these, and decoding them must give the items back, so that items written
// before and after read the same.

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func n(v string) types.AttributeValue { return &types.AttributeValueMemberN{Value: v} }
func m(v map[string]types.AttributeValue) types.AttributeValue {
	return &types.AttributeValueMemberM{Value: v}
}
func l(v ...types.AttributeValue) types.AttributeValue { return &types.AttributeValueMemberL{Value: v} }

func ptr[T any](v T) *T { return &v }

// show writes an attribute value as DynamoDB's JSON would, keys sorted, for failure messages.
func show(av types.AttributeValue) string {
	switch v := av.(type) {
	case *types.AttributeValueMemberS:
		return fmt.Sprintf("{S:%q}", v.Value)
	case *types.AttributeValueMemberN:
		return fmt.Sprintf("{N:%q}", v.Value)
	case *types.AttributeValueMemberNULL:
		return "{NULL:true}"
	case *types.AttributeValueMemberL:
		parts := make([]string, len(v.Value))
		for i, e := range v.Value {
			parts[i] = show(e)
		}
		return "{L:[" + strings.Join(parts, " ") + "]}"
	case *types.AttributeValueMemberM:
		return "{M:" + showMap(v.Value) + "}"
	default:
		return fmt.Sprintf("%T", av)
	}
}

func showMap(m map[string]types.AttributeValue) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + ":" + show(m[k])
	}
	return "{" + strings.Join(parts, " ") + "}"
}

func TestItem_RecordLayout(t *testing.T) {
	t.Parallel()
	queued := item.Record{
		PK: "ORG#org-a", SK: "REC#20260301#000000001", RecordID: "rec-20260301-001",
		Shared: item.Shared{ExportID: "exp-1", OrgID: "org-a", TriggeredBy: "usr-0099", Status: "queued", Format: "pdf",
			PeriodFrom: "2025-01-01", PeriodTo: "2025-12-31"},
		CreatedAt: "2026-03-01T08:00:00Z", UpdatedAt: "2026-03-01T08:00:00Z", StatusAt: "2026-03-01T08:00:00Z",
		History: []item.History{{Status: "queued", At: "2026-03-01T08:00:00Z", By: "usr-0042"}},
	}
	queuedAV := map[string]types.AttributeValue{
		"pk": s("ORG#org-a"), "sk": s("REC#20260301#000000001"), "record_id": s("rec-20260301-001"),
		"export_id": s("exp-1"), "org_id": s("org-a"), "triggered_by_user_id": s("usr-0099"),
		"status": s("queued"), "format": s("pdf"), "period_from": s("2025-01-01"), "period_to": s("2025-12-31"),
		"created_at": s("2026-03-01T08:00:00Z"), "updated_at": s("2026-03-01T08:00:00Z"),
		"status_at": s("2026-03-01T08:00:00Z"),
		"history":   l(m(map[string]types.AttributeValue{"status": s("queued"), "at": s("2026-03-01T08:00:00Z"), "by": s("usr-0042")})),
	}

	// Every optional attribute set, the zero values included: a set pointer is written
	// whatever it points to.
	full := queued
	full.Status, full.FileURL, full.ActivityCount, full.FailureReason = "failed", ptr("https://x.example/f.pdf"), ptr(int64(0)), ptr("")
	full.UpdatedAt, full.StatusAt = "2026-03-01T08:03:21Z", "2026-03-01T08:03:21Z"
	full.History = append(full.History, item.History{Status: "failed", At: "2026-03-01T08:03:21Z", By: "usr-0042"})
	full.Version, full.ChangedBy = 3, "usr-0042"
	full.DeletedAt, full.DeletedBy, full.ExpiresAt = "2026-03-02T08:00:00Z", "usr-0042", 1803888000
	fullAV := map[string]types.AttributeValue{
		"pk": s("ORG#org-a"), "sk": s("REC#20260301#000000001"), "record_id": s("rec-20260301-001"),
		"export_id": s("exp-1"), "org_id": s("org-a"), "triggered_by_user_id": s("usr-0099"),
		"status": s("failed"), "format": s("pdf"), "period_from": s("2025-01-01"), "period_to": s("2025-12-31"),
		"file_url": s("https://x.example/f.pdf"), "activity_count": n("0"), "failure_reason": s(""),
		"created_at": s("2026-03-01T08:00:00Z"), "updated_at": s("2026-03-01T08:03:21Z"),
		"status_at": s("2026-03-01T08:03:21Z"),
		"history": l(
			m(map[string]types.AttributeValue{"status": s("queued"), "at": s("2026-03-01T08:00:00Z"), "by": s("usr-0042")}),
			m(map[string]types.AttributeValue{"status": s("failed"), "at": s("2026-03-01T08:03:21Z"), "by": s("usr-0042")}),
		),
		"version": n("3"), "changed_by": s("usr-0042"),
		"deleted_at": s("2026-03-02T08:00:00Z"), "deleted_by": s("usr-0042"), "expires_at": n("1803888000"),
	}

	t.Run("no optional attribute (a record stored before versions were kept)", func(t *testing.T) { wantLayout(t, queued, queuedAV) })
	t.Run("every attribute", func(t *testing.T) { wantLayout(t, full, fullAV) })
}

func TestItem_GuardLayout(t *testing.T) {
	t.Parallel()
	g := item.Guard{PK: "ORG#org-a", SK: "EXP#exp-1", RecordID: "rec-20260301-001", Shared: item.Shared{ExportID: "exp-1", OrgID: "org-a",
		TriggeredBy: "usr-0099", Status: "queued", Format: "pdf", PeriodFrom: "2025-01-01", PeriodTo: "2025-12-31"}}
	gAV := map[string]types.AttributeValue{
		"pk": s("ORG#org-a"), "sk": s("EXP#exp-1"), "record_id": s("rec-20260301-001"), "export_id": s("exp-1"),
		"org_id": s("org-a"), "triggered_by_user_id": s("usr-0099"), "status": s("queued"), "format": s("pdf"),
		"period_from": s("2025-01-01"), "period_to": s("2025-12-31"),
	}
	withCount := g
	withCount.ActivityCount = ptr(int64(312))
	withCountAV := map[string]types.AttributeValue{"activity_count": n("312")}
	for k, v := range gAV {
		withCountAV[k] = v
	}
	t.Run("without activity_count", func(t *testing.T) { wantLayout(t, g, gAV) })
	t.Run("with activity_count", func(t *testing.T) { wantLayout(t, withCount, withCountAV) })
}

// wantLayout checks that it encodes to av, and av decodes back to it.
func wantLayout[T any](t *testing.T, it T, av map[string]types.AttributeValue) {
	t.Helper()
	got, err := item.Encode(it)
	if err != nil || !reflect.DeepEqual(got, av) {
		t.Errorf("encode: %v\n got %s\nwant %s", err, showMap(got), showMap(av))
	}
	var back T
	if err := item.Decode(av, &back); err != nil || !reflect.DeepEqual(back, it) {
		t.Errorf("decode: %v\n got %+v\nwant %+v", err, back, it)
	}
}

// A status change appends its history entry with list_append, as a list of one map.
func TestItem_HistoryEntryLayout(t *testing.T) {
	t.Parallel()
	got, err := item.EncodeValue([]item.History{{Status: "processing", At: "2026-03-01T08:01:00Z", By: "usr-0042"}})
	want := l(m(map[string]types.AttributeValue{"status": s("processing"), "at": s("2026-03-01T08:01:00Z"), "by": s("usr-0042")}))
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("encode: %v\n got %s\nwant %s", err, show(got), show(want))
	}
}

// The counters are read with the same decoder: the day counter's answer and an organisation's
// STATS item (absent attributes read as zero).
func TestItem_CountersDecode(t *testing.T) {
	t.Parallel()
	var c item.Counter
	if err := item.Decode(map[string]types.AttributeValue{"seq": n("1000"), "last_at": s("2026-03-01T08:00:00Z")}, &c); err != nil ||
		c != (item.Counter{Seq: 1000, LastAt: "2026-03-01T08:00:00Z"}) {
		t.Errorf("counter: %+v, %v", c, err)
	}
	var st item.Stats
	if err := item.Decode(map[string]types.AttributeValue{"pk": s("ORG#org-a"), "sk": s("STATS")}, &st); err != nil || st.Live != 0 {
		t.Errorf("stats without live: %+v, %v", st, err)
	}
}

func TestItem_AttributeOfAnotherTypeIsAnError(t *testing.T) {
	t.Parallel()
	for name, av := range map[string]map[string]types.AttributeValue{
		"string for a number":   {"activity_count": s("1")},
		"fraction for a count":  {"activity_count": n("1.5")},
		"map for the history":   {"history": m(nil)},
		"string in the history": {"history": l(s("x"))},
		"list for a string":     {"status": l()},
	} {
		var it item.Record
		if err := item.Decode(av, &it); err == nil {
			t.Errorf("%s: decoded without an error: %+v", name, it)
		}
	}
}
